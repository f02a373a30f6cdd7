"""The run trace (fault events, protocol observations, replica digests) as a DataFrame.

Trace records are dicts with `time` and `kind` and, for most, `node` (see
`workbench.runtime.result.RunResult.trace`). One frame with the union of their
fields lets the analysis filter by `kind` in a chain instead of looping over dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

BASE_COLUMNS = ["time", "kind", "node"]


def trace_frame(records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """One row per trace record; `node` is a nullable integer (fault records may lack it).

    Digests are opaque 64-bit values: they are kept as text, because a column of ints
    with gaps becomes float64 and would round them (two states could look equal).
    """
    if isinstance(records, pd.DataFrame):
        return records
    frame = pd.DataFrame.from_records(
        [{**r, "digest": str(r["digest"])} if "digest" in r else r for r in records]
    )
    for column in BASE_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series(dtype="float64")
    return frame.astype({"time": "float64", "node": "Int64"}).sort_values("time", kind="stable")


def read_trace_records(path: str | Path) -> list[dict[str, Any]]:
    """A `trace.jsonl` / `events.jsonl` file as its records (plain dicts, as written)."""
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def records(trace: Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[dict[str, Any]]:
    """Back to plain dicts (what `phases.partition_intervals` takes), dropping absent fields."""
    if not isinstance(trace, pd.DataFrame):
        return [dict(r) for r in trace]
    return [{k: v for k, v in row.items() if not _missing(v)} for row in trace.to_dict("records")]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)
