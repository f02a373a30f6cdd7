"""Majority-quorum arithmetic shared by the consensus cores (Raft §5.2-5.3, Paxos Made
Simple §2.1: any two majorities of the same membership intersect)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T", int, float)


def majority(members: int) -> int:
    """The smallest number of nodes that intersects every other such set: n // 2 + 1."""
    return members // 2 + 1


def kth_largest(values: Iterable[T], k: int) -> T:
    """The k-th largest of `values` (k >= 1): the highest point that at least k of them
    reach. With k = a quorum size over per-node progress (Raft's matchIndex, the
    heartbeat rounds a follower acked, the lease start each peer echoed), it is the
    point a quorum has reached — what may be committed or confirmed (Raft §5.3)."""
    return sorted(values, reverse=True)[k - 1]
