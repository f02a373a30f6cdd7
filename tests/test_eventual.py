"""The eventually consistent store: always available, stale under partition, converges after."""

from __future__ import annotations

import random

from conftest import ROOT

from workbench.config import load_config
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.protocols.eventual import EventualNode, EventualOptions, Push, SyncReply, SyncRequest
from workbench.runner import run_experiment

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
    request = SyncRequest(*a._state_payload())
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
