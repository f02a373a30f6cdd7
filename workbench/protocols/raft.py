"""Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
USENIX ATC 2014; Ongaro's thesis, Stanford 2014) as a sans-IO core: the CP reference.

What is here, with the sections it follows:
- leader election with randomized timeouts, terms and votes (§5.2), the up-to-date
  check on votes (§5.4.1), PreVote (thesis §9.6) and CheckQuorum (thesis §6.2), and
  the "ignore votes while a leader is alive" rule that both rely on (thesis §4.2.3);
- log replication with the consistency check and fast back-off by conflict term /
  index hints (§5.3), commit only by majority match of an entry of the leader's own
  term (§5.4.2), a no-op of its term appended by every new leader (§8), batching
  (`max_batch` entries per AppendEntries) and pipelining (up to `max_inflight`
  AppendEntries in flight per follower, optimistic nextIndex);
- durable state — term, vote, log, snapshot — written to `self.storage` before any
  message that depends on it leaves (the outbox is only drained after the handler
  returns), and read back by the constructor after a crash (§5.1 Figure 2);
- the KV state machine with duplicate detection by (process, seq) (thesis §6.3);
- reads: through the log, ReadIndex (thesis §6.4), leader leases bounded by the
  election timeout and the clock drift bound (thesis §6.4.1), or served locally by
  any node (`follower`: fast, available, stale — the one mode that is not CP);
- log compaction by snapshot and InstallSnapshot for lagging followers (§7).

Clients sit beside node p mod n and only that node answers them: a follower forwards
a request to the leader it knows, the leader sends the outcome back, and the
follower replies (or replies when it applies the entry itself, whichever comes
first). A node that knows no leader answers `fail` at once — true, since the request
went nowhere; a forwarded command that might still commit is never answered `fail`
(a node that stopped leading passes a forward on once, or drops it: the network may
have duplicated it into some log). Reads answered `fail` when a leader steps down are
true failures too: a read that was not served had no effect.

Pipelining over a network that reorders: a follower keeps an AppendEntries that
arrives ahead of a gap (up to 64) and processes it once the gap fills, rather than
rejecting it and making the leader resend from there; a pipeline that makes no
progress for a heartbeat interval falls back to probing (a lost message).

Hot-path notes: log entries are (term, ClientRequest | None) tuples (None = no-op);
the election timer is re-armed lazily (a follower does not touch its timer for every
AppendEntries, see `_on_election_timer`), and per-peer leader state lives in flat
lists indexed by node id.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from workbench.core.effects import Observe, Send
from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Extend, Put, PutMany, Storage
from workbench.protocols.base import Node, check_leader_options
from workbench.protocols.state_machine import KVStateMachine

Entry = tuple[int, ClientRequest | None]
"""(term, command); command None is a leader's no-op."""

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = 0, 1, 2, 3
ROLE_NAMES = ("follower", "pre-candidate", "candidate", "leader")

_ELECTION = "election"
_HEARTBEAT = "heartbeat"
_CHECK_QUORUM = "check_quorum"
_NEVER = float("-inf")
_HOLD_MAX = 64  # out-of-order AppendEntries a follower keeps for later


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
    bug: Literal["commit_old_term", "vote_not_persisted", "lease_vote_by_term", "read_index_no_confirm",
                 "long_lease", "log_not_persisted", "snapshot_no_truncate",
                 "snapshot_order_reversed"] | None = None
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
    write or a crash between them leaves a log indexed from a snapshot it does not follow."""

    def __post_init__(self) -> None:
        check_leader_options("raft", self, ("max_batch", "snapshot_threshold", "max_inflight"))


# ------------------------------------------------------------------ messages
@fast_init
@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """§5.3; also the heartbeat. `round` numbers leader broadcasts for ReadIndex / leases."""

    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class AppendReply(Message):
    """Success: `index` is the follower's match index. Failure: `rejected` is the
    prev_index that failed the check, `index`/`hint_term` the fast back-off hint."""

    term: int
    success: bool
    index: int
    hint_term: int
    rejected: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    term: int
    last_index: int
    last_term: int


@fast_init
@dataclass(frozen=True, slots=True)
class VoteReply(Message):
    term: int
    granted: bool


@fast_init
@dataclass(frozen=True, slots=True)
class PreVote(Message):
    """Thesis §9.6: "would you vote for me in `term`?" — changes no one's term."""

    term: int
    last_index: int
    last_term: int


@fast_init
@dataclass(frozen=True, slots=True)
class PreVoteReply(Message):
    term: int
    granted: bool


@fast_init
@dataclass(frozen=True, slots=True)
class InstallSnapshot(Message):
    """§7: the whole snapshot in one message (the state machine is small)."""

    term: int
    index: int
    snap_term: int
    data: tuple[Any, ...]
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class SnapshotReply(Message):
    term: int
    index: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class Forward(Message):
    """A client request handed from the client's node (`origin`) to the leader; a node
    that is no longer leader passes it on once (`hops`) to the leader it knows."""

    request: ClientRequest
    origin: NodeId
    hops: int


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardReply(Message):
    """The leader's answer to a forwarded request, for the client's node to relay."""

    process: int
    seq: int
    ok: bool
    value: Any
    error: str | None


# ------------------------------------------------------------------ the node
class RaftNode(Node):
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
        self._snap_threshold = o.snapshot_threshold
        self._bug = o.bug
        # Thesis §6.4.1: a majority acknowledged a heartbeat sent at leader time t, so
        # none of them votes before its own clock has run election_timeout_min past
        # receiving it (§4.2.3 rule below). With every clock's rate within 1 ± drift,
        # the leader's clock reading t + lease_ms is still before that moment.
        drift = o.max_clock_drift
        self._lease_ms = self._et_min * (1.0 - drift) / (1.0 + drift)
        if o.bug == "long_lease":
            self._lease_ms *= 10.0  # BUG: outlives the followers' promise not to vote
        # Thesis §4.2.3: ignore RequestVote while a leader is heard from (needed by
        # CheckQuorum against disruptive servers, and by leases for safety).
        self._sticky = o.check_quorum or self._lease
        self._n = len(self.members)
        self._quorum = self._n // 2 + 1
        size = max(self.members) + 1

        # ---- durable state (§5.1 Figure 2), as it survived any crash
        # (a blank disk reads as term 0, no vote, an empty log; storage returns copies)
        if "term" not in storage:  # first boot: format the disk (one atomic record)
            self.persist(PutMany((("term", 0), ("vote", None), ("log", []), ("log_base", 0))))
        self.term: int = storage.get("term", 0)
        self.vote: NodeId | None = storage.get("vote")
        snapshot = storage.get("snapshot")
        log: list[Entry] = storage.get("log", [])
        base: int = storage.get("log_base", 0)
        if snapshot is not None:
            snap_index, snap_term, data = snapshot
            self.sm = KVStateMachine.restore(data)
        else:
            snap_index, snap_term, data = 0, 0, KVStateMachine().snapshot()
            self.sm = KVStateMachine()
        if base < snap_index:  # defensive: a snapshot written without its log cut
            log = log[snap_index - base:]
            self.persist(PutMany((("log", list(log)), ("log_base", snap_index))))
        self.log: list[Entry] = log
        self.log_start: int = snap_index
        """Index of the last entry folded into the snapshot; log[0] is index log_start + 1."""
        self.snap_term: int = snap_term
        self._snap_data: tuple[Any, ...] = data

        # ---- volatile state
        self.commit = snap_index
        self.applied = snap_index
        self.role = FOLLOWER
        self.leader_id: NodeId | None = None
        self.dirty_from = snap_index + 1
        """Lowest log index changed since the invariant checker last looked (it resets it)."""
        self._step = self._step_follower
        self._votes = 0  # bitmask of voters (pre-votes while a pre-candidate)
        self._pending: dict[int, ClientRequest] = {}  # own clients' open requests, by process
        self._held: dict[int, AppendEntries] = {}  # out-of-order appends, by prev_index
        # Lazy election timer (see _on_election_timer): phase 1 = checking at
        # ref + min timeout, phase 2 = the random remainder, 0 = not armed (leader).
        self._timer_phase = 0
        self._timer_ref = 0.0
        self._last_heard = 0.0
        self._leader_contact = _NEVER  # last AppendEntries / snapshot from a current leader

        # ---- leader state (§5.3 nextIndex / matchIndex), reset on each election
        self._next = [0] * size
        self._match = [0] * size
        self._inflight: list[list[int]] = [[] for _ in range(size)]  # end index of each send
        self._probing = [True] * size
        self._progressed = [False] * size
        self._acked_round = [0] * size
        self._round = 0
        self._confirmed = 0
        self._round_wanted = False
        self._round_sent: dict[int, float] = {}
        self._lease_until = _NEVER
        self._recent = 0  # bitmask of peers heard from since the last CheckQuorum
        self._origin: dict[int, NodeId] = {}  # log index -> node that forwarded it
        self._reads: list[tuple[int, int, NodeId, ClientRequest]] = []
        self._term_start = 0  # index of this leader's no-op

    # ------------------------------------------------------------ runtime queries
    def leader(self) -> NodeId | None:
        return self.leader_id

    def is_leader(self) -> bool:
        return self.role == LEADER

    def state_digest(self) -> int:
        return self.sm.digest()

    @classmethod
    def invariant_checker(cls) -> Any:
        from workbench.protocols.raft_invariants import RaftInvariants

        return RaftInvariants()

    @property
    def last_index(self) -> int:
        return self.log_start + len(self.log)

    def term_at(self, index: int) -> int | None:
        """Term of the entry at `index`; None if compacted away or beyond the log."""
        start = self.log_start
        if index > start:
            pos = index - start - 1
            return self.log[pos][0] if pos < len(self.log) else None
        if index == start:
            return self.snap_term
        return None

    def entry_at(self, index: int) -> Entry | None:
        pos = index - self.log_start - 1
        return self.log[pos] if 0 <= pos < len(self.log) else None

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
        self.send(leader, Forward(request, self.id, 0))

    def on_timer(self, name: str, now: float) -> None:
        if name == _HEARTBEAT:
            if self.role == LEADER:
                self._broadcast_round(now, tick=True)
                self.set_timer(_HEARTBEAT, self._hb)
        elif name == _ELECTION:
            self._on_election_timer(now)
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
        last = self.last_index
        for p in self.peers:
            self._next[p] = last + 1
            self._match[p] = 0
            self._inflight[p].clear()
            self._probing[p] = True  # find each follower's match first
            self._progressed[p] = False
            self._acked_round[p] = 0
        self._round = 0
        self._confirmed = 0
        self._round_wanted = False
        self._round_sent.clear()
        self._lease_until = _NEVER
        self._recent = 0
        self._origin.clear()
        self._reads.clear()
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
        for _, _, origin, request in self._reads:
            self._answer(origin, request, False, None, "not leader")
        self._reads.clear()
        self._origin.clear()

    def _last_term(self) -> int:
        return self.log[-1][0] if self.log else self.snap_term

    def _log_ok(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the candidate's log is at least as up-to-date as ours."""
        my_term = self._last_term()
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index)

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

    # ------------------------------------------------------ follower: replication
    def _release_held(self, src: NodeId, now: float) -> None:
        """Process held-back AppendEntries that the log has now reached, in order."""
        held = self._held
        while held:
            last = self.log_start + len(self.log)
            ready = [prev for prev in held if prev <= last]
            if not ready:
                return
            for prev in sorted(ready):
                m = held.pop(prev)
                if m.term == self.term:  # (src leads: _on_append just made it our leader)
                    self._on_append(src, m, now)

    def _on_append(self, src: NodeId, m: AppendEntries, now: float) -> None:
        if src != self.leader_id and self._held:
            self._held.clear()
        self.leader_id = src
        self._leader_contact = now
        self._last_heard = now
        if self._timer_phase != 1:
            self._arm_election(now)
        start = self.log_start
        log = self.log
        last = start + len(log)
        prev = m.prev_index
        entries = m.entries
        if prev > last:
            # Pipelined sends can overtake each other (the network reorders): keep this
            # one until the gap before it fills. The first message past a gap (and any
            # resend) is still answered, so a probing leader always hears back; later
            # ones wait quietly instead of each making the leader resend from here.
            held = self._held
            quiet = bool(held) and prev not in held
            if m.entries and len(held) < _HOLD_MAX:
                held[prev] = m
            if quiet:
                return
            # §5.3 consistency check fails: our log is too short. Hint: our end.
            self.send(src, AppendReply(self.term, False, last + 1, 0, prev, m.round))
            return
        if prev < start:
            # Entries up to the snapshot are committed, so they match the leader's.
            skip = start - prev
            if skip >= len(entries):
                self.send(src, AppendReply(self.term, True, prev + len(entries), 0, 0, m.round))
                return
            entries = entries[skip:]
            prev = start
        elif (log[prev - start - 1][0] if prev > start else self.snap_term) != m.prev_term:
            # Fast back-off (§5.3, end): the conflicting term and its first index, so
            # the leader skips the whole term in one round trip.
            conflict = log[prev - start - 1][0] if prev > start else self.snap_term
            first = prev
            while first - 1 > start and log[first - start - 2][0] == conflict:
                first -= 1
            self.send(src, AppendReply(self.term, False, first, conflict, prev, m.round))
            return
        count = len(entries)
        if count:
            # BUG `log_not_persisted`: the append stays in memory; the ack below then
            # promises entries a crash loses (storage copies, so nothing else saves them).
            durable = self._bug != "log_not_persisted"
            pos = prev - start
            if pos == len(log):
                log.extend(entries)
                if durable:
                    self._outbox.append(Extend("log", pos, entries))
            else:
                # §5.3: keep entries already present; at the first conflicting term,
                # delete it and all that follow, then append the rest.
                for k in range(count):
                    j = pos + k
                    if j >= len(log):
                        log.extend(entries[k:])
                        if durable:
                            self._outbox.append(Extend("log", j, entries[k:]))
                        break
                    if log[j][0] != entries[k][0]:
                        del log[j:]
                        if start + j + 1 < self.dirty_from:
                            self.dirty_from = start + j + 1
                        log.extend(entries[k:])
                        if durable:
                            self._outbox.append(Extend("log", j, entries[k:]))
                        break
        match = prev + count
        if m.commit > self.commit:
            # Figure 2: commitIndex = min(leaderCommit, index of last new entry).
            commit = m.commit if m.commit < match else match
            if commit > self.commit:
                self.commit = commit
                self._apply()
        self._outbox.append(Send(src, AppendReply(self.term, True, match, 0, 0, m.round)))

    def _on_install_snapshot(self, src: NodeId, m: InstallSnapshot, now: float) -> None:
        self.leader_id = src
        self._leader_contact = now
        self._heard(now)
        if m.index > self.commit:
            # §7: keep the log after the snapshot if it matches there, else drop it all.
            if self.term_at(m.index) == m.snap_term or (
                    self._bug == "snapshot_no_truncate" and m.index <= self.last_index):  # BUG
                self.log = self.log[m.index - self.log_start:]
            else:
                self.log = []
            self.sm = KVStateMachine.restore(m.data)
            self._snap_data = m.data
            self.log_start = m.index
            self.snap_term = m.snap_term
            self.commit = self.applied = m.index
            self.dirty_from = m.index + 1
            # One atomic record: written as three, a crash after `snapshot` but before
            # `log` would keep the old log's entries beside the new snapshot (issue 12).
            if self._bug == "snapshot_order_reversed":  # BUG: three records, snapshot last
                self.persist(Put("log_base", m.index), Put("log", list(self.log)),
                             Put("snapshot", (m.index, m.snap_term, m.data)))
            else:
                self.persist(PutMany((("snapshot", (m.index, m.snap_term, m.data)),
                                      ("log", list(self.log)), ("log_base", m.index))))
            # No `apply` records for the writes the snapshot carries: say it holds them all.
            self.observe("install", version=m.index)
        # Everything up to our commit index matches the leader (state machine safety).
        self.send(src, SnapshotReply(self.term, self.commit, m.round))

    # -------------------------------------------------------- leader: replication
    def _append(self, entry: Entry) -> int:
        log = self.log
        log.append(entry)
        self._outbox.append(Extend("log", len(log) - 1, (entry,)))  # hot: a one-record persist
        index = self.log_start + len(log)
        self._match[self.id] = index
        return index

    def _send_append(self, p: NodeId) -> None:
        """One AppendEntries to p from nextIndex (up to max_batch entries); while
        replicating, advance nextIndex optimistically (pipelining)."""
        nxt = self._next[p]
        start = self.log_start
        if nxt <= start:
            self._send_snapshot(p)
            return
        log = self.log
        prev = nxt - 1
        end = start + len(log)
        if end > prev + self._max_batch:
            end = prev + self._max_batch
        entries = tuple(log[prev - start:end - start]) if end > prev else ()
        prev_term = log[prev - start - 1][0] if prev > start else self.snap_term
        self._outbox.append(
            Send(p, AppendEntries(self.term, prev, prev_term, entries, self.commit, self._round)))
        if entries and not self._probing[p]:
            self._next[p] = end + 1
            inflight = self._inflight[p]
            if not inflight:
                self._progressed[p] = True  # a fresh pipeline gets a full interval
            inflight.append(end)

    def _send_heartbeat(self, p: NodeId) -> None:
        """An empty AppendEntries at the known match point: it cannot be rejected for
        entries still in flight, and lets the follower commit up to its match."""
        prev = self._match[p]
        if prev < self.log_start:
            prev = self.log_start
        prev_term = self.term_at(prev)
        self.send(p, AppendEntries(self.term, prev, prev_term or 0, (), self.commit, self._round))

    def _send_snapshot(self, p: NodeId) -> None:
        self._probing[p] = True
        self._inflight[p].clear()
        self.send(p, InstallSnapshot(self.term, self.log_start, self.snap_term,
                                     self._snap_data, self._round))

    def _replicate(self, p: NodeId) -> None:
        last = self.log_start + len(self.log)
        inflight = self._inflight[p]
        while not self._probing[p] and self._next[p] <= last and len(inflight) < self._max_inflight:
            self._send_append(p)

    def _broadcast_round(self, now: float, tick: bool) -> None:
        """Start a new round: one AppendEntries (entries if any can go, else a heartbeat)
        to every peer. Acks of a round confirm leadership for ReadIndex and leases."""
        self._round += 1
        if self._lease:
            self._round_sent[self._round] = now
        last = self.log_start + len(self.log)
        for p in self.peers:
            if self._probing[p]:
                self._send_append(p)  # (re)send the probe: it or its answer may be lost
                continue
            inflight = self._inflight[p]
            if tick:
                if inflight and not self._progressed[p]:
                    # Nothing acked for a whole heartbeat interval: assume the pipeline
                    # lost a message and fall back to probing from the match point.
                    self._probing[p] = True
                    self._next[p] = self._match[p] + 1
                    inflight.clear()
                    self._send_append(p)
                    continue
                self._progressed[p] = False
            if self._next[p] <= last and len(inflight) < self._max_inflight:
                self._send_append(p)
            else:
                self._send_heartbeat(p)

    def _on_ack(self, src: NodeId, index: int, now: float) -> None:
        if index > self._match[src]:
            self._match[src] = index
            self._progressed[src] = True
            if index >= self._next[src]:
                self._next[src] = index + 1
            inflight = self._inflight[src]
            while inflight and inflight[0] <= index:
                del inflight[0]
            if index > self.commit:
                self._advance_commit()
        if self._probing[src]:
            # The follower matches up to `index`: replicate optimistically from there.
            self._probing[src] = False
            self._next[src] = self._match[src] + 1
            self._inflight[src].clear()
        self._replicate(src)

    def _on_reject(self, src: NodeId, m: AppendReply) -> None:
        rejected = m.rejected
        if rejected < self._match[src]:
            return  # an answer to an old send; we know better by now
        if self._probing[src] and rejected != self._next[src] - 1:
            return  # a rejection of an earlier (pipelined) send, already handled
        # Fast back-off: skip the follower's whole conflicting term, or to its end.
        nxt = m.index
        if m.hint_term:
            mine = self._last_index_of_term(m.hint_term, rejected)
            if mine:
                nxt = mine + 1
        if nxt > rejected:
            nxt = rejected
        if nxt <= self._match[src]:
            nxt = self._match[src] + 1
        self._next[src] = nxt
        self._probing[src] = True
        self._inflight[src].clear()
        self._send_append(src)

    def _last_index_of_term(self, term: int, upto: int) -> int:
        """Our last index <= upto holding `term` (0 if none); terms never decrease along a log."""
        start = self.log_start
        i = min(upto, start + len(self.log))
        log = self.log
        while i > start and log[i - start - 1][0] > term:
            i -= 1
        if i > start and log[i - start - 1][0] == term:
            return i
        return 0

    def _advance_commit(self) -> None:
        # The highest index a majority holds. (Slots of ids that are not members hold 0,
        # below every member's match, so they never change the quorum-th largest.)
        candidate = sorted(self._match, reverse=True)[self._quorum - 1]
        # §5.4.2: count replicas only for an entry of the current term; earlier
        # entries commit indirectly with it (Figure 8). The bug skips this.
        if candidate > self.commit and (
                self._bug == "commit_old_term" or self.term_at(candidate) == self.term):
            self.commit = candidate
            self._apply()

    # --------------------------------------------------------------- clients
    def _propose(self, request: ClientRequest, origin: NodeId, now: float) -> None:
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

    def _on_forward_reply(self, m: ForwardReply) -> None:
        pending = self._pending.get(m.process)
        if pending is not None and pending.seq == m.seq:
            del self._pending[m.process]
            self.reply(m.process, m.seq, m.ok, m.value, m.error)

    def _answer(self, origin: NodeId, request: ClientRequest, ok: bool, value: Any,
                error: str | None) -> None:
        if origin == self.id:
            pending = self._pending.get(request.process)
            if pending is not None and pending.seq == request.seq:
                del self._pending[request.process]
                self.reply(request.process, request.seq, ok, value, error)
        else:
            self.send(origin, ForwardReply(request.process, request.seq, ok, value, error))

    def _read(self, request: ClientRequest, origin: NodeId, now: float) -> None:
        """Thesis §6.4 ReadIndex: note the commit index — at least this term's no-op,
        so every earlier commit is included — confirm leadership with a round of
        heartbeats, wait until applied, answer from the state machine. §6.4.1 lease:
        while the lease runs, skip the round."""
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
        if needed <= self._confirmed and self.applied >= index:
            self._answer(origin, request, True, self.sm.read(request.key), None)
        else:
            self._reads.append((needed, index, origin, request))

    def _confirm_rounds(self, now: float) -> None:
        acked = sorted([self._acked_round[p] for p in self.peers], reverse=True)
        confirmed = acked[self._quorum - 2] if self._quorum >= 2 else self._round
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
                self.send(dst, ForwardReply(process, request.seq, ok, value, error))
            if mine is not None:
                del pending[process]
                self.reply(process, request.seq, ok, value, error)
        self.applied = i
        if self._reads:
            self._serve_reads()

    def _compact(self) -> None:
        index = self.applied
        term = self.term_at(index)
        data = self.sm.snapshot()
        self.log = self.log[index - self.log_start:]
        self.log_start = index
        self.snap_term = term if term is not None else self.snap_term
        self._snap_data = data
        self.persist(PutMany((("snapshot", (index, self.snap_term, data)),
                              ("log", list(self.log)), ("log_base", index))))
