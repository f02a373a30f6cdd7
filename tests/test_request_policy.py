"""One request policy for every protocol (issue 14 item 1).

The node half (`workload.request_policy.no_leader`/`hold_ms`) is checked on the node
driver with a probe core that needs a leader and is told when it knows one; the client
half (retries, backoff, timeouts) on the `ClientPool` with hand-made replies; the
config rules through `validate_config`. The same-semantics-for-every-protocol check
runs the simulator (tests/test_request_policy_protocols.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.errors import ConfigError
from workbench.experiment.config import validate_config
from workbench.protocols.base import Node
from workbench.runtime.driver import HOLD_TIMER, NodeDriver
from workbench.runtime.stepped import SteppedTransport
from workbench.workload.clients import ClientPool, definite_answer
from workbench.workload.spec import RequestPolicy, WorkloadConfig


class LeaderProbe(Node):
    """Needs a leader for writes (reads are local, as Raft's `follower` mode); `known` says
    whether it knows one. Records the requests handed to it."""

    name: ClassVar[str] = "leader-probe"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.known: int | None = None
        self.requests: list[tuple[int, float]] = []

    def start(self, now: float) -> None:
        pass

    def on_message(self, src: int, message: Message, now: float) -> None:
        self.known = src  # any message: "I am the leader"
        self.set_timer("election", 1000.0)  # an effect, as a real core's reply would be

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        self.requests.append((request.seq, now))
        self.reply(request.process, request.seq, True, request.value)

    def on_timer(self, name: str, now: float) -> None:
        pass

    def leader(self) -> int | None:
        return self.known

    def needs_leader(self, request: ClientRequest) -> bool:
        return request.f != "read"

    def state_digest(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class Hello(Message):
    pass


class Recorder(SteppedTransport):
    def __init__(self) -> None:
        super().__init__()
        self.replies: list[tuple[float, Reply]] = []

    def send(self, src: int, dst: int, message: Message) -> None:
        pass

    def reply(self, src: int, effect: Reply) -> None:
        self.replies.append((self.now, effect))


def driven(hold_ms: float | None) -> tuple[Recorder, NodeDriver, LeaderProbe]:
    world = Recorder()
    driver = NodeDriver(0, members=[0, 1, 2], factory=LeaderProbe, options=None, transport=world,
                        rng_for=lambda incarnation: random.Random(incarnation), hold_ms=hold_ms)
    world.drivers = [driver]
    driver.boot(0.0)
    assert isinstance(driver.node, LeaderProbe)
    return world, driver, driver.node


def write(seq: int) -> ClientRequest:
    return ClientRequest(1, seq, "write", "k", seq)


def outcomes(world: Recorder) -> list[tuple[float, int, str, str | None]]:
    return [(at, r.seq, r.type, r.error) for at, r in world.replies]


# ------------------------------------------------------------------ the node half
def test_fail_answers_a_leaderless_request_at_once_and_never_hands_it_to_the_core() -> None:
    world, driver, core = driven(hold_ms=None)
    world.now = 5.0
    driver.request(write(0), 5.0)
    assert outcomes(world) == [(5.0, 0, "fail", "no leader")]
    assert core.requests == [] and world.due == {}


def test_a_request_that_needs_no_leader_goes_to_the_core_whatever_the_policy() -> None:
    for hold_ms in (None, 100.0):
        world, driver, core = driven(hold_ms=hold_ms)
        driver.request(ClientRequest(1, 0, "read", "k"), 0.0)
        assert [r.type for _, r in world.replies] == ["ok"] and core.requests == [(0, 0.0)]


def test_hold_hands_the_request_on_as_soon_as_a_leader_is_known() -> None:
    world, driver, core = driven(hold_ms=100.0)
    driver.request(write(0), 0.0)
    world.now = 10.0
    driver.request(write(1), 10.0)
    assert world.replies == [] and core.requests == []
    world.now = 40.0
    driver.deliver(2, Hello(), 40.0)  # the core learns its leader
    assert core.requests == [(0, 40.0), (1, 40.0)], "oldest first, at the moment it knows"
    assert [r.type for _, r in world.replies] == ["ok", "ok"]
    assert world.fire_next(1000.0)  # the hold schedule comes due: nothing left to fail
    assert [r.type for _, r in world.replies] == ["ok", "ok"]


def test_hold_fails_a_request_at_its_deadline_when_no_leader_comes() -> None:
    world, driver, core = driven(hold_ms=100.0)
    driver.request(write(0), 0.0)
    world.now = 30.0
    driver.request(write(1), 30.0)
    assert world.fire_next(1000.0)
    assert outcomes(world) == [(100.0, 0, "fail", "no leader")]
    assert world.fire_next(1000.0)  # re-armed for the next deadline
    assert outcomes(world)[1:] == [(130.0, 1, "fail", "no leader")]
    assert core.requests == [] and not world.fire_next(1000.0)


def test_a_crash_loses_held_requests_and_the_old_hold_schedule_fires_for_nothing() -> None:
    world, driver, _ = driven(hold_ms=100.0)
    driver.request(write(0), 0.0)
    driver.crash()
    driver.restart(20.0)
    assert not driver.held_requests
    token = next(iter(world.due))
    driver.fire(HOLD_TIMER, token, 100.0)
    assert world.replies == [], "the client's op times out (info) as for any down node"


def test_a_paused_node_holds_its_hold_deadline_too() -> None:
    world, driver, _ = driven(hold_ms=100.0)
    driver.request(write(0), 0.0)
    driver.pause()
    assert world.fire_next(1000.0)
    assert world.replies == []
    world.now = 150.0
    for item in driver.resume():
        driver.replay(item, 150.0)
    assert outcomes(world) == [(150.0, 0, "fail", "no leader")]


# ------------------------------------------------------------------ the client half
def pool_of(**policy: Any) -> ClientPool:
    config = WorkloadConfig(mix={"read": 0, "write": 1, "cas": 0}, think_ms=10, final_reads_s=0,
                            request_policy=RequestPolicy(**policy))
    return ClientPool(config, nodes=3, clients=3, stop_ms=10_000, rng=random.Random(1))


def fail(request: ClientRequest, error: str | None = "no leader") -> Reply:
    return Reply(request.process, request.seq, "fail", None, error)


def test_without_retries_a_fail_is_followed_by_a_fresh_op_after_think_time() -> None:
    pool = pool_of()
    first = pool.invoke(0, 0.0)
    assert first is not None
    pool.complete(fail(first), 1.0)
    assert pool.next_delay_ms(0) == 10
    second = pool.invoke(0, 11.0)
    assert second is not None and second.value != first.value and pool.retries == 0


def test_a_failed_op_is_retried_under_the_same_process_with_backoff_until_the_budget_ends() -> None:
    pool = pool_of(retries=3, backoff_ms=20, backoff_multiplier=2, backoff_max_ms=50)
    request = pool.invoke(0, 0.0)
    assert request is not None
    delays = []
    now = 0.0
    for _ in range(3):
        pool.complete(fail(request), now)
        delays.append(pool.next_delay_ms(0))
        now += delays[-1]
        retry = pool.invoke(0, now)
        assert retry is not None
        assert (retry.process, retry.f, retry.key, retry.value) == \
            (request.process, request.f, request.key, request.value), "the same op again"
        assert retry.seq == request.seq + 1
        request = retry
    assert delays == [20, 40, 50], "capped exponential backoff"
    pool.complete(fail(request), now)
    assert pool.next_delay_ms(0) == 10, "budget spent: think time, then a fresh op"
    fresh = pool.invoke(0, now + 10)
    assert fresh is not None and fresh.value != request.value
    # Every attempt is its own op in the history: 4 invokes, 4 fails, 1 open invoke.
    types = [e["type"] for e in pool.history if e["process"] == request.process]
    assert types == ["invoke", "fail"] * 4 + ["invoke"]
    assert pool.retries == 3


def test_a_fresh_op_gets_a_fresh_budget() -> None:
    pool = pool_of(retries=1)
    request = pool.invoke(0, 0.0)
    assert request is not None
    pool.complete(fail(request), 0.0)
    retry = pool.invoke(0, 20.0)
    assert retry is not None
    pool.complete(Reply(retry.process, retry.seq, "ok", retry.value), 21.0)
    fresh = pool.invoke(0, 31.0)
    assert fresh is not None
    pool.complete(fail(fresh), 32.0)
    assert pool.next_delay_ms(0) == 20, "a new op may be retried again"


@pytest.mark.parametrize("error", ["cas mismatch", "cas is not supported by the quorum store",
                                   "unknown op 'x'", "22 precondition failed"])
def test_an_answer_about_the_data_is_not_retried(error: str) -> None:
    assert definite_answer(error)
    pool = pool_of(retries=2)
    request = pool.invoke(0, 0.0)
    assert request is not None
    pool.complete(fail(request, error), 1.0)
    assert pool.next_delay_ms(0) == 10


def test_unavailability_errors_are_retried() -> None:
    for error in ("no leader", "not leader", "read quorum timed out", "11 temporarily unavailable", None):
        assert not definite_answer(error)


def test_a_timed_out_op_stays_info_and_is_retried_as_a_fresh_process_with_a_fresh_value() -> None:
    pool = pool_of(retries=1, retry_timeouts=True)
    request = pool.invoke(0, 0.0)
    assert request is not None
    assert pool.time_out(request.process, request.seq, 500.0) == 0
    assert pool.next_delay_ms(0) == 20
    retry = pool.invoke(0, 520.0)
    assert retry is not None
    assert retry.process == request.process + pool.process_step and retry.process % 3 == 0
    assert retry.f == "write" and retry.key == request.key
    assert retry.value != request.value, "the timed-out write may still land: values stay unique"
    assert [e["type"] for e in pool.history] == ["invoke", "info", "invoke"]


def test_timeouts_are_not_retried_unless_asked() -> None:
    pool = pool_of(retries=2)
    request = pool.invoke(0, 0.0)
    assert request is not None
    pool.time_out(request.process, request.seq, 500.0)
    assert pool.next_delay_ms(0) == 10


def test_final_reads_drop_a_pending_write_retry() -> None:
    config = WorkloadConfig(mix={"read": 0, "write": 1, "cas": 0}, final_reads_s=1,
                            request_policy=RequestPolicy(retries=2))
    pool = ClientPool(config, nodes=3, clients=3, stop_ms=2000, rng=random.Random(1))
    request = pool.invoke(0, 900.0)
    assert request is not None
    pool.complete(fail(request), 990.0)
    after = pool.invoke(0, 1010.0)
    assert after is not None and after.f == "read"


# ------------------------------------------------------------------ config
def config_error(workload: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config({"protocol": "raft", "workload": workload})
    return str(caught.value)


def test_a_hold_as_long_as_the_client_timeout_is_refused() -> None:
    message = config_error({"timeout_ms": 300, "request_policy": {"no_leader": "hold", "hold_ms": 300}})
    assert "hold_ms" in message and "timeout_ms" in message and "\n" not in message.strip()


def test_retries_need_a_closed_loop() -> None:
    assert "closed" in config_error({"arrival": "open", "request_policy": {"retries": 1}})


def test_the_defaults_are_one_policy_for_every_protocol() -> None:
    for protocol in ("raft", "paxos", "eventual", "quorum"):
        policy = validate_config({"protocol": protocol}).workload.request_policy
        assert policy == RequestPolicy(no_leader="fail", retries=0, retry_timeouts=False)
        assert policy.node_hold_ms is None


# ------------------------------------------------------------------ the real-time runtime
@pytest.mark.parametrize("no_leader", ["fail", "hold"])
def test_the_real_time_node_host_applies_the_same_policy(no_leader: str) -> None:
    """The Ray runtime's node host runs the same driver: a lone Raft node (its peers never
    answer) fails a request at once under `fail`, and under `hold` only once its hold
    ran out (no timing asserted: only that the answer waits for the hold timer)."""
    import asyncio
    import time

    from workbench.runtime.realtime_clock import RunClock
    from workbench.runtime.realtime_node import NodeHost

    config = validate_config({"protocol": "raft", "nodes": 3, "runtime": "ray",
                              "workload": {"request_policy": {"no_leader": no_leader, "hold_ms": 50}}})
    replies: list[Reply] = []
    loop = asyncio.new_event_loop()
    try:
        host = NodeHost(config, 0, loop, RunClock(time.time()), send=lambda *args: None,
                        reply=replies.append)
        host.boot()
        host.requests([write(0)])
        if no_leader == "fail":
            assert [(r.type, r.error) for r in replies] == [("fail", "no leader")]
            return
        assert replies == [] and len(host.driver.held_requests) == 1
        loop.run_until_complete(asyncio.sleep(0.3))
        assert [(r.type, r.error) for r in replies] == [("fail", "no leader")]
        host.finish()
    finally:
        loop.close()
