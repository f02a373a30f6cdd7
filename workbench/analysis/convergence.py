"""Convergence time: how long after a partition heals until all replicas hold the same state.

The runtimes sample each live replica's state digest and trace it when it changes
(`digest` records). Replicas *agree* at a moment when every live node's latest digest
is the same; a crashed node is not live until it restarts (and differs until it
traces a fresh digest), a paused one until it resumes. After each heal, convergence
is the first moment of agreement, as long as it comes before the next partition
starts (else the run never converged in between: NaN). Eventual consistency promises
exactly this (Vogels 2009, "Eventually Consistent"): once the partition is gone, all
replicas end up alike.

The checkers' `convergence_ms` gives one number per run, from the last heal of any
kind; this gives one row per partition, for runs with several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.trace import trace_frame

_DOWN = "down"  # stands for a crashed or paused node's digest; dropped before comparing


def _states(frame: pd.DataFrame) -> pd.DataFrame:
    """time, node, state: each node's digest as it changes; down while crashed or paused.

    A resumed node holds the digest it had when paused; a restarted one differs from
    every other until it reports a digest (it has to catch up first).
    """
    rows: list[tuple[float, int, str]] = []
    last: dict[int, str] = {}
    kinds = ["digest", "crash", "restart", "pause", "resume"]
    events = frame[frame["kind"].isin(kinds) & frame["node"].notna()]
    digests = events["digest"] if "digest" in events.columns else pd.Series(index=events.index)
    for time, kind, node, digest in zip(events["time"], events["kind"], events["node"], digests,
                                        strict=True):
        node = int(node)
        if kind == "digest":
            last[node] = str(digest)
            rows.append((time, node, last[node]))
        elif kind in ("crash", "pause"):
            rows.append((time, node, _DOWN))
        elif kind == "resume":
            rows.append((time, node, last.get(node, _DOWN)))
        else:  # restart
            rows.append((time, node, f"restarted:{node}:{time}"))
    return pd.DataFrame(rows, columns=["time", "node", "state"])


def agreement(trace: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """One row per moment some node's state changed: `time`, `live` nodes, `agree` (all live equal)."""
    wide = (
        _states(trace_frame(trace))
        .pivot_table(index="time", columns="node", values="state", aggfunc="last")
        .ffill()
        .replace(_DOWN, np.nan)
    )
    return pd.DataFrame({
        "time": wide.index.to_numpy(dtype=float),
        "live": wide.notna().sum(axis=1).to_numpy(),
        "agree": (wide.nunique(axis=1).le(1) & wide.notna().any(axis=1)).to_numpy(),
    })


def convergence_times(trace: Iterable[Mapping[str, Any]] | pd.DataFrame,
                      intervals: pd.DataFrame) -> pd.DataFrame:
    """One row per partition that healed: fault_id, healed_at, converged_at, convergence_ms.

    `intervals` is `phases.partition_intervals(...)`; a partition still active at the
    run's end never healed and has no row.
    """
    frame = trace_frame(trace)
    agree = agreement(frame)
    healed = set(frame.loc[frame["kind"].eq("partition_end"), "fault_id"]) if "fault_id" in frame else set()
    starts = np.sort(intervals["start"].to_numpy(dtype=float))
    rows: list[dict[str, Any]] = []
    for fault_id, end in intervals[intervals["fault_id"].isin(healed)][["fault_id", "end"]].itertuples(index=False):
        # Agreement holds from a change until the next change, so the state at the heal
        # is that of the last change at or before it.
        at_or_before = agree[agree["time"] <= end]
        if len(at_or_before) and at_or_before["agree"].iloc[-1]:
            converged = float(end)
        else:
            later = agree[(agree["time"] > end) & agree["agree"]]
            converged = float(later["time"].iloc[0]) if len(later) else np.nan
        next_start = starts[starts > end]
        if len(next_start) and converged >= next_start[0]:
            converged = np.nan  # a new partition began first: no convergence in between
        rows.append({"fault_id": fault_id, "healed_at": float(end), "converged_at": converged,
                     "convergence_ms": converged - float(end)})
    return pd.DataFrame(rows, columns=["fault_id", "healed_at", "converged_at", "convergence_ms"])
