"""Shared helpers for the analysis, plot, report and notebook tests (no tests here).

Result folders are made by really running small simulated experiments, so the tests
exercise the same files `workbench run` and `workbench sweep` write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.config import ExperimentConfig, validate_config

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


def checkers_landed() -> bool:
    import importlib.util

    return importlib.util.find_spec("workbench.checkers.summary") is not None


def run_output(config: ExperimentConfig) -> Any:
    """`runner.run_experiment` when the checkers are in place, else the same without them."""
    from workbench import runner

    if checkers_landed():
        return runner.run_experiment(config)
    from workbench.analysis.metrics import availability_summary, jsonable
    from workbench.analysis.phases import annotate_ops, partition_intervals
    from workbench.history.frame import add_run_columns, history_to_frame

    result = runner.execute(config)
    ops = annotate_ops(history_to_frame(result.history),
                       partition_intervals(result.trace, config.duration_ms), config.nodes)
    summary = runner.run_params(config) | availability_summary(ops)
    summary["messages_sent"] = result.stats["messages_sent"]
    summary["messages_per_op"] = result.stats["messages_sent"] / max(len(ops), 1)
    return runner.RunOutput(config, result, add_run_columns(ops, runner.run_params(config)),
                            jsonable(summary))


def make_run_folder(folder: Path, **changes: Any) -> Path:
    from workbench.runner import write_run

    return write_run(run_output(small_config(**changes)), folder, report=False)


def make_sweep_folder(folder: Path, grid: dict[str, list[Any]], seeds: int = 2,
                      keep_history: bool = False, **changes: Any) -> Path:
    """A real sweep folder (serial, in-process), via `workbench.sweep`."""
    from unittest import mock

    from workbench import runner
    from workbench.sweep import plan_sweep, run_sweep

    raw = {**SMALL, **changes, "sweep": {"grid": grid, "seeds": seeds}}
    plan = plan_sweep(raw, "test")
    # Until the checkers land, runs go without their verdicts (`run_output`).
    replacement = runner.run_experiment if checkers_landed() else run_output
    patch = mock.patch.object(runner, "run_experiment", replacement)
    with patch:
        result = run_sweep(plan, folder, workers=1, keep_history=keep_history, progress=False)
    return result.path
