"""The set workload, after Jepsen's `set-full` checker (jepsen.checker/set-full).

Clients `add` unique elements to a set (per key) and `read` the whole set. Kept simple
and exact about what is claimed. Reads are ordered by invoke time; "after an add" means
invoked after the add completed (ok). Per acknowledged (ok) add of element x:
- `lost`: some read invoked after the add completed does not contain x, and no later
  read contains it. Equivalently the last read, if it was invoked after the add
  completed, misses x: the store acknowledged x and then lost it for good.
- `never_read`: no ok read ever contained x (whether or not a read came after).
- `stable_latency_ms`: from the add's invoke until the first read from which on every
  read contains x (that read's invoke; clipped at 0); NaN if x is not in the last read.
Per ok read:
- `stale`: the read misses an element whose add completed (ok) before the read was
  invoked; `missing` counts those elements.
Info adds may take effect at any time, so they are never lost or stale; they still get
a `stable_latency_ms` when they became visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import hashable


@dataclass(frozen=True)
class SetReport:
    adds: pd.DataFrame  # op, key, element, type, invoke_time, complete_time, lost, never_read, stable_latency_ms
    reads: pd.DataFrame  # op, process, key, invoke_time, complete_time, size, missing, stale
    lost_adds: int
    never_read_adds: int
    stale_reads: int


def set_report(frame: pd.DataFrame) -> SetReport:
    adds_out: list[pd.DataFrame] = []
    reads_out: list[pd.DataFrame] = []
    is_add = frame["f"].eq("add")
    set_keys = pd.unique(frame.loc[is_add, "key"])  # a key with adds is a set
    add_rows = frame[is_add & frame["type"].isin(["ok", "info"])]
    read_rows = frame[frame["f"].eq("read") & frame["type"].eq("ok")]
    read_rows = read_rows[read_rows["key"].isin(set_keys)]
    for key in set_keys:
        adds, reads = _key_report(add_rows[add_rows["key"].eq(key) if key is not None
                                           else add_rows["key"].isna()],
                                  read_rows[read_rows["key"].eq(key) if key is not None
                                            else read_rows["key"].isna()])
        adds_out.append(adds)
        reads_out.append(reads)
    adds = pd.concat(adds_out, ignore_index=True) if adds_out else _empty_adds()
    reads = pd.concat(reads_out, ignore_index=True) if reads_out else _empty_reads()
    return SetReport(adds=adds, reads=reads, lost_adds=int(adds["lost"].sum()),
                     never_read_adds=int((adds["never_read"] & adds["type"].eq("ok")).sum()),
                     stale_reads=int(reads["stale"].sum()))


def _key_report(adds: pd.DataFrame, reads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    reads = reads.sort_values(["invoke_time", "op"], kind="stable")
    contents = [frozenset(hashable(x) for x in (r or ())) for r in reads["result"]]
    r_invoke = reads["invoke_time"].to_numpy(dtype=float)
    n_reads = len(contents)

    # For each element, the reads that contain it (indices in invoke order).
    seen_in: dict[Any, list[int]] = {}
    for i, content in enumerate(contents):
        for x in content:
            seen_in.setdefault(x, []).append(i)

    elements = [hashable(v) for v in adds["value"]]
    a_type = adds["type"].to_numpy()
    a_invoke = adds["invoke_time"].to_numpy(dtype=float)
    a_done = adds["complete_time"].to_numpy(dtype=float)
    last = contents[-1] if contents else frozenset()
    last_invoke = r_invoke[-1] if n_reads else np.nan
    lost, never, latency = [], [], []
    for x, kind, invoked, done in zip(elements, a_type, a_invoke, a_done, strict=True):
        hits = seen_in.get(x, [])
        never.append(not hits)
        lost.append(bool(kind == "ok" and n_reads and last_invoke > done and x not in last))
        # The stable run: the longest suffix of reads that all contain x.
        start = n_reads
        for i in reversed(hits):
            if i != start - 1:
                break
            start = i
        latency.append(max(r_invoke[start] - invoked, 0.0) if start < n_reads else np.nan)
    adds_frame = pd.DataFrame({
        "op": adds["op"].to_numpy(), "key": adds["key"].to_numpy(dtype=object),
        "element": pd.Series(elements, dtype=object).to_numpy(), "type": a_type,
        "invoke_time": a_invoke, "complete_time": a_done, "lost": np.array(lost, dtype=bool),
        "never_read": np.array(never, dtype=bool), "stable_latency_ms": np.array(latency, dtype=float),
    })

    # Stale reads: acknowledged elements (by completion) missing from a later read.
    acked: dict[Any, float] = {}
    for x, kind, done in zip(elements, a_type, a_done, strict=True):
        if kind == "ok" and not done >= acked.get(x, np.inf):
            acked[x] = done
    ack_times = np.sort(np.fromiter(acked.values(), dtype=float, count=len(acked)))
    acked_before = np.searchsorted(ack_times, r_invoke, side="left")
    present = np.fromiter((sum(1 for x in c if acked.get(x, np.inf) < t)
                           for c, t in zip(contents, r_invoke, strict=True)),
                          dtype=np.int64, count=n_reads)
    missing = acked_before - present
    reads_frame = pd.DataFrame({
        "op": reads["op"].to_numpy(), "process": reads["process"].to_numpy(),
        "key": reads["key"].to_numpy(dtype=object), "invoke_time": r_invoke,
        "complete_time": reads["complete_time"].to_numpy(dtype=float),
        "size": np.fromiter((len(c) for c in contents), dtype=np.int64, count=n_reads),
        "missing": missing, "stale": missing > 0,
    })
    return adds_frame, reads_frame


def _empty_adds() -> pd.DataFrame:
    return pd.DataFrame({"op": pd.Series(dtype="int64"), "key": pd.Series(dtype=object),
                         "element": pd.Series(dtype=object), "type": pd.Series(dtype=object),
                         "invoke_time": pd.Series(dtype=float), "complete_time": pd.Series(dtype=float),
                         "lost": pd.Series(dtype=bool), "never_read": pd.Series(dtype=bool),
                         "stable_latency_ms": pd.Series(dtype=float)})


def _empty_reads() -> pd.DataFrame:
    return pd.DataFrame({"op": pd.Series(dtype="int64"), "process": pd.Series(dtype="int64"),
                         "key": pd.Series(dtype=object), "invoke_time": pd.Series(dtype=float),
                         "complete_time": pd.Series(dtype=float), "size": pd.Series(dtype="int64"),
                         "missing": pd.Series(dtype="int64"), "stale": pd.Series(dtype=bool)})
