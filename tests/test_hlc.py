"""The hybrid logical clock against the properties Kulkarni et al. 2014 prove for it (§4),
over random message schedules between nodes whose clocks have offset, drift and
negative readings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.protocols.common.hlc import COUNTER_LIMIT, HybridClock, Timestamp


@dataclass(frozen=True)
class SimClock:
    offset_us: int
    drift: float  # > -1: the clock never runs backwards

    def read(self, true_us: int) -> int:
        return math.floor(self.offset_us + true_us * (1.0 + self.drift))


@dataclass(frozen=True)
class Step:
    advance_us: int  # true time passing before the step
    node: int
    kind: str  # "local", "send" or "receive"
    pick: int  # which in-flight message a receive takes (mod the pool)
    keep: bool  # a received message stays in flight: duplicated by the network


clocks = st.builds(SimClock, offset_us=st.integers(-30_000_000, 30_000_000),
                   drift=st.floats(-0.5, 0.5, allow_nan=False))
steps = st.builds(Step, advance_us=st.sampled_from([0, 0, 0, 1, 3, 1000, 250_000]),
                  node=st.integers(0, 3), kind=st.sampled_from(["local", "send", "receive"]),
                  pick=st.integers(0, 1000), keep=st.booleans())
schedules = st.tuples(st.lists(clocks, min_size=1, max_size=4), st.lists(steps, max_size=60))


def run_schedule(node_clocks: list[SimClock], schedule: list[Step],
                 counter_limit: int = COUNTER_LIMIT) -> list[Timestamp]:
    """Play one schedule and assert the paper's properties after every event."""
    n = len(node_clocks)
    hlcs = [HybridClock(i, counter_limit=counter_limit) for i in range(n)]
    in_flight: list[Timestamp] = []
    issued: list[Timestamp] = []
    true_us = 0
    for step in schedule:
        true_us += step.advance_us
        i = step.node % n
        pt = node_clocks[i].read(true_us)
        before = hlcs[i].last
        if step.kind == "receive" and in_flight:
            at = step.pick % len(in_flight)
            remote = in_flight[at] if step.keep else in_flight.pop(at)
            stamp = hlcs[i].receive(remote, pt)
            assert stamp > remote, "receive must exceed the message's timestamp"
        else:
            stamp = hlcs[i].tick(pt)
            if step.kind == "send":
                in_flight.append(stamp)
        assert before is None or stamp > before, "timestamps of one node must increase"
        assert stamp.l >= pt, "l never falls behind the node's own clock"
        # Every l is some clock's reading at an earlier moment, and clocks only move
        # forward: so l - pt <= (fastest clock now) - (this clock now), the skew.
        skew = max(c.read(true_us) for c in node_clocks) - pt
        overflow_ticks = len(issued) // counter_limit + 1 if counter_limit < COUNTER_LIMIT else 0
        assert stamp.l - pt <= skew + overflow_ticks, "l - pt exceeds the clock skew"
        assert stamp.packed() == Timestamp.unpack(stamp.packed()).packed()
        issued.append(stamp)
    assert len(set(issued)) == len(issued), "two events share a timestamp"
    packed = [t.packed() for t in issued]
    assert sorted(packed) == [t.packed() for t in sorted(issued)], "packing must keep the order"
    return issued


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules)
def test_hlc_properties_over_random_schedules(schedule: tuple[list[SimClock], list[Step]]) -> None:
    run_schedule(*schedule)


@pytest.mark.slow
@settings(max_examples=100_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules)
def test_hlc_properties_over_100k_schedules(schedule: tuple[list[SimClock], list[Step]]) -> None:
    run_schedule(*schedule)


@settings(max_examples=200, deadline=None)
@given(schedules, st.integers(1, 4))
def test_counter_overflow_advances_l_and_keeps_the_order(
        schedule: tuple[list[SimClock], list[Step]], limit: int) -> None:
    run_schedule(*schedule, counter_limit=limit)


def test_receive_takes_the_remote_counter_on_a_tie() -> None:
    """The case issue 20 found: equal l, remote counter ahead. Fig. 5: c = max(c, c_m) + 1."""
    a, b = HybridClock(0), HybridClock(1)
    a.tick(100)
    for _ in range(6):
        remote = b.tick(100)
    assert remote == Timestamp(100, 5, 1)
    assert a.receive(remote, 100) == Timestamp(100, 6, 0)
    assert a.tick(100) > remote
    buggy = HybridClock(0, bug="hlc_ignore_remote_counter")
    buggy.tick(100)
    buggy.receive(remote, 100)
    assert buggy.tick(100) < remote  # the mutant: a causally later event ordered first


def test_thousands_of_events_in_one_tick_stay_distinct_and_the_cap_is_the_bug() -> None:
    clock, capped = HybridClock(0), HybridClock(0, bug="hlc_counter_capped")
    stamps = [clock.tick(-20_000_000) for _ in range(5000)]
    assert len(set(stamps)) == 5000 and stamps == sorted(stamps)
    assert stamps[0].l == -20_000_000  # a negative reading is used, not clamped to 0
    capped_stamps = [capped.tick(7) for _ in range(1500)]
    assert len(set(capped_stamps)) == 1000


def test_overflow_moves_l_by_one_tick() -> None:
    clock = HybridClock(3, counter_limit=2)
    assert [clock.tick(10) for _ in range(4)] == [
        Timestamp(10, 0, 3), Timestamp(10, 1, 3), Timestamp(11, 0, 3), Timestamp(11, 1, 3)]
    assert clock.receive(Timestamp(11, 1, 0), 5) == Timestamp(12, 0, 3)


def test_restore_continues_above_what_was_issued() -> None:
    clock = HybridClock(0)
    clock.restore(Timestamp(500, 3, 1))
    assert clock.tick(100) == Timestamp(500, 4, 0)
    assert clock.tick(600) == Timestamp(600, 0, 0)


def test_packing_orders_negative_times_and_round_trips() -> None:
    stamps = [Timestamp(-5, 3, 2), Timestamp(-5, 4, 0), Timestamp(0, 0, 0), Timestamp(1, 65535, 255)]
    assert sorted(s.packed() for s in stamps) == [s.packed() for s in stamps]
    assert [Timestamp.unpack(s.packed()) for s in stamps] == stamps
