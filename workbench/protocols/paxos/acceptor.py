"""The acceptor (Paxos Made Simple §2.2 phases 1b and 2b): the promised ballot and the
accepted (ballot, value) per slot — durable before any reply that depends on them
(PMS §2.5) — and the refusal to help a new candidate while a live leader is heard,
which keeps leadership stable and makes leases safe.

`Acceptor` is a mixin of `PaxosNode`: its fields live on the node (no extra hop per
message); this module is the only one that changes `promised` and `accepted`.
"""

from __future__ import annotations

from workbench.core.ids import NodeId
from workbench.core.storage import Put, PutItem
from workbench.protocols.common.roles import FOLLOWER, LEADER
from workbench.protocols.paxos.invariants import AUDIT_ACCEPT, AUDIT_PROMISE
from workbench.protocols.paxos.messages import (
    ZERO,
    Accept,
    Accepted,
    Ack,
    Ballot,
    Entry,
    Heartbeat,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    SlotPrepare,
    SlotPromise,
    Value,
)


class Acceptor:
    """Promises and acceptances, per slot (restored from storage by `PaxosNode`)."""

    promised: Ballot
    accepted: dict[int, tuple[Ballot, Value]]
    max_slot: int  # highest slot accepted or decided here
    max_round: int  # highest ballot round seen anywhere (a new ballot goes above it)

    def _promise(self, ballot: Ballot) -> None:
        """Raise the promise; durable before the reply that depends on it (PMS §2.5)."""
        self.promised = ballot
        if ballot[0] > self.max_round:
            self.max_round = ballot[0]
        if self._bug != "forget_promise":
            self.persist(Put("promised", ballot))
        if self._audit is not None:
            self._audit.append((AUDIT_PROMISE, ballot))

    def _accept(self, slot: int, ballot: Ballot, value: Value) -> None:
        """PMS §2.2 phase 2(b): accept unless a higher ballot was promised (callers check)."""
        self.accepted[slot] = (ballot, value)
        if self._bug != "accept_not_persisted":
            # BUG `accept_not_persisted`: memory only; a crash forgets the acceptance.
            self.persist(PutItem("accepted", slot, (ballot, value)))
        if slot > self.max_slot:
            self.max_slot = slot
        if self._audit is not None:
            self._audit.append((AUDIT_ACCEPT, slot, ballot))

    def _sticky(self, candidate: NodeId, now: float) -> bool:
        """Refuse to help `candidate` while a live leader is heard (and while leading).

        This is what makes a lease safe: an acceptor that acked the leader's heartbeat
        promises no one else for an election timeout, so no new leader can be chosen
        (and no write committed behind the leader's back) while the lease runs.
        """
        if self.role == LEADER or now < self.boot_quiet_until:
            return True
        return (self.leader_id is not None and self.leader_id != candidate
                and now - self.leader_seen < self._et_min)

    def _promise_entries(self, first_slot: int) -> tuple[Entry, ...]:
        """What this acceptor accepted or knows decided, from first_slot (or its checkpoint) on."""
        decided, accepted = self.decided, self.accepted
        entries: list[Entry] = []
        for slot in range(max(first_slot, self.checkpoint_slot), self.max_slot + 1):
            if slot in decided:
                entries.append((slot, ZERO, decided[slot], True))
            else:
                entry = accepted.get(slot)
                if entry is not None:
                    entries.append((slot, entry[0], entry[1], False))
        return tuple(entries)

    def _on_prepare(self, src: NodeId, m: Prepare, now: float) -> None:
        """PMS §2.2 phase 1(b), for all slots >= first_slot at once (PMS §3)."""
        ballot = m.ballot
        if ballot[0] > self.max_round:
            self.max_round = ballot[0]
        if ballot < self.promised:
            self.send(src, Nack(ballot, self.promised))
            return
        if self._sticky(src, now):
            return
        if ballot > self.promised:
            if self.role != FOLLOWER:
                self._step_down(now)
            self._promise(ballot)
            self._lose_leader()
        # Slots below our checkpoint have no per-slot state left: the checkpoint stands
        # for them, inside the promise, so the candidate cannot count this promise
        # without learning that they are chosen (see `_compact`).
        checkpoint = self._checkpoint if m.first_slot < self.checkpoint_slot else None
        if self._bug == "silent_compaction":
            checkpoint = None  # BUG: the compacted slots vanish from this promise
        self.send(src, Promise(ballot, self._promise_entries(m.first_slot), checkpoint))

    def _on_slot_prepare(self, src: NodeId, m: SlotPrepare, now: float) -> None:
        """single_decree: phase 1(b) for one slot, from the current leader."""
        ballot = m.ballot
        if not self._follow_current(src, ballot, now):
            return
        slot = m.slot
        if slot < self.checkpoint_slot:
            # Chosen and compacted: the leader learns it (and what follows) from the checkpoint.
            self._send_checkpoint(src, now)
            return
        if slot in self.decided:
            self.send(src, SlotPromise(ballot, slot, ZERO, self.decided[slot], True))
            return
        entry = self.accepted.get(slot)
        if entry is None:
            self.send(src, SlotPromise(ballot, slot, ZERO, None, False))
        else:
            self.send(src, SlotPromise(ballot, slot, entry[0], entry[1], False))

    def _on_accept(self, src: NodeId, m: Accept, now: float) -> None:
        """PMS §2.2 phase 2(b): accept unless a higher ballot was promised."""
        ballot = m.ballot
        if ballot < self.promised and self._bug == "accept_below_promise":
            if m.slot >= self.checkpoint_slot:  # BUG: accepts (and acks) below its promise
                self._accept(m.slot, ballot, m.value)
                self.send(src, Accepted(ballot, m.slot))
            return
        if not self._follow_current(src, ballot, now):
            return
        slot = m.slot
        if slot < self.checkpoint_slot:
            # Chosen, applied and compacted here. Not accepted again, and not acked: an
            # ack without the accepted state behind it could complete a majority for a
            # value of an old ballot that was never chosen (only real acceptances count
            # in PMS §2.3). A leader whose commit point is below our checkpoint
            # lags behind it (a new leader whose phase 1 missed us): send it instead.
            if m.commit < self.checkpoint_slot:
                self._send_checkpoint(src, now)
            if m.commit > self._scan:
                self._learn_commit(ballot, m.commit, now)
            return
        if self._bug == "accept_ack_before_persist":
            # BUG: the Accepted leaves before the persist, so it does not wait for the
            # fsync; a crash before the fsync completes forgets an acknowledged accept.
            self.send(src, Accepted(ballot, slot))
            self._accept(slot, ballot, m.value)
        else:
            self._accept(slot, ballot, m.value)
            self.send(src, Accepted(ballot, slot))
        if slot < self._scan:
            # Overtaken by a later message of this leader saying the slot is decided.
            self._decide(slot, m.value, now)
        if m.commit > self._scan:
            self._learn_commit(ballot, m.commit, now)

    def _on_heartbeat(self, src: NodeId, m: Heartbeat, now: float) -> None:
        ballot = m.ballot
        if not self._follow_current(src, ballot, now):
            return
        if m.commit > self._scan:
            self._learn_commit(ballot, m.commit, now)
        # Sent after leader_seen was recorded: the ack is this node's lease grant.
        self.send(src, Ack(ballot, self.next_apply, m.sent_at))
        if self.waiting:
            self._retry_waiting(now)

    def _follow_current(self, src: NodeId, ballot: Ballot, now: float) -> bool:
        """A leader's message (Accept, SlotPrepare, Heartbeat): refuse a ballot below our
        promise with a Nack (PMS §2.2: P1a), else follow it. True when followed."""
        if ballot < self.promised:
            self.send(src, Nack(ballot, self.promised))
            return False
        self._follow(src, ballot, now)
        return True

    def _follow(self, src: NodeId, ballot: Ballot, now: float) -> None:
        """A message of `ballot` >= promised from its leader: adopt it as our leader."""
        if ballot > self.promised:
            # Accepting a ballot implies promising it (PMS §2.2, P1a).
            if self.role != FOLLOWER:
                self._step_down(now)
            self._promise(ballot)
        self.leader_seen = now
        self.quiet_since = now
        if self.leader_id != src or self.leader_ballot != ballot:
            self.leader_id = src
            self.leader_ballot = ballot
            self._scan = self.next_apply
            if self.role != FOLLOWER:
                self._step_down(now)
                self.leader_id = src
            if self.waiting:
                self._forward_all_waiting(now)

    def _on_prevote(self, src: NodeId, m: PreVote, now: float) -> None:
        self.send(src, PreVoteReply(m.round, not self._sticky(src, now), self.promised))
