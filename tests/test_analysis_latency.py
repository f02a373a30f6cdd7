"""Censored latency (issue 19 item 4) and message figures (item 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import tiny_experiment
from workbench.analysis.metrics import censored_quantile, latency_summary, message_summary
from workbench.analysis.pipelines import op_stats
from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment


def frame(ok_ms: list[float], timeouts_ms: list[float]) -> pd.DataFrame:
    rows = [{"type": "ok", "invoke_time": 0.0, "complete_time": v, "latency_ms": v} for v in ok_ms]
    rows += [{"type": "info", "invoke_time": 0.0, "complete_time": v, "latency_ms": np.nan} for v in timeouts_ms]
    return pd.DataFrame(rows)


def test_timeouts_count_as_at_least_the_timeout() -> None:
    ops = frame([10.0] * 97, [500.0] * 3)
    got = latency_summary(ops)
    assert got["latency_ok_p99_ms"] == 10.0  # what the summary used to call latency_p99_ms
    assert got["latency_p99_ms"] == 500.0 and got["latency_p99_censored"] is True
    assert got["latency_p50_ms"] == 10.0 and got["latency_p50_censored"] is False
    assert got["timeout_fraction"] == pytest.approx(0.03)


def test_a_quantile_below_every_bound_is_exact() -> None:
    exact = np.arange(1.0, 101.0)
    value, censored = censored_quantile(exact, np.array([1000.0]), 0.5)
    assert not censored and value == float(np.quantile(np.append(exact, 1000.0), 0.5, method="inverted_cdf"))
    assert censored_quantile(np.array([]), np.array([]), 0.99) == (None, False)


def test_op_stats_carry_both_latencies_per_group() -> None:
    ops = pd.concat([frame([5.0] * 50, []).assign(g="a"), frame([5.0] * 50, [500.0] * 50).assign(g="b")])
    got = op_stats(ops, ["g"]).set_index("g")
    assert got.loc["a", "latency_p99_ms"] == 5.0 and got.loc["b", "latency_p99_ms"] == 500.0
    assert got.loc["b", "latency_ok_p99_ms"] == 5.0
    assert got.loc["b", "timeout_fraction"] == 0.5


def test_one_way_cut_run_reports_the_timeout_tail() -> None:
    raw = tiny_experiment(protocol="raft", duration_s=4, check={"linearizability": False},
                          workload={"clients": 5, "think_ms": 10, "timeout_ms": 200},
                          faults={"partitions": [{"shape": "one-way", "from": [3, 4], "to": [0, 1, 2],
                                                  "at": 1, "duration": 2}]})
    summary = run_experiment(validate_config(raw)).summary
    assert summary["info"] > 0 and summary["timeout_fraction"] == pytest.approx(summary["info"] / summary["ops"])
    assert summary["latency_ok_p99_ms"] < 200
    # 2 of 5 clients wait out 200 ms timeouts for 2 s of 4: far more than 1% of ops.
    assert summary["latency_p99_ms"] >= 200 and summary["latency_p99_censored"] is True
    assert summary["latency_partitioned_p99_ms"] >= 200 and summary["latency_partitioned_p99_censored"] is True


def test_message_figures() -> None:
    ops = pd.DataFrame({"type": ["ok", "ok", "fail", "info"]})
    got = message_summary(100, ops, duration_s=10.0)
    assert got == {"messages_sent": 100, "messages_per_op": 25.0, "messages_per_ok_op": 50.0,
                   "messages_per_s": 10.0}
