"""Multi-Paxos options (the `paxos:` block of an experiment file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workbench.protocols.base import check_leader_options


@dataclass(frozen=True)
class PaxosOptions:
    __pydantic_config__ = {"extra": "forbid"}

    election_timeout_min_ms: float = 150.0
    """A node that hears no leader for a random time in [min, max] runs phase 1 to lead."""
    election_timeout_max_ms: float = 300.0
    """Upper end of the randomized leader timeout."""
    heartbeat_ms: float = 50.0
    """The leader's heartbeat interval."""
    single_decree: bool = False
    """Basic Paxos per command: phase 1 and phase 2 for every slot (two round trips per op)."""
    leases: bool = False
    """The leader serves reads locally while it holds a lease granted by a majority's heartbeat acks."""
    max_clock_drift: float = 0.01
    """Bound on any clock's drift rate; leases shrink by it."""
    pre_vote: bool = True
    """Ask a majority whether it would promise before raising the ballot (keeps leaders stable)."""
    catchup_batch: int = 256
    """Decided values sent per `Decisions` message to a lagging follower."""
    snapshot_threshold: int = 1000
    """Checkpoint the state machine and forget per-slot state once this many slots were
    applied since the last checkpoint (Paxos Made Live §5.5; Raft's option of the same name)."""
    bug: Literal["forget_promise", "skip_phase1", "silent_compaction", "accept_below_promise",
                 "accept_not_persisted", "long_lease", "slot_ignores_accepted",
                 "accept_ack_before_persist"] | None = None
    """Deliberately broken variants (catalogue: `workbench.mutants`): `forget_promise` never
    persists the promised ballot, so a restarted acceptor forgets it; `skip_phase1` lets a
    new leader propose without phase 1; `silent_compaction` leaves the checkpoint out of a
    promise, so compacted slots vanish from phase 1 (the new leader may fill chosen slots
    with no-ops); `accept_below_promise` accepts a ballot lower than the one promised
    (PMS §2.2 phase 2b); `accept_not_persisted` acks an Accept before the accepted value
    is durable (a crash forgets it); `long_lease` makes the lease 10x the election
    timeout; `slot_ignores_accepted` ignores the highest-ballot accepted value that phase 1
    reported for a slot (PMS §2.2 P2c): a new leader refills such a slot with a no-op, as
    if it were a gap (PMS §3), and single_decree's per-slot phase 1 proposes its own command;
    `accept_ack_before_persist` sends Accepted before asking for the persist, so with a
    disk model the ack does not wait for the fsync (issue 12)."""

    def __post_init__(self) -> None:
        check_leader_options("paxos", self, ("catchup_batch", "snapshot_threshold"))
