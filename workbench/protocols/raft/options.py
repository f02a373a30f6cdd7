"""Raft's options (the `raft:` block of an experiment file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workbench.protocols.base import check_leader_options


@dataclass(frozen=True)
class RaftOptions:
    __pydantic_config__ = {"extra": "forbid"}

    election_timeout_min_ms: float = 150.0
    """A follower that hears no leader for a random time in [min, max] starts an election (§5.2)."""
    election_timeout_max_ms: float = 300.0
    """Upper end of the randomized election timeout (§5.2)."""
    heartbeat_ms: float = 50.0
    """An idle leader's AppendEntries interval (§5.2)."""
    pre_vote: bool = True
    """Ask a majority before disrupting the term with an election (thesis §9.6)."""
    check_quorum: bool = True
    """A leader that hears no majority for an election timeout steps down (thesis §6.2)."""
    read_mode: Literal["log", "read_index", "lease", "follower"] = "log"
    """log: reads go through the log; read_index / lease: thesis §6.4; follower: local, may be stale."""
    max_clock_drift: float = 0.01
    """Assumed bound on any clock's rate error (0.01 = 1%); leases shrink by it."""
    max_batch: int = 64
    """Most entries in one AppendEntries."""
    snapshot_threshold: int = 1000
    """Compact the log into a snapshot once this many applied entries accumulate."""
    max_inflight: int = 8
    """Pipelining: AppendEntries with entries in flight per follower before batching up."""
    propose_batch_ms: float | None = None
    """Leader proposes in batches: client requests it receives within this many ms
    (0: at the same instant, e.g. one Ray call's batch) join the log in one append (one
    durable write) and go out in one AppendEntries per follower, instead of an append
    and maybe a send each. Changes cost and timing only, not the protocol's rules;
    None (off) keeps every history."""
    bug: Literal["commit_old_term", "vote_not_persisted", "lease_vote_by_term", "read_index_no_confirm",
                 "long_lease", "log_not_persisted", "snapshot_no_truncate",
                 "snapshot_order_reversed", "batch_reads_ride_writes"] | None = None
    """Deliberate bugs, for proving the fault search can fail (the catalogue with the
    scenario that catches each is `workbench.mutants`): `commit_old_term` skips §5.4.2
    (counts replicas of old-term entries toward commit); `vote_not_persisted` never
    writes votedFor, so a restarted node can vote twice in one term;
    `lease_vote_by_term` restores the old §4.2.3 check that ignored recent leader
    contact for a RequestVote of the node's own (just adopted) term;
    `read_index_no_confirm` serves a ReadIndex read without its heartbeat round
    (§6.4 step 3); `long_lease` makes the lease 10x the minimum election timeout
    (§6.4.1); `log_not_persisted` acks appended entries before they reach storage
    (a crash loses them); `snapshot_no_truncate` keeps a conflicting log suffix after
    InstallSnapshot (§7: it must be discarded); `snapshot_order_reversed` writes an
    installed snapshot as three records, log_base and log before the snapshot, so a torn
    write or a crash between them leaves a log indexed from a snapshot it does not follow;
    `batch_reads_ride_writes` (with `propose_batch_ms`) answers a batch's ReadIndex reads
    at once when the batch also holds writes, taking the writes' AppendEntries for the
    confirmation round (§6.4 step 3) without waiting for their acks."""

    def __post_init__(self) -> None:
        check_leader_options("raft", self, ("max_batch", "snapshot_threshold", "max_inflight"))
        if self.propose_batch_ms is not None and not 0 <= self.propose_batch_ms < float("inf"):
            raise ValueError("raft.propose_batch_ms: must be >= 0 (or null: off)")
