"""The notebook API: `workbench.run`, `workbench.sweep`, `workbench.load`.

```python
import workbench
r = workbench.run("experiments/cap_partition.yaml", protocol="raft", raft__read_mode="lease")
r.ops            # one row per operation (DataFrame)
r.summary        # the run's metrics (dict); r.frame() is the same as a one-row DataFrame
r.history        # the event log (list of dicts, DESIGN.md's format); r.trace: fault/protocol facts
df = workbench.sweep("experiments/cap_sweep.yaml", workers=2)   # summary frame, one row per run
s = workbench.load("data/sweeps/cap_sweep")
s.summary, s.ops()      # the same frame; every run's ops concatenated, with run_id + grid columns
```

Keyword overrides use `__` for nesting (`raft__read_mode="follower"`), as `config_from` does.
"""

from __future__ import annotations

import copy
import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from workbench.analysis.trace import read_trace_records
from workbench.config import ExperimentConfig, apply_overrides, read_yaml, validate_config
from workbench.errors import ConfigError, RunWarning, UserInputError
from workbench.outputs import guard_output_dir
from workbench.store import BULK_TRACE_KINDS, ERROR_FILE, OK, SUMMARY_FILE, SweepStore

ConfigSource = ExperimentConfig | dict[str, Any] | str | Path

__all__ = ["Run", "SweepResults", "load", "run", "sweep"]


class Run:
    """One run: its config, ops frame and summary; history and trace load on first use."""

    def __init__(self, config: ExperimentConfig | dict[str, Any], ops: pd.DataFrame,
                 summary: dict[str, Any], history: list[dict[str, Any]] | Callable[[], list] | None,
                 trace: list[dict[str, Any]] | Callable[[], list] | None,
                 path: Path | None = None) -> None:
        self.config, self.ops, self.summary, self.path = config, ops, summary, path
        self._history, self._trace = history, trace

    @property
    def history(self) -> list[dict[str, Any]]:
        self._history = self._materialize(self._history, "history.jsonl")
        return self._history

    @property
    def trace(self) -> list[dict[str, Any]]:
        self._trace = self._materialize(self._trace, "trace.jsonl")
        return self._trace

    @functools.cached_property
    def events(self) -> list[dict[str, Any]]:
        """The trace without its bulk (apply and digest records): partitions, crashes,
        pauses, leader changes. Kept for every run, a sweep's too without --history."""
        if self.path is not None and (self.path / "events.jsonl").is_file():
            return read_trace_records(self.path / "events.jsonl")
        return [r for r in self.trace if r["kind"] not in BULK_TRACE_KINDS]

    def _materialize(self, value: Any, name: str) -> list[dict[str, Any]]:
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


class SweepResults:
    """A sweep folder: `summary` (one row per finished run), `ops()` and `run(run_id)`."""

    def __init__(self, path: Path, config: dict[str, Any], summary: pd.DataFrame) -> None:
        self.path, self.config, self.summary = path, config, summary

    @property
    def grid_paths(self) -> list[str]:
        return list((self.config.get("sweep") or {}).get("grid") or {})

    def run(self, run_id: str) -> Run:
        return _load_run(self.path / "runs" / run_id)

    def ops(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every ok run's ops in one frame, with `run_id` and the grid columns first.

        `columns` reads only those op columns from each file (faster for large sweeps).
        """
        from workbench.history.frame import from_parquet_frame

        frames = []
        ok = self.summary[self.summary["status"] == OK]
        lead = ["run_id", *self.grid_paths]
        for row in ok[lead].to_dict("records"):
            ops = pd.read_parquet(self.path / "runs" / row["run_id"] / "ops.parquet",
                                  columns=columns)
            if {"value", "result"} <= set(ops.columns):
                ops = from_parquet_frame(ops)
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
        return f"<SweepResults {self.path}: {len(self.summary)} runs, {ok} ok>"


# ---------------------------------------------------------------- the three entry points
def _raw_config(source: ConfigSource, overrides: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A raw config dict plus `__`-nested keyword overrides, and a name for error messages."""
    if isinstance(source, ExperimentConfig):
        raw, name = source.model_dump(mode="json", by_alias=True, exclude_none=True), ""
    elif isinstance(source, dict):
        raw, name = copy.deepcopy(source), ""  # never edit the caller's dict
    else:
        raw, name = read_yaml(source), str(source)
    texts = [f"{key.replace('__', '.')}={_yaml_value(value)}" for key, value in overrides.items()]
    return apply_overrides(raw, texts, name), name


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def run(config_or_path: ConfigSource, *, out: str | Path | None = None, report: bool = False,
        force: bool = False, **overrides: Any) -> Run:
    """Run one experiment in this process; with `out`, also write its result folder.

    `out` must be new or empty; `force=True` replaces a result folder the workbench wrote
    (never a folder of yours). The path is checked before the run starts.
    """
    from workbench.runner import run_experiment, write_run

    raw, name = _raw_config(config_or_path, overrides)
    raw.pop("sweep", None)  # a sweep file runs its base experiment
    config = validate_config(raw, name)
    if out is not None:
        guard_output_dir(out, force=force, option="out")
    output = run_experiment(config)
    path = write_run(output, out, report=report, force=force) if out is not None else None
    for message in output.summary.get("warnings", []):
        warnings.warn(message, RunWarning, stacklevel=2)  # shown once per message in Jupyter
    return Run(output.config, output.ops, output.summary, output.result.history,
               output.result.trace, path)


def sweep(config_or_path: ConfigSource, out: str | Path | None = None, workers: int | None = None,
          *, address: str | None = None, history: bool = False, retry_errors: bool = True,
          progress: bool = True, report: bool = False, force: bool = False, yes: bool = False,
          **overrides: Any) -> pd.DataFrame:
    """Run a sweep (resuming one already in `out`) and return its summary frame.

    Ray is started if needed and left running for the next sweep of the session;
    Ctrl-C stops the sweep, keeps finished runs and re-raises KeyboardInterrupt.
    `force=True` replaces a sweep folder of another experiment that the workbench wrote;
    a grid of more than 10,000 runs is refused unless `yes=True`.
    """
    from workbench.sweep import MAX_RUNS, plan_sweep, run_sweep, write_sweep_report

    raw, name = _raw_config(config_or_path, overrides)
    plan = plan_sweep(raw, name, max_runs=None if yes else MAX_RUNS)
    result = run_sweep(plan, out, workers, address, history, retry_errors, progress, keep_ray=True,
                       force=force)
    if result.interrupted:
        raise KeyboardInterrupt(f"sweep interrupted; finished runs are kept in {result.path}")
    if report and (note := write_sweep_report(result.path)):
        print(note)
    return result.frame


def load(path: str | Path) -> Run | SweepResults:
    """A run folder -> `Run`; a sweep folder -> `SweepResults`."""
    path = Path(path)
    store = SweepStore(path)
    if store.is_sweep():
        return _load_sweep(store)
    if (path / SUMMARY_FILE).is_file() or (path / ERROR_FILE).is_file():
        return _load_run(path)
    raise UserInputError(f"{path}: not a run or sweep folder (no summary.json or summary.parquet)")


# ---------------------------------------------------------------- loading
def _load_run(path: Path) -> Run:
    from workbench.history.events import read_jsonl
    from workbench.history.frame import from_parquet_frame

    if (path / ERROR_FILE).is_file():
        info = json.loads((path / ERROR_FILE).read_text(encoding="utf-8"))
        raise UserInputError(f"{path}: this run failed: {info['error']}")
    if not (path / SUMMARY_FILE).is_file():
        raise UserInputError(f"{path}: no such run folder")
    summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
    raw = read_yaml(path / "config.yaml")
    try:
        config: ExperimentConfig | dict[str, Any] = validate_config(raw, str(path / "config.yaml"))
    except ConfigError:
        config = raw  # written by another version of the workbench: keep it as data
    ops = from_parquet_frame(pd.read_parquet(path / "ops.parquet"))

    return Run(config, ops, summary, _loader(path / "history.jsonl", read_jsonl),
               _loader(path / "trace.jsonl", read_trace_records), path)


def _loader(path: Path, read: Callable[[Path], list]) -> Callable[[], list] | None:
    return (lambda: read(path)) if path.is_file() else None


def _load_sweep(store: SweepStore) -> SweepResults:
    """Read summary.parquet, or rebuild it from the run folders if a kill left it behind."""
    from workbench.sweep import plan_sweep, summary_rows

    config = store.stored_config()
    if store.summary_path.is_file():
        summary = pd.read_parquet(store.summary_path)
        if set(summary["run_id"]) >= store.finished_ids() or not store.finished_ids():
            return SweepResults(store.root, config, summary)
    plan = plan_sweep(config, str(store.config_path), max_runs=None)
    return SweepResults(store.root, config, summary_rows(plan, store))
