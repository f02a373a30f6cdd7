"""The Dynamo-style quorum store: quorums, the new-old inversion, read repair, sloppy
quorums with hinted handoff, and what LWW and version vectors do to concurrent writes."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from conftest import assert_mostly_checked, search_seeds

from workbench.checkers.linearizability import NOT_LINEARIZABLE, check_linearizability
from workbench.checkers.lost_writes import causal_past, count_lost_writes, lost_writes
from workbench.core.effects import Reply, Send
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.experiment.run import run_experiment
from workbench.fault_search import UNCHECKED, Finding, search
from workbench.history.frame import history_to_frame
from workbench.protocols.quorum import QuorumNode, QuorumOptions, merge_entries, resolve
from workbench.runtime.driver import apply_persist
from workbench.runtime.sim import Simulation

STRICT_ABD = {"n": 3, "r": 2, "w": 2, "read_repair": "blocking"}


# ---------------------------------------------------------------- versions
def test_lww_keeps_the_greatest_timestamp() -> None:
    a, b = ((10, (), "a"),), ((20, (), "b"),)
    assert merge_entries(a, b, "lww") == merge_entries(b, a, "lww") == b


def test_version_vectors_keep_concurrent_siblings_and_drop_dominated() -> None:
    old = (5, ((0, 1),), "old")
    left = (10, ((0, 2),), "left")  # descends from old
    right = (8, ((0, 1), (1, 1)), "right")  # descends from old, concurrent with left
    merged = merge_entries((old,), (left,), "vv")
    assert merged == (left,)
    merged = merge_entries(merged, (right,), "vv")
    assert merged == (right, left)  # siblings, ordered by timestamp
    assert resolve(merged) == "left"  # the deterministic merge: newest timestamp


def test_preference_lists_are_stable_and_distinct() -> None:
    node = QuorumNode(0, list(range(5)), QuorumOptions(n=3), random.Random(0), Storage())
    pref = node.preference_list("k1")
    assert len(set(pref)) == 3 and pref == node.preference_list("k1")
    other = QuorumNode(4, list(range(5)), QuorumOptions(n=3), random.Random(9), Storage())
    assert other.preference_list("k1") == pref  # every node computes the same ring


# ---------------------------------------------------------------- hand-built schedules
class Cluster:
    """Three quorum nodes and a message pool delivered by hand, to build exact schedules."""

    def __init__(self, **options: Any) -> None:
        opts = QuorumOptions(n=3, anti_entropy_interval_ms=0, **options)
        self.nodes = [QuorumNode(i, [0, 1, 2], opts, random.Random(i), Storage()) for i in range(3)]
        self.inbox: list[tuple[int, int, Any]] = []  # (src, dst, message)
        self.events: list[dict[str, Any]] = []
        self.now = 0.0
        for node in self.nodes:
            node.start(0.0)
            for effect in node.take_effects():
                apply_persist(node.storage, effect)  # the first boot formats the disk

    def _collect(self, src: int) -> None:
        node = self.nodes[src]
        for effect in node.take_effects():
            if apply_persist(node.storage, effect):  # the driver's job: durable at once
                continue
            if isinstance(effect, Send):
                self.inbox.append((src, effect.to, effect.message))
            elif isinstance(effect, Reply):
                self.now += 1
                self.events.append({"process": effect.process, "type": effect.type, "f": self._f[effect.process],
                                    "key": "k", "value": effect.value, "time": self.now})

    def invoke(self, process: int, f: str, value: Any = None) -> None:
        self._f = getattr(self, "_f", {})
        self._f[process] = f
        self.now += 1
        self.events.append({"process": process, "type": "invoke", "f": f, "key": "k",
                            "value": value, "time": self.now})
        node = process % 3
        self.nodes[node].on_client_request(ClientRequest(process, int(self.now), f, "k", value), self.now)  # type: ignore[arg-type]
        self._collect(node)

    def deliver(self, keep: Callable[[int, int, Any], bool]) -> int:
        """Deliver (repeatedly) every pooled message `keep` accepts; the rest stay in flight."""
        delivered = 0
        while True:
            ready = [m for m in self.inbox if keep(*m)]
            if not ready:
                return delivered
            for item in ready:
                self.inbox.remove(item)
                src, dst, message = item
                self.now += 0.01
                self.nodes[dst].on_message(src, message, self.now)
                self._collect(dst)
                delivered += 1


def test_a_restarted_replica_recovers_what_it_acknowledged_through_persist() -> None:
    """The quorum store writes through `Persist` (issue 12): a replica rebuilt from its
    storage holds every value it acked, and a vv coordinator its counter (storage copies,
    so nothing survives by aliasing the in-memory dicts)."""
    cluster = Cluster(versioning="vv")
    cluster.invoke(0, "write", "a")
    cluster.deliver(lambda s, d, m: True)
    cluster.invoke(3, "write", "b")  # the same coordinator (node 0) again
    cluster.deliver(lambda s, d, m: True)
    opts = cluster.nodes[0].options
    for i, before in enumerate(cluster.nodes):
        after = QuorumNode(i, [0, 1, 2], opts, random.Random(99), before.storage)
        assert after.store == before.store and resolve(after.store["k"]) == "b", f"node {i}"
        assert after.counter == before.counter and after.own_last == before.own_last, f"node {i}"
    assert cluster.nodes[0].counter == 2
    blank = QuorumNode(0, [0, 1, 2], opts, random.Random(0), Storage())
    assert blank.store == {}  # a core never writes storage itself: only the runtime does


def _inversion_schedule(cluster: Cluster, repair_arrives: bool = True) -> list[Any]:
    """write(old) everywhere; write(new) reaches only node 2; reader A at node 1 asks
    nodes 1 and 2; then reader B at node 1 asks nodes 0 and 1 — all while new is in flight."""
    cluster.invoke(0, "write", "old")
    cluster.deliver(lambda s, d, m: True)
    cluster.invoke(3, "write", "new")  # coordinator: node 0
    cluster.deliver(lambda s, d, m: type(m).__name__ == "Put" and d == 2)
    cluster.invoke(1, "read")  # its messages (and any write-back) only among nodes 1, 2
    cluster.deliver(lambda s, d, m: m.op[0] == 1 and s in (1, 2) and d in (1, 2)
                    and (repair_arrives or type(m).__name__ != "Put"))
    cluster.invoke(4, "read")  # only among nodes 0, 1
    cluster.deliver(lambda s, d, m: m.op[0] == 4 and s in (0, 1) and d in (0, 1))
    return [e["value"] for e in cluster.events if e["type"] == "ok" and e["f"] == "read"]


def test_strict_quorum_without_read_repair_shows_the_new_old_inversion() -> None:
    """R + W > N is not linearizable: a read concurrent with a write returns the new
    value, a later read from another quorum the old one (the witness)."""
    cluster = Cluster(r=2, w=2, read_repair="none")
    assert _inversion_schedule(cluster) == ["new", "old"]
    result = check_linearizability(cluster.events, "cas-register")
    assert result.verdict == NOT_LINEARIZABLE
    assert result.witness is not None
    stuck = {(o.f, o.result) for o in result.witness.unplaceable}
    assert ("read", "old") in stuck or ("read", "new") in stuck


def test_blocking_read_repair_removes_the_inversion() -> None:
    cluster = Cluster(r=2, w=2, read_repair="blocking")
    assert _inversion_schedule(cluster) == ["new", "new"]
    assert check_linearizability(cluster.events, "cas-register").linearizable


def test_the_early_reply_bug_brings_the_inversion_back() -> None:
    """Replying before the write-back is acknowledged is async read repair: if the
    write-back is still in flight when the next read starts, the inversion is back."""
    cluster = Cluster(r=2, w=2, read_repair="blocking", bug="early_read_reply")
    assert _inversion_schedule(cluster, repair_arrives=False) == ["new", "old"]


# ---------------------------------------------------------------- fault search
CI_DURATION_S = 6.0


def _search(seeds: range, options: dict[str, Any]) -> list[Finding]:
    before = len(UNCHECKED)
    findings = search("quorum", seeds, duration_s=CI_DURATION_S, options=options)
    assert_mostly_checked(UNCHECKED[before:], len(seeds))
    return findings


def _explain(findings: list[Finding], options: dict[str, Any]) -> str:
    return "\n".join(f"{f}\n  reproduce: check_seed(scenario('quorum', {f.seed}, duration_s={CI_DURATION_S}, "
                     f"options={options!r}))" for f in findings)


def test_strict_quorum_with_blocking_read_repair_is_linearizable_ci_slice() -> None:
    """The composed nemesis (every partition shape, crashes and pauses of one node at
    a time, a one-way cut, loss, duplication, reordering): a bounded slice in CI."""
    seeds = range(30)
    findings = _search(seeds, STRICT_ABD)
    assert not findings, _explain(findings, STRICT_ABD)


@pytest.mark.slow
def test_strict_quorum_with_blocking_read_repair_is_linearizable_200_seeds() -> None:
    seeds = range(1000, 1000 + max(200, search_seeds(200)))
    findings = _search(seeds, STRICT_ABD)
    assert not findings, _explain(findings, STRICT_ABD)


def test_fault_search_finds_the_inversion_without_read_repair() -> None:
    """The same search, read repair off: the checker refutes some seed (printed)."""
    options = {"n": 3, "r": 2, "w": 2, "read_repair": "none"}
    findings = search("quorum", range(40), stop_at_first=True, duration_s=CI_DURATION_S, options=options)
    assert findings, "no seed in 0..39 refuted strict quorums without read repair"
    print(_explain(findings, options))


# ---------------------------------------------------------------- whole runs
def _config(changes: dict[str, Any], quorum: dict[str, Any]) -> ExperimentConfig:
    raw: dict[str, Any] = {
        "name": "quorum-test", "protocol": "quorum", "seed": 3, "nodes": 5, "duration_s": 14,
        "workload": {"keys": 3, "clients": 10, "mix": {"read": 0.5, "write": 0.5, "cas": 0},
                     "think_ms": 10, "timeout_ms": 500},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "faults": {"partitions": [{"shape": "majority-minority", "at": 4, "duration": 5}]},
        "check": {"max_seconds": 10},
        "quorum": quorum,
    }
    raw.update(changes)
    return validate_config(raw, "test")


def test_r1_w1_gives_stale_reads() -> None:
    output = run_experiment(_config({}, {"n": 3, "r": 1, "w": 1}))
    assert output.summary["stale_read_fraction"] > 0.01, output.summary
    assert output.summary["linearizable"] is False


def _minority_writes(sim: Simulation, frame: Any, start_ms: float, end_ms: float) -> Any:
    minority = {3, 4}
    during = frame["invoke_time"].between(start_ms, end_ms) & frame["f"].eq("write")
    return frame[during & (frame["process"] % 5).isin(minority)]


def test_sloppy_quorum_keeps_minority_writes_available_and_hands_them_back() -> None:
    """Nodes {3, 4} are cut off from 4 s to 9 s. Strict quorums: a minority write whose
    preference list is mostly on the majority side cannot collect W acks. Sloppy: the
    minority's own nodes stand in, and hand the writes back after the heal."""
    quorum = {"n": 3, "r": 2, "w": 2, "versioning": "vv", "anti_entropy_interval_ms": 0}
    # Writes stop at 8 s (final reads only after), so handed-back versions stay siblings.
    workload = {"keys": 3, "clients": 10, "mix": {"read": 0.5, "write": 0.5, "cas": 0},
                "think_ms": 10, "timeout_ms": 500, "final_reads_s": 5.5}
    strict_sim = Simulation(_config({"workload": workload}, {**quorum, "sloppy": False}))
    strict = history_to_frame(strict_sim.run().history)
    sloppy_sim = Simulation(_config({"workload": workload}, {**quorum, "sloppy": True}))
    result = sloppy_sim.run()
    sloppy = history_to_frame(result.history)

    strict_minority = _minority_writes(strict_sim, strict, 4500, 8000)
    sloppy_minority = _minority_writes(sloppy_sim, sloppy, 4500, 8000)
    strict_ok = strict_minority["type"].eq("ok").mean()
    sloppy_ok = sloppy_minority["type"].eq("ok").mean()
    assert sloppy_ok == 1.0 and strict_ok < 0.9, (strict_ok, sloppy_ok)

    # Handed back: every version a stand-in stored with a hint for a replica is, at
    # the end, held by that replica (or a version causally after it is) — by hinted
    # handoff alone, since anti-entropy is off.
    hints = {(r["replica"], r["key"], r["version"]) for r in result.trace if r.get("kind") == "hint"}
    assert hints, "no write was stored with a hint"
    for replica, key, version in sorted(hints):
        holder = sloppy_sim.nodes[replica]
        assert holder is not None
        held = causal_past([e[0] for e in holder.store.get(key, ())], result.trace)
        assert version in held, (replica, key, version)
    assert not any(n.hints for n in sloppy_sim.nodes if n is not None)  # all handed over


def _concurrent_write_run(versioning: str) -> tuple[Any, list[dict[str, Any]], dict[str, list[int]]]:
    """Node 2 isolated from 3 s to 8 s; W=R=1 so both sides accept writes; writes stop
    at 6 s, anti-entropy merges the sides after the heal."""
    raw = {"nodes": 3, "duration_s": 14,
           "workload": {"keys": 2, "clients": 6, "mix": {"read": 0.5, "write": 0.5, "cas": 0},
                        "think_ms": 20, "timeout_ms": 500, "final_reads_s": 7.5},
           "faults": {"partitions": [{"shape": "isolate", "node": 2, "at": 3, "duration": 5}]}}
    sim = Simulation(_config(raw, {"n": 3, "r": 1, "w": 1, "versioning": versioning,
                                   "anti_entropy_interval_ms": 300}))
    result = sim.run()
    final: dict[str, list[int]] = {}
    for node in sim.nodes:
        assert node is not None
        for key, entries in node.store.items():
            stamps = sorted(e[0] for e in entries)
            assert final.setdefault(key, stamps) == stamps, "replicas did not converge"
    return history_to_frame(result.history), result.trace, final


def test_version_vectors_lose_no_acknowledged_write() -> None:
    frame, trace, final = _concurrent_write_run("vv")
    assert any(len(stamps) > 1 for stamps in final.values()), "expected siblings after the heal"
    report = lost_writes(frame, trace, final)
    assert len(report) and not report["lost"].any(), report[report["lost"]]


def test_lww_loses_concurrent_acknowledged_writes_and_the_checker_counts_them() -> None:
    frame, trace, final = _concurrent_write_run("lww")
    assert all(len(stamps) == 1 for stamps in final.values())
    lost = count_lost_writes(frame, trace, final)
    assert lost >= 1
