"""Run one experiment and write its result folder.

Result folder (DESIGN.md "Result store"): `config.yaml` (resolved), `history.jsonl`,
`trace.jsonl`, `ops.parquet` (one row per op, run parameters as columns) and
`summary.json` (one flat dict of parameters and metrics). Everything is written
into a hidden staging folder beside the target and renamed into place at the end,
so a failed or interrupted run never leaves a half-written folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.analysis.metrics import availability_summary, jsonable, message_summary
from workbench.analysis.phases import annotate_ops, partition_intervals
from workbench.config import ExperimentConfig
from workbench.history.events import dumps_event
from workbench.history.frame import add_run_columns, history_to_frame, to_parquet_frame
from workbench.outputs import guard_output_dir, write_marker
from workbench.run_warnings import EMPTY, config_warnings, result_warnings
from workbench.runtime.result import RunResult
from workbench.store import staged_dir

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


def write_run(output: RunOutput, out_dir: str | Path, report: bool = False,
              force: bool = False) -> Path:
    """Write atomically: stage beside the target, then swap it in (`store.staged_dir`).

    The target is checked again here (callers check it before the run too, so a bad path
    costs no run time): a user's folder or file is never replaced (`outputs`).
    """
    out_dir = Path(out_dir)
    guard_output_dir(out_dir, force=force)
    with staged_dir(out_dir) as stage:
        _write_files(output, stage, report)
        write_marker(stage, "run")
    return out_dir


def _write_files(output: RunOutput, folder: Path, report: bool) -> None:
    config_dump = output.config.model_dump(mode="json", by_alias=True, exclude_none=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config_dump, sort_keys=False))
    with open(folder / "history.jsonl", "w", encoding="utf-8") as out:
        out.writelines(dumps_event(e) + "\n" for e in output.result.history)
    with open(folder / "trace.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in output.result.trace)
    to_parquet_frame(output.ops).to_parquet(folder / "ops.parquet", index=False)
    (folder / "summary.json").write_text(json.dumps(output.summary, indent=2) + "\n")
    for relative, data in output.result.files.items():  # e.g. external nodes' logs
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    # A run without ops has nothing to plot (its summary's warnings say so): no report.
    if report and output.summary.get("ops"):
        from workbench.analysis.explorer import write_explorer
        from workbench.analysis.report import write_report

        write_explorer(folder)  # first: the report links to it when it is there
        write_report(folder, folder / "report.html")
