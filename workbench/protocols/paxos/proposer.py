"""The proposer (Paxos Made Simple §2.2 phases 1a and 2a; PMMC's scout and commander):
phase 1 once for every open slot with a ballot above any seen, then phase 2 per slot
while the ballot holds; single-decree mode runs phase 1 per slot (PMS §2.2). Also
what only a leader does: heartbeats and retransmission, catch-up of lagging
followers, and the read lease (PMMC §3 "read-only commands").

`Proposer` is a mixin of `PaxosNode`: its fields live on the node (no extra hop per
message).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workbench.core.effects import Send
from workbench.core.ids import NodeId
from workbench.core.ops import ClientRequest
from workbench.protocols.common.quorum import kth_largest
from workbench.protocols.common.roles import CANDIDATE, FOLLOWER, LEADER
from workbench.protocols.paxos.messages import (
    NO_ECHO,
    ZERO,
    Accept,
    Accepted,
    Ack,
    Ballot,
    Command,
    Decisions,
    Entry,
    Heartbeat,
    Nack,
    Prepare,
    Promise,
    SlotPrepare,
    SlotPromise,
    Value,
)
from workbench.protocols.state_machine import Outcome

ELECTION, HEARTBEAT = "election", "heartbeat"  # timer names
_RETRANSMIT_LIMIT = 64  # proposals resent per heartbeat tick


@dataclass(slots=True)
class _Proposal:
    """A phase 2 in progress at the leader (PMMC's commander)."""

    value: Value
    acks: int  # bit mask of acceptors that accepted
    sent_at: float


@dataclass(slots=True)
class _SlotPhase1:
    """single_decree: a per-slot phase 1 in progress (PMMC's scout, for one slot)."""

    command: Command
    acks: int
    sent_at: float
    best_ballot: Ballot = ZERO
    best_value: Value = None
    decided: bool = False



class Proposer:
    """Phase 1 and phase 2 in progress, and the leader's view of its followers."""

    ballot: Ballot  # this node's own ballot as candidate or leader
    best: dict[int, tuple[Ballot, Value, bool]]  # phase 1: highest-ballot value per slot
    next_slot: int
    proposals: dict[int, _Proposal]
    slot_phase1: dict[int, _SlotPhase1]
    inflight: dict[tuple[int, int], int]  # request id -> slot it is proposed in
    last_heard: dict[NodeId, float]
    lease_echo: dict[NodeId, float]
    lease_until: float
    lease_reads: list[tuple[int, ClientRequest, NodeId]]
    read_floor: int
    catchup_sent: dict[NodeId, tuple[int, float]]

    # ================================================================== phase 1
    def _start_phase1(self, now: float) -> None:
        """PMS §2.2 phase 1(a) with a ballot above any seen; PMMC's scout."""
        ballot = (self.max_round + 1, self.id)
        self.role = CANDIDATE
        self.ballot = ballot
        self._promise(ballot)  # our own acceptor's promise, durable before Prepare goes out
        self.votes = 1 << self.id
        self.best = {}
        self._merge(self._promise_entries(self.next_apply))
        if self._bug == "skip_phase1":
            self._become_leader(now)  # BUG: proposes without learning what a majority accepted
            return
        self.broadcast(Prepare(ballot, self.next_apply))
        if self.quorum == 1:
            self._become_leader(now)

    def _merge(self, entries: tuple[Entry, ...]) -> None:
        best = self.best
        for slot, ballot, value, decided in entries:
            current = best.get(slot)
            if current is None or (not current[2] and (decided or ballot > current[0])):
                best[slot] = (ballot, value, decided)

    def _on_promise(self, src: NodeId, m: Promise, now: float) -> None:
        if m.checkpoint is not None:
            # Before the promise counts: slots below it are chosen and this acceptor
            # no longer reports them, so we must not propose there (see `_compact`).
            self._install(m.checkpoint, now)
        if self.role != CANDIDATE or m.ballot != self.ballot:
            return
        bit = 1 << src
        if self.votes & bit:
            return
        self.votes |= bit
        self._merge(m.entries)
        if self.votes.bit_count() >= self.quorum:
            self._become_leader(now)

    def _on_nack(self, src: NodeId, m: Nack, now: float) -> None:
        if m.promised[0] > self.max_round:
            self.max_round = m.promised[0]
        if (m.ballot == self.ballot and m.promised > self.ballot
                and self.role in (CANDIDATE, LEADER)):
            # Preempted (PMMC): a higher ballot was promised; back off, and let the
            # randomized election timeout pick the next proposer.
            self._step_down(now)

    def _become_leader(self, now: float) -> None:
        """Phase 1 done: re-propose what a majority may have chosen, fill gaps (PMS §3)."""
        self.role = LEADER
        self.leader_id = self.id
        self.leader_ballot = self.ballot
        self.cancel_timer(ELECTION)
        self.observe("leader", term=self.ballot[0])
        self.proposals = {}
        self.slot_phase1 = {}
        self.inflight = {}
        self.last_heard = {peer: now for peer in self.peers}
        self.lease_echo = {}
        self.lease_until = math.inf if self.quorum == 1 else -math.inf
        self.catchup_sent = {}
        best, self.best = self.best, {}
        if self._bug == "skip_phase1":
            self.next_slot = self.next_apply
        else:
            for slot, (_, value, decided) in best.items():
                if decided:
                    self._decide(slot, value, now)
            top = max(self.max_slot, max(best, default=-1))
            self.next_slot = max(self.next_apply, top + 1)
            for slot in range(self.next_apply, self.next_slot):
                # next_apply may move on inside this loop (a cluster of one decides at
                # once, and may compact): below it, slots are decided, maybe forgotten.
                if slot >= self.next_apply and slot not in self.decided:
                    entry = best.get(slot)
                    if self._bug == "slot_ignores_accepted":
                        entry = None  # BUG: an accepted, maybe chosen, value refilled as a gap
                    # The highest-ballot accepted value (P2c), or a no-op for a gap.
                    self._propose(slot, entry[1] if entry is not None else None, now)
        # A value a previous leader acknowledged sits in a slot phase 1 recovered, which
        # we may not know is decided yet: lease reads wait for all of them (_lease_read).
        self.read_floor = self.next_slot
        self._send_heartbeats(now)
        self.set_timer(HEARTBEAT, self._hb)
        for waiting in list(self.waiting.values()):
            self._submit(Command(waiting.request, self.id), now)

    def _lose_leader(self) -> None:
        """Forget the leader."""
        self.leader_id = None

    def _step_down(self, now: float) -> None:
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self._lose_leader()
        self.quiet_since = now
        if was_leader:
            self.observe("step_down", term=self.ballot[0])
            self.proposals = {}
            self.slot_phase1 = {}
            self.inflight = {}
            self.lease_until = -math.inf
            # Reads not yet served did nothing; our own clients' reads stay in
            # `waiting` and go to the next leader.
            self.lease_reads = []
            self.cancel_timer(HEARTBEAT)
            self._arm_election()

    # ================================================================== phase 2, as leader

    def _submit(self, command: Command, now: float) -> None:
        """A new client command at the leader: into the next free slot."""
        request = command.request
        rid = request.request_id
        if rid in self.inflight:
            return  # a retry of a command already being proposed
        if self.sm.is_duplicate(request):
            self._deliver(request, command.origin, self.sm.apply(request))  # the cached result
            return
        if self._leases and request.f == "read" and now < self.lease_until:
            self._lease_read(request, command.origin)
            return
        slot = self.next_slot
        self.next_slot = slot + 1
        if self._single:
            self._start_slot_phase1(slot, command, now)
        else:
            self._propose(slot, command, now)

    def _propose(self, slot: int, value: Value, now: float) -> None:
        """PMS §2.2 phase 2(a) for one slot; PMMC's commander."""
        ballot = self.ballot
        self._accept(slot, ballot, value)  # the leader's own acceptor
        self.proposals[slot] = _Proposal(value, 1 << self.id, now)
        if value is not None:
            self.inflight[value.request.request_id] = slot
        message = Accept(ballot, slot, value, self.next_apply)
        outbox = self._outbox
        for peer in self.peers:
            outbox.append(Send(peer, message))
        if self.quorum == 1:
            self._decide(slot, value, now)

    def _on_accepted(self, src: NodeId, m: Accepted, now: float) -> None:
        if self.role != LEADER or m.ballot != self.ballot:
            return
        self.last_heard[src] = now
        proposal = self.proposals.get(m.slot)
        if proposal is None:
            return
        proposal.acks |= 1 << src
        if proposal.acks.bit_count() >= self.quorum:
            # Chosen: a majority accepted it (PMS §2.3); the leader learns first.
            self._decide(m.slot, proposal.value, now)

    def _start_slot_phase1(self, slot: int, command: Command, now: float) -> None:
        """single_decree: the Synod protocol's phase 1 for this slot alone (PMS §2.2)."""
        phase = _SlotPhase1(command, 1 << self.id, now)
        entry = self.accepted.get(slot)
        if entry is not None:
            phase.best_ballot, phase.best_value = entry
        self.slot_phase1[slot] = phase
        self.inflight[command.request.request_id] = slot
        self.broadcast(SlotPrepare(self.ballot, slot))
        if self.quorum == 1:
            del self.slot_phase1[slot]
            self._finish_slot_phase1(slot, phase, now)

    def _on_slot_promise(self, src: NodeId, m: SlotPromise, now: float) -> None:
        if self.role != LEADER or m.ballot != self.ballot:
            return
        self.last_heard[src] = now
        phase = self.slot_phase1.get(m.slot)
        if phase is None:
            return
        bit = 1 << src
        if phase.acks & bit:
            return
        phase.acks |= bit
        if m.decided:
            phase.decided, phase.best_value = True, m.value
        elif not phase.decided and m.accepted_ballot > phase.best_ballot:
            phase.best_ballot, phase.best_value = m.accepted_ballot, m.value
        if phase.acks.bit_count() >= self.quorum:
            del self.slot_phase1[m.slot]
            self._finish_slot_phase1(m.slot, phase, now)

    def _finish_slot_phase1(self, slot: int, phase: _SlotPhase1, now: float) -> None:
        command = phase.command
        if phase.decided:
            self._decide(slot, phase.best_value, now)
            taken: Value = phase.best_value
        elif phase.best_ballot != ZERO and self._bug != "slot_ignores_accepted":
            # PMS §2.2: the slot's value must be the highest-ballot accepted one.
            self._propose(slot, phase.best_value, now)
            taken = phase.best_value
        else:
            self._propose(slot, command, now)
            return
        if taken != command:
            # The slot was someone else's; our command goes to a fresh slot.
            self.inflight.pop(command.request.request_id, None)
            self._submit(command, now)

    def _heartbeat_tick(self, now: float) -> None:
        if self.role != LEADER:
            return
        alive = 1
        horizon = now - self._et_max
        for peer in self.peers:
            if self.last_heard[peer] > horizon:
                alive += 1
        if alive < self.quorum:
            # No majority acked within an election timeout: we cannot commit, and a
            # majority elsewhere may have moved on. Step down.
            self._step_down(now)
            return
        self._send_heartbeats(now)
        self._retransmit(now)
        self.set_timer(HEARTBEAT, self._hb)

    def _send_heartbeats(self, now: float) -> None:
        self._hb_commit = self.next_apply
        self.broadcast(Heartbeat(self.ballot, self.next_apply, now))

    def _retransmit(self, now: float) -> None:
        """Resend phase 2a (and single-decree phase 1a) that got no majority in a heartbeat."""
        cutoff = now - self._hb
        sent = 0
        ballot, commit, peers = self.ballot, self.next_apply, self.peers
        for slot, proposal in self.proposals.items():
            if proposal.sent_at > cutoff:
                continue
            message = Accept(ballot, slot, proposal.value, commit)
            for peer in peers:
                if not (proposal.acks >> peer) & 1:
                    self.send(peer, message)
            proposal.sent_at = now
            sent += 1
            if sent >= _RETRANSMIT_LIMIT:
                break
        for slot, phase in self.slot_phase1.items():
            if phase.sent_at > cutoff:
                continue
            for peer in peers:
                if not (phase.acks >> peer) & 1:
                    self.send(peer, SlotPrepare(ballot, slot))
            phase.sent_at = now

    def _on_ack(self, src: NodeId, m: Ack, now: float) -> None:
        if self.role != LEADER:
            return
        if m.ballot == self.ballot:
            self.last_heard[src] = now
            if self._leases and m.echo != NO_ECHO:
                self._extend_lease(src, m.echo)
        # A heartbeat ack may trail our commit point only by what was decided since
        # the heartbeat left; below the commit it carried, the follower lacks values.
        behind = self._hb_commit if m.echo != NO_ECHO else self.next_apply
        if m.first_unchosen < behind:
            self._catch_up(src, m.first_unchosen, now)

    def _extend_lease(self, src: NodeId, echo: float) -> None:
        if echo <= self.lease_echo.get(src, -math.inf):
            return
        self.lease_echo[src] = echo
        needed = self.quorum - 1  # peers besides the leader itself
        if len(self.lease_echo) < needed:
            return
        start = kth_largest(self.lease_echo.values(), needed)  # a majority with us
        until = start + self._lease_ms
        if until > self.lease_until:
            self.lease_until = until

    def _catch_up(self, peer: NodeId, first: int, now: float) -> None:
        """Resend decided values a follower lacks (one batch in flight per follower)."""
        last = self.catchup_sent.get(peer)
        if last is not None and last[0] == first and now - last[1] < self._hb:
            return
        self.catchup_sent[peer] = (first, now)
        if first < self.checkpoint_slot:
            # We compacted what it lacks: the checkpoint instead (Raft §7 InstallSnapshot).
            self.send(peer, self._checkpoint)
            return
        end = min(first + self.options.catchup_batch, self.next_apply)
        decided = self.decided
        entries = tuple((slot, decided[slot]) for slot in range(first, end))
        self.send(peer, Decisions(self.ballot, entries))

    # ================================================================== leases

    def _lease_read(self, request: ClientRequest, origin: NodeId) -> None:
        """A read served by the leaseholder without the log (PMMC §3, read-only commands).

        No other leader can exist during the lease, so every write acknowledged before
        the read arrived is either one we decided (a slot below `decided_until`: we
        answer a client only after deciding its slot) or one a previous leader decided
        (a slot phase 1 recovered, below `read_floor`). The read waits until those are
        applied. It does not wait for our own undecided proposals: none of them was
        acknowledged, so each is concurrent with the read, which may come before it
        (as Raft's ReadIndex takes the commit index, not the last log index, §6.4).
        Waiting for them (`next_slot`, as before) starved reads behind a write that
        could not commit, e.g. at a leader cut off from its followers.
        """
        read_index = max(self.read_floor, self.decided_until)
        if self.next_apply >= read_index:
            self._deliver(request, origin, Outcome(True, self.sm.read(request.key)))
        else:
            self.lease_reads.append((read_index, request, origin))

    def _serve_lease_reads(self) -> None:
        ready = [r for r in self.lease_reads if r[0] <= self.next_apply]
        if not ready:
            return
        self.lease_reads = [r for r in self.lease_reads if r[0] > self.next_apply]
        for _, request, origin in ready:
            self._deliver(request, origin, Outcome(True, self.sm.read(request.key)))
