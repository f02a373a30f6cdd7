"""The node driver on its own: timers and their lazy re-arm, crash, pause, clocks, cuts.

A probe core does what each test tells it; a `SteppedTransport` records what the
driver asks of the world, so each rule is checked on the calls themselves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.protocols.base import Node
from workbench.runtime.driver import NodeDriver, current_leader
from workbench.runtime.stepped import SteppedTransport


@dataclass(frozen=True, slots=True)
class Ping(Message):
    pass


class Probe(Node):
    """Arms a timer of `delay` on every input; records what it saw, and when (its clock)."""

    name: ClassVar[str] = "probe"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[str, Any, float]] = []
        self.delay = 100.0

    def start(self, now: float) -> None:
        self.seen.append(("start", self.storage.get("boots", 0), now))
        self.storage.put("boots", self.storage.get("boots", 0) + 1)
        self.set_timer("tick", self.delay)

    def on_message(self, src: int, message: Message, now: float) -> None:
        self.seen.append(("message", src, now))
        self.set_timer("tick", self.delay)
        self.send(src, Ping())

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        self.seen.append(("request", request.seq, now))
        self.reply(request.process, request.seq, True, self.rng.random())
        self.observe("apply", key=request.key, value=request.seq)

    def on_timer(self, name: str, now: float) -> None:
        self.seen.append(("timer", name, now))

    def state_digest(self) -> int:
        return len(self.seen)


class Recorder(SteppedTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, int, Message]] = []
        self.replies: list[tuple[int, Reply]] = []
        self.schedules: list[tuple[float, str, int | None]] = []

    def send(self, src: int, dst: int, message: Message) -> None:
        self.sent.append((src, dst, message))

    def reply(self, src: int, effect: Reply) -> None:
        self.replies.append((src, effect))

    def schedule(self, at: float, node: int, name: str, token: int | None) -> int:
        self.schedules.append((at, name, token))
        return super().schedule(at, node, name, token)


def driven(**kwargs: Any) -> tuple[Recorder, NodeDriver]:
    world = Recorder()
    driver = NodeDriver(0, members=[0, 1], factory=Probe, options=None, transport=world,
                        rng_for=lambda incarnation: random.Random(incarnation), **kwargs)
    world.drivers = [driver]
    driver.boot(0.0)
    return world, driver


def probe(driver: NodeDriver) -> Probe:
    assert isinstance(driver.node, Probe)
    return driver.node


def test_a_pushed_back_timer_reuses_its_schedule_and_fires_once_at_its_deadline() -> None:
    world, driver = driven()
    assert world.schedules == [(100.0, "tick", None)]
    for at in (30.0, 60.0, 90.0):  # three messages push the deadline to 190
        world.now = at
        driver.deliver(1, Ping(), at)
    assert len(world.schedules) == 1, "a later deadline costs no new schedule"
    assert world.fire_next(1000.0)  # the old schedule comes due at 100 and re-arms itself
    assert world.schedules[-1] == (190.0, "tick", 1) and ("timer", "tick", 100.0) not in probe(driver).seen
    assert world.fire_next(1000.0)
    assert probe(driver).seen[-1] == ("timer", "tick", 190.0)
    assert not world.fire_next(1000.0)


def test_an_earlier_deadline_takes_a_new_token_and_the_old_schedule_fires_for_nothing() -> None:
    world, driver = driven()
    probe(driver).delay = 10.0
    world.now = 5.0
    driver.deliver(1, Ping(), 5.0)
    assert [s[0] for s in world.schedules] == [100.0, 15.0]
    while world.fire_next(1000.0):
        pass
    assert [e for e in probe(driver).seen if e[0] == "timer"] == [("timer", "tick", 15.0)]


def test_crash_keeps_storage_only_and_restart_rebuilds_with_a_new_rng() -> None:
    world, driver = driven()
    first = probe(driver)
    driver.request(ClientRequest(3, 0, "write", "k", 1), 1.0)
    driver.crash()
    assert driver.node is None and not driver.timers and driver.incarnation == 1
    driver.deliver(1, Ping(), 2.0)  # lost with the node
    assert not world.fire_next(1000.0), "the dead node's timer fires for nothing"
    driver.restart(3.0)
    second = probe(driver)
    assert second is not first and second.seen == [("start", 1, 3.0)]  # storage survived
    driver.request(ClientRequest(3, 1, "write", "k", 2), 4.0)
    values = [r.value for _, r in world.replies]
    assert values == [random.Random(0).random(), random.Random(1).random()]  # one rng per incarnation


def test_a_paused_node_holds_inputs_in_order_and_resume_hands_them_back() -> None:
    world, driver = driven()
    driver.pause()
    driver.deliver(1, Ping(), 10.0)
    driver.request(ClientRequest(3, 0, "read", "k"), 11.0)
    world.now = 200.0
    assert world.fire_next(200.0)  # due at 100: held, not fired
    assert [e[0] for e in probe(driver).seen] == ["start"]
    held = driver.resume()
    assert [item[0] for item in held] == [0, 1, 2]  # message, request, timer
    for item in held:
        driver.replay(item, 200.0)
    # The replayed message pushed the timer back to 300, so its held firing re-arms it.
    assert [e[0] for e in probe(driver).seen] == ["start", "message", "request"]
    assert world.schedules[-1] == (300.0, "tick", 1)
    assert world.fire_next(1000.0) and probe(driver).seen[-1] == ("timer", "tick", 300.0)


def test_the_core_sees_its_own_clock_and_timers_run_at_its_rate() -> None:
    world, driver = driven(clock_offset_ms=1000.0, clock_drift=1.0)
    assert probe(driver).seen == [("start", 0, 1000.0)]
    assert world.schedules == [(50.0, "tick", None)]  # 100 node-ms at twice the speed
    driver.deliver(1, Ping(), 10.0)
    assert probe(driver).seen[-1] == ("message", 1, 1020.0)


def test_a_cut_link_drops_on_arrival_and_counts_it() -> None:
    cut: set[tuple[int, int]] = set()
    world, driver = driven(cut=cut)
    cut.add((1, 0))
    driver.deliver(1, Ping(), 1.0)
    assert (driver.delivered, driver.dropped) == (0, 1)
    cut.clear()
    driver.deliver(1, Ping(), 2.0)
    assert (driver.delivered, driver.sent) == (1, 1) and world.sent == [(0, 1, Ping())]


def test_observations_and_digests_go_to_the_trace_and_the_check_runs_after_effects() -> None:
    checked: list[float] = []
    world, driver = driven(check=checked.append)
    driver.request(ClientRequest(3, 0, "write", "k", 1), 7.25)
    assert {"time": 7.25, "kind": "apply", "node": 0, "key": "k", "value": 0} in driver.trace
    driver.sample_digest(8.0)
    driver.sample_digest(9.0)  # unchanged: not recorded again
    assert [r["time"] for r in driver.trace if r["kind"] == "digest"] == [8.0]
    assert checked == [0.0, 7.25]  # boot, then the request


def test_current_leader_is_the_one_most_nodes_follow() -> None:
    assert current_leader([(False, None)] * 3) is None
    assert current_leader([(True, 0), (True, 1), (False, 1)]) == 1
    assert current_leader([(True, 0), (True, 1), (False, None)]) == 0  # a tie: the lowest id
    assert current_leader([(False, None), (True, 1), (False, 2)]) == 1


def test_storage_is_the_one_given() -> None:
    storage = Storage()
    _, driver = driven(storage=storage)
    assert storage.get("boots") == 1 and driver.storage is storage
