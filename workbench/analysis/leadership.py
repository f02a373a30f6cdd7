"""Leaders over time: tenures, leader changes, time without a leader.

From trace records: `leader` (a node won an election; Raft §5.2), `step_down` (it
learned of a higher term or, with check-quorum, lost contact with a majority) and
`crash` (it lost its volatile state, leadership included). A tenure runs from the
node's `leader` record to its own `step_down` or `crash` (or the run's end): this is
what the node *believes*, so a deposed leader cut off in a minority keeps its tenure
until it hears otherwise — exactly the window in which it may serve stale reads.

A leader is *effective* while it can reach a majority: not cut into a partition's
minority (the trace's `partition_start` names those nodes) and not paused. The cluster
is leaderless when no effective leader exists: an isolated leader that still believes
in itself cannot commit anything, so from the clients' side the election starts when
the partition does. The first leaderless interval (from time 0) is the initial
election; the others are elections after a failure, the quantity of the Raft paper's
Figure 16.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.trace import trace_frame

TENURE_COLUMNS = ["node", "term", "start", "end", "ended_by"]
LEADERLESS_COLUMNS = ["start", "end", "duration_ms", "initial", "elected"]


def leader_tenures(trace: Iterable[Mapping[str, Any]] | pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """One row per tenure: node, term, start, end, and what ended it (step_down/crash/leader/end)."""
    frame = trace_frame(trace)
    events = frame[frame["kind"].isin(["leader", "step_down", "crash"]) & frame["node"].notna()]
    term = events["term"] if "term" in events.columns else pd.Series(np.nan, index=events.index)
    rows: list[dict[str, Any]] = []
    open_by_node: dict[int, dict[str, Any]] = {}
    for time, kind, node, t in zip(events["time"], events["kind"], events["node"], term, strict=True):
        node = int(node)
        current = open_by_node.pop(node, None)
        if current is not None:  # a crash, a step-down, or re-election in a later term
            current.update(end=time, ended_by=kind)
            rows.append(current)
        if kind == "leader":
            open_by_node[node] = {"node": node, "term": t, "start": time, "end": end_ms, "ended_by": "end"}
    rows.extend(open_by_node.values())
    return (pd.DataFrame(rows, columns=TENURE_COLUMNS)
            .astype({"node": "int64", "start": "float64", "end": "float64"})
            .sort_values(["start", "node"], ignore_index=True))


def blocked_intervals(trace: Iterable[Mapping[str, Any]] | pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """When each node could not lead: in a partition's minority, or paused. node, start, end."""
    frame = trace_frame(trace)
    rows: list[dict[str, Any]] = []
    open_faults: dict[Any, list[dict[str, Any]]] = {}
    for record in frame[frame["kind"].isin(["partition_start", "partition_end", "pause", "resume"])].to_dict("records"):
        kind, fault = record["kind"], record.get("fault_id")
        if kind in ("partition_start", "pause"):
            nodes = record.get("minority") if kind == "partition_start" else [record.get("node")]
            opened = [{"node": int(n), "start": record["time"], "end": end_ms}
                      for n in (nodes if isinstance(nodes, list | tuple | np.ndarray) else [])
                      if n is not None and not pd.isna(n)]
            open_faults[(kind == "pause", fault)] = opened
            rows.extend(opened)
        else:
            for row in open_faults.pop((kind == "resume", fault), []):
                row["end"] = record["time"]
    return pd.DataFrame(rows, columns=["node", "start", "end"]).astype({"start": "float64", "end": "float64"})


def effective_tenures(tenures: pd.DataFrame, blocked: pd.DataFrame) -> pd.DataFrame:
    """Tenures with the times their leader could not reach a majority cut out (may split one)."""
    pieces: list[dict[str, Any]] = []
    for tenure in tenures.to_dict("records"):
        cuts = blocked[(blocked["node"] == tenure["node"]) & (blocked["end"] > tenure["start"])
                       & (blocked["start"] < tenure["end"])].sort_values("start")
        start = tenure["start"]
        for cut_start, cut_end in cuts[["start", "end"]].itertuples(index=False):
            if cut_start > start:
                pieces.append({**tenure, "start": start, "end": cut_start})
            start = max(start, cut_end)
        if start < tenure["end"]:
            pieces.append({**tenure, "start": start})
    return pd.DataFrame(pieces, columns=tenures.columns).astype(tenures.dtypes.to_dict())


def leaderless_intervals(tenures: pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """The gaps in the union of tenures over [0, end_ms]: start, end, duration, initial, elected.

    `elected` is False for a gap still open at the run's end (no leader was ever found).
    """
    gaps: list[tuple[float, float]] = []
    covered_until = 0.0
    for start, end in tenures.sort_values("start")[["start", "end"]].itertuples(index=False):
        if start > covered_until:
            gaps.append((covered_until, start))
        covered_until = max(covered_until, end)
    if covered_until < end_ms:
        gaps.append((covered_until, end_ms))
    frame = pd.DataFrame(gaps, columns=["start", "end"], dtype="float64")
    return frame.assign(duration_ms=frame["end"] - frame["start"],
                        initial=frame["start"].eq(0.0),
                        elected=frame["end"].lt(end_ms))[LEADERLESS_COLUMNS]


def leadership_summary(trace: Iterable[Mapping[str, Any]] | pd.DataFrame, end_ms: float) -> pd.DataFrame:
    """One row: leader changes, time without an effective leader and its share of the run, longest gap.

    Leaderless figures leave out the initial election (every run pays it once; what a
    fault costs is the time without a leader afterwards), reported on its own.
    """
    frame = trace_frame(trace)
    tenures = leader_tenures(frame, end_ms)
    gaps = leaderless_intervals(effective_tenures(tenures, blocked_intervals(frame, end_ms)), end_ms)
    later = gaps[~gaps["initial"]]
    initial = gaps.loc[gaps["initial"], "duration_ms"]
    return pd.DataFrame([{
        "leader_changes": len(tenures),
        "leaders": tenures["node"].nunique(),
        "initial_election_ms": float(initial.iloc[0]) if len(initial) else 0.0,
        "leaderless_ms": float(later["duration_ms"].sum()),
        "leaderless_fraction": float(later["duration_ms"].sum() / end_ms) if end_ms else np.nan,
        "longest_leaderless_ms": float(later["duration_ms"].max()) if len(later) else 0.0,
    }])
