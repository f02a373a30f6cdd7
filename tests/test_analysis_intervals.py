"""Intervals that fit the metric (issue 19 item 5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.aggregate import aggregate_seeds, paired_differences, wilson_interval


def test_two_of_three_linearizable_gets_a_wilson_interval_inside_0_1() -> None:
    # The t-interval of [1, 1, 0] is [-0.77, 2.10]: not a rate.
    runs = pd.DataFrame({"p": ["raft"] * 3, "linearizable": [True, True, False]})
    row = aggregate_seeds(runs, ["linearizable"], by=["p"]).iloc[0]
    assert row["interval"] == "wilson"
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.2077, 0.9385), abs=1e-4)
    assert wilson_interval(3, 3)[1] == 1.0 and wilson_interval(0, 3)[0] == 0.0


def test_fractions_are_clipped_to_0_1() -> None:
    runs = pd.DataFrame({"p": ["a"] * 3, "availability_partitioned": [0.0, 1.0, 1.0],
                         "latency_p50_ms": [0.0, 1.0, 1.0]})
    got = aggregate_seeds(runs, ["availability_partitioned", "latency_p50_ms"], by=["p"]).set_index("metric")
    assert got.loc["availability_partitioned", "ci_high"] == 1.0
    assert got.loc["latency_p50_ms", "ci_high"] > 1.0  # not a fraction: not clipped
    assert got.loc["availability_partitioned", "ci_low"] == 0.0 == got.loc["latency_p50_ms", "ci_low"]


def test_one_seed_has_no_interval_and_unknown_verdicts_are_counted() -> None:
    runs = pd.DataFrame({"p": ["a", "b", "b", "b"], "linearizable": [True, True, None, None]})
    got = aggregate_seeds(runs, ["linearizable"], by=["p"]).set_index("p")
    assert got.loc["a", "n"] == 1 and got.loc["a", "interval"] == "none" and math.isnan(got.loc["a", "ci_low"])
    assert got.loc["b", "n"] == 1 and got.loc["b", "unknown"] == 2


def test_paired_differences_cancel_the_seed_effect() -> None:
    rng = np.random.default_rng(3)
    seed_effect = rng.normal(0, 10, 6)  # large, shared by both settings
    runs = pd.DataFrame({"seed": list(range(6)) * 2, "mode": ["a"] * 6 + ["b"] * 6,
                         "latency": np.concatenate([seed_effect, seed_effect + 1.0 + rng.normal(0, 0.01, 6)])})
    got = paired_differences(runs, "latency", setting="mode", baseline="a").iloc[0]
    assert got["setting"] == "b" and got["pairs"] == 6
    assert got["ci_low"] < 1.0 < got["ci_high"] and got["ci_high"] - got["ci_low"] < 0.1
    # Unpaired, the seed effect swamps the difference.
    means = aggregate_seeds(runs, ["latency"], by=["mode"]).set_index("mode")
    assert means.loc["b", "ci_low"] < means.loc["a", "mean"]


def test_paired_differences_skip_seeds_missing_on_one_side() -> None:
    runs = pd.DataFrame({"seed": [1, 2, 3, 1, 2], "mode": ["a", "a", "a", "b", "b"],
                         "x": [1.0, 2.0, 3.0, 2.0, None], "g": ["k"] * 5})
    got = paired_differences(runs, "x", setting="mode", baseline="a", by=["g"]).iloc[0]
    assert got["pairs"] == 1 and got["mean_diff"] == 1.0 and math.isnan(got["ci_low"])


def test_by_phase_over_runs_weights_each_run_once() -> None:
    from workbench.analysis.pipelines import by_phase_over_runs

    # Run 1: 100 ops, all ok; run 2: 10 ops, none ok. Pooled: 100/110; per run: (1 + 0) / 2.
    rows = [{"run_id": "r1", "protocol": "raft", "phase": "during", "minority": False, "side": "majority",
             "type": "ok", "latency_ms": 1.0, "invoke_time": 0.0, "complete_time": 1.0, "op": i}
            for i in range(100)]
    rows += [{"run_id": "r2", "protocol": "raft", "phase": "during", "minority": False, "side": "majority",
              "type": "fail", "latency_ms": 1.0, "invoke_time": 0.0, "complete_time": 1.0, "op": i}
             for i in range(10)]
    got = by_phase_over_runs(pd.DataFrame(rows), by=["protocol"]).iloc[0]
    assert got["availability"] == 0.5 and got["n"] == 2
    assert got["ci_low"] == 0.0 and got["ci_high"] == 1.0  # t-interval clipped to [0, 1]


def test_non_negative_metrics_are_clipped_at_zero() -> None:
    runs = pd.DataFrame({"p": ["a"] * 3, "leader_changes": [2, 1, 1], "delta": [-1.0, 1.0, 1.0]})
    got = aggregate_seeds(runs, ["leader_changes", "delta"], by=["p"]).set_index("metric")
    assert got.loc["leader_changes", "ci_low"] == 0.0
    assert got.loc["delta", "ci_low"] < 0  # a metric that can be negative keeps its interval
