"""The Multi-Paxos node: inputs, the election timer and pre-vote, and the client side
(forwarding to the leader, answering this node's own clients). The package docstring
(`workbench.protocols.paxos`) describes the whole protocol; the roles' state lives
beside this file: `acceptor.py`, `learner.py`, `proposer.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import PutMany
from workbench.protocols.base import Node
from workbench.protocols.common.lease import lease_ms
from workbench.protocols.common.roles import FOLLOWER, LEADER, PRE_CANDIDATE, Role
from workbench.protocols.paxos.acceptor import Acceptor
from workbench.protocols.paxos.invariants import PaxosInvariants
from workbench.protocols.paxos.learner import Learner
from workbench.protocols.paxos.messages import (
    ZERO,
    Accept,
    Accepted,
    Ack,
    Ballot,
    Checkpoint,
    Command,
    Decisions,
    Forward,
    Heartbeat,
    Nack,
    Prepare,
    PreVote,
    PreVoteReply,
    Promise,
    Result,
    SlotPrepare,
    SlotPromise,
    Value,
)
from workbench.protocols.paxos.options import PaxosOptions
from workbench.protocols.paxos.proposer import ELECTION, HEARTBEAT, Proposer, _Proposal, _SlotPhase1
from workbench.protocols.state_machine import KVStateMachine

_ROUNDING_MS = 1e-6  # a timer remainder below this is floating-point rounding, not time left


@dataclass(slots=True)
class _Waiting:
    """A request from one of this node's own clients, not yet answered."""

    request: ClientRequest
    sent_at: float  # when last handed to a leader (or proposed here): it might be chosen



class PaxosNode(Proposer, Acceptor, Learner, Node):
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
        # candidate (their refusal lasts et_min on their clocks): common/lease.py.
        self._lease_ms = lease_ms(self._et_min, o.max_clock_drift)
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
        self.decided_until = max(max(self.decided, default=-1) + 1, self.checkpoint_slot)

        # ---- proposer / election, volatile
        self.role: Role = FOLLOWER
        self.ballot: Ballot = ZERO  # this node's own ballot as candidate or leader
        self.leader_id: NodeId | None = None
        self.leader_ballot: Ballot = ZERO
        self.leader_seen = -math.inf  # last contact from leader_id (stickiness, leases)
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
        self.read_floor = 0  # set when we lead: every slot phase 1 recovered lies below it
        self.catchup_sent: dict[NodeId, tuple[int, float]] = {}
        self._hb_commit = 0  # the commit point the last heartbeat carried
        # Per peer: (checkpoint slot, time) of the last Checkpoint sent, so duplicated
        # or retransmitted messages below our checkpoint cost one transfer per heartbeat.
        self.checkpoint_sent: dict[NodeId, tuple[int, float]] = {}

        # ---- the client side: requests from this node's own clients
        self.waiting: dict[tuple[int, int], _Waiting] = {}

    @classmethod
    def invariant_checker(cls) -> PaxosInvariants:
        return PaxosInvariants()

    # ================================================================== inputs
    def start(self, now: float) -> None:
        self.quiet_since = now
        if self._leases:
            # A node restarting may have acked a leader's heartbeat just before it
            # crashed and forgotten that: it waits out the lease before promising.
            self.boot_quiet_until = now + self._et_min
        self._arm_election()

    def on_message(self, src: NodeId, message: Message, now: float) -> None:
        handler = self._HANDLERS.get(type(message))
        if handler is not None:
            handler(self, src, message, now)
        # Any other message is ignored: the one rule for unknown messages in every core
        # (DESIGN.md, "Protocol cores: package layout and unknown messages").

    def on_timer(self, name: str, now: float) -> None:
        if name == HEARTBEAT:
            self._heartbeat_tick(now)
        elif name == ELECTION:
            self._election_tick(now)

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        if self.role != LEADER and self.leader_id is None:
            # Handed to no one, so it definitely did not happen. (Holding it for an
            # election is the runtimes' request policy now, the same for every protocol.)
            self.reply(request.process, request.seq, False, error="no leader")
            return
        waiting = _Waiting(request, now)
        self.waiting[request.request_id] = waiting
        if self.role == LEADER:
            self._submit(Command(request, self.id), now)
        else:
            self.send(self.leader_id, Forward(request))

    def needs_leader(self, request: ClientRequest) -> bool:
        return True  # lease reads too are served by the leader only

    # ================================================================== runtime queries
    def leader(self) -> NodeId | None:
        return self.id if self.role == LEADER else self.leader_id

    def is_leader(self) -> bool:
        return self.role == LEADER

    def state_digest(self) -> int:
        return self.sm.digest()

    # ================================================================== election

    def _arm_election(self) -> None:
        self.timeout = self.rng.uniform(self._et_min, self._et_max)
        self.set_timer(ELECTION, self.timeout)

    def _election_tick(self, now: float) -> None:
        if self.role == LEADER:
            return
        due = self.quiet_since + self.timeout
        if due - now > _ROUNDING_MS:
            self.set_timer(ELECTION, due - now)
            return
        # (Within rounding counts as due: a drifting clock maps the timer's deadline to
        # run time and back in floating point, and re-arming for a remainder the clock
        # cannot advance by would fire at the same instant forever.)
        # No leader heard for a randomized election timeout (PMS §2.4: a distinguished
        # proposer is needed for progress): try to become it.
        if self.role != FOLLOWER:
            self.role = FOLLOWER
        self._lose_leader()
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
            waiting.sent_at = now
            self.send(leader, Forward(waiting.request))

    def _retry_waiting(self, now: float) -> None:
        """Re-forward requests the leader has not answered for an election timeout (lost?)."""
        leader = self.leader_id
        cutoff = now - self._et_min
        for waiting in self.waiting.values():
            if waiting.sent_at <= cutoff and leader is not None:
                waiting.sent_at = now
                self.send(leader, Forward(waiting.request))

    # One flat table lookup per message; the handlers are the mixins' plain functions.
    _HANDLERS: ClassVar[dict[type, Any]] = {
        Accept: Acceptor._on_accept,
        Accepted: Proposer._on_accepted,
        Heartbeat: Acceptor._on_heartbeat,
        Ack: Proposer._on_ack,
        Forward: _on_forward,
        Result: _on_result,
        Decisions: Learner._on_decisions,
        Checkpoint: Learner._on_checkpoint,
        Nack: Proposer._on_nack,
        PreVote: Acceptor._on_prevote,
        PreVoteReply: _on_prevote_reply,
        Prepare: Acceptor._on_prepare,
        Promise: Proposer._on_promise,
        SlotPrepare: Acceptor._on_slot_prepare,
        SlotPromise: Proposer._on_slot_promise,
    }
