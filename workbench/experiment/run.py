"""Run one experiment (on the configured runtime), measure it, and write its result folder.

Result folder (`results.layout`): `config.yaml` (resolved), `history.jsonl`,
`trace.jsonl`, `ops.parquet` (one row per op, run parameters as columns) and
`summary.json` (one flat dict of parameters and metrics), serialized by
`results.layout.run_files` (the same function a sweep's runs go through). Everything
is written into a hidden staging folder beside the target and renamed into place at
the end, so a failed or interrupted run never leaves a half-written folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.analysis.availability_time import client_time_summary
from workbench.analysis.metrics import availability_summary, jsonable, message_summary
from workbench.analysis.phases import annotate_ops, partition_intervals
from workbench.experiment.config import ExperimentConfig
from workbench.history.frame import add_run_columns, history_to_frame
from workbench.outputs import guard_output_dir, write_marker
from workbench.results.layout import run_files
from workbench.results.store import staged_dir, write_files
from workbench.run_warnings import EMPTY, config_warnings, result_warnings
from workbench.runtime.result import RunResult

CHECK_MODELS = {"register": "cas-register", "set": "set"}


@dataclass
class RunOutput:
    config: ExperimentConfig
    result: RunResult
    ops: pd.DataFrame
    summary: dict[str, Any]


def execute(config: ExperimentConfig) -> RunResult:
    """Run on the configured runtime."""
    if config.protocol == "external":
        from workbench.runtime.external import run_external

        return run_external(config)
    if config.runtime == "ray":
        from workbench.runtime.ray_actors import run_on_ray

        return run_on_ray(config)
    from workbench.runtime.sim import simulate

    return simulate(config)


def run_params(config: ExperimentConfig) -> dict[str, Any]:
    # External nodes: "external" as child processes here, "ray" when node actors own them.
    runtime = "external" if config.protocol == "external" and config.runtime != "ray" else config.runtime
    return {"name": config.name, "protocol": config.protocol, "runtime": runtime,
            "seed": config.seed, "nodes": config.nodes, "duration_s": config.duration_s}


def summarize(config: ExperimentConfig, result: RunResult) -> tuple[pd.DataFrame, dict[str, Any]]:
    from workbench.checkers.summary import consistency_summary

    frame = history_to_frame(result.history)
    intervals = partition_intervals(result.trace, config.duration_ms)
    ops = annotate_ops(frame, result.trace, config.nodes, config.duration_ms)
    summary: dict[str, Any] = run_params(config)
    summary.update(availability_summary(ops))
    summary.update(client_time_summary(ops, result.trace, config.nodes, config.clients, config.duration_ms))
    summary.update(message_summary(result.stats["messages_sent"], ops, config.duration_s))
    summary["leader_changes"] = sum(1 for r in result.trace if r["kind"] == "leader")
    summary["partitions"] = len(intervals)
    if config.protocol == "external":
        from workbench.maelstrom.checks import external_summary

        summary.update(external_summary(config, result, frame))
    else:
        summary.update(consistency_summary(
            result.history, frame, result.trace,
            model=CHECK_MODELS[config.workload.kind] if config.check.linearizability else None,
            nodes=config.nodes, duration_ms=config.duration_ms, max_seconds=config.check.max_seconds,
        ))
    summary["verdict"] = _verdict(summary, config)
    if summary["verdict"] == EMPTY:
        summary["linearizable"] = None  # nothing was checked: not "linearizable"
    summary["wall_s"] = result.stats.get("wall_s")
    summary["warnings"] = config_warnings(config) + result_warnings(config, result.trace, summary)
    # Ray runs: timer slip and delivery lateness, and a warning when the machine was
    # too busy for the figures to describe the protocol (runtime/ray_timing.py).
    summary.update(result.stats.get("timing", {}))
    if "warnings" in result.stats:
        summary["warnings"] = [*summary["warnings"], *result.stats["warnings"]]
    return ops, jsonable(summary)


def _verdict(summary: dict[str, Any], config: ExperimentConfig) -> str | None:
    """linearizable / not linearizable / unknown, or "empty" for a history without ops."""
    if not summary.get("ops"):
        return EMPTY
    if not config.check.linearizability:
        return None
    linearizable = summary.get("linearizable")
    return "unknown" if linearizable is None else "linearizable" if linearizable else "not linearizable"


def run_experiment(config: ExperimentConfig) -> RunOutput:
    result = execute(config)
    ops, summary = summarize(config, result)
    return RunOutput(config, result, add_run_columns(ops, run_params(config)), summary)


def output_files(output: RunOutput, *, keep_history: bool = True) -> dict[str, bytes]:
    """The run's files (`results.layout.run_files`): every run folder is written from this."""
    return run_files(
        config=output.config.model_dump(mode="json", by_alias=True, exclude_none=True),
        ops=output.ops, summary=output.summary, history=output.result.history,
        trace=output.result.trace, extra=output.result.files, keep_history=keep_history)


def write_run(output: RunOutput, out_dir: str | Path, *, report: bool = False,
              force: bool = False) -> Path:
    """Write atomically: stage beside the target, then swap it in (`store.staged_dir`).

    The target is checked again here (callers check it before the run too, so a bad path
    costs no run time): a user's folder or file is never replaced (`outputs`).
    """
    out_dir = Path(out_dir)
    guard_output_dir(out_dir, force=force)
    with staged_dir(out_dir) as stage:
        write_files(stage, output_files(output))
        write_marker(stage, "run")
        # A run without ops has nothing to plot (its summary's warnings say so): no report.
        if report and output.summary.get("ops"):
            from workbench.analysis.explorer import write_explorer
            from workbench.analysis.report import write_report

            write_explorer(stage)  # first: the report links to it when it is there
            write_report(stage, stage / "report.html")
    return out_dir
