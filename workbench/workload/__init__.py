"""Client workloads: op generators (register, set), key distributions, arrival models."""

from workbench.workload.generator import OpGenerator
from workbench.workload.spec import WorkloadConfig

__all__ = ["OpGenerator", "WorkloadConfig"]
