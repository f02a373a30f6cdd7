"""Read-only queries without a log entry (Raft thesis §6.4, as etcd's read_only.go):
ReadIndex — note the commit index, confirm leadership with a round of heartbeats,
wait until applied — and leader leases (§6.4.1), which skip the round while a
majority's acks of a recent round promise that no other leader can exist.

Rounds: every leader broadcast carries `round`; a follower echoes it in its reply,
so `_acked_round[p]` is the newest round p acknowledged and the quorum-th largest of
them is the newest round a majority confirmed. `ReadOnly` is a mixin of `RaftNode`.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.core.ids import NodeId
from workbench.core.ops import ClientRequest
from workbench.protocols.common.quorum import kth_largest

_NEVER = float("-inf")


class ReadOnly:
    """Reads waiting for a confirmed round and the applied index, and the lease."""

    _acked_round: list[int]  # newest round each peer acknowledged, by node id
    _round: int  # the leader's latest broadcast round
    _confirmed: int  # newest round a majority acknowledged
    _round_wanted: bool  # a read waits for the next round: start one when this one confirms
    _round_sent: dict[int, float]  # round -> leader time it left (leases only)
    _lease_until: float
    _reads: list[tuple[int, int, NodeId, ClientRequest]]  # (round needed, read index, origin, request)


    def lease_until(self) -> float | None:
        """Local time its lease runs to, while this node leads with leases on; else None.
        (Thesis §6.4.1; the explorer's `lease_overlap` reads it, the protocol does not.)"""
        return self._lease_until if self._lease and self.is_leader() else None

    def needs_leader(self, request: ClientRequest) -> bool:
        # `follower` reads are served from local state, leader or not.
        return not (request.f == "read" and self._read_mode == "follower")

    def _init_read_only(self, size: int) -> None:
        self._acked_round = [0] * size
        self._round = 0
        self._confirmed = 0
        self._round_wanted = False
        self._round_sent = {}
        self._lease_until = _NEVER
        self._reads = []

    def _reset_read_only(self) -> None:
        """A new leader: no round sent, none confirmed, no lease."""
        for p in self.peers:
            self._acked_round[p] = 0
        self._round = 0
        self._confirmed = 0
        self._round_wanted = False
        self._round_sent.clear()
        self._lease_until = _NEVER

    def _fail_reads(self) -> None:
        """Stepping down: a read has no effect, so one not served is truly not done."""
        for _, _, origin, request in self._reads:
            self._answer(origin, request, False, None, "not leader")
        self._reads.clear()

    def _read(self, request: ClientRequest, origin: NodeId, now: float) -> None:
        """Thesis §6.4 ReadIndex: note the commit index — at least this term's no-op,
        so every earlier commit is included — confirm leadership with a round of
        heartbeats, wait until applied, answer from the state machine. §6.4.1 lease:
        while the lease runs, skip the round."""
        self._read_many(((request, origin),), now)

    def _read_many(self, reads: Sequence[tuple[ClientRequest, NodeId]], now: float) -> None:
        """`_read` for reads that arrived together (`raft.propose_batch_ms`): one read
        index and one confirmation round serve them all, as if they were one read."""
        index = self.commit if self.commit > self._term_start else self._term_start
        if (self._lease and now < self._lease_until) or self._n == 1 or \
                self._bug == "read_index_no_confirm":  # BUG: no confirmation round
            needed = 0
        elif self._confirmed >= self._round:
            self._broadcast_round(now, tick=False)  # nothing outstanding: start one now
            needed = self._round
        else:
            self._round_wanted = True  # piggyback on the next round (batches reads)
            needed = self._round + 1
        ready = needed <= self._confirmed and self.applied >= index
        for request, origin in reads:
            if ready:
                self._answer(origin, request, True, self.sm.read(request.key), None)
            else:
                self._reads.append((needed, index, origin, request))

    def _confirm_rounds(self, now: float) -> None:
        # Our own ack is implicit: quorum - 1 peers complete a majority.
        confirmed = (kth_largest([self._acked_round[p] for p in self.peers], self._quorum - 1)
                     if self._quorum >= 2 else self._round)
        if confirmed <= self._confirmed:
            return
        self._confirmed = confirmed
        if self._lease:
            sent = self._round_sent
            if confirmed in sent:
                self._lease_until = sent[confirmed] + self._lease_ms
            for r in [r for r in sent if r <= confirmed]:
                del sent[r]
        if self._reads:
            self._serve_reads()
        if self._round_wanted and self._reads:
            self._round_wanted = False
            self._broadcast_round(now, tick=False)

    def _serve_reads(self) -> None:
        waiting = []
        confirmed, applied = self._confirmed, self.applied
        for item in self._reads:
            needed, index, origin, request = item
            if needed <= confirmed and applied >= index:
                self._answer(origin, request, True, self.sm.read(request.key), None)
            else:
                waiting.append(item)
        self._reads = waiting
