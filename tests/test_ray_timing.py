"""Timing health of a Ray run (runtime/ray_timing.py): percentiles, the warning rule,
and the node's hooks measuring timer slip and delivery lateness in process."""

from __future__ import annotations

import asyncio

import pytest

from workbench.experiment.config import config_from
from workbench.runtime.ray_timing import SLIP_WARN_FRACTION, percentile, timing_health


def test_percentile_is_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0 and percentile([], 50) is None


def test_warning_only_past_the_stated_fraction_of_the_election_timeout() -> None:
    config = config_from({"protocol": "raft", "raft": {"election_timeout_min_ms": 200,
                                                       "election_timeout_max_ms": 400}})
    limit = 200 * SLIP_WARN_FRACTION
    quiet, warnings = timing_health(config, [1.0] * 99 + [limit], [2.0, 3.0])
    assert quiet["timer_slip_p99_ms"] == 1.0 and quiet["timer_slip_limit_ms"] == limit
    assert quiet["delivery_late_p50_ms"] == 2.0 and warnings == []
    busy, warnings = timing_health(config, [limit + 1.0] * 10, [])
    assert busy["timer_slip_p99_ms"] == limit + 1.0 and busy["delivery_late_p99_ms"] is None
    assert len(warnings) == 1 and "election timeout (200 ms)" in warnings[0]


def test_the_eventual_store_is_judged_against_a_fixed_bound() -> None:
    fields, warnings = timing_health(config_from({"protocol": "eventual"}), [500.0], [])
    assert fields["timer_slip_limit_ms"] == 50.0 and len(warnings) == 1


def test_in_process_nodes_measure_slip_and_lateness() -> None:
    """HostActors in one process (no Ray): every fired timer and delivered message is
    measured, and a blocked event loop shows up as slip."""
    from test_ray_runtime import LocalCluster, local_config

    config = local_config(protocol="raft", duration_s=2.0)
    cluster = LocalCluster(config)

    async def main() -> list[dict]:
        await cluster.start()
        await cluster.until(800)
        import time

        time.sleep(0.15)  # block the loop: every due timer and message is late
        await cluster.until(config.duration_ms)
        return await cluster.finish()

    reports = asyncio.run(main())
    slips = [s for r in reports for s in r.get("timer_slips", ())]
    late = [d for r in reports for d in r.get("delivery_lateness", ())]
    assert slips and late and min(slips) >= 0
    # 0.15 s of wall time blocked at time_scale 2 is 300 protocol ms. The leader's
    # heartbeat timer falls due at least once per heartbeat_ms, so some timer was due
    # within heartbeat_ms of the block's start and fired at least (300 - heartbeat) late.
    blocked_ms = 0.15 * 1000 * config.ray.time_scale
    assert max(slips) >= (blocked_ms - config.raft.heartbeat_ms) * 0.9
    fields, _ = timing_health(config, slips, late)
    assert fields["timers_fired"] == len(slips) and fields["deliveries_timed"] == len(late)


@pytest.mark.ray
def test_our_ray_workers_run_at_ordinary_priority(ray_session: None) -> None:
    """Ray starts its workers at nice 15, where a busy neighbour at nice 0 outweighs each
    node actor 28 to 1 and a loaded machine measures the neighbours, not the protocol
    (ray_session.WORKER_NICENESS). Workers of the workbench's own Ray run at nice 0."""
    import os

    import ray

    from workbench.runtime.ray_session import WORKER_NICENESS

    @ray.remote(num_cpus=0)
    def niceness() -> int:
        return os.nice(0)

    assert ray.get(niceness.remote(), timeout=300) == WORKER_NICENESS == 0
