"""The result folder layout, and the one function that turns a run into its files.

```
<run folder>/                 a single run (`workbench run --out`, `workbench.run(out=)`)
  config.yaml  summary.json  ops.parquet  history.jsonl  trace.jsonl
  report.html  explorer.html  .workbench        (report only with --report)
<sweep folder>/               a sweep (`workbench sweep`, `workbench.sweep`)
  config.yaml  summary.parquet  report.html  .workbench
  runs/<run_id>/
    config.yaml  summary.json  ops.parquet  point.json      status ok
    error.json   point.json                                 status error
    events.jsonl                            the trace without apply/digest (no --history)
    history.jsonl  trace.jsonl              with --history
```

A single run and a sweep's run hold the same files, written by `run_files` (there is no
second serializer): a sweep run keeps `events.jsonl` instead of the bulky trace unless
asked, and `point.json` (its grid point), so the summary can be rebuilt from the run
folders alone (`results.store.summary_from_records`) without planning the sweep again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # pandas loads lazily: a bad sweep file is reported before it is imported
    import pandas as pd

OK, ERROR = "ok", "error"
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
OPS_FILE = "ops.parquet"
HISTORY_FILE = "history.jsonl"
TRACE_FILE = "trace.jsonl"
EVENTS_FILE = "events.jsonl"
ERROR_FILE = "error.json"
POINT_FILE = "point.json"
SWEEP_SUMMARY_FILE = "summary.parquet"
RUNS_DIR = "runs"
BULK_TRACE_KINDS = frozenset({"apply", "digest"})
"""Trace kinds a sweep keeps only with `--history`; `events.jsonl` has the others."""


def run_files(*, config: Mapping[str, Any], ops: pd.DataFrame, summary: Mapping[str, Any],
              history: list[dict[str, Any]], trace: list[dict[str, Any]],
              extra: Mapping[str, bytes] | None = None,
              keep_history: bool = True) -> dict[str, bytes]:
    """A finished run as file name -> bytes (the caller writes them atomically).

    Bytes rather than files because a sweep's run is serialized inside its Ray worker
    and written by the driver alone (the worker may not share the driver's disk).
    """
    from workbench.history.events import dumps_event
    from workbench.history.frame import to_parquet_frame

    buffer = io.BytesIO()
    to_parquet_frame(ops).to_parquet(buffer, index=False)
    files = {
        CONFIG_FILE: yaml.safe_dump(dict(config), sort_keys=False).encode(),
        OPS_FILE: buffer.getvalue(),
        SUMMARY_FILE: (json.dumps(dict(summary), indent=2) + "\n").encode(),
    }
    if keep_history:
        files[HISTORY_FILE] = "".join(dumps_event(e) + "\n" for e in history).encode()
        files[TRACE_FILE] = "".join(json.dumps(r) + "\n" for r in trace).encode()
    else:
        # The trace without its bulk (one apply per replica per write, digest samples):
        # partitions, crashes, leaders — a few dozen lines, enough for a run's report to
        # shade partitions and show leadership.
        files[EVENTS_FILE] = "".join(json.dumps(r) + "\n" for r in trace
                                     if r["kind"] not in BULK_TRACE_KINDS).encode()
    files.update(extra or {})  # an external run's node logs (each capped at 1 MiB)
    return files


def point_bytes(point: Mapping[str, Any]) -> bytes:
    """`point.json`: a sweep run's grid point (path -> value), added by the sweep's driver."""
    return (json.dumps(dict(point), indent=2, default=str) + "\n").encode("utf-8")


def error_files(message: str, traceback: str, params: Mapping[str, Any]) -> dict[str, bytes]:
    """The record of a run that raised: its message, traceback and run parameters."""
    text = json.dumps({"status": ERROR, "error": message, "traceback": traceback,
                       "params": dict(params)}, indent=2, default=str)
    return {ERROR_FILE: (text + "\n").encode("utf-8")}
