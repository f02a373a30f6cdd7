"""Leader leases, shared by Raft (thesis §6.4.1) and Multi-Paxos (PMMC §3 read-only
commands; Chubby's master lease).

A majority acknowledged a heartbeat the leader sent at its own time t. None of them
votes for (promises) another candidate before its own clock has run
election_timeout_min past receiving it. With every clock's rate within 1 ± drift, the
leader's clock reading t + lease is still before that moment when

    lease = election_timeout_min * (1 - drift) / (1 + drift).
"""

from __future__ import annotations


def lease_ms(election_timeout_min_ms: float, max_clock_drift: float) -> float:
    """How long after a heartbeat a majority acked the leader may serve reads alone."""
    d = max_clock_drift
    return election_timeout_min_ms * (1.0 - d) / (1.0 + d)
