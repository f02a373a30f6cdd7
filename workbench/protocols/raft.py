"""Raft (Ongaro & Ousterhout 2014) — options only so far; the core lands with issue 4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RaftOptions:
    __pydantic_config__ = {"extra": "forbid"}

    election_timeout_min_ms: float = 150.0
    election_timeout_max_ms: float = 300.0
    heartbeat_ms: float = 50.0
    pre_vote: bool = True
    check_quorum: bool = True
    read_mode: Literal["log", "read_index", "lease", "follower"] = "log"
    max_clock_drift: float = 0.01
    max_batch: int = 64
    snapshot_threshold: int = 1000
