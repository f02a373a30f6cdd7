"""Where each op stands relative to the faults: partition phase and side.

DataFrame in, DataFrame out. The trace's `partition_start` records carry the
partition's minority nodes (nodes that cannot reach a majority), so an op is on
the minority side when its client's node was in the minority of a partition active
at the op's invoke time. Clients sit beside node p mod n (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

INTERVAL_COLUMNS = ["fault_id", "shape", "start", "end", "minority"]


def partition_intervals(trace: Iterable[Mapping[str, Any]], end_ms: float) -> pd.DataFrame:
    """One row per partition: start, end (run end if never healed), minority nodes."""
    rows: dict[int, dict[str, Any]] = {}
    for record in trace:
        kind = record.get("kind")
        if kind == "partition_start":
            rows[record["fault_id"]] = {"fault_id": record["fault_id"], "shape": record.get("shape"),
                                        "start": record["time"], "end": end_ms,
                                        "minority": tuple(record.get("minority", ()))}
        elif kind == "partition_end" and record["fault_id"] in rows:
            rows[record["fault_id"]]["end"] = record["time"]
    return pd.DataFrame(list(rows.values()), columns=INTERVAL_COLUMNS)


def annotate_ops(frame: pd.DataFrame, intervals: pd.DataFrame, nodes: int) -> pd.DataFrame:
    """Add `node`, `partitioned`, `minority` and `phase` (none/before/during/after) columns."""
    node = frame["process"].to_numpy() % nodes
    invoke = frame["invoke_time"].to_numpy()
    partitioned = np.zeros(len(frame), dtype=bool)
    minority = np.zeros(len(frame), dtype=bool)
    for start, end, minority_nodes in intervals[["start", "end", "minority"]].itertuples(index=False):
        active = (invoke >= start) & (invoke < end)
        partitioned |= active
        if minority_nodes:
            minority |= active & np.isin(node, list(minority_nodes))
    if intervals.empty:
        phase = np.full(len(frame), "none", dtype=object)
    else:
        first = intervals["start"].min()
        phase = np.where(partitioned, "during", np.where(invoke < first, "before", "after"))
    return frame.assign(node=node, partitioned=partitioned, minority=minority, phase=phase)
