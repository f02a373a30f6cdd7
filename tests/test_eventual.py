"""The eventually consistent store: always available, stale under partition, converges after."""

from __future__ import annotations

import copy
import random
from typing import Any

from conftest import ROOT

from workbench.checkers.convergence import convergence_ms
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.experiment.config import load_config, validate_config
from workbench.experiment.run import run_experiment
from workbench.protocols.eventual import EventualNode, EventualOptions, Push, SyncReply, SyncRequest
from workbench.runtime.driver import apply_persist
from workbench.runtime.sim import simulate

CAP = ROOT / "experiments" / "cap_partition.yaml"
SHORT = ["duration_s=16", "faults.partitions.0.at=4", "faults.partitions.0.duration=6"]


def make_node(node_id: int, **options: object) -> EventualNode:
    node = EventualNode(node_id, [0, 1, 2], EventualOptions(**options), random.Random(0), Storage())  # type: ignore[arg-type]
    node.start(0.0)
    node.take_effects()
    return node


def test_write_is_acknowledged_at_once_and_pushed_to_every_peer() -> None:
    node = make_node(0)
    node.on_client_request(ClientRequest(0, 0, "write", "k", 5), now=10.0)
    effects = node.take_effects()
    replies = [e for e in effects if type(e).__name__ == "Reply"]
    pushes = [e for e in effects if type(e).__name__ == "Send"]
    assert replies[0].type == "ok" and replies[0].value == 5
    assert sorted(p.to for p in pushes) == [1, 2] and all(isinstance(p.message, Push) for p in pushes)


def test_last_writer_wins_by_hlc_and_node_id_breaks_ties() -> None:
    a, b = make_node(1), make_node(2)
    a.on_client_request(ClientRequest(0, 0, "write", "k", "from-a"), now=5.0)
    b.on_client_request(ClientRequest(1, 0, "write", "k", "from-b"), now=5.0)
    push_a = next(e.message for e in a.take_effects() if type(e).__name__ == "Send")
    push_b = next(e.message for e in b.take_effects() if type(e).__name__ == "Send")
    a.on_message(2, push_b, 6.0)
    b.on_message(1, push_a, 6.0)
    # Same physical time: node 2's id wins on both replicas.
    assert a.registers["k"][1] == b.registers["k"][1] == "from-b"


def test_anti_entropy_is_push_pull_and_converges_two_replicas() -> None:
    a, b = make_node(0, replication=False), make_node(1, replication=False)
    a.on_client_request(ClientRequest(0, 0, "write", "x", 1), now=1.0)
    b.on_client_request(ClientRequest(1, 0, "add", "s", 9), now=2.0)
    a.take_effects(), b.take_effects()
    request = SyncRequest(*a._state_payload(3.0))
    b.on_message(0, request, 3.0)
    reply = next(e.message for e in b.take_effects() if type(e).__name__ == "Send")
    assert isinstance(reply, SyncReply)
    a.on_message(1, reply, 4.0)
    assert a.state_digest() == b.state_digest()


def test_cap_partition_eventual_is_available_stale_and_converges() -> None:
    summary = run_experiment(load_config(CAP, ["protocol=eventual", *SHORT])).summary
    assert summary["availability"] >= 0.99
    assert summary["availability_minority"] >= 0.99
    assert summary["stale_read_fraction"] > 0
    assert summary["linearizable"] is False
    assert summary["convergence_ms"] is not None and 0 <= summary["convergence_ms"] < 2000


def test_without_replication_or_anti_entropy_replicas_never_converge() -> None:
    summary = run_experiment(load_config(CAP, [
        "protocol=eventual", *SHORT, "eventual.replication=false", "eventual.anti_entropy_interval_ms=0",
    ])).summary
    assert summary["convergence_ms"] is None


def test_set_workload_loses_no_acknowledged_add() -> None:
    summary = run_experiment(load_config(CAP, ["protocol=eventual", *SHORT, "workload.kind=set"])).summary
    assert summary["ok"] > 1000
    assert summary["lost_adds"] == 0
    assert summary["availability_minority"] >= 0.99


# ------------------------------------------------------------------ issue 20 reproducers
class Cluster:
    """Nodes driven by hand: requests, message delivery and restarts, each at a given
    `now` on the receiving node's clock. Written against the node's public inputs only,
    so the same test runs on the store before issue 20 (where it fails)."""

    def __init__(self, n: int, **options: object) -> None:
        self.options = EventualOptions(**options)  # type: ignore[arg-type]
        self.storages = [Storage() for _ in range(n)]
        self.nodes = [self._boot(i) for i in range(n)]
        self.in_flight: list[tuple[int, int, object]] = []  # (src, dst, message)
        self.trace: list[dict[str, object]] = []

    def _boot(self, i: int) -> EventualNode:
        node = EventualNode(i, list(range(len(self.storages))), self.options, random.Random(i),
                            self.storages[i])
        node.start(0.0)
        self._persist(i, node.take_effects())
        return node

    def _persist(self, i: int, effects: list[object]) -> list[object]:
        for effect in effects:  # the driver's job: durable writes, in order
            apply_persist(self.storages[i], effect)
        return effects

    def _drain(self, i: int) -> list[object]:
        replies = []
        for effect in self._persist(i, self.nodes[i].take_effects()):
            kind = type(effect).__name__
            if kind == "Send":
                self.in_flight.append((i, effect.to, effect.message))  # type: ignore[attr-defined]
            elif kind == "Reply":
                replies.append(effect)
            elif kind == "Observe":
                self.trace.append({"kind": effect.kind, "node": i, **effect.fields})  # type: ignore[attr-defined]
        return replies

    def request(self, i: int, f: str, key: str, value: object, now: float) -> object:
        self.nodes[i].on_client_request(ClientRequest(0, 0, f, key, value), now=now)
        (reply,) = self._drain(i)
        return reply

    def deliver(self, now: float, src: int | None = None, dst: int | None = None,
                where: object = None) -> None:
        """Deliver (and drop from flight) the messages matching src/dst/`where(message)`."""
        keep, go = [], []
        for item in self.in_flight:
            s, d, m = item
            match = (src is None or s == src) and (dst is None or d == dst) and (
                where is None or where(m))  # type: ignore[operator]
            (go if match else keep).append(item)
        self.in_flight = keep
        for s, d, m in go:
            self.nodes[d].on_message(s, m, now)  # type: ignore[arg-type]
            self._drain(d)

    def drop(self) -> None:
        self.in_flight.clear()

    def anti_entropy(self, i: int, now: float) -> None:
        """Node i's anti-entropy round, carried to the end (request, then reply)."""
        self.nodes[i].on_timer("anti_entropy", now)
        self._drain(i)
        for _ in range(2):
            self.deliver(now)

    def crash_and_restart(self, i: int) -> None:
        self.nodes[i] = self._boot(i)

    def value(self, i: int, key: str) -> object:
        return self.request(i, "read", key, None, 0.0).value  # type: ignore[attr-defined]

    def version(self, i: int, key: str) -> int:
        return self.nodes[i].registers[key][0]

    def version_of(self, value: object) -> int:
        """The version the trace gave `value` when it was written."""
        return min(int(r["version"]) for r in self.trace  # type: ignore[call-overload]
                   if r["kind"] == "apply" and r["value"] == value)


def causality_case(bug: str | None = None) -> Cluster:
    """Issue 20 §1: A (node 0) reads v1 from B (node 1), then writes v2.

    B's clock is 50 ms ahead. B writes keys a, b, c, d and then x = v1 within one µs,
    so v1's logical counter is 4; A hears only of a and of v1 (the rest are lost), so
    A's own counter is behind v1's on the same physical time: exactly the tie the old
    receive rule ignored (it adopted a remote time only when strictly ahead)."""
    c = Cluster(2, anti_entropy_interval_ms=500.0, **({"bug": bug} if bug else {}))
    for key in "abcd":
        c.request(1, "write", key, f"b-{key}", now=100.0)
    c.deliver(50.0, where=lambda m: getattr(m, "key", None) == "a")
    c.drop()
    c.request(1, "write", "x", "v1", now=100.0)
    c.deliver(50.0)
    assert c.value(0, "x") == "v1"  # A has read v1
    assert c.request(0, "write", "x", "v2", now=50.0).type == "ok"  # type: ignore[attr-defined]
    c.deliver(51.0)
    c.anti_entropy(1, 101.0)
    c.anti_entropy(0, 52.0)
    return c


def test_causality_case_a_write_after_reading_v1_beats_v1_and_survives_anti_entropy() -> None:
    c = causality_case()
    assert c.value(0, "x") == c.value(1, "x") == "v2"  # the acknowledged write survived
    assert c.version_of("v2") > c.version_of("v1")


def test_saturation_case_thousands_of_writes_in_one_tick_keep_distinct_versions() -> None:
    """Issue 20 §2: node 0's clock reads -20 s, node 1's is 10 s ahead of it. After node
    0 hears of node 1's write, its own writes all fall in one physical tick (its clock is
    behind), 1,500 of them: each must get its own version, and the replicas converge."""
    c = Cluster(2)
    c.request(1, "write", "k", "from-1", now=-10_000.0)
    c.deliver(-20_000.0)
    for i in range(1500):
        c.request(0, "write", "k", i, now=-20_000.0)
    mine = [int(r["version"]) for r in c.trace if r["kind"] == "apply" and r["node"] == 0
            and isinstance(r["value"], int)]  # type: ignore[call-overload]
    assert len(mine) == 1500 and len(set(mine)) == 1500 and mine == sorted(mine)
    assert min(mine) > c.version_of("from-1")
    c.deliver(-19_999.0)
    c.anti_entropy(0, -19_998.0)
    c.anti_entropy(1, -9_998.0)
    assert c.value(0, "k") == c.value(1, "k") == 1499
    assert c.nodes[0].state_digest() == c.nodes[1].state_digest()


class CopyingStorage(Storage):
    """Storage that keeps a deep copy of what is written and hands out copies (as a disk
    would): a store that relied on mutating stored objects in place loses writes."""

    def apply(self, records: tuple[Any, ...]) -> None:
        super().apply(copy.deepcopy(records))

    def get(self, name: str, default: object = None) -> object:
        return copy.deepcopy(super().get(name, default))


def test_every_acknowledged_write_and_add_survives_a_restart_on_copying_storage() -> None:
    c = Cluster(2)
    c.storages[0] = CopyingStorage()
    c.nodes[0] = c._boot(0)
    for i in range(5):
        c.request(0, "write", f"k{i % 2}", i, now=10.0 + i)
        c.request(0, "add", "s", i, now=20.0 + i)
    c.request(1, "write", "k9", "merged", now=30.0)
    c.deliver(31.0)
    before = (dict(c.nodes[0].registers), {k: set(v) for k, v in c.nodes[0].sets.items()})
    last = c.version(0, "k0")
    c.crash_and_restart(0)
    assert (c.nodes[0].registers, c.nodes[0].sets) == before
    # The clock is restored: a write at an earlier reading still lands above.
    c.request(0, "write", "k0", "after", now=1.0)
    assert c.version(0, "k0") > last


def test_after_a_restart_a_write_compares_with_merged_versions() -> None:
    """Node 0 merges a newer version after its last acknowledged op, then restarts: its
    restored clock is behind that version, and its next write must still beat it."""
    for bug in (None, "write_without_version_compare"):
        c = Cluster(2, **({"bug": bug} if bug else {}))
        c.request(0, "write", "k", "first", now=10.0)
        c.request(1, "write", "k", "ahead", now=5_000.0)
        c.deliver(11.0)
        c.crash_and_restart(0)
        c.request(0, "write", "k", "after-restart", now=12.0)
        c.deliver(13.0)
        c.anti_entropy(1, 5_001.0)
        survived = c.value(0, "k") == c.value(1, "k") == "after-restart"
        assert survived == (bug is None), bug


def test_anti_entropy_never_replaces_a_version_by_an_older_one() -> None:
    for bug in (None, "anti_entropy_accepts_older"):
        c = Cluster(2, replication=False, **({"bug": bug} if bug else {}))
        c.request(0, "write", "k", "old", now=10.0)
        c.anti_entropy(0, 11.0)
        c.request(0, "write", "k", "new", now=12.0)
        c.anti_entropy(1, 13.0)  # node 1 pushes its older state to node 0
        assert (c.value(0, "k") == "new") == (bug is None), bug


def test_saturation_case_in_the_simulator_a_clock_20_s_behind_still_converges() -> None:
    """Issue 20 §2 as a user ran it: node 0's clock reads -20 s, one healed partition
    (here node 0 is cut off for 2 s and writes ~2,000 times meanwhile). The old store kept
    node 0 at the last physical time it heard of with its counter capped at 999, so
    distinct writes shared versions and the replicas never converged."""
    config = load_config(CAP, ["protocol=eventual", "nodes=3", "duration_s=6", "workload.think_ms=2",
                               "check.linearizability=false"])
    raw = config.model_dump(by_alias=True, exclude_none=True)
    raw["faults"]["partitions"] = [{"shape": "isolate", "node": 0, "at": 1, "duration": 2}]
    raw["faults"]["clocks"] = [{"node": 0, "offset_ms": -20_000.0}]
    config = validate_config(raw)
    result = simulate(config)
    assert convergence_ms(result.trace, nodes=config.nodes, end_ms=config.duration_ms) is not None
    writes: dict[int, set[object]] = {}
    for r in result.trace:
        if r["kind"] == "apply":
            writes.setdefault(int(r["version"]), set()).add(r["value"])
    assert all(len(values) == 1 for values in writes.values()), "distinct writes share a version"
