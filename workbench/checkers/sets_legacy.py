"""The set checker's rule before issue 20, kept only as a mutant for the catalogue.

It under-counts lost adds against Jepsen's set-full: an `info` add is never lost, and an
ok add is lost only if the *last* read began after the ack and misses it. `sets.py`
reaches it with `set_report(frame, rule="legacy")`; nothing else should.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import hashable


def key_report(adds: pd.DataFrame, reads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
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


