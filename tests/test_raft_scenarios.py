"""Raft in whole simulated runs: leases and clock drift, the CAP partition experiment,
bounded memory over a long run, and the Figure 16 election study (small)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from workbench.core.storage import Storage
from workbench.experiment.config import ExperimentConfig, load_config, validate_config
from workbench.fault_search import check_seed
from workbench.protocols.raft import RaftNode
from workbench.runtime.sim import Simulation

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ leases, §6.4.1
def lease_scenario(seed: int, drift: float, read_mode: str = "lease") -> ExperimentConfig:
    """3 nodes; node 0's clock runs at (1 + drift) of true time; the leader is cut off
    every 1.5 s for 0.8 s. Read-heavy clients, so the cut-off leader keeps serving reads
    while the other two elect a leader and write."""
    return validate_config({
        "name": "raft-lease", "protocol": "raft", "seed": seed, "nodes": 3, "duration_s": 9,
        "workload": {"kind": "register", "keys": 1, "clients": 15, "think_ms": 10, "timeout_ms": 300,
                     "start_s": 0.5, "mix": {"read": 0.97, "write": 0.03, "cas": 0.0}},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "raft": {"read_mode": read_mode, "max_clock_drift": 0.01},
        "faults": {"clocks": [{"node": 0, "drift": drift}],
                   "partitions": [{"shape": "isolate", "node": "leader", "at": 1.0, "duration": 0.8,
                                   "repeat": 5, "every": 1.5}]},
        "sim": {"invariants": True}, "check": {"max_seconds": 30},
    })


def test_lease_reads_break_when_a_clock_drifts_beyond_the_bound() -> None:
    """Node 0's clock runs at 0.3x: its lease (election_timeout_min * 0.99/1.01 on its own
    clock) lasts 490 ms of true time, while the others, on true clocks, elect a new
    leader after 150-300 ms and commit writes the old leader's lease reads miss."""
    findings = [check_seed(lease_scenario(seed, drift=-0.7)) for seed in range(3)]
    caught = [f for f in findings if f is not None]
    assert caught, "a lease read with a 70% slow clock should have been stale"
    assert all("not linearizable" in f.problem for f in caught), [str(f) for f in caught]


@pytest.mark.parametrize(("drift", "read_mode"), [(-0.005, "lease"), (-0.7, "read_index")])
def test_lease_within_the_bound_and_read_index_stay_linearizable(drift: float, read_mode: str) -> None:
    """The same runs with drift inside max_clock_drift, or with ReadIndex (which needs no
    clock at all), are linearizable."""
    for seed in range(3):
        finding = check_seed(lease_scenario(seed, drift, read_mode))
        assert finding is None, str(finding)


# ------------------------------------------------------------------ CAP: where availability falls
def test_cap_partition_raft_is_consistent_and_unavailable_only_on_the_minority() -> None:
    from workbench.experiment.run import run_experiment

    config = load_config(ROOT / "experiments" / "cap_partition.yaml", ["protocol=raft"])
    output = run_experiment(config)
    summary = output.summary
    assert summary["availability_minority"] == 0, summary  # nothing succeeds while cut off
    assert summary["stale_read_fraction"] == 0, summary
    assert summary.get("linearizable") in (True, "linearizable"), summary
    # The majority side: once past the first election timeout into the partition,
    # nearly everything succeeds.
    ops: pd.DataFrame = output.ops
    start_ms = config.faults.partitions[0].at * 1000 + config.raft.election_timeout_max_ms
    end_ms = (config.faults.partitions[0].at + config.faults.partitions[0].duration) * 1000
    time_col = "invoke_time" if "invoke_time" in ops.columns else "time"
    majority = ops[(ops[time_col] >= start_ms) & (ops[time_col] < end_ms) & ~ops["minority"].astype(bool)]
    assert len(majority) > 100
    ok = (majority["type"] == "ok").mean()
    assert ok > 0.9, f"majority-side availability after the first election timeout: {ok:.3f}"
    assert summary["availability_majority"] > 0.85, summary


# ------------------------------------------------------------------ bounded memory, §7
class _LogWatch:
    """Rides the invariant hook to record the longest log any node held during the run."""

    longest = 0

    def check(self, nodes: list[Any], now: float) -> None:
        for node in nodes:
            if node is not None and len(node.log) > self.longest:
                self.longest = len(node.log)


class _WatchedRaft:
    def __init__(self) -> None:
        self.watch = _LogWatch()

    def __call__(self, *args: Any) -> RaftNode:
        return RaftNode(*args)

    def invariant_checker(self) -> _LogWatch:
        return self.watch


def test_long_run_keeps_the_log_bounded_by_snapshots() -> None:
    config = validate_config({
        "protocol": "raft", "seed": 3, "nodes": 3, "duration_s": 60,
        "workload": {"kind": "register", "keys": 4, "clients": 6, "think_ms": 2, "start_s": 0.3},
        "raft": {"snapshot_threshold": 200},
        "faults": {"nodes": [{"kind": "crash", "node": 2, "at": 10, "duration": 20}]},
        "sim": {"invariants": True, "digest_interval_ms": 1000},
    })
    factory = _WatchedRaft()
    sim = Simulation(config, factory)
    result = sim.run()
    committed = sum(1 for e in result.history if e["type"] == "ok")
    assert committed > 20_000  # far more entries than any log ever held
    assert factory.watch.longest <= 200 + 64 + 50, factory.watch.longest
    nodes = [n for n in sim.nodes if n is not None]
    assert all(n.log_start > committed // 2 for n in nodes)  # the restarted node too (InstallSnapshot)
    assert len({n.state_digest() for n in nodes}) == 1
    storage: Storage = sim.storages[2]
    assert len(storage.get("log")) <= 200 + 64 + 50


# ------------------------------------------------------------------ Figure 16, small
def test_fig16_small_study_is_sane(tmp_path: Path) -> None:
    from workbench.studies import fig16

    base = load_config(fig16.EXPERIMENT)
    trials = fig16.run_study(base, ["150-300", "150-150"], trials=40, workers=1)
    assert len(trials) == 80 and trials["elected"].all()
    table = fig16.summary(trials).set_index("range")
    ours_300 = table.loc["150-300", "median_ms"]
    paper_300 = table.loc["150-300", "paper_median_ms"]
    assert paper_300 / 1.5 < ours_300 < paper_300 * 1.5
    assert table.loc["150-300", "ks_distance"] < 0.3
    assert table.loc["150-150", "median_ms"] > 20 * ours_300  # no randomness: split votes for ages
    path = fig16.write_parquet(trials, tmp_path / "trials.parquet")
    assert pd.read_parquet(path)["time_ms"].notna().all()
    assert "150-300" in fig16.format_summary(fig16.summary(trials))


def _fig16_timeouts(low: float, high: float, grain: float, seeds: int = 60) -> set[float]:
    """The election timeouts (past the minimum) that the study's survivors draw: a
    follower's remainder after nothing was heard for `low`, then a candidate's full one."""
    import random

    from workbench.core.effects import SetTimer
    from workbench.protocols.raft import RaftOptions
    from workbench.studies import fig16

    options = RaftOptions(election_timeout_min_ms=low, election_timeout_max_ms=high,
                          heartbeat_ms=low / 2, pre_vote=False, check_quorum=False)
    factory = fig16._TrialNodes(grain)
    drawn: set[float] = set()
    for seed in range(seeds):
        storage = Storage()
        fig16._prepare(storage, 2)
        node = factory(1, range(5), options, random.Random(seed), storage)
        node.start(0.0)
        node.take_effects()
        node.on_timer("election", low)  # phase 1 over and nothing heard: the remainder
        (remainder,) = [e.delay_ms for e in node.take_effects() if isinstance(e, SetTimer)]
        node.on_timer("election", low + remainder)  # a candidate now: a full timeout
        (full,) = [e.delay_ms for e in node.take_effects() if isinstance(e, SetTimer)]
        drawn |= {round(remainder, 9), round(full - low, 9)}
    return drawn


def test_fig16_draws_election_timeouts_in_whole_ms_like_logcabin() -> None:
    assert _fig16_timeouts(150, 151, 1.0) == {0.0, 1.0}
    assert _fig16_timeouts(150, 155, 1.0) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    continuous = _fig16_timeouts(150, 151, 0.0)
    assert len(continuous) > 100 and all(0 <= t <= 1 for t in continuous)


def test_fig16_command_writes_trials_and_the_comparison_table(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "fig16" / "trials.parquet"
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "fig16", "--trials", "8",
                           "--ranges", "150-300,50-100", "--out", str(out), "--workers", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(out)) == 16
    table = pd.read_csv(out.with_name("comparison.csv"))
    assert list(table["range"]) == ["150-300", "50-100"]
    assert table["ks_distance"].between(0, 1).all() and (table["paper_trials"] == 1000).all()
    assert "comparison.csv" in done.stdout
