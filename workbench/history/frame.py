"""A history as a tidy pandas frame: one row per operation (invoke joined to completion).

Columns (`FRAME_COLUMNS`):
- `op`: position of the invoke in the history (0-based), a stable op id;
- `process`, `f`, `key`, `value` (the invoke's value);
- `type`: ok / fail / info (`info` also for an invoke never completed);
- `result`: the completion's value (the value read, for an ok read), else None;
- `invoke_time`, `complete_time` (ms; NaN when never completed), `latency_ms`
  (complete - invoke for ok and fail; NaN for info, whose latency is unknown).
Run parameters are added as extra columns by the caller (`add_run_columns`) so frames
of many runs concatenate into one.

Parquet wants one type per column, but values are ints, lists ([expected, new] for
cas, elements for a set read) or null: `to_parquet_frame` stores `value` and `result`
as JSON text and `from_parquet_frame` parses them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

FRAME_COLUMNS = [
    "op", "process", "f", "key", "value", "type", "result",
    "invoke_time", "complete_time", "latency_ms",
]  # fmt: skip


def history_to_frame(events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    rows: list[list[Any]] = []
    open_by_process: dict[int, list[Any]] = {}
    for event in events:
        kind = event["type"]
        if kind == "invoke":
            row = [len(rows), event["process"], event["f"], event.get("key"), event.get("value"),
                   "info", None, event["time"], np.nan, np.nan]
            rows.append(row)
            open_by_process[event["process"]] = row
            continue
        row = open_by_process.pop(event["process"], None)
        if row is None:
            continue  # a completion without an invoke: nothing to join it to
        row[5] = kind
        row[7 + 1] = event["time"]
        if kind != "info":
            row[6] = event.get("value")
            row[9] = event["time"] - row[7]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    return frame.astype({"op": "int64", "process": "int64", "invoke_time": "float64",
                         "complete_time": "float64", "latency_ms": "float64"})


def add_run_columns(frame: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Prefix the run's parameters (run_id, protocol, seed, ...) as constant columns."""
    extra = pd.DataFrame({k: [v] * len(frame) for k, v in params.items()}, index=frame.index)
    return pd.concat([extra, frame], axis=1)


def _to_json(value: Any) -> str:
    return json.dumps(value)


def to_parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(value=frame["value"].map(_to_json), result=frame["result"].map(_to_json))


def from_parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(value=frame["value"].map(json.loads), result=frame["result"].map(json.loads))
