"""Raft core, unit level: the sans-IO node driven by a tiny synchronous network.

Each test pins one rule of the paper (sections cited) on a hand-made situation; the
randomized fault search (test_raft_search.py) covers the interleavings.
"""

from __future__ import annotations

import ast
import random
from collections import deque
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.core.effects import Reply, Send
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.protocols.raft import (
    LEADER,
    AppendEntries,
    AppendReply,
    Forward,
    ForwardReply,
    InstallSnapshot,
    RaftInvariants,
    RaftNode,
    RaftOptions,
    RequestVote,
)
from workbench.runtime.driver import NodeDriver, apply_persist
from workbench.runtime.stepped import SteppedTransport


def persisted(effects: list[Any], storage: Storage) -> list[Any]:
    """Carry out the `Persist` effects of a core called directly (the driver's job), in order."""
    for effect in effects:
        apply_persist(storage, effect)
    return effects


class Harness(SteppedTransport):
    """A tiny synchronous network, as a transport under `NodeDriver`s: messages are
    delivered FIFO with no delay, timers fire in time order as the test advances the
    clock, links can be cut, nodes can be crashed (keeping only their Storage) and
    rebooted. The drivers hold the nodes, their timers and crash semantics."""

    def __init__(self, n: int = 3, seed: int = 0, node_class: type[RaftNode] = RaftNode,
                 **options: Any) -> None:
        super().__init__()
        self.n = n
        self.options = RaftOptions(**options)
        self.node_class = node_class
        self.seed = seed
        self.storages = [Storage() for _ in range(n)]
        self.trace: list[dict[str, Any]] = []  # every node's observations, in order
        self.drivers = [
            NodeDriver(i, members=range(n), factory=node_class, options=self.options, transport=self,
                       rng_for=lambda incarnation, i=i: random.Random(f"{self.seed}/{i}/{incarnation}"),
                       trace=self.trace)
            for i in range(n)
        ]
        self.queue: deque[tuple[int, int, Message]] = deque()
        self.cut: set[tuple[int, int]] = set()
        self.replies: list[Reply] = []
        self.sent: list[tuple[int, int, Message]] = []
        self.drop: Any = None  # optional predicate (src, dst, message) -> bool
        self.rewrite: Any = None  # optional (src, dst, message) -> message to deliver instead
        for i in range(n):
            self.boot(i)

    # ------------------------------------------------------------ the transport
    def send(self, src: int, dst: int, message: Message) -> None:
        self.sent.append((src, dst, message))
        self.queue.append((src, dst, message))

    def reply(self, src: int, effect: Reply) -> None:
        self.replies.append(effect)

    # ------------------------------------------------------------ plumbing
    def boot(self, i: int) -> RaftNode:
        driver = self.drivers[i]
        driver.storage = self.storages[i]
        return driver.boot(self.now)  # type: ignore[return-value]

    def crash(self, i: int) -> None:
        self.drivers[i].crash()

    def node(self, i: int) -> RaftNode:
        return self.live(i)  # type: ignore[return-value]

    def _collect(self, i: int) -> None:
        self.drivers[i].drain(self.now)

    def isolate(self, i: int) -> None:
        for j in range(self.n):
            if j != i:
                self.cut.add((i, j))
                self.cut.add((j, i))

    def heal(self) -> None:
        self.cut.clear()

    def deliver(self, limit: int = 100_000) -> None:
        steps = 0
        while self.queue:
            steps += 1
            assert steps < limit, "message storm"
            src, dst, message = self.queue.popleft()
            if self.drivers[dst].node is None or (src, dst) in self.cut:
                continue
            if self.drop is not None and self.drop(src, dst, message):
                continue
            if self.rewrite is not None:
                message = self.rewrite(src, dst, message)
            self.drivers[dst].deliver(src, message, self.now)

    def advance(self, ms: float) -> None:
        """Let `ms` pass: fire due timers in time order, delivering messages after each."""
        end = self.now + ms
        self.deliver()
        while self.fire_next(end):
            self.deliver()
        self.now = end

    def request(self, i: int, request: ClientRequest) -> None:
        self.node(i)  # asserts it is up
        self.drivers[i].request(request, self.now)
        self.deliver()

    # ------------------------------------------------------------ queries
    def leaders(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node is not None and node.role == LEADER]

    def elect(self, limit_ms: float = 5_000) -> int:
        waited = 0.0
        while waited < limit_ms:
            self.advance(10)
            waited += 10
            leaders = self.leaders()
            if len(leaders) == 1:
                return leaders[0]
        raise AssertionError(f"no single leader after {limit_ms} ms: {self.leaders()}")

    def reply_for(self, process: int, seq: int) -> Reply | None:
        found = [r for r in self.replies if r.process == process and r.seq == seq]
        assert len(found) <= 1, f"answered twice: {found}"
        return found[0] if found else None

    def kinds(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """(node, fields) of each observation of `kind`, in the order they were made."""
        return [(r["node"], {k: v for k, v in r.items() if k not in ("time", "kind", "node")})
                for r in self.trace if r["kind"] == kind]


def write(process: int, seq: int, value: Any, key: str = "k") -> ClientRequest:
    return ClientRequest(process, seq, "write", key, value)


def read(process: int, seq: int, key: str = "k") -> ClientRequest:
    return ClientRequest(process, seq, "read", key)


def follower_of(h: Harness, leader: int) -> int:
    return next(i for i in range(h.n) if i != leader and h.nodes[i] is not None)


# ------------------------------------------------------------------ elections, §5.2
def test_elects_one_leader_and_replicates_writes() -> None:
    h = Harness(3)
    leader = h.elect()
    assert h.kinds("leader") == [(leader, {"term": h.node(leader).term})]
    h.request(leader, write(leader, 0, 7))
    assert h.reply_for(leader, 0).type == "ok"
    h.advance(100)  # a heartbeat carries the commit index to the followers
    assert {h.node(i).sm.read("k") for i in range(3)} == {7}
    applies = h.kinds("apply")
    assert sorted(i for i, _ in applies) == [0, 1, 2]
    assert {(f["key"], f["value"], f["version"]) for _, f in applies} == {("k", 7, 2)}  # 1 = no-op
    assert len({h.node(i).state_digest() for i in range(3)}) == 1


def test_follower_forwards_and_relays_the_leaders_answer() -> None:
    h = Harness(3)
    leader = h.elect()
    follower = follower_of(h, leader)
    h.request(follower, write(follower, 0, "x"))
    reply = h.reply_for(follower, 0)
    assert reply is not None and reply.type == "ok" and reply.value == "x"
    assert any(isinstance(m, Forward) for s, d, m in h.sent if s == follower and d == leader)
    # The follower applying the entry later must not answer a second time.
    h.advance(200)
    h.reply_for(follower, 0)


def test_no_known_leader_fails_at_once() -> None:
    h = Harness(3)
    h.request(0, write(0, 0, 1))
    reply = h.reply_for(0, 0)
    assert reply is not None and reply.type == "fail" and reply.error == "no leader"


def test_forward_to_a_node_that_is_not_leader_is_passed_on_never_failed() -> None:
    """A duplicated Forward may reach a node after it stopped leading while another copy
    sits in a log: answering `fail` would be a lie. It is passed on once, or dropped."""
    h = Harness(3)
    leader = h.elect()
    follower = follower_of(h, leader)
    other = next(i for i in range(3) if i not in (leader, follower))
    request = write(other, 0, 1)
    h.node(follower).on_message(other, Forward(request, other, 0), h.now)
    sent = [e for e in h.node(follower).take_effects() if isinstance(e, Send)]
    assert [(e.to, e.message) for e in sent] == [(leader, Forward(request, other, 1))]
    h.node(follower).on_message(other, Forward(request, other, 1), h.now)  # second hop: drop
    assert h.node(follower).take_effects() == []
    assert not any(isinstance(m, ForwardReply) and not m.ok for _, _, m in h.sent)


def test_prevote_keeps_a_cut_off_node_from_raising_its_term() -> None:
    """Thesis §9.6: a partitioned node's pre-votes fail, so its term stays put and it
    does not depose a healthy leader when it comes back."""
    h = Harness(3)
    leader = h.elect()
    term = h.node(leader).term
    follower = follower_of(h, leader)
    h.isolate(follower)
    h.advance(3_000)
    assert h.node(follower).term == term
    h.heal()
    h.advance(500)
    assert h.leaders() == [leader] and h.node(leader).term == term


def test_without_prevote_a_cut_off_node_disrupts_on_return() -> None:
    h = Harness(3, pre_vote=False, check_quorum=False)
    leader = h.elect()
    term = h.node(leader).term
    follower = follower_of(h, leader)
    h.isolate(follower)
    h.advance(3_000)
    assert h.node(follower).term > term + 3  # campaigned again and again
    h.heal()
    h.advance(1_000)
    assert max(h.node(i).term for i in range(3)) > term  # the old term is gone


def test_check_quorum_makes_a_cut_off_leader_step_down() -> None:
    """Thesis §6.2: no majority heard within an election timeout -> step down."""
    h = Harness(5)
    leader = h.elect()
    h.isolate(leader)
    h.advance(1_000)
    assert h.node(leader).role != LEADER
    assert (leader, {"term": h.node(leader).term}) in h.kinds("step_down")
    others = [i for i in h.leaders() if i != leader]
    assert len(others) == 1 and h.node(others[0]).term > h.node(leader).term


def test_votes_are_ignored_while_a_leader_is_heard_from() -> None:
    """Thesis §4.2.3 (with CheckQuorum): a recent heartbeat means the RequestVote is
    ignored — no vote, no new term."""
    h = Harness(3)
    leader = h.elect()
    follower = follower_of(h, leader)
    node = h.node(follower)
    term = node.term
    node.on_message(3 - leader - follower, RequestVote(term + 5, 99, term), h.now)
    assert node.term == term and node.take_effects() == []


def test_vote_rules_of_5_4_1() -> None:
    """One vote per term, and only for a candidate whose log is as up-to-date."""
    h = Harness(3, pre_vote=False, check_quorum=False)
    node = h.node(0)
    node.log.append((3, None))  # last entry of term 3 at index 1
    node.on_message(1, RequestVote(4, 5, 2), 0.0)  # longer log, older last term: no
    node.on_message(1, RequestVote(4, 1, 3), 0.0)  # as up-to-date: yes
    node.on_message(2, RequestVote(4, 9, 3), 0.0)  # already voted in term 4: no
    grants = [e.message.granted for e in persisted(node.take_effects(), h.storages[0])
              if isinstance(e, Send)]
    assert grants == [False, True, False]
    assert (h.storages[0].get("term"), h.storages[0].get("vote")) == (4, 1)


# ------------------------------------------------------------------ durability, §5.1
def test_term_vote_and_log_survive_a_crash() -> None:
    h = Harness(3)
    leader = h.elect()
    for seq in range(5):
        h.request(leader, write(leader, seq, seq))
    h.advance(100)
    follower = follower_of(h, leader)
    before = (h.node(follower).term, h.node(follower).vote, list(h.node(follower).log))
    h.crash(follower)
    rebooted = h.boot(follower)
    assert (rebooted.term, rebooted.vote, list(rebooted.log)) == before
    assert rebooted.applied == 0  # volatile: re-learned from the leader
    h.advance(200)
    assert rebooted.applied == h.node(leader).commit
    assert rebooted.state_digest() == h.node(leader).state_digest()


def test_bug_vote_not_persisted_forgets_the_vote() -> None:
    for bug, expected in ((None, 1), ("vote_not_persisted", None)):
        h = Harness(3, pre_vote=False, check_quorum=False, bug=bug)
        h.node(0).on_message(1, RequestVote(1, 0, 0), 0.0)
        persisted(h.node(0).take_effects(), h.storages[0])
        h.crash(0)
        assert (h.boot(0).term, h.node(0).vote) == (1, expected)


# ------------------------------------------------------------------ replication, §5.3
def _prepared(h: Harness, logs: dict[int, list[tuple[int, Any]]], terms: dict[int, int]) -> None:
    for i, log in logs.items():
        h.crash(i)
        h.storages[i].put("log", list(log))
        h.storages[i].put("term", terms[i])
        h.boot(i)


def test_fast_backoff_skips_a_whole_conflicting_term() -> None:
    h = Harness(3, pre_vote=False, check_quorum=False)
    a = (1, write(9, 0, "a"))
    stale = [(2, write(9, i + 1, f"s{i}")) for i in range(20)]  # never committed
    good = [(3, write(9, i + 100, f"g{i}")) for i in range(5)]
    _prepared(h, {0: [a, *stale], 1: [a, *good], 2: [a, *good]}, {0: 2, 1: 3, 2: 3})
    leader = h.elect()
    assert leader in (1, 2)  # node 0's last term (2) is behind (§5.4.1)
    h.advance(200)
    rejections = [m for s, d, m in h.sent if s == 0 and isinstance(m, AppendReply) and not m.success]
    assert 1 <= len(rejections) <= 2  # not one per stale entry
    assert h.node(0).log == h.node(leader).log
    assert h.node(0).commit == h.node(leader).commit == 7


@pytest.mark.parametrize("bug", [None, "commit_old_term"])
def test_commit_only_counts_replicas_of_current_term_entries(bug: str | None) -> None:
    """§5.4.2 / Figure 8: a leader of term 3 holding an entry of term 2 on a majority
    must not commit it by counting; it commits with its own no-op."""
    h = Harness(3, pre_vote=False, check_quorum=False, max_batch=1, bug=bug)
    a, b = (1, write(9, 0, "a")), (2, write(9, 1, "b"))
    _prepared(h, {0: [a, b], 1: [a], 2: [a]}, {0: 2, 1: 2, 2: 2})
    def strip_new_entries(src: int, dst: int, m: Message) -> Message:
        # The new term's entries (the no-op) get lost; the rest of the message arrives.
        if isinstance(m, AppendEntries) and any(t >= 3 for t, _ in m.entries):
            return AppendEntries(m.term, m.prev_index, m.prev_term, (), m.commit, m.round)
        return m

    h.rewrite = strip_new_entries
    leader = h.elect()
    assert leader == 0
    h.advance(300)
    assert h.node(1).last_index == 2 and h.node(1).log[1] == b  # b is on a majority
    assert h.node(0).commit == (2 if bug else 0)
    h.rewrite = None
    h.advance(300)
    assert h.node(0).commit == 3  # committed together with the no-op of term 3


# ------------------------------------------------------------------ clients, §6.3
def test_duplicate_forward_is_applied_once() -> None:
    h = Harness(3)
    leader = h.elect()
    follower = follower_of(h, leader)
    request = ClientRequest(follower, 0, "cas", "k", [None, 5])
    h.node(follower)._pending[follower] = request
    for _ in range(2):  # the network duplicated the forward
        h.node(leader).on_message(follower, Forward(request, follower, 0), h.now)
        h._collect(leader)
    h.deliver()
    h.advance(200)
    assert [f["value"] for i, f in h.kinds("apply") if i == leader] == [5]
    assert h.reply_for(follower, 0).type == "ok"
    assert h.node(leader).sm.read("k") == 5


# ------------------------------------------------------------------ reads, §6.4
def test_read_index_confirms_leadership_without_a_log_entry() -> None:
    h = Harness(3, read_mode="read_index")
    leader = h.elect()
    h.request(leader, write(leader, 0, 3))
    length = h.node(leader).last_index
    sent = len(h.sent)
    h.request(leader, read(leader, 1))
    assert h.reply_for(leader, 1).value == 3
    assert h.node(leader).last_index == length  # no log entry for the read
    assert any(isinstance(m, AppendEntries) for _, _, m in h.sent[sent:])  # a heartbeat round


def test_read_index_on_a_cut_off_leader_is_never_answered_ok() -> None:
    h = Harness(3, read_mode="read_index")
    leader = h.elect()
    h.isolate(leader)
    h.request(leader, read(leader, 0))
    assert h.reply_for(leader, 0) is None  # waits for a majority that never answers
    h.advance(1_000)  # CheckQuorum: steps down, and the read fails (it never happened)
    reply = h.reply_for(leader, 0)
    assert reply is not None and reply.type == "fail"


def test_lease_read_skips_the_round_while_the_lease_holds() -> None:
    h = Harness(3, read_mode="lease")
    leader = h.elect()
    h.request(leader, write(leader, 0, 4))
    h.advance(60)  # a heartbeat round renews the lease
    sent = len(h.sent)
    h.request(leader, read(leader, 1))
    assert h.reply_for(leader, 1).value == 4
    assert len(h.sent) == sent  # answered from the lease: no messages
    # Cut off, the lease runs out after election_timeout_min * (1 - drift) / (1 + drift).
    h.isolate(leader)
    h.advance(160)
    h.request(leader, read(leader, 2))
    assert h.reply_for(leader, 2) is None


def test_follower_reads_are_local_and_available_when_cut_off() -> None:
    h = Harness(3, read_mode="follower")
    leader = h.elect()
    follower = follower_of(h, leader)
    h.isolate(follower)
    h.request(leader, write(leader, 0, 8))  # the cut-off follower never hears of it
    h.request(follower, read(follower, 0))
    assert h.reply_for(follower, 0).type == "ok" and h.reply_for(follower, 0).value is None


# ------------------------------------------------------------------ compaction, §7
def test_snapshots_bound_the_log_and_catch_up_a_lagging_follower() -> None:
    h = Harness(3, snapshot_threshold=10)
    leader = h.elect()
    lagging = follower_of(h, leader)
    h.crash(lagging)
    for seq in range(60):
        h.request(leader, write(leader, seq, seq))
    h.advance(100)
    assert h.node(leader).log_start >= 40 and len(h.node(leader).log) <= 20
    h.boot(lagging)
    h.advance(500)
    assert any(isinstance(m, InstallSnapshot) and d == lagging for _, d, m in h.sent)
    node = h.node(lagging)
    assert node.log_start > 0 and node.state_digest() == h.node(leader).state_digest()
    installed = node.log_start
    h.crash(lagging)  # the installed snapshot is durable; later entries are re-applied
    assert h.boot(lagging).log_start >= installed
    h.advance(200)
    assert h.node(lagging).state_digest() == h.node(leader).state_digest()


# ------------------------------------------------------------------ invariants
def test_invariant_checker_catches_planted_violations() -> None:
    h = Harness(3)
    leader = h.elect()
    h.request(leader, write(leader, 0, 1))
    h.advance(100)
    checker = RaftInvariants()
    assert checker.check(h.nodes, h.now) is None
    other = follower_of(h, leader)
    h.node(other).role = LEADER  # two leaders in one term
    assert "election safety" in checker.check(h.nodes, h.now)
    h.node(other).role = 0
    h.node(other).log[-1] = (h.node(other).log[-1][0], write(5, 5, "forged"))
    h.node(other).dirty_from = 1
    problem = RaftInvariants().check(h.nodes, h.now)
    assert problem is not None and ("log matching" in problem or "state machine" in problem)


def _replica(node_id: int, term: int, log: list[Any], applied: int, role: int = 0) -> SimpleNamespace:
    return SimpleNamespace(id=node_id, term=term, role=role, log=log, log_start=0, snap_term=0,
                           dirty_from=1, applied=applied)


def test_leader_completeness_covers_entries_committed_in_earlier_terms_only() -> None:
    a, b, c = (1, write(1, 0, "a")), (3, write(1, 1, "b")), (2, write(2, 0, "c"))

    def committed_by_term_3_leader() -> tuple[RaftInvariants, list[SimpleNamespace]]:
        # Term 3's leader commits a and b: it applies them first, in its own term.
        checker = RaftInvariants()
        nodes = [_replica(0, 3, [a, b], applied=2, role=LEADER), _replica(1, 3, [a, b], applied=2)]
        assert checker.check(nodes, 0.0) is None
        nodes[0].role = 0
        return checker, nodes

    # A candidate of term 2 that was paused, resumes and counts its old votes may lead
    # term 2 without b: Figure 3 only constrains higher-numbered terms.
    checker, nodes = committed_by_term_3_leader()
    assert checker.check([*nodes, _replica(2, 2, [a, c], applied=0, role=LEADER)], 0.0) is None
    # A leader of term 4 without b breaks Leader Completeness.
    checker, nodes = committed_by_term_3_leader()
    problem = checker.check([*nodes, _replica(2, 4, [a, c], applied=0, role=LEADER)], 0.0)
    assert problem is not None and "leader completeness" in problem and "term 3" in problem


# ------------------------------------------------------------------ options, layering
def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        RaftOptions(election_timeout_min_ms=300, election_timeout_max_ms=150)
    from workbench.errors import ConfigError
    from workbench.experiment.config import validate_config

    with pytest.raises(ConfigError, match="raft.bug"):
        validate_config({"protocol": "raft", "raft": {"bug": "nope"}})
    config = validate_config({"protocol": "raft", "raft": {"read_mode": "lease", "max_inflight": 2}})
    assert config.raft.read_mode == "lease" and config.raft.max_inflight == 2


def test_raft_modules_import_only_stdlib_and_core() -> None:
    root = Path(__file__).resolve().parent.parent / "workbench" / "protocols"
    paths = sorted((root / "raft").glob("*.py"))
    assert {p.name for p in paths} >= {"node.py", "log.py", "progress.py", "read_only.py", "messages.py",
                                        "invariants.py"}
    for path in paths:
        name = path.name
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            top = module.split(".")[0]
            assert top in ("__future__", "collections", "dataclasses", "typing", "random") or \
                module.startswith(("workbench.core", "workbench.protocols")), f"{name}: {module}"
