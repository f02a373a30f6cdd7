"""The one reader of result folders: `Run` (a run) and `Sweep` (a sweep), via `load`.

`workbench.load`, `workbench report` and the notebooks all read through here (layout:
`results.layout`). A sweep's summary.parquet is a cache of its run folders; when it is
older than they are (a sweep killed between a run's folder and the summary rewrite), the
summary is rebuilt from the folders, so a report never shows a summary one run behind
its ops. A folder that holds no results is a user error, reported in one line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.errors import ConfigError, UserInputError
from workbench.results.layout import (
    BULK_TRACE_KINDS,
    CONFIG_FILE,
    ERROR_FILE,
    EVENTS_FILE,
    HISTORY_FILE,
    OK,
    OPS_FILE,
    SUMMARY_FILE,
    TRACE_FILE,
)
from workbench.results.store import SweepStore

__all__ = ["Run", "Sweep", "load", "load_run", "load_sweep"]

Records = list[dict[str, Any]]


class Run:
    """One run: its config, ops frame and summary; history and trace load on first use.

    `config` is the experiment model when it validates (a run of this workbench), else
    the stored mapping (a folder written by another version); `raw_config` is always the
    mapping.
    """

    def __init__(self, *, config: Any, ops: pd.DataFrame, summary: dict[str, Any],
                 history: Records | Callable[[], Records] | None,
                 trace: Records | Callable[[], Records] | None,
                 events: Records | Callable[[], Records] | None = None,
                 path: Path | None = None) -> None:
        self.config, self.ops, self.summary, self.path = config, ops, summary, path
        self._history, self._trace, self._events = history, trace, events

    @property
    def raw_config(self) -> dict[str, Any]:
        if isinstance(self.config, dict):
            return self.config
        return self.config.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def history(self) -> Records:
        self._history = self._materialize(self._history, HISTORY_FILE)
        return self._history

    @property
    def trace(self) -> Records:
        """Every trace record (faults, leaders, applies, digests), as written."""
        self._trace = self._materialize(self._trace, TRACE_FILE)
        return self._trace

    @property
    def trace_complete(self) -> bool:
        """False for a sweep run kept without --history: only `events` (faults and
        leadership, no apply or digest records), so nothing may be concluded from their
        absence."""
        return self._trace is not None

    @functools.cached_property
    def events(self) -> Records:
        """The trace without its bulk (apply and digest records): partitions, crashes,
        pauses, leader changes. Kept for every run, a sweep's too without --history."""
        if self._events is not None:
            return self._materialize(self._events, EVENTS_FILE)
        return [r for r in self.trace if r["kind"] not in BULK_TRACE_KINDS]

    @functools.cached_property
    def trace_records(self) -> Records | None:
        """The whole trace if kept, else the events, else None (a folder with neither)."""
        if self._trace is not None:
            return self.trace
        return self.events if self._events is not None else None

    @property
    def duration_ms(self) -> float:
        raw = self.raw_config
        return float(raw.get("duration_s", self.summary.get("duration_s", 0.0))) * 1000.0

    def _materialize(self, value: Any, name: str) -> Records:
        if callable(value):
            return value()
        if value is None:
            raise UserInputError(f"{self.path}: no {name} (a sweep keeps it only with --history)")
        return value

    def frame(self) -> pd.DataFrame:
        """The summary as a one-row frame, so runs concatenate like a sweep's summary."""
        return pd.DataFrame([self.summary])

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"<Run {self.summary.get('protocol')} seed {self.summary.get('seed')}: {len(self.ops)} ops{where}>"


class Sweep:
    """A sweep folder: `summary` (one row per finished run), `ops()` and `run(run_id)`."""

    def __init__(self, path: Path, config: dict[str, Any], summary: pd.DataFrame) -> None:
        self.path, self.config, self.summary = path, config, summary

    @property
    def grid_paths(self) -> list[str]:
        """The swept config paths (case paths first, as the summary's columns)."""
        return grid_paths(self.config)

    @property
    def runs(self) -> dict[str, Path]:
        """Finished ok runs by id, in summary order."""
        ok = self.summary[self.summary["status"] == OK] if len(self.summary) else self.summary
        return {run_id: self.path / "runs" / run_id for run_id in ok.get("run_id", [])}

    def run(self, run_id: str) -> Run:
        return load_run(self.path / "runs" / run_id)

    def ops(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every ok run's ops in one frame, with `run_id` and the grid columns first.

        `columns` reads only those op columns from each file (faster for large sweeps).
        """
        lead = ["run_id", *[p for p in self.grid_paths if p in self.summary.columns]]
        frames = []
        for row in self.summary[self.summary["status"] == OK][lead].to_dict("records") \
                if len(self.summary) else []:
            ops = read_ops(self.path / "runs" / row["run_id"] / OPS_FILE, columns)
            extra = {k: v for k, v in row.items() if k not in ops.columns or k == "run_id"}
            ops = ops.drop(columns=[k for k in extra if k in ops.columns])
            frames.append(ops.assign(**extra)[[*extra, *ops.columns]])
        if not frames:
            return pd.DataFrame(columns=lead)
        return pd.concat(frames, ignore_index=True)

    def __len__(self) -> int:
        return len(self.summary)

    def __repr__(self) -> str:
        ok = int((self.summary["status"] == OK).sum()) if len(self.summary) else 0
        return f"<Sweep {self.path}: {len(self.summary)} runs, {ok} ok>"


def grid_paths(config: dict[str, Any]) -> list[str]:
    """Case paths not in the grid, then the grid's (the order `plan_sweep` gives)."""
    sweep = config.get("sweep") or {}
    grid = sweep.get("grid") or {}
    cases = [p for case in sweep.get("cases") or [] for p in case if p not in grid]
    return [*dict.fromkeys(cases), *grid]


# ---------------------------------------------------------------- loading
def load(path: str | Path) -> Run | Sweep:
    """A run folder -> `Run`; a sweep folder -> `Sweep`; else one-line UserInputError."""
    path = Path(path)
    if not path.is_dir():
        raise UserInputError(f"{path}: no such folder")
    if SweepStore(path).is_sweep():
        return load_sweep(path)
    if (path / SUMMARY_FILE).is_file() or (path / ERROR_FILE).is_file():
        return load_run(path)
    raise UserInputError(f"{path}: not a run or sweep folder; no results here (expected "
                         "summary.json + ops.parquet of a run, or a sweep's config.yaml + runs/)")


def load_run(path: str | Path) -> Run:
    from workbench.history.events import read_jsonl

    path = Path(path)
    if (path / ERROR_FILE).is_file():
        info = _read_json(path / ERROR_FILE)
        raise UserInputError(f"{path}: this run failed: {info.get('error')}")
    if not (path / SUMMARY_FILE).is_file() or not (path / OPS_FILE).is_file():
        raise UserInputError(f"{path}: not a run folder (needs summary.json and ops.parquet)")
    summary = _read_json(path / SUMMARY_FILE)
    return Run(config=_validated(_read_yaml(path / CONFIG_FILE), path / CONFIG_FILE),
               ops=read_ops(path / OPS_FILE), summary=summary,
               history=_loader(path / HISTORY_FILE, read_jsonl),
               trace=_loader(path / TRACE_FILE, _read_trace),
               events=_loader(path / EVENTS_FILE, _read_trace), path=path)


def load_sweep(path: str | Path) -> Sweep:
    """The sweep's summary.parquet, rebuilt from the run folders when it is behind them."""
    store = SweepStore(path)
    if not store.is_sweep():
        raise UserInputError(f"{path}: not a sweep folder (needs config.yaml and runs/)")
    config = _read_yaml(store.config_path)
    paths = grid_paths(config)
    cached = None
    if store.summary_path.is_file():
        try:
            cached = pd.read_parquet(store.summary_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one line for the user
            raise UserInputError(f"{store.summary_path}: cannot read ({exc})") from None
    if (cached is not None and not store.summary_is_stale() and "run_id" in cached
            and store.finished_ids() <= set(cached["run_id"])):
        return Sweep(store.root, config, cached)
    order = cached["run_id"].tolist() if cached is not None and "run_id" in cached else []
    return Sweep(store.root, config, store.rebuilt_summary(paths, order))


def read_ops(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    from workbench.history.frame import from_parquet_frame

    try:
        ops = pd.read_parquet(path, columns=columns)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line for the user
        raise UserInputError(f"{path}: cannot read ops ({type(exc).__name__}: {exc})") from None
    return from_parquet_frame(ops) if {"value", "result"} <= set(ops.columns) else ops


def _validated(raw: dict[str, Any], source: Path) -> Any:
    """The experiment model, or the mapping as it is if this workbench cannot read it."""
    from workbench.experiment.config import validate_config

    try:
        return validate_config(raw, str(source))
    except ConfigError:
        return raw  # written by another version of the workbench: keep it as data


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot read ({exc})") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise UserInputError(f"{path}: cannot read ({' '.join(str(exc).split())[:200]})") from None
    return raw if isinstance(raw, dict) else {}


def _read_trace(path: Path) -> Records:
    try:
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except ValueError as exc:
        raise UserInputError(f"{path}: not JSON Lines ({exc})") from None


def _loader(path: Path, read: Callable[[Path], Records]) -> Callable[[], Records] | None:
    return (lambda: read(path)) if path.is_file() else None
