"""Time-weighted and per-client availability do not depend on how fast clients retry."""

from __future__ import annotations

import pandas as pd
from conftest import ROOT

from workbench.analysis.availability_time import clients_served, time_weighted_availability
from workbench.experiment.config import load_config
from workbench.experiment.run import run_experiment


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


def test_think_time_moves_per_op_availability_but_not_the_time_weighted_one() -> None:
    """Raft under the cap_partition scenario, 5 s partition: minority clients fail at
    once and retry after think_ms, so per-op availability depends on think_ms."""
    result = {}
    for think in (10, 60):
        config = load_config(ROOT / "experiments" / "cap_partition.yaml", [
            "protocol=raft", f"workload.think_ms={think}", "duration_s=12",
            "faults.partitions.0.at=3", "faults.partitions.0.duration=6", "check.linearizability=false"])
        out = run_experiment(config)
        tw = time_weighted_availability(out.ops, 3500, 9000, clients=config.clients)
        result[think] = (out.summary["availability_partitioned"], tw["availability_time"].iloc[0])
    (per_op_fast, tw_fast), (per_op_slow, tw_slow) = result[10], result[60]
    assert abs(per_op_fast - per_op_slow) > 0.05, result
    assert abs(tw_fast - tw_slow) < 0.03, result
