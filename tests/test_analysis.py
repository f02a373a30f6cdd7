"""Analysis pipelines against plain-pandas / plain-Python reference computations."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.analysis.aggregate import aggregate_seeds, t_interval, wide
from workbench.analysis.convergence import agreement, convergence_times
from workbench.analysis.leadership import (
    blocked_intervals,
    effective_tenures,
    leader_tenures,
    leaderless_intervals,
    leadership_summary,
)
from workbench.analysis.pipelines import (
    by_phase,
    latency_over_time,
    messages_per_op,
    op_stats,
    run_columns,
    with_side,
)
from workbench.analysis.staleness import stale_fraction_per_run, stale_reads, staleness_summary
from workbench.analysis.trace import records, trace_frame


def op(i: int, process: int, f: str, key: str, value, kind: str, result, invoke: float,
       complete: float | None, phase: str = "none", minority: bool = False, **run) -> dict:
    latency = (complete - invoke) if complete is not None and kind != "info" else np.nan
    return {**run, "op": i, "process": process, "f": f, "key": key, "value": value, "type": kind,
            "result": result, "invoke_time": invoke,
            "complete_time": np.nan if complete is None else complete, "latency_ms": latency,
            "node": process % 3, "partitioned": phase == "during", "minority": minority,
            "phase": phase}


def random_ops(rng: random.Random, n: int = 300, protocols=("a", "b")) -> pd.DataFrame:
    rows = []
    for i in range(n):
        kind = rng.choices(["ok", "fail", "info"], [0.8, 0.15, 0.05])[0]
        invoke = rng.uniform(0, 3000)
        complete = invoke + rng.expovariate(1 / 5)
        phase = "before" if invoke < 1000 else "during" if invoke < 2000 else "after"
        rows.append(op(i, rng.randrange(6), "read", "k0", None, kind, 1 if kind == "ok" else None,
                       invoke, complete, phase, minority=phase == "during" and rng.random() < 0.4,
                       protocol=rng.choice(protocols)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- availability and latency
def reference_stats(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["type"] == "ok"]
    lat = sorted(r["latency_ms"] for r in ok)
    return {"ops": len(rows), "ok": len(ok), "fail": sum(r["type"] == "fail" for r in rows),
            "info": sum(r["type"] == "info" for r in rows), "availability": len(ok) / len(rows),
            "latency_mean_ms": sum(lat) / len(lat) if lat else math.nan,
            "latency_ok_p50_ms": float(np.quantile(lat, 0.5)) if lat else math.nan}


def test_by_phase_matches_a_plain_loop() -> None:
    ops = random_ops(random.Random(1))
    got = by_phase(ops, by=["protocol"])
    groups: dict[tuple, list[dict]] = {}
    for row in ops.to_dict("records"):
        side = "minority" if row["minority"] else "majority"
        groups.setdefault((row["protocol"], row["phase"], side), []).append(row)
    assert len(got) == len(groups)
    for row in got.to_dict("records"):
        want = reference_stats(groups[(row["protocol"], row["phase"], row["side"])])
        for key, value in want.items():
            assert row[key] == pytest.approx(value, nan_ok=True), key
    # phases come out in time order, not alphabetical
    assert list(got[got["protocol"] == "a"]["phase"].drop_duplicates()) == ["before", "during", "after"]


def test_by_phase_without_side_and_without_grouping() -> None:
    ops = random_ops(random.Random(2))
    got = by_phase(ops, by=[], side=False).set_index("phase")
    for phase in ["before", "during", "after"]:
        want = reference_stats(ops[ops["phase"] == phase].to_dict("records"))
        assert got.loc[phase, "ops"] == want["ops"]
        assert got.loc[phase, "availability"] == pytest.approx(want["availability"])
    whole = op_stats(ops, [])
    assert whole["ops"].iloc[0] == len(ops)
    assert whole["ok"].iloc[0] == (ops["type"] == "ok").sum()


def test_with_side_labels_minority_ops() -> None:
    ops = random_ops(random.Random(3))
    sides = with_side(ops)["side"]
    assert (sides == "minority").sum() == ops["minority"].sum()
    assert set(sides) <= {"minority", "majority"}


def test_latency_over_time_bins_by_invoke_time() -> None:
    ops = random_ops(random.Random(4))
    got = latency_over_time(ops, bin_ms=500, by=["protocol"])
    for row in got.to_dict("records"):
        start = row["time_s"] * 1000
        chosen = ops[(ops["protocol"] == row["protocol"]) & (ops["invoke_time"] >= start)
                     & (ops["invoke_time"] < start + 500)]
        ok = chosen[chosen["type"] == "ok"]
        assert row["ops"] == len(chosen)
        assert row["latency_ok_p50_ms"] == pytest.approx(ok["latency_ms"].median(), nan_ok=True)
        assert row["latency_ok_p99_ms"] == pytest.approx(ok["latency_ms"].quantile(0.99), nan_ok=True)
    assert got["ops"].sum() == len(ops)


def test_messages_per_op_is_a_ratio_of_totals() -> None:
    runs = pd.DataFrame({"protocol": ["raft", "raft", "eventual"], "messages_sent": [100, 300, 50],
                         "ops": [10, 30, 25]})
    got = messages_per_op(runs).set_index("protocol")["messages_per_op"]
    assert got["raft"] == pytest.approx(400 / 40)
    assert got["eventual"] == pytest.approx(2.0)


def test_run_columns() -> None:
    ops = random_ops(random.Random(5)).assign(seed=1)
    assert run_columns(ops) == ["protocol", "seed"]
    assert run_columns(ops.assign(run_id="r1")) == ["run_id"]
    # a per-op column of the caller's does not split runs
    assert run_columns(ops.assign(time_s=ops["invoke_time"] // 1000)) == ["protocol", "seed"]
    # two runs of one protocol and seed, told apart only by a swept parameter
    both = pd.concat([ops.assign(**{"raft.read_mode": m}) for m in ("log", "lease")], ignore_index=True)
    assert run_columns(both) == ["protocol", "seed", "raft.read_mode"]


# ---------------------------------------------------------------- staleness
def reference_staleness(ops: pd.DataFrame) -> dict[int, tuple[bool, float, float]]:
    """The definitions, literally, per run (protocol) and key: a read of W's value is stale
    if some ok write X has W.complete < X.invoke and X.complete < read.invoke; it is then
    behind by the writes acknowledged after W and before the read, and by the time since
    the newest of them was acknowledged."""
    out = {}
    rows = ops.to_dict("records")
    for r in rows:
        if r["f"] != "read" or r["type"] != "ok":
            continue
        writes = [w for w in rows if w["f"] in ("write", "cas") and w["type"] == "ok"
                  and w["key"] == r["key"] and w["protocol"] == r["protocol"]]
        if r["result"] is None or (isinstance(r["result"], float) and math.isnan(r["result"])):
            source = -math.inf  # never written: the initial state precedes every write
        else:
            sources = [w for w in writes
                       if (w["value"][1] if w["f"] == "cas" else w["value"]) == r["result"]]
            if not sources:  # written by an op of unknown outcome: cannot be placed
                out[r["op"]] = (False, 0.0, 0.0)
                continue
            source = sources[0]["complete_time"]
        if not any(w["invoke_time"] > source and w["complete_time"] < r["invoke_time"] for w in writes):
            out[r["op"]] = (False, 0.0, 0.0)
            continue
        acked = [w["complete_time"] for w in writes if source < w["complete_time"] < r["invoke_time"]]
        out[r["op"]] = (True, float(len(acked)), r["invoke_time"] - max(acked))
    return out


def random_register_history(rng: random.Random, n: int = 400) -> pd.DataFrame:
    rows, written = [], {("a", "k0"): [], ("a", "k1"): [], ("b", "k0"): []}
    next_value = 1
    for i in range(n):
        protocol, key = rng.choice(list(written))
        invoke = rng.uniform(0, 2000)
        complete = invoke + rng.expovariate(1 / 20)
        f = rng.choices(["read", "write", "cas"], [0.5, 0.4, 0.1])[0]
        kind = rng.choices(["ok", "fail", "info"], [0.85, 0.1, 0.05])[0]
        if f == "read":
            choices = written[(protocol, key)] + [None]
            result = rng.choice(choices) if kind == "ok" else None
            rows.append(op(i, rng.randrange(5), "read", key, None, kind, result, invoke,
                           complete if kind != "info" else None, protocol=protocol))
        else:
            value = next_value if f == "write" else [rng.choice(written[(protocol, key)] + [None]), next_value]
            next_value += 1
            written[(protocol, key)].append(next_value - 1)
            rows.append(op(i, rng.randrange(5), f, key, value, kind, None, invoke,
                           complete if kind != "info" else None, protocol=protocol))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(5))
def test_stale_reads_match_the_definition(seed: int) -> None:
    ops = random_register_history(random.Random(seed))
    got = stale_reads(ops).set_index("op")
    want = reference_staleness(ops)
    assert sorted(got.index) == sorted(want)
    for op_id, (stale, behind, ms_behind) in want.items():
        row = got.loc[op_id]
        assert row["stale"] == stale
        assert row["versions_behind"] == pytest.approx(behind)
        assert row["ms_behind"] == pytest.approx(ms_behind)
    # every column of the op rows is kept (run parameters, phase, ...)
    assert {"protocol", "phase", "result", "invoke_time"} <= set(got.columns)
    assert got["stale"].any() and not got["stale"].all()


def test_stale_read_example_by_hand() -> None:
    rows = [
        op(0, 0, "write", "k", 1, "ok", None, 0, 10, protocol="p"),
        op(1, 1, "write", "k", 2, "ok", None, 20, 30, protocol="p"),
        op(2, 2, "write", "k", 3, "ok", None, 25, 40, protocol="p"),   # concurrent with 2
        op(3, 3, "read", "k", None, "ok", 1, 50, 51, protocol="p"),    # missed 2 and 3
        op(4, 3, "read", "k", None, "ok", 2, 50, 51, protocol="p"),    # 3 was concurrent with 2: fine
        op(5, 4, "read", "k", None, "ok", None, 15, 16, protocol="p"),  # missed 1
        op(6, 4, "read", "k", None, "ok", 3, 60, 61, protocol="p"),
    ]
    got = stale_reads(pd.DataFrame(rows)).set_index("op")
    assert got.loc[3, ["stale", "versions_behind", "ms_behind"]].tolist() == [True, 2.0, 10.0]
    assert got.loc[4, "stale"] == False  # noqa: E712 - numpy bool
    assert got.loc[5, ["stale", "versions_behind", "ms_behind"]].tolist() == [True, 1.0, 5.0]
    assert not got.loc[6, "stale"]


def test_stale_reads_of_many_runs_with_clashing_op_ids() -> None:
    one = random_register_history(random.Random(11))
    both = pd.concat([one.assign(seed=1), one.assign(seed=2)], ignore_index=True)
    got = stale_reads(both)
    alone = stale_reads(one.assign(seed=1))
    assert len(got) == 2 * len(alone)
    for seed in (1, 2):
        part = got[got["seed"] == seed].reset_index(drop=True)
        assert part[["op", "stale", "versions_behind", "ms_behind"]].equals(
            alone[["op", "stale", "versions_behind", "ms_behind"]])
    per_run = stale_fraction_per_run(got)
    assert per_run.shape[0] == 4  # (protocol, seed) pairs
    assert per_run["stale_fraction"].tolist() == pytest.approx(
        got.groupby(["protocol", "seed"], sort=False)["stale"].mean().tolist())
    with pytest.raises(ValueError, match="one run"):
        stale_reads(both, trace=[])


def test_staleness_summary_matches_pandas() -> None:
    reads = stale_reads(random_register_history(random.Random(7)))
    got = staleness_summary(reads, by=["protocol"]).set_index("protocol")
    for protocol, group in reads.groupby("protocol"):
        stale = group[group["stale"]]
        assert got.loc[protocol, "reads"] == len(group)
        assert got.loc[protocol, "stale_reads"] == len(stale)
        assert got.loc[protocol, "stale_read_fraction"] == pytest.approx(len(stale) / len(group))
        assert got.loc[protocol, "versions_behind_max"] == stale["versions_behind"].max()
        assert got.loc[protocol, "ms_behind_p50"] == pytest.approx(stale["ms_behind"].median())


def test_set_workloads_have_no_register_staleness() -> None:
    rows = [op(0, 0, "add", "s", 1, "ok", None, 0, 1, protocol="p"),
            op(1, 1, "read", "s", None, "ok", [1], 5, 6, protocol="p")]
    assert stale_reads(pd.DataFrame(rows)).empty


# ---------------------------------------------------------------- leadership
TRACE = [
    {"time": 0.0, "kind": "digest", "node": 0, "digest": 1},
    {"time": 200.0, "kind": "leader", "node": 0, "term": 1},
    {"time": 1000.0, "kind": "crash", "node": 0, "fault_id": 0},
    {"time": 1300.0, "kind": "leader", "node": 1, "term": 2},
    {"time": 2000.0, "kind": "partition_start", "fault_id": 1, "shape": "isolate", "minority": [1]},
    {"time": 2250.0, "kind": "leader", "node": 2, "term": 3},
    {"time": 2400.0, "kind": "step_down", "node": 1, "term": 3},
    {"time": 3000.0, "kind": "step_down", "node": 2, "term": 3},
    {"time": 3500.0, "kind": "leader", "node": 2, "term": 4},
]


def test_leader_tenures_and_gaps_by_hand() -> None:
    tenures = leader_tenures(TRACE, end_ms=5000)
    assert tenures[["node", "start", "end", "ended_by"]].values.tolist() == [
        [0, 200.0, 1000.0, "crash"], [1, 1300.0, 2400.0, "step_down"],
        [2, 2250.0, 3000.0, "step_down"], [2, 3500.0, 5000.0, "end"]]
    gaps = leaderless_intervals(tenures, 5000)
    assert gaps[["start", "end", "initial"]].values.tolist() == [
        [0.0, 200.0, True], [1000.0, 1300.0, False], [3000.0, 3500.0, False]]
    # node 1 is cut into the minority at 2000: it believes it leads until 2400, but
    # cannot commit from 2000 on, so the cluster has no effective leader until 2250
    blocked = blocked_intervals(TRACE, 5000)
    assert blocked.values.tolist() == [[1, 2000.0, 5000.0]]
    effective = effective_tenures(tenures, blocked)
    assert effective[["node", "start", "end"]].values.tolist() == [
        [0, 200.0, 1000.0], [1, 1300.0, 2000.0], [2, 2250.0, 3000.0], [2, 3500.0, 5000.0]]
    summary = leadership_summary(TRACE, 5000).iloc[0]
    assert summary["leader_changes"] == 4
    assert summary["initial_election_ms"] == 200.0
    assert summary["leaderless_ms"] == 300.0 + 250.0 + 500.0
    assert summary["longest_leaderless_ms"] == 500.0
    assert summary["leaderless_fraction"] == pytest.approx(1050 / 5000)


def test_a_paused_leader_is_not_effective_and_resumes() -> None:
    trace = [{"time": 100.0, "kind": "leader", "node": 0, "term": 1},
             {"time": 1000.0, "kind": "pause", "node": 0, "fault_id": 0},
             {"time": 1500.0, "kind": "resume", "node": 0, "fault_id": 0}]
    tenures = leader_tenures(trace, 3000)
    effective = effective_tenures(tenures, blocked_intervals(trace, 3000))
    assert effective[["start", "end"]].values.tolist() == [[100.0, 1000.0], [1500.0, 3000.0]]
    assert leadership_summary(trace, 3000)["leaderless_ms"].iloc[0] == 500.0


def test_never_elected_gap_is_open() -> None:
    gaps = leaderless_intervals(leader_tenures([{"time": 0.0, "kind": "crash", "node": 0}], 900), 900)
    assert gaps.values.tolist() == [[0.0, 900.0, 900.0, True, False]]


# ---------------------------------------------------------------- convergence
def test_convergence_after_heal_by_hand() -> None:
    big = 18_000_000_000_000_000_001  # beyond float precision: must not collide with ...002
    trace = [
        {"time": 0.0, "kind": "digest", "node": 0, "digest": 5},
        {"time": 0.0, "kind": "digest", "node": 1, "digest": 5},
        {"time": 100.0, "kind": "partition_start", "fault_id": 0, "minority": [1]},
        {"time": 150.0, "kind": "digest", "node": 0, "digest": big},
        {"time": 200.0, "kind": "digest", "node": 1, "digest": big + 1},
        {"time": 300.0, "kind": "partition_end", "fault_id": 0},
        {"time": 350.0, "kind": "digest", "node": 1, "digest": big + 1},
        {"time": 400.0, "kind": "digest", "node": 0, "digest": big + 1},
        {"time": 500.0, "kind": "partition_start", "fault_id": 1, "minority": [0]},
        {"time": 600.0, "kind": "partition_end", "fault_id": 1},
        {"time": 700.0, "kind": "partition_start", "fault_id": 2, "minority": [0]},
        {"time": 710.0, "kind": "digest", "node": 0, "digest": 9},
        {"time": 800.0, "kind": "partition_end", "fault_id": 2},
        {"time": 850.0, "kind": "crash", "node": 1},  # a crashed node does not block agreement
    ]
    from workbench.analysis.phases import partition_intervals

    intervals = partition_intervals(trace, 1000.0)
    got = convergence_times(trace, intervals)
    assert got[["fault_id", "healed_at", "converged_at", "convergence_ms"]].values.tolist() == [
        [0, 300.0, 400.0, 100.0], [1, 600.0, 600.0, 0.0], [2, 800.0, 850.0, 50.0]]
    assert agreement(trace)["agree"].tolist() == [True, False, False, False, True, False, True]


def test_paused_and_restarted_nodes_in_agreement() -> None:
    trace = [
        {"time": 0.0, "kind": "digest", "node": 0, "digest": 1},
        {"time": 0.0, "kind": "digest", "node": 1, "digest": 1},
        {"time": 10.0, "kind": "pause", "node": 1, "fault_id": 0},
        {"time": 20.0, "kind": "digest", "node": 0, "digest": 2},   # only node 0 is live
        {"time": 30.0, "kind": "resume", "node": 1, "fault_id": 0},  # back with digest 1
        {"time": 40.0, "kind": "digest", "node": 1, "digest": 2},
        {"time": 50.0, "kind": "crash", "node": 0, "fault_id": 1},
        {"time": 60.0, "kind": "restart", "node": 0, "fault_id": 1},  # differs until it reports
        {"time": 70.0, "kind": "digest", "node": 0, "digest": 2},
    ]
    got = agreement(trace)
    assert got["time"].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    assert got["live"].tolist() == [2, 1, 1, 2, 2, 1, 2, 2]
    assert got["agree"].tolist() == [True, True, True, False, True, True, False, True]


def test_convergence_agrees_with_the_checker_on_a_real_run() -> None:
    from test_analysis_support import small_config

    from workbench.analysis.phases import partition_intervals
    from workbench.checkers import convergence as checker
    from workbench.runtime.sim import simulate

    config = small_config(eventual={"replication": False, "anti_entropy_interval_ms": 200.0})
    trace = simulate(config).trace
    ours = convergence_times(trace, partition_intervals(trace, config.duration_ms))
    theirs = checker.convergence_ms(trace, nodes=config.nodes, end_ms=config.duration_ms,
                                    heal_kinds=("partition_end",))
    assert len(ours) == 1 and theirs is not None and theirs > 0
    assert ours["convergence_ms"].iloc[0] == pytest.approx(theirs)


def test_trace_frame_round_trip() -> None:
    frame = trace_frame(TRACE)
    assert list(frame["kind"]) == [r["kind"] for r in TRACE]
    assert records(frame)[4]["minority"] == [1]
    assert "digest" not in records(frame)[1]


# ---------------------------------------------------------------- seeds and CIs
def test_aggregate_seeds_matches_scipy_t_interval() -> None:
    rng = np.random.default_rng(0)
    runs = pd.DataFrame({"protocol": ["raft"] * 5 + ["eventual"] * 3 + ["paxos"],
                         "mode": ["x"] * 9, "seed": range(9),
                         "latency_p50_ms": rng.uniform(0, 100, 9),
                         "linearizable": [True, True, False, True, None, False, False, True, True]})
    got = aggregate_seeds(runs, ["latency_p50_ms", "linearizable"], by=["protocol", "mode"])
    assert len(got) == 6
    for row in got.to_dict("records"):
        column = runs.loc[runs["protocol"] == row["protocol"], row["metric"]]
        values = pd.to_numeric(column, errors="coerce").astype(float).dropna()
        assert row["n"] == len(values) and row["unknown"] == column.isna().sum()
        assert row["mean"] == pytest.approx(values.mean())
        if len(values) < 2:
            assert math.isnan(row["ci_low"]) and math.isnan(row["ci_high"]) and row["interval"] == "none"
        elif row["metric"] == "latency_p50_ms":
            low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                         scale=stats.sem(values))
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((max(low, 0.0), high))  # >= 0 metric
        else:
            assert row["interval"] == "wilson" and 0 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1
    table = wide(got, ["protocol", "mode"]).set_index("protocol")
    assert table.loc["raft", "latency_p50_ms"] == pytest.approx(runs["latency_p50_ms"][:5].mean())
    assert table.loc["raft", "linearizable_n"] == 4


def test_t_interval_of_constant_sample_is_a_point() -> None:
    row = t_interval(pd.Series([0.5, 0.5, 0.5]))
    assert (row["ci_low"], row["mean"], row["ci_high"]) == (0.5, 0.5, 0.5)
