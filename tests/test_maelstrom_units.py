"""Fast, process-free pieces of the Maelstrom bridge: message shapes, error codes,
services, the peer-message codec and the node host fed by hand."""

from __future__ import annotations

import io
import json
import math
import random
from typing import Any

import pytest

from workbench.core.ops import ClientRequest
from workbench.maelstrom.codec import decode, encode, registry_of
from workbench.maelstrom.host import MaelstromHost
from workbench.protocols import paxos, raft
from workbench.runtime.external_services import LinKV, LwwKV, SeqKV
from workbench.runtime.external_workloads import reply_outcome, request_body, topology


@pytest.mark.parametrize(("code", "kind"), [(0, "info"), (1, "fail"), (10, "fail"), (11, "fail"),
                                            (12, "fail"), (13, "info"), (14, "fail"), (20, "fail"),
                                            (21, "fail"), (22, "fail"), (1000, "info")])
def test_error_codes_map_to_definite_fail_or_indefinite_info(code: int, kind: str) -> None:
    request = ClientRequest(0, 1, "write", "k1", 5)
    assert reply_outcome("lin-kv", request, {"type": "error", "code": code})[0] == kind


def test_lin_kv_request_and_reply_shapes_follow_maelstrom() -> None:
    assert request_body("lin-kv", ClientRequest(0, 1, "cas", "k2", [3, 4])) == {
        "type": "cas", "key": 2, "from": 3, "to": 4}
    assert request_body("lin-kv", ClientRequest(0, 1, "read", "k0")) == {"type": "read", "key": 0}
    read = ClientRequest(0, 1, "read", "k0")
    assert reply_outcome("lin-kv", read, {"type": "read_ok", "value": 9}) == ("ok", 9)
    assert reply_outcome("lin-kv", read, {"type": "write_ok"})[0] == "info"  # wrong reply type
    add = ClientRequest(0, 1, "add", "s0", 7)
    assert request_body("broadcast", add) == {"type": "broadcast", "message": 7}
    assert request_body("g-set", add) == {"type": "add", "element": 7}
    assert request_body("g-counter", add) == {"type": "add", "delta": 7}
    assert request_body("echo", add) == {"type": "echo", "echo": 7}
    assert reply_outcome("broadcast", ClientRequest(0, 1, "read", "s0"),
                         {"type": "read_ok", "messages": [3, 1]}) == ("ok", [1, 3])


def test_grid_topology_is_symmetric() -> None:
    names = [f"n{i}" for i in range(1, 8)]
    grid = topology(names, "grid")
    assert all(a in grid[b] for a in names for b in grid[a])
    assert grid["n1"] == ["n4", "n2"]


def test_lin_kv_service_semantics() -> None:
    kv = LinKV()
    assert kv.handle("n1", {"type": "read", "key": 1}, 0)["code"] == 20
    assert kv.handle("n1", {"type": "cas", "key": 1, "from": 0, "to": 1}, 0)["code"] == 20
    assert kv.handle("n1", {"type": "cas", "key": 1, "from": 0, "to": 1,
                            "create_if_not_exists": True}, 0)["type"] == "cas_ok"
    assert kv.handle("n2", {"type": "cas", "key": 1, "from": 0, "to": 2}, 0)["code"] == 22
    assert kv.handle("n2", {"type": "read", "key": 1}, 0) == {"type": "read_ok", "value": 1}


def test_seq_kv_never_goes_back_for_one_caller() -> None:
    """Stale reads are allowed, but a caller never reads older than what it saw or wrote."""
    kv = SeqKV(random.Random(3), stale_probability=0.9)
    for value in range(50):
        kv.handle("writer", {"type": "write", "key": "x", "value": value}, 0)
    seen, stale = [], 0
    for _ in range(200):
        value = kv.handle("reader", {"type": "read", "key": "x"}, 0).get("value", -1)
        stale += value != 49
        seen.append(value)
    assert seen == sorted(seen) and stale > 0
    kv.handle("reader", {"type": "write", "key": "x", "value": 99}, 0)
    assert kv.handle("reader", {"type": "read", "key": "x"}, 0)["value"] == 99


def test_lww_kv_merges_to_the_latest_write() -> None:
    kv = LwwKV(random.Random(1), replicas=3, merge_ms=10, skew_ms=0)
    kv.handle("n1", {"type": "write", "key": "x", "value": 1}, 0)
    kv.handle("n1", {"type": "write", "key": "x", "value": 2}, 5)
    values = {kv.handle("n2", {"type": "read", "key": "x"}, 20).get("value") for _ in range(20)}
    assert values == {2}


@pytest.mark.parametrize("value", [
    raft.AppendEntries(3, 4, 2, ((3, ClientRequest(1, 2, "cas", "k", [None, 5])), (3, None)), 4, 9),
    paxos.Heartbeat((2, 1), 7, -math.inf),
    {"a": frozenset({1, 2}), (1, 2): [1.5, None]},
])
def test_codec_round_trips_our_messages_through_json(value: Any) -> None:
    classes = registry_of(raft, paxos)
    wire = json.loads(json.dumps(encode(value), allow_nan=False))
    assert decode(wire, classes) == value


def test_codec_refuses_classes_outside_the_registry() -> None:
    with pytest.raises(ValueError, match="unknown message class"):
        decode({"$": "Popen", "v": []}, registry_of(raft))


def test_host_serves_lin_kv_on_a_single_node_cluster() -> None:
    out = io.BytesIO()
    host = MaelstromHost("raft", seed=1, out=out, log=io.StringIO())

    class Loop:  # a hand-driven clock: timers are collected, fired by the test
        def __init__(self) -> None:
            self.t, self.calls = 0.0, []

        def time(self) -> float:
            return self.t

        def call_later(self, delay: float, fn: Any, *args: Any) -> Any:
            handle = type("H", (), {"cancel": lambda s: None})()
            self.calls.append((self.t + delay, fn, args))
            return handle

    loop = Loop()
    host.loop = loop  # type: ignore[assignment]
    host.handle({"src": "c0", "dest": "n1", "body": {"type": "init", "msg_id": 1,
                                                     "node_id": "n1", "node_ids": ["n1"]}})
    for _ in range(50):  # let the election timer fire: a one-node cluster elects itself
        loop.calls.sort(key=lambda c: c[0])
        when, fn, args = loop.calls.pop(0)
        loop.t = when
        fn(*args)
        if host.core.is_leader():
            break
    host.handle({"src": "c1", "dest": "n1", "body": {"type": "write", "msg_id": 5, "key": 1, "value": 7}})
    host.handle({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 6, "key": 1}})
    host.handle({"src": "c1", "dest": "n1", "body": {"type": "cas", "msg_id": 7, "key": 1, "from": 3, "to": 4}})
    host.handle({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 8, "key": 2}})
    replies = {m["body"]["in_reply_to"]: m["body"] for m in map(json.loads, out.getvalue().splitlines())}
    assert replies[1]["type"] == "init_ok"
    assert replies[5]["type"] == "write_ok"
    assert replies[6] == {**replies[6], "type": "read_ok", "value": 7}
    assert replies[7]["code"] == 22  # precondition-failed
    assert replies[8]["code"] == 20  # key-does-not-exist
