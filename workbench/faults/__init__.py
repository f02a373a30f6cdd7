"""The partition / link / node-fault model: data (`spec`) plus pure evaluation.

Both runtimes use it the same way: `build_schedule` gives the fault events of a run;
partitions are resolved when they start (`resolve_partition`) and applied by the
`Network`, which also samples per-message delays from the `LinkModel`; node faults
are resolved with `resolve_node`; `clocks_for` gives each node's clock.
Nothing here reads a clock or the module-level `random`: every draw takes an rng.
"""

from workbench.faults.clocks import Clock, clocks_for
from workbench.faults.links import LinkModel, make_sampler, sample_latency
from workbench.faults.network import Network
from workbench.faults.partitions import Partition, minority_of, resolve_partition
from workbench.faults.schedule import EventKind, FaultEvent, build_schedule
from workbench.faults.spec import (
    DEFAULT_NEMESIS_SHAPES,
    LATENCY_ADAPTER,
    QUIET_TAIL_S,
    ClockChangeSpec,
    ClockSpec,
    ConstantLatency,
    ExponentialLatency,
    FaultsConfig,
    LatencySpec,
    LinkFaultSpec,
    LinkSpec,
    LognormalLatency,
    MixtureComponent,
    MixtureLatency,
    NemesisShape,
    NemesisSpec,
    NodeFaultSpec,
    NodeTarget,
    ParetoLatency,
    PartitionShape,
    PartitionSpec,
    UniformLatency,
)
from workbench.faults.targets import resolve_node

__all__ = [
    "DEFAULT_NEMESIS_SHAPES",
    "LATENCY_ADAPTER",
    "QUIET_TAIL_S",
    "Clock",
    "ClockChangeSpec",
    "ClockSpec",
    "ConstantLatency",
    "EventKind",
    "ExponentialLatency",
    "FaultEvent",
    "FaultsConfig",
    "LatencySpec",
    "LinkFaultSpec",
    "LinkModel",
    "LinkSpec",
    "LognormalLatency",
    "MixtureComponent",
    "MixtureLatency",
    "NemesisShape",
    "NemesisSpec",
    "Network",
    "NodeFaultSpec",
    "NodeTarget",
    "ParetoLatency",
    "Partition",
    "PartitionShape",
    "PartitionSpec",
    "UniformLatency",
    "build_schedule",
    "clocks_for",
    "make_sampler",
    "minority_of",
    "resolve_node",
    "resolve_partition",
    "sample_latency",
]
