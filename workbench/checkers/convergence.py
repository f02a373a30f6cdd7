"""Convergence after the last heal: how long until every live replica holds the same state.

Input is the run's trace: `{"time", "kind": "digest", "node", "digest"}` whenever a
replica's state digest changes, and fault events. The *last heal* is the latest
`partition_end`, `restart` or `resume`: after it the cluster is whole again, and a
restarted or resumed node has to catch up too, so measuring from an earlier
`partition_end` would stop the clock before the cluster was whole. Pass
`heal_kinds=("partition_end",)` to measure from the partition alone.

Live replicas: nodes 0..nodes-1 except those crashed (`crash` until `restart`) or
paused (`pause` until `resume`). A node with no digest yet holds the initial state,
the same for all (None); a restarted node counts as different until it reports one.
The answer is the first instant at or after the last heal at which all live replicas'
digests are equal, minus the heal time; None when that does not happen before
`end_ms`, or when there was no heal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

HEAL_KINDS = ("partition_end", "restart", "resume")
_DOWN = {"crash": True, "pause": True, "restart": False, "resume": False}
_UNREPORTED = object()


def convergence_ms(trace: Iterable[Mapping[str, Any]], *, nodes: int, end_ms: float,
                   heal_kinds: tuple[str, ...] = HEAL_KINDS) -> float | None:
    records = sorted((r for r in trace if r.get("kind") in _DOWN or r.get("kind") == "digest"
                      or r.get("kind") in heal_kinds),
                     key=lambda r: r["time"])
    heals = [r["time"] for r in records if r["kind"] in heal_kinds]
    if not heals:
        return None
    heal = max(heals)
    if heal > end_ms:
        return None

    digest: dict[int, Any] = dict.fromkeys(range(nodes))
    crashed: set[int] = set()
    paused: set[int] = set()
    i, n = 0, len(records)
    # Replay everything up to and including the heal instant.
    while i < n and records[i]["time"] <= heal:
        _apply(records[i], digest, crashed, paused)
        i += 1
    if _agree(digest, crashed | paused):
        return 0.0
    while i < n and records[i]["time"] <= end_ms:
        now = records[i]["time"]
        while i < n and records[i]["time"] == now:  # one instant at a time
            _apply(records[i], digest, crashed, paused)
            i += 1
        if _agree(digest, crashed | paused):
            return float(now - heal)
    return None


def _apply(record: Mapping[str, Any], digest: dict[int, Any], crashed: set[int],
           paused: set[int]) -> None:
    kind, node = record["kind"], record.get("node")
    if kind == "digest":
        if node in digest:
            digest[node] = record.get("digest")
    elif node is not None and kind in _DOWN:
        down = crashed if kind in ("crash", "restart") else paused
        if _DOWN[kind]:
            down.add(node)
            if kind == "crash" and node in digest:
                # Its state until it reports again is not known (runtimes report a
                # digest once a restarted node is up).
                digest[node] = _UNREPORTED
        else:
            down.discard(node)


def _agree(digest: dict[int, Any], down: set[int]) -> bool:
    live = [d for node, d in digest.items() if node not in down]
    return all(d == live[0] for d in live[1:])
