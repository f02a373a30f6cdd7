"""Multi-Paxos: the second CP protocol, a sans-IO core beside Raft.

Every node plays all three roles of Lamport's "Paxos Made Simple" (PMS): proposer,
acceptor and learner. The structure follows van Renesse & Altinbuken, "Paxos Made
Moderately Complex" (PMMC): a leader runs phase 1 once for every open slot (PMMC's
scout; PMS §3 "phase 1 for infinitely many instances") and then phase 2 per slot
(PMMC's commander) for as long as it keeps its ballot.

- Ballots are (round, node id) tuples, so two proposers never share one (PMS §2.5).
- Phase 1: a new leader sends `Prepare(ballot, first_slot)`; each `Promise` carries the
  acceptor's accepted (ballot, value) — and values it already knows decided — for
  slots >= the leader's first unchosen slot. Per slot the leader re-proposes the
  value of the highest ballot (PMS §2.2 P2c), and fills gaps with no-ops (PMS §3).
- Phase 2: `Accept(ballot, slot, value)` / `Accepted`; the leader learns a value once a
  majority accepted it (PMS §2.3) and tells the others with `commit`, "every slot
  below this is decided", piggybacked on its next Accept or heartbeat. A follower
  that accepted a slot under the same ballot then knows the value; one that missed
  it is sent the decided values (`Decisions`) when its acks show it lagging.
- Learners apply decided slots in slot order to the shared `KVStateMachine`, whose
  (process, seq) sessions make a command chosen in two slots take effect once.
- Leader election: a randomized election timeout, then a pre-vote round (as in
  Raft §9.6: an isolated node must not inflate its ballot and depose a healthy
  leader on return), then phase 1. A leader keeps its role with heartbeats and steps
  down when no majority acked it within an election timeout (a failure detector,
  PMMC's "leader failure" discussion). Acceptors refuse to help a new candidate while
  they hear from a live leader, which keeps leadership stable and makes leases safe.
- Durable state (PMS §2.5; PMMC §3 "keeping state on disk"): the promised ballot,
  accepted (ballot, value) per slot and the decided values, written to `storage`
  before any reply that depends on them. A restarted node rebuilds its state machine
  from its checkpoint and the decided values after it.
- Log compaction (Chandra, Griesemer & Redstone, "Paxos Made Live" §5.5 snapshots;
  PMMC §3 on garbage collection; Raft §7 is the same idea): once `snapshot_threshold`
  slots were applied since the last checkpoint, a replica writes a checkpoint —
  (first slot not covered, `KVStateMachine.snapshot()`) — to storage and forgets every
  per-slot record below it: accepted (ballot, value), decided values, in memory and
  in storage. Whoever asks for a slot below a replica's checkpoint — a lagging
  follower's catch-up, a new leader's `Prepare`, a stale or slow leader's `Accept`,
  a single-decree `SlotPrepare` — gets the `Checkpoint` instead (in a `Promise`, it
  rides inside the promise), and installs it only if it is ahead of its own applied
  point. Why forgetting chosen slots is safe: see `_compact`.
- Clients: as with Raft, a request reaches the node its client sits beside; that node
  forwards it to the leader it knows, and the leader sends the result back to it
  (`Result`). A request is answered `fail` only when it was never handed to any
  leader, since anything forwarded might still be chosen.
- `leases: true`: the leader answers reads locally while a majority acked a heartbeat
  it sent less than a lease ago (PMMC §3 "read-only commands"; Chubby's master
  lease); the lease is the election timeout shrunk by the clock drift bound.
- `single_decree: true`: basic (Synod) Paxos per command — the leader runs phase 1 for
  each slot before its phase 2 (PMS §2.2), two round trips per op: the cost
  Multi-Paxos saves (PMS §3).
- `bug`: deliberately broken variants, to prove the fault search can fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from workbench.core.effects import Send
from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import DeleteItems, Put, PutItem, PutMany
from workbench.protocols.base import Node, check_leader_options
from workbench.protocols.state_machine import KVStateMachine, Outcome


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
    timeout; `slot_ignores_accepted` (single_decree) proposes its own command in phase 2
    even when phase 1 reported an accepted value (PMS §2.2 P2c);
    `accept_ack_before_persist` sends Accepted before asking for the persist, so with a
    disk model the ack does not wait for the fsync (issue 12)."""

    def __post_init__(self) -> None:
        check_leader_options("paxos", self, ("catchup_batch", "snapshot_threshold"))


# ------------------------------------------------------------------ values, ballots
Ballot: TypeAlias = tuple[int, int]
"""(round, node id): totally ordered, and no two proposers ever use the same one (PMS §2.5)."""

ZERO: Ballot = (0, -1)
"""Below every real ballot: nothing promised / nothing accepted."""

NO_ECHO = -math.inf
"""An ack that answers no heartbeat (clocks may read negative, so no other sentinel)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Command:
    """A client request as a log value; `origin` is the node its client sits beside."""

    request: ClientRequest
    origin: NodeId


Value: TypeAlias = Command | None
"""What a slot holds; None is the no-op that fills a gap (PMS §3)."""

Entry: TypeAlias = tuple[int, Ballot, Value, bool]
"""(slot, accepted ballot, value, decided) as reported in a promise."""


# ------------------------------------------------------------------ messages
@fast_init
@dataclass(frozen=True, slots=True)
class PreVote(Message):
    """Would you promise a ballot of this round? Changes no state at the receiver."""

    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class PreVoteReply(Message):
    round: int
    granted: bool
    promised: Ballot


@fast_init
@dataclass(frozen=True, slots=True)
class Prepare(Message):
    """Phase 1a for every slot >= first_slot at once (PMS §3)."""

    ballot: Ballot
    first_slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class Checkpoint(Message):
    """Every slot below `slot` is chosen and applied; `data` is the state machine after them.

    Sent instead of per-slot state the sender compacted away (Paxos Made Live §5.5:
    a replica that lags behind the others' snapshots catches up from a snapshot). A fact about chosen slots only, so it is
    valid whatever ballot is current; the receiver installs it if `slot` is past its
    own applied point and ignores it otherwise.
    """

    slot: int
    data: tuple[Any, ...]
    """`KVStateMachine.snapshot()`: plain immutable data, shared by every copy of the message."""


@fast_init
@dataclass(frozen=True, slots=True)
class Promise(Message):
    """Phase 1b: the acceptor promised `ballot`; what it accepted (or knows decided) from first_slot.

    When first_slot is below the acceptor's checkpoint, `entries` start at the
    checkpoint and `checkpoint` stands for every slot below it: a promise never drops
    a slot silently (see `PaxosNode._compact` for why that is what safety needs).
    """

    ballot: Ballot
    entries: tuple[Entry, ...]
    checkpoint: Checkpoint | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Accept(Message):
    """Phase 2a for one slot; `commit`: every slot below it is decided (the leader's learning)."""

    ballot: Ballot
    slot: int
    value: Value
    commit: int


@fast_init
@dataclass(frozen=True, slots=True)
class Accepted(Message):
    """Phase 2b."""

    ballot: Ballot
    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class Nack(Message):
    """A prepare/accept/heartbeat of `ballot` was refused: the acceptor promised `promised`."""

    ballot: Ballot
    promised: Ballot


@fast_init
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    ballot: Ballot
    commit: int
    sent_at: float
    """The leader's clock at sending, echoed in the ack: the start of a lease."""


@fast_init
@dataclass(frozen=True, slots=True)
class Ack(Message):
    """A heartbeat or catch-up ack; `first_unchosen` tells the leader what the follower lacks."""

    ballot: Ballot
    first_unchosen: int
    echo: float
    """The acked heartbeat's `sent_at`; NO_ECHO for a catch-up ack (no lease)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Decisions(Message):
    """Decided values a follower lacks, resent by the leader (catch-up)."""

    ballot: Ballot
    entries: tuple[tuple[int, Value], ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SlotPrepare(Message):
    """single_decree: phase 1a for one slot only."""

    ballot: Ballot
    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class SlotPromise(Message):
    """single_decree: phase 1b for one slot; accepted_ballot ZERO = nothing accepted there."""

    ballot: Ballot
    slot: int
    accepted_ballot: Ballot
    value: Value
    decided: bool


@fast_init
@dataclass(frozen=True, slots=True)
class Forward(Message):
    """A client request handed by the client's node (the sender) to the leader."""

    request: ClientRequest


@fast_init
@dataclass(frozen=True, slots=True)
class Result(Message):
    """The leader's answer for a forwarded request; only the origin node replies to the client."""

    process: int
    seq: int
    ok: bool
    value: Any = None
    error: str | None = None


# ------------------------------------------------------------------ volatile records
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


@dataclass(slots=True)
class _Waiting:
    """A request from one of this node's own clients, not yet answered."""

    request: ClientRequest
    sent: bool  # handed to some leader (or proposed here): it might be chosen
    sent_at: float
    deadline: float  # when unsent: answer fail after this


FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = range(4)
_ELECTION, _HEARTBEAT, _CLIENTS = "election", "heartbeat", "clients"
_ROUNDING_MS = 1e-6  # a timer remainder below this is floating-point rounding, not time left
_RETRANSMIT_LIMIT = 64  # proposals resent per heartbeat tick

# Audit records for the invariant checker (only kept while a checker is attached).
AUDIT_PROMISE, AUDIT_ACCEPT, AUDIT_LEARN, AUDIT_CHECKPOINT = range(4)


class PaxosNode(Node):
    name: ClassVar[str] = "paxos"
    options: PaxosOptions

    _audit: list[tuple[Any, ...]] | None = None  # set by PaxosInvariants; None = not recording

    def __init__(self, node_id, peers, options, rng, storage) -> None:  # type: ignore[no-untyped-def]
        super().__init__(node_id, peers, options, rng, storage)
        o: PaxosOptions = options
        self._et_min = o.election_timeout_min_ms
        self._et_max = o.election_timeout_max_ms
        self._hb = o.heartbeat_ms
        self._single = o.single_decree
        self._leases = o.leases
        self._snap_threshold = o.snapshot_threshold
        self._bug = o.bug
        # A lease must end before any acceptor that acked it can promise another
        # candidate: their refusal lasts et_min on their clocks, the lease is timed on
        # ours, and either clock may be off by max_clock_drift.
        d = o.max_clock_drift
        self._lease_ms = self._et_min * (1.0 - d) / (1.0 + d)
        if o.bug == "long_lease":
            self._lease_ms *= 10.0  # BUG: outlives the acceptors' refusal to promise others

        # ---- acceptor, durable (PMS §2.5: "an acceptor must remember this information
        # even if it fails and then restarts").
        self.promised: Ballot = storage.get("promised", ZERO)
        if "accepted" not in storage:  # first boot: format the disk
            self.persist(PutMany((("accepted", {}), ("decided", {}))))
        self.accepted: dict[int, tuple[Ballot, Value]] = storage.get("accepted", {})
        # ---- learner: decided values are durable too, so a restart replays them
        # on top of the durable checkpoint (Paxos Made Live §5.5).
        self.decided: dict[int, Value] = storage.get("decided", {})
        durable: tuple[int, tuple[Any, ...]] | None = storage.get("checkpoint")
        if durable is not None:
            self._checkpoint = Checkpoint(*durable)
            self.sm = KVStateMachine.restore(durable[1])
        else:
            self.sm = KVStateMachine()
            self._checkpoint = Checkpoint(0, self.sm.snapshot())
        # Every slot below checkpoint_slot is chosen, applied and forgotten.
        self.checkpoint_slot = self._checkpoint.slot
        self.next_apply = self.checkpoint_slot  # every slot below it is decided and applied
        self._forget_below(self.checkpoint_slot)  # defensive: nothing survives below it
        self._replay()
        self.max_slot = max(max(self.accepted, default=-1), max(self.decided, default=-1),
                            self.checkpoint_slot - 1)
        self.max_round = max([self.promised[0], *(b[0] for b, _ in self.accepted.values())])

        # ---- proposer / election, volatile
        self.role = FOLLOWER
        self.ballot: Ballot = ZERO  # this node's own ballot as candidate or leader
        self.leader_id: NodeId | None = None
        self.leader_ballot: Ballot = ZERO
        self.leader_seen = -math.inf  # last contact from leader_id (stickiness, leases)
        self.leader_lost_at = 0.0  # since when no leader is known (boot, timeout, step-down)
        self.quiet_since = 0.0  # the election timeout counts from here
        self.timeout = self._et_max
        self.boot_quiet_until = -math.inf
        self.votes = 0  # bit mask: pre-votes, then promises
        self.prevote_round = 0
        self.best: dict[int, tuple[Ballot, Value, bool]] = {}
        self._scan = self.next_apply  # commit learning has looked at slots below this

        # ---- leader, volatile
        self.next_slot = 0
        self.proposals: dict[int, _Proposal] = {}
        self.slot_phase1: dict[int, _SlotPhase1] = {}
        self.inflight: dict[tuple[int, int], int] = {}
        self.last_heard: dict[NodeId, float] = {}
        self.lease_echo: dict[NodeId, float] = {}
        self.lease_until = -math.inf
        self.lease_reads: list[tuple[int, ClientRequest, NodeId]] = []
        self.catchup_sent: dict[NodeId, tuple[int, float]] = {}
        self._hb_commit = 0  # the commit point the last heartbeat carried
        # Per peer: (checkpoint slot, time) of the last Checkpoint sent, so duplicated
        # or retransmitted messages below our checkpoint cost one transfer per heartbeat.
        self.checkpoint_sent: dict[NodeId, tuple[int, float]] = {}

        # ---- the client side: requests from this node's own clients
        self.waiting: dict[tuple[int, int], _Waiting] = {}
        self._clients_timer = False

    def _replay(self) -> None:
        """Rebuild the state machine from durable decided values (silently: not new applies)."""
        decided, sm = self.decided, self.sm
        while self.next_apply in decided:
            value = decided[self.next_apply]
            if value is not None:
                sm.apply(value.request)
            self.next_apply += 1

    @classmethod
    def invariant_checker(cls) -> PaxosInvariants:
        return PaxosInvariants()

    # ================================================================== inputs
    def start(self, now: float) -> None:
        self.quiet_since = now
        self.leader_lost_at = now
        if self._leases:
            # A node restarting may have acked a leader's heartbeat just before it
            # crashed and forgotten that: it waits out the lease before promising.
            self.boot_quiet_until = now + self._et_min
        self._arm_election()

    def on_message(self, src: NodeId, message: Message, now: float) -> None:
        self._HANDLERS[type(message)](self, src, message, now)

    def on_timer(self, name: str, now: float) -> None:
        if name == _HEARTBEAT:
            self._heartbeat_tick(now)
        elif name == _ELECTION:
            self._election_tick(now)
        elif name == _CLIENTS:
            self._clients_tick(now)

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        waiting = _Waiting(request, False, now, now + self._et_max)
        self.waiting[request.request_id] = waiting
        if self.role == LEADER:
            waiting.sent = True
            self._submit(Command(request, self.id), now)
        elif self.leader_id is not None:
            waiting.sent = True
            self.send(self.leader_id, Forward(request))
        elif now - self.leader_lost_at > 2 * self._et_max:
            # Leaderless for two election timeouts: we are cut off from a majority,
            # not between two leaders. Never handed on, so it definitely did not happen.
            del self.waiting[request.request_id]
            self.reply(request.process, request.seq, False, error="no leader")
        elif not self._clients_timer:
            # No leader known, probably an election going on: hold the request for an
            # election timeout; it fails then only if it was never handed on.
            self._clients_timer = True
            self.set_timer(_CLIENTS, self._et_max)

    # ================================================================== runtime queries
    def leader(self) -> NodeId | None:
        return self.id if self.role == LEADER else self.leader_id

    def is_leader(self) -> bool:
        return self.role == LEADER

    def state_digest(self) -> int:
        return self.sm.digest()

    # ================================================================== acceptor
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
            self._lose_leader(now)
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
        if ballot < self.promised:
            self.send(src, Nack(ballot, self.promised))
            return
        self._follow(src, ballot, now)
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
        if ballot < self.promised:
            self.send(src, Nack(ballot, self.promised))
            return
        self._follow(src, ballot, now)
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
        if ballot < self.promised:
            self.send(src, Nack(ballot, self.promised))
            return
        self._follow(src, ballot, now)
        if m.commit > self._scan:
            self._learn_commit(ballot, m.commit, now)
        # Sent after leader_seen was recorded: the ack is this node's lease grant.
        self.send(src, Ack(ballot, self.next_apply, m.sent_at))
        if self.waiting:
            self._retry_waiting(now)

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

    # ================================================================== learner
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

    # ================================================================== proposer: election
    def _arm_election(self) -> None:
        self.timeout = self.rng.uniform(self._et_min, self._et_max)
        self.set_timer(_ELECTION, self.timeout)

    def _election_tick(self, now: float) -> None:
        if self.role == LEADER:
            return
        due = self.quiet_since + self.timeout
        if due - now > _ROUNDING_MS:
            self.set_timer(_ELECTION, due - now)
            return
        # (Within rounding counts as due: a drifting clock maps the timer's deadline to
        # run time and back in floating point, and re-arming for a remainder the clock
        # cannot advance by would fire at the same instant forever.)
        # No leader heard for a randomized election timeout (PMS §2.4: a distinguished
        # proposer is needed for progress): try to become it.
        if self.role != FOLLOWER:
            self.role = FOLLOWER
        self._lose_leader(now)
        self.quiet_since = now
        self._arm_election()
        if self.options.pre_vote:
            self.role = PRE_CANDIDATE
            self.prevote_round = self.max_round + 1
            self.votes = 1 << self.id
            self.broadcast(PreVote(self.prevote_round))
            if self.quorum == 1:
                self._start_phase1(now)
        else:
            self._start_phase1(now)

    def _on_prevote(self, src: NodeId, m: PreVote, now: float) -> None:
        self.send(src, PreVoteReply(m.round, not self._sticky(src, now), self.promised))

    def _on_prevote_reply(self, src: NodeId, m: PreVoteReply, now: float) -> None:
        if m.promised[0] > self.max_round:
            self.max_round = m.promised[0]
        if self.role != PRE_CANDIDATE or m.round != self.prevote_round or not m.granted:
            return
        self.votes |= 1 << src
        if self.votes.bit_count() >= self.quorum:
            self._start_phase1(now)

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
        self.cancel_timer(_ELECTION)
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
                    # The highest-ballot accepted value (P2c), or a no-op for a gap.
                    self._propose(slot, entry[1] if entry is not None else None, now)
        self._send_heartbeats(now)
        self.set_timer(_HEARTBEAT, self._hb)
        for waiting in list(self.waiting.values()):
            waiting.sent = True
            self._submit(Command(waiting.request, self.id), now)

    def _lose_leader(self, now: float) -> None:
        """Forget the leader, noting since when none is known (`leader_lost_at`)."""
        if self.leader_id is not None:
            self.leader_id = None
            self.leader_lost_at = now

    def _step_down(self, now: float) -> None:
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self._lose_leader(now)
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
            self.cancel_timer(_HEARTBEAT)
            self._arm_election()

    # ================================================================== proposer: leader
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
        self.set_timer(_HEARTBEAT, self._hb)

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
        start = sorted(self.lease_echo.values(), reverse=True)[needed - 1]
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

        Every write acknowledged before the read arrived sits in a slot below
        next_slot (no other leader can exist during the lease), so the read waits
        until those are applied.
        """
        read_index = self.next_slot
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

    # ================================================================== client side
    def _on_forward(self, src: NodeId, m: Forward, now: float) -> None:
        if self.role == LEADER:
            self._submit(Command(m.request, src), now)
        # Otherwise drop it: the origin re-forwards when it hears of a new leader.

    def _on_result(self, src: NodeId, m: Result, now: float) -> None:
        waiting = self.waiting.pop((m.process, m.seq), None)
        if waiting is not None:
            self.reply(m.process, m.seq, m.ok, m.value, m.error)

    def _forward_all_waiting(self, now: float) -> None:
        """A new leader: hand it every unanswered request (the state machine dedupes)."""
        leader = self.leader_id
        assert leader is not None
        for waiting in self.waiting.values():
            waiting.sent = True
            waiting.sent_at = now
            self.send(leader, Forward(waiting.request))

    def _retry_waiting(self, now: float) -> None:
        """Re-forward requests the leader has not answered for an election timeout (lost?)."""
        leader = self.leader_id
        cutoff = now - self._et_min
        for waiting in self.waiting.values():
            if waiting.sent_at <= cutoff and leader is not None:
                waiting.sent = True
                waiting.sent_at = now
                self.send(leader, Forward(waiting.request))

    def _clients_tick(self, now: float) -> None:
        self._clients_timer = False
        pending = False
        for rid, waiting in list(self.waiting.items()):
            if waiting.sent:
                continue
            if self.role == LEADER:
                waiting.sent = True
                self._submit(Command(waiting.request, self.id), now)
            elif self.leader_id is not None:
                waiting.sent = True
                waiting.sent_at = now
                self.send(self.leader_id, Forward(waiting.request))
            elif now >= waiting.deadline:
                # Never handed to any leader: it definitely will not be executed.
                del self.waiting[rid]
                self.reply(rid[0], rid[1], False, error="no leader")
            else:
                pending = True
        if pending:
            self._clients_timer = True
            self.set_timer(_CLIENTS, self._et_max / 2)

    _HANDLERS: ClassVar[dict[type, Any]] = {
        Accept: _on_accept,
        Accepted: _on_accepted,
        Heartbeat: _on_heartbeat,
        Ack: _on_ack,
        Forward: _on_forward,
        Result: _on_result,
        Decisions: _on_decisions,
        Checkpoint: _on_checkpoint,
        Nack: _on_nack,
        PreVote: _on_prevote,
        PreVoteReply: _on_prevote_reply,
        Prepare: _on_prepare,
        Promise: _on_promise,
        SlotPrepare: _on_slot_prepare,
        SlotPromise: _on_slot_promise,
    }


# ====================================================================== invariants
class PaxosInvariants:
    """Checked after every simulator step (`sim.invariants: true`).

    - At most one value is chosen per slot (PMS §2.1 safety): every value any node
      ever learned for a slot, including nodes that later crashed, must agree.
    - No acceptor accepts below its promise (PMS §2.2, P1a), nor promises below a
      ballot it promised before — judged against every promise the acceptor ever
      made, across restarts, since promises must be durable.
    - Checkpoints (log compaction): all checkpoints of one slot, made or installed
      by any node, hold the same state (state machine safety, compared by digest),
      and a node's checkpoint never moves back, across restarts (it is durable).

    Compaction cannot trip the first check by forgetting: a node never learns a slot
    below its applied point again, and installing a checkpoint learns nothing per
    slot. It lets the checker forget too: a node only learns slots at or above its
    durable checkpoint, so values chosen below every node's checkpoint can never be
    compared again and are dropped (the checker stays bounded in long runs).

    Nodes record audit entries only once a checker attaches to them, so runs without
    invariant checks pay nothing.
    """

    def __init__(self) -> None:
        self.chosen: dict[int, Value] = {}
        self.max_promise: dict[NodeId, Ballot] = {}
        self.checkpoint_digest: dict[int, int] = {}
        self.max_checkpoint: dict[NodeId, int] = {}
        self._forgotten = 0  # `chosen` and `checkpoint_digest` hold no slot below this
        self._checkpointed = False  # a checkpoint record arrived since the last `_forget`

    def check(self, nodes: list[Node | None], now: float) -> str | None:
        for node in nodes:
            if node is None or not isinstance(node, PaxosNode):
                continue
            audit = node._audit
            if audit is None:
                node._audit = []
                if node.checkpoint_slot > self.max_checkpoint.get(node.id, 0):
                    # Attached after a restart from a checkpoint it made unobserved.
                    self.max_checkpoint[node.id] = node.checkpoint_slot
                continue
            if not audit:
                continue
            node._audit = []
            problem = self._check_node(node.id, audit)
            if problem:
                return problem
        if self._checkpointed:
            self._forget(len(nodes))
        return None

    def _forget(self, n: int) -> None:
        self._checkpointed = False
        low = min(self.max_checkpoint.get(i, 0) for i in range(n))
        if low - self._forgotten < 256:
            return
        for slot in range(self._forgotten, low):
            self.chosen.pop(slot, None)
            self.checkpoint_digest.pop(slot, None)
        self._forgotten = low

    def _check_node(self, nid: NodeId, audit: list[tuple[Any, ...]]) -> str | None:
        chosen, max_promise, max_checkpoint = self.chosen, self.max_promise, self.max_checkpoint
        for record in audit:
            kind = record[0]
            if kind == AUDIT_LEARN:
                slot, value = record[1], record[2]
                if slot in chosen:
                    if chosen[slot] != value:
                        return (f"two values chosen for slot {slot}: {chosen[slot]!r} and "
                                f"{value!r} (learned by node {nid})")
                else:
                    chosen[slot] = value
            elif kind == AUDIT_CHECKPOINT:
                slot, digest = record[1], record[2]
                previous = max_checkpoint.get(nid, 0)
                if slot < previous:
                    return f"node {nid}'s checkpoint moved back from slot {previous} to {slot}"
                max_checkpoint[nid] = slot
                self._checkpointed = True
                known = self.checkpoint_digest.setdefault(slot, digest)
                if known != digest:
                    return (f"two states checkpointed at slot {slot}: digests {known:x} and "
                            f"{digest:x} (node {nid})")
            elif kind == AUDIT_ACCEPT:
                slot, ballot = record[1], record[2]
                promise = max_promise.get(nid, ZERO)
                if ballot < promise:
                    return (f"node {nid} accepted ballot {ballot} in slot {slot} "
                            f"below its promise {promise}")
            else:
                ballot = record[1]
                promise = max_promise.get(nid, ZERO)
                if ballot < promise:
                    return f"node {nid} promised ballot {ballot} below its earlier promise {promise}"
                max_promise[nid] = ballot
        return None
