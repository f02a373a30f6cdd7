"""Read a result folder back as frames: a single run or a sweep.

Run folder (`workbench.runner`): config.yaml, summary.json, ops.parquet, trace.jsonl
(+ history.jsonl). Sweep folder (`workbench.store`): config.yaml, summary.parquet and
runs/<run_id>/ with config.yaml, ops.parquet and summary.json, trace.jsonl when the
sweep kept histories (else events.jsonl: the trace without apply and digest records),
or error.json for a run that raised.

The sweep's ops are concatenated with `run_id` and the grid columns of
summary.parquet, so one frame groups by any swept parameter. A folder that holds
neither is a user error, reported in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.analysis.phases import partition_intervals
from workbench.analysis.trace import read_trace_records, trace_frame
from workbench.errors import UserInputError
from workbench.history.frame import from_parquet_frame


@dataclass
class RunResults:
    folder: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    ops: pd.DataFrame
    trace: pd.DataFrame | None
    """None when the folder holds no trace.jsonl nor events.jsonl."""
    trace_records: list[dict[str, Any]] | None = None
    """The same records as plain dicts, exactly as written (what the checkers take)."""
    trace_complete: bool = True
    """False for a sweep run's events.jsonl: faults and leadership only, no apply or
    digest records, so nothing may be concluded from their absence."""

    @property
    def duration_ms(self) -> float:
        return float(self.config.get("duration_s", self.summary.get("duration_s", 0.0))) * 1000.0

    def intervals(self) -> pd.DataFrame:
        """Partitions as `phases.partition_intervals` gives them (empty without a trace)."""
        return partition_intervals(self.trace_records or [], self.duration_ms)


@dataclass
class SweepResults:
    folder: Path
    config: dict[str, Any]
    summary: pd.DataFrame
    grid: list[str]
    ops: pd.DataFrame
    """All finished runs' ops, with `run_id` and the grid columns in front."""
    runs: dict[str, Path] = field(default_factory=dict)

    def run(self, run_id: str) -> RunResults:
        return load_run(self.runs[run_id])


def is_run_folder(folder: Path) -> bool:
    return (folder / "summary.json").is_file() and (folder / "ops.parquet").is_file()


def is_sweep_folder(folder: Path) -> bool:
    return (folder / "summary.parquet").is_file()


def _read_yaml(path: Path) -> dict[str, Any]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def read_ops(path: Path) -> pd.DataFrame:
    try:
        return from_parquet_frame(pd.read_parquet(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line for the user
        raise UserInputError(f"{path}: cannot read ops ({type(exc).__name__}: {exc})") from None


def load_run(folder: str | Path) -> RunResults:
    folder = Path(folder)
    if not is_run_folder(folder):
        raise UserInputError(f"{folder}: not a run folder (needs summary.json and ops.parquet)")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{folder / 'summary.json'}: cannot read ({exc})") from None
    trace = _read_jsonl(folder / "trace.jsonl")
    complete = trace is not None
    if trace is None:
        trace = _read_jsonl(folder / "events.jsonl")
    return RunResults(folder, _read_yaml(folder / "config.yaml"), summary,
                      read_ops(folder / "ops.parquet"),
                      trace_frame(trace) if trace is not None else None, trace, complete)


def _read_jsonl(path: Path) -> list[dict[str, Any]] | None:
    if not path.is_file():
        return None
    try:
        return read_trace_records(path)
    except ValueError as exc:
        raise UserInputError(f"{path}: not JSON Lines ({exc})") from None


def _grid_paths(config: dict[str, Any]) -> list[str]:
    return list(((config.get("sweep") or {}).get("grid")) or {})


def load_sweep(folder: str | Path) -> SweepResults:
    folder = Path(folder)
    if not is_sweep_folder(folder):
        raise UserInputError(f"{folder}: not a sweep folder (needs summary.parquet)")
    try:
        summary = pd.read_parquet(folder / "summary.parquet")
    except Exception as exc:  # noqa: BLE001
        raise UserInputError(f"{folder / 'summary.parquet'}: cannot read ({exc})") from None
    config = _read_yaml(folder / "config.yaml")
    grid = [g for g in _grid_paths(config) if g in summary.columns]
    runs = {p.name: p for p in sorted((folder / "runs").glob("*")) if is_run_folder(p)}
    params = summary[["run_id", *grid]] if "run_id" in summary.columns else None
    frames = [read_ops(path / "ops.parquet").assign(run_id=run_id) for run_id, path in runs.items()]
    ops = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"run_id": []})
    if params is not None and frames:
        # Grid columns in front, as run parameters; the run's own columns win on a clash.
        extra = params[["run_id", *[g for g in grid if g not in ops.columns]]]
        ops = extra.merge(ops, on="run_id", how="right")
    return SweepResults(folder, config, summary, grid, ops, runs)


def load_results(folder: str | Path) -> RunResults | SweepResults:
    """A run or a sweep folder, whichever `folder` is; else UserInputError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such folder")
    if is_sweep_folder(folder):
        return load_sweep(folder)
    if is_run_folder(folder):
        return load_run(folder)
    raise UserInputError(f"{folder}: no results here (expected summary.json + ops.parquet "
                         "of a run, or summary.parquet of a sweep)")
