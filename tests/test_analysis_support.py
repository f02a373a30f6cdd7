"""Shared helpers for the analysis, plot, report and notebook tests (no tests here).

Result folders are made by really running small simulated experiments, so the tests
exercise the same files `workbench run` and `workbench sweep` write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.experiment.config import ExperimentConfig, validate_config

SMALL = {
    "name": "small",
    "protocol": "eventual",
    "seed": 1,
    "nodes": 3,
    "duration_s": 3,
    "workload": {"kind": "register", "keys": 2, "clients": 4, "think_ms": 20, "timeout_ms": 300},
    "faults": {"partitions": [{"shape": "majority-minority", "at": 1, "duration": 1}]},
    "check": {"max_seconds": 5},
}


def small_config(**changes: Any) -> ExperimentConfig:
    raw = {**SMALL, **changes}
    return validate_config(raw)


def run_output(config: ExperimentConfig) -> Any:
    from workbench.experiment.run import run_experiment

    return run_experiment(config)


def make_run_folder(folder: Path, **changes: Any) -> Path:
    from workbench.experiment.run import write_run

    return write_run(run_output(small_config(**changes)), folder, report=False)


def make_sweep_folder(folder: Path, grid: dict[str, list[Any]], seeds: int = 2,
                      keep_history: bool = False, **changes: Any) -> Path:
    """A real sweep folder (serial, in-process), via `workbench.sweep`."""
    from workbench.experiment.execute import run_sweep
    from workbench.experiment.plan import plan_sweep

    raw = {**SMALL, **changes, "sweep": {"grid": grid, "seeds": seeds}}
    result = run_sweep(plan_sweep(raw, "test"), out=folder, workers=1, keep_history=keep_history,
                       progress=False)
    return result.path
