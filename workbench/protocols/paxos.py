"""Multi-Paxos — options only so far; the core lands with issue 5."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaxosOptions:
    __pydantic_config__ = {"extra": "forbid"}

    election_timeout_min_ms: float = 150.0
    election_timeout_max_ms: float = 300.0
    heartbeat_ms: float = 50.0
    single_decree: bool = False
    leases: bool = False
    max_clock_drift: float = 0.01
