"""Time-weighted and per-client availability do not depend on how fast clients retry
(issue 14 item 2): per-op availability counts attempts, these count client-time."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from conftest import ROOT

from workbench.analysis.availability_time import (
    attribution_bound,
    client_time_summary,
    clients_served,
    time_weighted_availability,
)
from workbench.experiment.config import load_config
from workbench.experiment.run import RunOutput, run_experiment


def _ops(rows: list[tuple[int, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["process", "type", "invoke_time", "complete_time"])


def test_a_fast_retrying_client_weighs_as_much_as_a_slow_one() -> None:
    served = [(0, "ok", t, t + 1) for t in range(0, 100, 10)]  # 10 ops
    fast_fail = [(1, "fail", t, t + 0.5) for t in range(0, 100, 1)]  # 100 failed attempts
    ops = _ops(served + fast_fail + [(0, "ok", 100, 101), (1, "fail", 100, 100.5)])
    per_op = ops["type"].eq("ok").mean()
    tw = time_weighted_availability(ops, 0, 100, clients=2)["availability_time"].iloc[0]
    assert per_op < 0.15 and tw == 0.5
    assert clients_served(ops, 0, 100, clients=2)["clients_served"].iloc[0] == 0.5


def test_a_timed_out_process_is_replaced_in_the_same_client_slot() -> None:
    ops = _ops([(1, "info", 0, 50), (3, "ok", 60, 61), (3, "ok", 70, 71)])  # 3 = 1 + 2 clients
    tw = time_weighted_availability(ops, 0, 71, clients=2)
    assert tw["client_ms"].iloc[0] == 71 and tw["available_ms"].iloc[0] == 11


def test_a_client_served_once_is_not_served_throughout() -> None:
    # One lease read right after the cut, then refusals for 90 ms: not a served client.
    ops = _ops([(0, "ok", 0, 1), *[(0, "fail", t, t + 1) for t in range(10, 100, 10)]])
    assert clients_served(ops, 0, 100, clients=1)["clients_served"].iloc[0] == 0.0


def test_summary_splits_client_time_by_side_and_partition() -> None:
    # Node 1 is cut off from 100 to 200 ms; client 0 (node 0) always served, client 1
    # (node 1) served before the cut and refused during it.
    trace = [{"time": 100, "kind": "partition_start", "fault_id": 0, "minority": [1],
              "sides": {"majority": [0, 2], "minority": [1], "ambiguous": []}},
             {"time": 200, "kind": "partition_end", "fault_id": 0,
              "sides": {"majority": [0, 1, 2], "minority": [], "ambiguous": []}}]
    rows = [(0, "ok", t, t + 1) for t in range(0, 300, 10)]
    rows += [(1, "ok" if not 100 <= t < 200 else "fail", t, t + 1) for t in range(0, 300, 10)]
    got = client_time_summary(_ops(rows), trace, nodes=3, clients=2, end_ms=300)
    assert got["availability_time_partitioned"] == 0.5 and got["clients_served_partitioned"] == 0.5
    assert got["availability_time_minority"] == 0.0 and got["clients_served_minority"] == 0.0
    assert got["availability_time_majority"] == 1.0 and got["clients_served_majority"] == 1.0
    assert got["availability_time_ambiguous"] is None
    assert got["availability_time"] == pytest.approx((291 + 191) / (291 + 291))  # last ops end at 291
    assert client_time_summary(_ops([]), trace, 3, 2, 300)["availability_time"] is None


def _raft_under_partition(think_ms: float) -> RunOutput:
    """Raft, cap_partition's scenario cut short: 10 clients on 5 nodes, {0,1,2} | {3,4}
    from 2 s to 7 s. Minority clients are refused at once ("no leader" / not leader)
    and retry after think_ms: think_ms is their retry backoff."""
    config = load_config(ROOT / "experiments" / "cap_partition.yaml", [
        "protocol=raft", f"workload.think_ms={think_ms}", "duration_s=9",
        "faults.partitions.0.at=2", "faults.partitions.0.duration=5", "check.linearizability=false"])
    return run_experiment(config)


def test_think_time_moves_per_op_availability_but_not_the_time_weighted_one() -> None:
    """The tolerance is the definition's own: a client whose state holds has a share of
    exactly 0 or 1 at any think time; only where its outcome changes can up to one slot
    be credited to the wrong state (`attribution_bound`). So two runs that see the same
    protocol behaviour differ by at most the sum of their bounds. The window starts 1 s
    into the cut: where the leader was when the cut came depends on the run's random
    draws, which think_ms changes, and an election on the majority side is a real
    difference between the runs, not one of client speed (the summary's
    `availability_time_partitioned` includes it)."""
    runs: dict[float, dict[str, Any]] = {}
    for think in (0.0, 100.0):
        out = _raft_under_partition(think)
        window = (3000.0, 7000.0)
        tw = time_weighted_availability(out.ops, *window, clients=out.config.clients)
        runs[think] = {**out.summary, "settled": float(tw["availability_time"].iloc[0]),
                       "bound": attribution_bound(out.ops, *window, out.config.clients)}
    fast, slow = runs[0.0], runs[100.0]
    shown = {t: {k: r[k] for k in ("availability_partitioned", "availability_time_partitioned",
                                   "clients_served_partitioned", "settled", "bound")} for t, r in runs.items()}
    # Per op: at think 0 the minority's refusals outnumber the majority's ok ops.
    assert abs(fast["availability_partitioned"] - slow["availability_partitioned"]) > 0.3, shown
    assert abs(fast["settled"] - slow["settled"]) <= fast["bound"] + slow["bound"], shown
    assert fast["bound"] + slow["bound"] < 0.05, shown  # tight enough to mean something
    # 6 of 10 clients sit on the majority side and are served throughout, at both speeds.
    assert fast["clients_served_partitioned"] == slow["clients_served_partitioned"] == 0.6, shown
    assert fast["clients_served_minority"] == slow["clients_served_minority"] == 0.0, shown
