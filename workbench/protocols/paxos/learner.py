"""The learner (Paxos Made Simple §2.3, §3): decided values per slot — durable, so a
restart replays them — applied in slot order to the shared `KVStateMachine`, and log
compaction by checkpoint (Paxos Made Live §5.5), with the argument why forgetting
chosen slots is safe (`_compact`).

`Learner` is a mixin of `PaxosNode`: its fields live on the node (no extra hop per
message); this module is the only one that changes `decided` and the checkpoint.
"""

from __future__ import annotations

from workbench.core.ids import NodeId
from workbench.core.ops import ClientRequest
from workbench.core.storage import DeleteItems, Put, PutItem
from workbench.protocols.common.roles import LEADER
from workbench.protocols.paxos.invariants import AUDIT_CHECKPOINT, AUDIT_LEARN
from workbench.protocols.paxos.messages import (
    NO_ECHO,
    Ack,
    Ballot,
    Checkpoint,
    Command,
    Decisions,
    Result,
    Value,
)
from workbench.protocols.state_machine import KVStateMachine, Outcome


class Learner:
    """Decided values, the applied point and the checkpoint below it."""

    decided: dict[int, Value]
    decided_until: int  # one past the highest slot decided here (lease reads wait for it)
    next_apply: int  # every slot below it is decided and applied
    checkpoint_slot: int  # every slot below it is chosen, applied and forgotten
    _checkpoint: Checkpoint
    sm: KVStateMachine
    _scan: int  # commit learning has looked at slots below this

    def _replay(self) -> None:
        """Rebuild the state machine from durable decided values (silently: not new applies)."""
        decided, sm = self.decided, self.sm
        while self.next_apply in decided:
            value = decided[self.next_apply]
            if value is not None:
                sm.apply(value.request)
            self.next_apply += 1

    # ================================================================== learning

    def _learn_commit(self, ballot: Ballot, commit: int, now: float) -> None:
        """Every slot below `commit` is decided, says the leader of `ballot`.

        A slot this node accepted under that same ballot holds the value that leader
        proposed, and a leader proposes one value per slot and ballot, so that value
        is the decided one (PMS §2.3). Slots it lacks come by catch-up (`Decisions`).
        """
        slot = max(self._scan, self.next_apply)
        decided, accepted = self.decided, self.accepted
        while slot < commit:
            if slot not in decided:
                entry = accepted.get(slot)
                if entry is not None and entry[0] == ballot:
                    self._decide(slot, entry[1], now)
            slot += 1
        self._scan = slot

    def _on_decisions(self, src: NodeId, m: Decisions, now: float) -> None:
        for slot, value in m.entries:
            self._decide(slot, value, now)
        self.send(src, Ack(self.promised, self.next_apply, NO_ECHO))

    def _decide(self, slot: int, value: Value, now: float) -> None:
        # Below next_apply every slot is decided already, and below the checkpoint it is
        # forgotten: a stale Accept or Decisions must not learn it again.
        if slot < self.next_apply or slot in self.decided:
            return
        self.decided[slot] = value
        self.persist(PutItem("decided", slot, value))
        if slot >= self.decided_until:
            self.decided_until = slot + 1
        if slot > self.max_slot:
            self.max_slot = slot
        if self._audit is not None:
            self._audit.append((AUDIT_LEARN, slot, value))
        proposal = self.proposals.pop(slot, None)
        if proposal is not None and proposal.value is not None:
            self.inflight.pop(proposal.value.request.request_id, None)
        if slot == self.next_apply:
            self._apply_ready()

    def _apply_ready(self) -> None:
        """Apply decided slots in slot order (PMS §3)."""
        decided = self.decided
        while self.next_apply in decided:
            slot = self.next_apply
            self.next_apply = slot + 1
            value = decided[slot]
            if value is not None:
                self._apply(slot, value)
        if self.next_apply - self.checkpoint_slot >= self._snap_threshold:
            self._compact()
        if self.lease_reads:
            self._serve_lease_reads()

    def _apply(self, slot: int, command: Command) -> None:
        request = command.request
        outcome, fresh = self.sm.apply_fresh(request)
        if fresh and outcome.ok and request.f != "read":
            value = request.value[1] if request.f == "cas" else request.value
            self.observe("apply", key=request.key, value=value, version=slot)
        self._deliver(request, command.origin, outcome)

    def _deliver(self, request: ClientRequest, origin: NodeId, outcome: Outcome) -> None:
        """Answer a request: our own client directly, another node's through it."""
        if not outcome.ok and outcome.error == "stale request":
            return  # an old retry of a request long answered
        if origin == self.id:
            waiting = self.waiting.pop(request.request_id, None)
            if waiting is not None:
                self.reply(request.process, request.seq, outcome.ok, outcome.value, outcome.error)
        elif self.role == LEADER:
            self.send(origin, Result(request.process, request.seq, outcome.ok, outcome.value,
                                     outcome.error))

    # ================================================================== log compaction
    def _compact(self) -> None:
        """Checkpoint the applied prefix and forget every per-slot record below it.

        Why this is safe (PMS §2.2 P2c and §3; Paxos Made Live §5.5). A slot below
        next_apply was applied, and a replica applies only chosen values, so its value
        can never change (PMS §2.1). An acceptor keeps accepted (ballot, value) for one
        reason only: so that a later leader's phase 1 finds any value that may have
        been chosen and proposes nothing else there (P2c). A leader proposes only in
        slots >= its own first unchosen slot, and it asks for acceptor state from that
        slot on (`Prepare.first_slot`). So take a chosen slot s (majority Q accepted
        its value) and a later leader's phase-1 majority P: P meets Q at some
        acceptor a. If a still holds s, it reports its accepted (ballot, value) and
        the textbook P2c argument stands. If a compacted s, its promise carries its
        checkpoint, which the leader installs before counting the promise
        (`_on_promise`): its next_apply moves past s, and it never proposes in s. An
        acceptor never omits a slot >= first_slot without a checkpoint covering it,
        so either way no later ballot proposes anything but the chosen value in s —
        and a leader that never ran phase 1 against us but still proposes in s (a
        leader elected while we were cut off, a stale retransmission) is neither
        accepted nor acked here: it gets the checkpoint (`_on_accept`). Learners
        refuse to learn slots below next_apply again (`_decide`), so a stale message
        cannot resurrect a forgotten slot either.

        The checkpoint is written before anything is dropped: a crash in between would
        leave both, never neither.
        """
        self._set_checkpoint(Checkpoint(self.next_apply, self.sm.snapshot()))
        self._forget_below(self.next_apply)

    def _set_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint
        self.checkpoint_slot = checkpoint.slot
        self.persist(Put("checkpoint", (checkpoint.slot, checkpoint.data)))
        if self._audit is not None:
            self._audit.append((AUDIT_CHECKPOINT, checkpoint.slot, self.sm.digest()))

    def _forget_below(self, slot: int) -> None:
        """Drop accepted and decided records of slots below `slot`, in memory and storage."""
        for name, records in (("accepted", self.accepted), ("decided", self.decided)):
            stale = [s for s in records if s < slot]
            if stale:
                for s in stale:
                    del records[s]
                self.persist(DeleteItems(name, tuple(stale)))

    def _send_checkpoint(self, peer: NodeId, now: float) -> None:
        """The checkpoint to a peer that asked for compacted slots, once per heartbeat."""
        last = self.checkpoint_sent.get(peer)
        if last is not None and last[0] == self.checkpoint_slot and now - last[1] < self._hb:
            return
        self.checkpoint_sent[peer] = (self.checkpoint_slot, now)
        self.send(peer, self._checkpoint)

    def _on_checkpoint(self, src: NodeId, m: Checkpoint, now: float) -> None:
        self._install(m, now)
        if self.role != LEADER:
            # Tell a leader catching us up where to go on from (as after `Decisions`).
            self.send(src, Ack(self.promised, self.next_apply, NO_ECHO))

    def _install(self, checkpoint: Checkpoint, now: float) -> None:
        """Adopt a peer's checkpoint if it is ahead of our applied point (else ignore it)."""
        slot = checkpoint.slot
        if slot <= self.next_apply:
            return
        self.sm = KVStateMachine.restore(checkpoint.data)
        self.next_apply = slot
        self._set_checkpoint(checkpoint)  # durable before the slots below it go
        # No `apply` records for the writes it carries: say it holds every slot below.
        self.observe("install", version=slot - 1)
        self._forget_below(slot)
        if slot - 1 > self.max_slot:
            self.max_slot = slot - 1
        if self._scan < slot:
            self._scan = slot
        resubmit: list[Command] = []
        if self.role == LEADER:
            # Our phase 2 (or single-decree phase 1) below the checkpoint is moot: those
            # slots are chosen. Their commands either ran there (the sessions answer
            # them) or go to a fresh slot.
            for s in [s for s in self.proposals if s < slot]:
                value = self.proposals.pop(s).value
                if value is not None:
                    resubmit.append(value)
            for s in [s for s in self.slot_phase1 if s < slot]:
                resubmit.append(self.slot_phase1.pop(s).command)
            for command in resubmit:
                self.inflight.pop(command.request.request_id, None)
            if self.next_slot < slot:
                self.next_slot = slot
        self._apply_ready()  # decided slots we already hold past the checkpoint
        # Our own clients' requests the checkpoint executed: their sessions hold the answer.
        sm = self.sm
        for waiting in list(self.waiting.values()):
            if sm.is_duplicate(waiting.request):
                self._deliver(waiting.request, self.id, sm.apply(waiting.request))
        for command in resubmit:
            self._submit(command, now)
