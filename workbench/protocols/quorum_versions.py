"""Versions of a key in the quorum store (DeCandia et al. 2007, Dynamo §4.4): an HLC
timestamp per write, and under `versioning: vv` a version vector, so that concurrent
writes are kept side by side as siblings until a write that saw them replaces them.
Pure functions on immutable tuples, shared by the coordinator and the replica sides of
`quorum.py`."""

from __future__ import annotations

from typing import Any

from workbench.core.ids import NodeId

Clock = tuple[tuple[NodeId, int], ...]
"""A version vector as sorted (node, counter) pairs; () under LWW."""

Entry = tuple[int, Clock, Any]
"""(HLC timestamp, version vector, value): one version of a key."""

Entries = tuple[Entry, ...]
"""A key's versions: one under LWW, the sibling set (mutually concurrent) under VV."""


def _descends(a: Clock, b: Clock) -> bool:
    """a >= b entry-wise (a has seen everything b has)."""
    mine = dict(a)
    return all(mine.get(node, 0) >= count for node, count in b)


def merge_entries(a: Entries, b: Entries, versioning: str) -> Entries:
    """The join of two version sets: LWW keeps the greatest timestamp; VV keeps every
    version no other version descends from (siblings), ordered by timestamp."""
    if not a:
        return b
    if not b:
        return a
    if versioning == "lww":
        return (max(a[0], b[0], key=lambda e: e[0]),)
    union = {e[0]: e for e in (*a, *b)}  # a timestamp names one write
    kept = [e for e in union.values()
            if not any(o[0] != e[0] and _descends(o[1], e[1]) for o in union.values())]
    return tuple(sorted(kept, key=lambda e: e[0]))


def resolve(entries: Entries) -> Any:
    """What a read returns: the value of the newest version (greatest HLC timestamp)."""
    return max(entries, key=lambda e: e[0])[2] if entries else None


def newest_stamp(entries: Entries) -> int:
    return max(e[0] for e in entries) if entries else -1
