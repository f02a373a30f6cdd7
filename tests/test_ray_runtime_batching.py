"""Batching on the real-time runtime (issue 17 item 5): the wire encoding of a batch, one
timer per delivered batch, one timer for all client timeouts. No Ray: in process."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sys
import time
from typing import Any

import pytest

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.experiment.config import config_from
from workbench.protocols import node_class
from workbench.protocols.raft.messages import AppendEntries, Forward, ForwardReply
from workbench.runtime import realtime_wire
from workbench.runtime.realtime_clients import ClientHost
from workbench.runtime.realtime_clock import RunClock
from workbench.runtime.realtime_node import NodeHost
from workbench.runtime.realtime_wire import decode, encode


def _all_message_classes() -> list[type]:
    for protocol in ("raft", "paxos", "eventual", "quorum"):
        node_class(protocol)  # imports the protocol's messages
    return realtime_wire.subclasses(Message)


def _sample(cls: type, rng: random.Random) -> Any:
    """An instance of a message dataclass with arbitrary (picklable) field values."""
    values = [rng.choice([None, 3, "k7", (1, 2), ("w", ClientRequest(4, 2, "write", "k1", 9))])
              for _ in dataclasses.fields(cls)]
    return cls(*values)


def test_every_message_class_round_trips_through_the_wire() -> None:
    realtime_wire._table = None  # rebuild now that every protocol's messages are imported
    # (Only classes their module still exports: a module executed twice leaves stale ones.)
    classes = [c for c in _all_message_classes() if dataclasses.is_dataclass(c)
               and getattr(sys.modules[c.__module__], c.__qualname__, None) is c]
    assert len(classes) > 15, classes
    rng = random.Random(7)
    batch: list[Any] = [(12.5, _sample(cls, rng)) for cls in classes for _ in range(3)]
    batch += [ClientRequest(1, 2, "cas", "k3", (1, 2)), Reply(1, 2, "fail", None, "no leader")]
    assert decode(encode(batch)) == batch
    # The cheap reducer is what pickles them (not dataclasses' __getstate__).
    table = realtime_wire.dispatch_table()
    assert all(cls in table for cls in (AppendEntries, Forward, ForwardReply, ClientRequest, Reply))


def test_a_class_the_table_does_not_know_still_pickles() -> None:
    @dataclasses.dataclass(frozen=True)
    class Late(Message):
        a: int
        b: str = dataclasses.field(default="x", kw_only=True)

    assert realtime_wire._reducer(Late) is None  # kw_only: cls(*fields) would not rebuild it
    assert decode(encode([Late(1, b="y")])) == [Late(1, b="y")]


def _node_host(loop: asyncio.AbstractEventLoop, clock: RunClock) -> NodeHost:
    config = config_from({"protocol": "eventual", "nodes": 3, "runtime": "ray"})
    return NodeHost(config, 0, loop, clock, lambda *a: None, lambda r: None)


def test_a_held_batch_reaches_the_core_in_due_order_and_never_early() -> None:
    arrived: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = RunClock(time.time(), 1.0)
        host = _node_host(loop, clock)
        host._arrive = lambda src, message, due=None: arrived.append((message, clock.now_ms()))  # type: ignore[method-assign]
        now = clock.now_ms()
        # Out of order (reordering links), one already due, two with the same due time.
        host.deliver(1, [(now + 60, "c"), (now - 5, "a"), (now + 30, "b1"), (now + 30, "b2"),
                         (now + 90, "d")])
        dues = {"a": now - 5, "b1": now + 30, "b2": now + 30, "c": now + 60, "d": now + 90}
        await asyncio.sleep(0.2)
        assert [m for m, _ in arrived] == ["a", "b1", "b2", "c", "d"]
        assert all(at >= dues[m] - 0.01 for m, at in arrived), arrived

    asyncio.run(main())


@pytest.mark.parametrize("answered", [set(), {0, 2}])
def test_client_timeouts_fire_once_each_with_one_timer(answered: set[int]) -> None:
    """Each unanswered op times out (info) once, no earlier than its deadline; an
    answered op never does. Slots in `answered` get their first op answered."""
    config = config_from({"protocol": "raft", "nodes": 1, "runtime": "ray", "duration_s": 5,
                          "workload": {"clients": 4, "think_ms": 1, "timeout_ms": 80,
                                       "start_s": 0.0}})
    sent: list[ClientRequest] = []

    async def main() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        clock = RunClock(time.time(), 1.0)
        host = ClientHost(config, 0, [0, 1, 2, 3], loop, clock, lambda node, r: sent.append(r))
        host.start()
        while len(sent) < 4:
            await asyncio.sleep(0.005)
        assert host._timeout_handle is not None
        host.replies([Reply(r.process, r.seq, "ok") for r in sent[:4] if r.process in answered])
        await asyncio.sleep(0.3)
        history, _ = host.finish(clock.now_ms() + 1000)
        return history

    history = asyncio.run(main())
    firsts = {(r.process, r.seq) for r in sent[:4]}
    invoked: dict[tuple[int, int], float] = {}
    completions: dict[tuple[int, int], list[dict[str, Any]]] = {}
    seqs = dict.fromkeys(range(1000), -1)
    for e in history:  # events carry no seq: a process's ops are numbered in order
        if e["type"] == "invoke":
            seqs[e["process"]] += 1
            invoked[(e["process"], seqs[e["process"]])] = e["time"]
        else:
            completions.setdefault((e["process"], seqs[e["process"]]), []).append(e)
    assert all(len(c) == 1 for c in completions.values()), completions  # once each
    for key, (event,) in completions.items():
        if key in firsts and key[0] in answered:
            assert event["type"] == "ok"
        else:
            assert event["type"] == "info"
            assert event["time"] >= invoked[key] + 80 - 0.5  # not before its deadline
    assert {key for key in firsts if key[0] not in answered} <= set(completions)
