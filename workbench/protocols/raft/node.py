"""The Raft node: inputs, per-role dispatch, elections (§5.2, §5.4.1, thesis §9.6 and
§6.2), client requests and forwarding, and applying committed entries to the state
machine (thesis §6.3). The package docstring (`workbench.protocols.raft`) describes
the whole protocol; the data structures live beside this file: the log (`log.py`),
per-follower progress (`progress.py`), read-only queries (`read_only.py`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from workbench.core.effects import Observe
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Extend, Put, PutMany, Storage
from workbench.protocols.base import Node
from workbench.protocols.common.lease import lease_ms
from workbench.protocols.common.quorum import majority
from workbench.protocols.common.roles import CANDIDATE, FOLLOWER, LEADER, PRE_CANDIDATE, Role
from workbench.protocols.raft.invariants import RaftInvariants
from workbench.protocols.raft.log import RaftLog
from workbench.protocols.raft.messages import (
    AppendEntries,
    AppendReply,
    Forward,
    ForwardBatch,
    ForwardReplies,
    ForwardReply,
    InstallSnapshot,
    PreVote,
    PreVoteReply,
    RequestVote,
    SnapshotReply,
    VoteReply,
)
from workbench.protocols.raft.options import RaftOptions
from workbench.protocols.raft.progress import ReplicationProgress
from workbench.protocols.raft.read_only import ReadOnly

ROLE_NAMES = tuple(role.label for role in Role)
"""Printed by the scenario runner (it looks this name up in the node's module)."""

_ELECTION = "election"
_HEARTBEAT = "heartbeat"
_CHECK_QUORUM = "check_quorum"
_PROPOSE = "propose"  # propose_batch_ms: the held proposals go into the log
_NEVER = float("-inf")


class RaftNode(ReadOnly, ReplicationProgress, RaftLog, Node):
    name: ClassVar[str] = "raft"
    options: RaftOptions

    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], options: RaftOptions,
                 rng: random.Random, storage: Storage) -> None:
        super().__init__(node_id, peers, options, rng, storage)
        o = options
        self._et_min = float(o.election_timeout_min_ms)
        self._et_spread = float(o.election_timeout_max_ms) - self._et_min
        self._hb = float(o.heartbeat_ms)
        self._pre_vote = o.pre_vote
        self._check_quorum = o.check_quorum
        self._read_mode = o.read_mode
        self._lease = o.read_mode == "lease"
        self._track_rounds = o.read_mode in ("read_index", "lease")
        self._max_batch = o.max_batch
        self._max_inflight = o.max_inflight
        self._propose_batch = o.propose_batch_ms is not None
        self._propose_batch_ms = o.propose_batch_ms or 0.0
        self._snap_threshold = o.snapshot_threshold
        self._bug = o.bug
        # Thesis §6.4.1: no follower that acked a heartbeat votes before its own clock
        # has run election_timeout_min past it (§4.2.3 rule below): common/lease.py.
        self._lease_ms = lease_ms(self._et_min, o.max_clock_drift)
        if o.bug == "long_lease":
            self._lease_ms *= 10.0  # BUG: outlives the followers' promise not to vote
        # Thesis §4.2.3: ignore RequestVote while a leader is heard from (needed by
        # CheckQuorum against disruptive servers, and by leases for safety).
        self._sticky = o.check_quorum or self._lease
        self._n = len(self.members)
        self._quorum = majority(self._n)
        size = max(self.members) + 1

        # ---- durable state (§5.1 Figure 2), as it survived any crash
        # (a blank disk reads as term 0, no vote, an empty log; storage returns copies)
        if "term" not in storage:  # first boot: format the disk (one atomic record)
            self.persist(PutMany((("term", 0), ("vote", None), ("log", []), ("log_base", 0))))
        self.term: int = storage.get("term", 0)
        self.vote: NodeId | None = storage.get("vote")
        self._restore_log(storage)

        # ---- volatile state
        self.commit = self.log_start
        self.applied = self.log_start
        self.role: Role = FOLLOWER
        self.leader_id: NodeId | None = None
        self.dirty_from = self.log_start + 1
        self._step = self._step_follower
        self._votes = 0  # bitmask of voters (pre-votes while a pre-candidate)
        self._pending: dict[int, ClientRequest] = {}  # own clients' open requests, by process
        self._held = {}  # out-of-order AppendEntries (log.py)
        # Lazy election timer (see _on_election_timer): phase 1 = checking at
        # ref + min timeout, phase 2 = the random remainder, 0 = not armed (leader).
        self._timer_phase = 0
        self._timer_ref = 0.0
        self._last_heard = 0.0
        self._leader_contact = _NEVER  # last AppendEntries / snapshot from a current leader

        # ---- leader state, reset on each election
        self._init_progress(size)
        self._init_read_only(size)
        self._recent = 0  # bitmask of peers heard from since the last CheckQuorum
        self._origin: dict[int, NodeId] = {}  # log index -> node that forwarded it
        self._term_start = 0  # index of this leader's no-op
        # propose_batch_ms: (request, origin) proposed since the last flush, not yet in
        # the log (a leader's), and own clients' requests not yet forwarded (a follower's)
        self._proposed: list[tuple[ClientRequest, NodeId]] = []
        self._forwards: list[ClientRequest] = []

    # ------------------------------------------------------------ runtime queries
    def leader(self) -> NodeId | None:
        return self.leader_id

    def is_leader(self) -> bool:
        return self.role == LEADER

    def state_digest(self) -> int:
        return self.sm.digest()

    @classmethod
    def invariant_checker(cls) -> RaftInvariants:
        return RaftInvariants()

    # ------------------------------------------------------------------- inputs
    def start(self, now: float) -> None:
        self._last_heard = now
        if self._lease:
            # Before the crash this node may have acknowledged a leader's heartbeat that
            # backs a lease; it must not vote until that could have run out (§6.4.1).
            self._leader_contact = now
        self._arm_election(now)

    def on_message(self, src: NodeId, m: Message, now: float) -> None:
        cls = type(m)
        if cls is AppendEntries or cls is AppendReply or cls is VoteReply or \
                cls is InstallSnapshot or cls is SnapshotReply:
            term = m.term  # type: ignore[attr-defined]
            if term != self.term:
                if term < self.term:
                    # §5.1: tell a stale leader about the newer term so it steps down.
                    if cls is AppendEntries or cls is InstallSnapshot:
                        self.send(src, AppendReply(self.term, False, 0, 0, -1, 0))
                    return
                self._become_follower(term, now)
            self._step(src, m, now)
        elif cls is Forward:
            self._on_forward(src, m, now)  # type: ignore[arg-type]
        elif cls is ForwardReply:
            self._on_forward_reply(m)  # type: ignore[arg-type]
        elif cls is ForwardBatch:
            self._on_forward_batch(src, m, now)  # type: ignore[arg-type]
        elif cls is ForwardReplies:
            for process, seq, ok, value, error in m.replies:  # type: ignore[attr-defined]
                self._relay(process, seq, ok, value, error)
        elif cls is RequestVote:
            self._on_request_vote(src, m, now)  # type: ignore[arg-type]
        elif cls is PreVote:
            self._on_pre_vote(src, m, now)  # type: ignore[arg-type]
        elif cls is PreVoteReply:
            # A granted pre-vote carries the proposed term (ours + 1): not a newer term.
            if not m.granted and m.term > self.term:  # type: ignore[attr-defined]
                self._become_follower(m.term, now)  # type: ignore[attr-defined]
                return
            self._step(src, m, now)
        # Any other message is ignored: the one rule for unknown messages in every core
        # (DESIGN.md, "Protocol cores: package layout and unknown messages").

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        mode = self._read_mode
        if mode == "follower" and request.f == "read":
            # Any node answers from its own state: available under partition, maybe stale.
            self.reply(request.process, request.seq, True, self.sm.read(request.key))
            return
        if self.role == LEADER:
            self._pending[request.process] = request
            self._propose(request, self.id, now)
            return
        leader = self.leader_id
        if leader is None:
            # Nothing was sent anywhere, so the op definitely did not happen.
            self.reply(request.process, request.seq, False, error="no leader")
            return
        self._pending[request.process] = request
        if self._propose_batch:
            self._hold_batch()
            self._forwards.append(request)  # one ForwardBatch when the batch timer fires
            return
        self.send(leader, Forward(request, self.id, 0))

    def on_timer(self, name: str, now: float) -> None:
        if name == _HEARTBEAT:
            if self.role == LEADER:
                self._broadcast_round(now, tick=True)
                self.set_timer(_HEARTBEAT, self._hb)
        elif name == _ELECTION:
            self._on_election_timer(now)
        elif name == _PROPOSE:
            self._flush_batch(now)
        elif name == _CHECK_QUORUM and self.role == LEADER:
            # Thesis §6.2: a leader that has not heard from a majority within an
            # election timeout steps down, so clients stop waiting on it.
            if (self._recent | (1 << self.id)).bit_count() < self._quorum:
                self._become_follower(self.term, now)
                return
            self._recent = 0
            self.set_timer(_CHECK_QUORUM, self._et_min)

    # ---------------------------------------------------------- per-role steps
    def _step_follower(self, src: NodeId, m: Message, now: float) -> None:
        cls = type(m)
        if cls is AppendEntries:
            self._on_append(src, m, now)  # type: ignore[arg-type]
            if self._held:
                self._release_held(src, now)
        elif cls is InstallSnapshot:
            self._held.clear()
            self._on_install_snapshot(src, m, now)  # type: ignore[arg-type]
        # Replies meant for a role this node no longer holds are dropped.

    def _step_candidate(self, src: NodeId, m: Message, now: float) -> None:
        cls = type(m)
        if cls is AppendEntries:
            # §5.2: an AppendEntries of our term means someone else won it.
            self._become_follower(self.term, now)
            self._step_follower(src, m, now)
        elif cls is InstallSnapshot:
            self._become_follower(self.term, now)
            self._on_install_snapshot(src, m, now)  # type: ignore[arg-type]
        elif cls is VoteReply:
            if self.role == CANDIDATE and m.granted:  # type: ignore[attr-defined]
                self._votes |= 1 << src
                if self._votes.bit_count() >= self._quorum:
                    self._become_leader(now)
        elif cls is PreVoteReply:
            # Only a pre-candidate counts pre-votes, and only for the term it proposed.
            granted = self.role == PRE_CANDIDATE and m.granted and m.term == self.term + 1  # type: ignore[attr-defined]
            if granted:
                self._votes |= 1 << src
                if self._votes.bit_count() >= self._quorum:
                    self._become_candidate(now)

    def _step_leader(self, src: NodeId, m: Message, now: float) -> None:
        cls = type(m)
        if cls is AppendReply:
            self._recent |= 1 << src
            if m.round > self._acked_round[src]:  # type: ignore[attr-defined]
                self._acked_round[src] = m.round  # type: ignore[attr-defined]
                if self._track_rounds:
                    self._confirm_rounds(now)
            if m.success:  # type: ignore[attr-defined]
                self._on_ack(src, m.index, now)  # type: ignore[attr-defined]
            else:
                self._on_reject(src, m)  # type: ignore[arg-type]
        elif cls is SnapshotReply:
            self._recent |= 1 << src
            if m.round > self._acked_round[src]:  # type: ignore[attr-defined]
                self._acked_round[src] = m.round  # type: ignore[attr-defined]
                if self._track_rounds:
                    self._confirm_rounds(now)
            self._on_ack(src, m.index, now)  # type: ignore[attr-defined]
        # Another leader of our term cannot exist (§5.2 election safety): nothing else.

    # ------------------------------------------------------------- elections
    def _arm_election(self, now: float) -> None:
        """(Re)start the follower's timeout from `now`: check at now + min timeout."""
        self._timer_ref = now
        self._timer_phase = 1
        self.set_timer(_ELECTION, self._et_min)

    def _arm_random(self) -> None:
        """A full randomized timeout (§5.2), for candidates retrying an election."""
        self._timer_phase = 2
        self.set_timer(_ELECTION, self._et_min + self.rng.random() * self._et_spread)

    def _on_election_timer(self, now: float) -> None:
        """Equivalent to resetting a uniform(min, max) timeout on every message heard,
        with one timer event per min-timeout instead of one per message: phase 1 fires
        min after the last reference point and rolls forward while messages arrive;
        only when nothing was heard is the random remainder drawn (phase 2). Hearing
        something during phase 2 re-arms phase 1 (see _heard)."""
        if self.role == LEADER:
            return
        if self._timer_phase == 1:
            if self._last_heard > self._timer_ref:
                self._timer_ref = self._last_heard
                self.set_timer(_ELECTION, max(0.0, self._last_heard + self._et_min - now))
                return
            if self._et_spread > 0:
                self._timer_phase = 2
                self.set_timer(_ELECTION, self.rng.random() * self._et_spread)
                return
        self._timer_phase = 0
        if self._pre_vote:
            self._become_pre_candidate(now)
        else:
            self._become_candidate(now)

    def _heard(self, now: float) -> None:
        self._last_heard = now
        if self._timer_phase != 1:
            self._arm_election(now)

    def _leader_recent(self, now: float) -> bool:
        return self.role == LEADER or now - self._leader_contact < self._et_min

    def _become_pre_candidate(self, now: float) -> None:
        """Thesis §9.6: ask first, without raising the term, so a node that cannot win
        (partitioned, or with a stale log) never disrupts a working cluster."""
        self.role = PRE_CANDIDATE
        self._step = self._step_candidate
        self.leader_id = None
        self._votes = 1 << self.id
        if self._votes.bit_count() >= self._quorum:
            self._become_candidate(now)
            return
        self.broadcast(PreVote(self.term + 1, self.last_index, self._last_term()))
        self._arm_random()

    def _become_candidate(self, now: float) -> None:
        """§5.2: new term, vote for self — durably, before asking anyone."""
        self.role = CANDIDATE
        self._step = self._step_candidate
        self.leader_id = None
        self.term += 1
        self.vote = self.id
        if self._bug != "vote_not_persisted":
            self.persist(Put("term", self.term), Put("vote", self.id))
        else:
            self.persist(Put("term", self.term))  # BUG: the vote stays in memory only
        self._votes = 1 << self.id
        if self._votes.bit_count() >= self._quorum:
            self._become_leader(now)
            return
        self.broadcast(RequestVote(self.term, self.last_index, self._last_term()))
        self._arm_random()

    def _become_follower(self, term: int, now: float) -> None:
        if term > self.term:
            self._held.clear()
            self.term = term
            self.vote = None
            if self._bug != "vote_not_persisted":
                self.persist(Put("term", term), Put("vote", None))
            else:
                self.persist(Put("term", term))
            self.leader_id = None
        if self.role == LEADER:
            self._step_down()
            self.leader_id = None
        self.role = FOLLOWER
        self._step = self._step_follower
        if self._timer_phase == 0:
            self._last_heard = now
            self._arm_election(now)

    def _become_leader(self, now: float) -> None:
        self.role = LEADER
        self._step = self._step_leader
        self.leader_id = self.id
        self._timer_phase = 0
        self.cancel_timer(_ELECTION)
        self._reset_progress(self.last_index)
        self._reset_read_only()
        self._recent = 0
        self._origin.clear()
        self._reads.clear()
        self._proposed.clear()
        self.observe("leader", term=self.term)
        # §8 / §5.4.2: a no-op of the new term, so that entries of earlier terms get
        # committed (indirectly, with it) and ReadIndex has an entry of this term.
        self._term_start = self._append((self.term, None))
        self._broadcast_round(now, tick=False)
        self.set_timer(_HEARTBEAT, self._hb)
        if self._check_quorum:
            self.set_timer(_CHECK_QUORUM, self._et_min)
        if self._n == 1:
            self._advance_commit()

    def _step_down(self) -> None:
        self.observe("step_down", term=self.term)
        self.cancel_timer(_HEARTBEAT)
        self.cancel_timer(_CHECK_QUORUM)
        # A read has no effect, so one not served is truly not done: fail it. Writes
        # still in the log may commit under the next leader: leave them to time out.
        self._fail_reads()
        self._origin.clear()
        if self._proposed:
            # Held proposals never reached the log, but a duplicate of one (the network
            # may copy a Forward) may have: no `fail`, let them time out (outcome unknown).
            # A held read had no effect either way: fail it, as `_fail_reads` does.
            if self._read_mode != "log":
                for request, origin in self._proposed:
                    if request.f == "read":
                        self._answer(origin, request, False, None, "not leader")
            self._proposed.clear()
            if not self._forwards:
                self.cancel_timer(_PROPOSE)

    def _on_request_vote(self, src: NodeId, m: RequestVote, now: float) -> None:
        if m.term < self.term:
            self.send(src, VoteReply(self.term, False))
            return
        if self._sticky and self._leader_recent(now) and (
                m.term > self.term or self._bug != "lease_vote_by_term"):
            # Thesis §4.2.3: within the minimum election timeout of hearing from a
            # current leader, neither update the term nor grant a vote — whatever the
            # request's term. A leader lease (§6.4.1) rests on exactly this promise.
            # Checking only `m.term > self.term` (the `lease_vote_by_term` bug) is not
            # enough: a node can adopt a newer term from a message that is not a vote
            # request (a stale VoteReply, AppendReply or rejecting PreVoteReply), which
            # clears its vote, and a RequestVote of that same term then slips past.
            return
        if m.term > self.term:
            self._become_follower(m.term, now)
        granted = (self.vote is None or self.vote == src) and self._log_ok(m.last_index, m.last_term)
        if granted:
            if self.vote != src:
                self.vote = src
                if self._bug != "vote_not_persisted":
                    self.persist(Put("vote", src))  # durable before the reply leaves
            self._heard(now)  # Figure 2: granting a vote resets the election timeout
        self.send(src, VoteReply(self.term, granted))

    def _on_pre_vote(self, src: NodeId, m: PreVote, now: float) -> None:
        # Thesis §9.6: grant only if we would vote — newer term, up-to-date log — and
        # have not heard from a leader within the minimum election timeout.
        granted = (m.term > self.term and not self._leader_recent(now)
                   and self._log_ok(m.last_index, m.last_term))
        self.send(src, PreVoteReply(m.term if granted else self.term, granted))

    # --------------------------------------------------------------- clients
    def _propose(self, request: ClientRequest, origin: NodeId, now: float) -> None:
        if self._propose_batch:
            # Hold it for propose_batch_ms, then append all that came meanwhile. At 0 ms
            # the timer fires after every input of this instant: in real time, after the
            # whole batch that one Ray call delivered.
            self._hold_batch()
            self._proposed.append((request, origin))
            return
        if request.f == "read" and self._read_mode != "log":
            self._read(request, origin, now)
            return
        index = self._append((self.term, request))
        if origin != self.id:
            self._origin[index] = origin
        last = index
        max_inflight = self._max_inflight
        for p in self.peers:
            if not self._probing[p] and self._next[p] <= last and len(self._inflight[p]) < max_inflight:
                self._send_append(p)
        if self._n == 1:
            self._advance_commit()

    def _hold_batch(self) -> None:
        """propose_batch_ms: the first request held in a batch arms its timer."""
        if not self._proposed and not self._forwards:
            self.set_timer(_PROPOSE, self._propose_batch_ms)

    def _flush_batch(self, now: float) -> None:
        """propose_batch_ms: the batch timer fired. A leader appends what it holds (its
        own clients' requests held as a follower included: it leads now); a follower
        forwards its clients' requests to the leader in one ForwardBatch."""
        forwards, self._forwards = self._forwards, []
        if self.role == LEADER:
            self._proposed.extend((request, self.id) for request in forwards)
            self._flush_proposals(now)
            return
        self._proposed.clear()
        if not forwards:
            return
        leader = self.leader_id
        if leader is None:
            # They never left this node, so they definitely did not happen.
            for request in forwards:
                self._relay(request.process, request.seq, False, None, "no leader")
            return
        self.send(leader, ForwardBatch(tuple(forwards), self.id, 0))

    def _flush_proposals(self, now: float) -> None:
        """propose_batch_ms: the held requests join the log in one append — one durable
        write for all of them (group commit) — and replicate in as few AppendEntries as
        `max_batch` allows, each follower's pipeline filled once (§5.3; the log and its
        rules are the same as one append per request, only the sends are fewer)."""
        proposed, self._proposed = self._proposed, []
        if self.role != LEADER or not proposed:
            return
        if self._read_mode != "log":
            # ReadIndex / lease reads of the batch share one read index and one round.
            reads = [item for item in proposed if item[0].f == "read"]
            if reads:
                proposed = [item for item in proposed if item[0].f != "read"]
                if proposed and self._bug == "batch_reads_ride_writes":
                    # BUG: "the writes' AppendEntries confirm leadership", but the reads
                    # are answered before any follower acks them (§6.4 step 3).
                    for request, origin in reads:
                        self._answer(origin, request, True, self.sm.read(request.key), None)
                else:
                    self._read_many(reads, now)
                if not proposed:
                    return
        log, term, me = self.log, self.term, self.id
        first = len(log)
        log.extend([(term, request) for request, _ in proposed])
        self._outbox.append(Extend("log", first, tuple(log[first:])))
        index = self.log_start + first
        origins = self._origin
        for _, origin in proposed:
            index += 1
            if origin != me:
                origins[index] = origin
        self._match[me] = index
        for p in self.peers:
            self._replicate(p)
        if self._n == 1:
            self._advance_commit()

    def _on_forward(self, src: NodeId, m: Forward, now: float) -> None:
        if self.role == LEADER:
            self._propose(m.request, m.origin, now)
            return
        # Not the leader (any more). Never answer `fail` here: the network may have
        # duplicated this message and another copy may already be in some log, so it
        # may yet commit. Pass it on once to the leader we know, else drop it (the
        # client times out: outcome unknown, which is the truth).
        leader = self.leader_id
        if m.hops == 0 and leader is not None and leader != src:
            self.send(leader, Forward(m.request, m.origin, 1))

    def _on_forward_batch(self, src: NodeId, m: ForwardBatch, now: float) -> None:
        """propose_batch_ms: each request as its own `Forward` would be handled."""
        if self.role == LEADER:
            for request in m.requests:
                self._propose(request, m.origin, now)
            return
        leader = self.leader_id
        if m.hops == 0 and leader is not None and leader != src:
            self.send(leader, ForwardBatch(m.requests, m.origin, 1))

    def _on_forward_reply(self, m: ForwardReply) -> None:
        self._relay(m.process, m.seq, m.ok, m.value, m.error)

    def _relay(self, process: int, seq: int, ok: bool, value: Any, error: str | None) -> None:
        """Answer an own client's open request, unless it was answered already."""
        pending = self._pending.get(process)
        if pending is not None and pending.seq == seq:
            del self._pending[process]
            self.reply(process, seq, ok, value, error)

    def _answer(self, origin: NodeId, request: ClientRequest, ok: bool, value: Any,
                error: str | None) -> None:
        if origin == self.id:
            pending = self._pending.get(request.process)
            if pending is not None and pending.seq == request.seq:
                del self._pending[request.process]
                self.reply(request.process, request.seq, ok, value, error)
        else:
            self.send(origin, ForwardReply(request.process, request.seq, ok, value, error))

    # ------------------------------------------------------------ state machine
    def _apply(self) -> None:
        if self.applied - self.log_start >= self._snap_threshold:
            # §7: compact what was applied in earlier steps (so the invariant checker
            # has seen every applied entry before it leaves the log).
            self._compact()
        log, start, sm = self.log, self.log_start, self.sm
        pending = self._pending
        origin = self._origin if self.role == LEADER else None
        commit = self.commit
        # propose_batch_ms: one ForwardReplies per node per apply step, not one each
        grouped: dict[NodeId, list[tuple[int, int, bool, Any, str | None]]] | None = (
            {} if self._propose_batch and origin else None)
        i = self.applied
        while i < commit:
            i += 1
            request = log[i - start - 1][1]
            if request is None:
                continue
            process = request.process
            mine = pending.get(process) if pending else None
            if mine is not None and mine.seq != request.seq:
                mine = None
            dst = origin.pop(i, None) if origin else None
            if request.f == "read":
                # A read changes nothing: evaluate it (at its place in the log) only
                # where someone waits for the answer.
                if mine is None and dst is None:
                    continue
                ok, value, error = True, sm.read(request.key), None
            else:
                outcome, fresh = sm.apply_fresh(request)
                ok, value, error = outcome.ok, outcome.value, outcome.error
                if fresh and ok:
                    self._outbox.append(Observe("apply", {
                        "key": request.key,
                        "value": request.value[1] if request.f == "cas" else request.value,
                        "version": i}))
            if dst is not None:
                if grouped is not None:
                    grouped.setdefault(dst, []).append((process, request.seq, ok, value, error))
                else:
                    self.send(dst, ForwardReply(process, request.seq, ok, value, error))
            if mine is not None:
                del pending[process]
                self.reply(process, request.seq, ok, value, error)
        self.applied = i
        if grouped:
            for dst, replies in grouped.items():
                self.send(dst, ForwardReplies(tuple(replies)))
        if self._reads:
            self._serve_reads()
