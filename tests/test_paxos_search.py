"""Multi-Paxos under randomized faults: the same search as Raft, and proof it can fail.

Each seed of `workbench.fault_search.scenario` is a whole random run — cluster size,
link latency/loss/duplication/reordering, a nemesis drawing every partition shape,
crashes, restarts and pauses, a one-way cut — checked for invariant trips (after every
step) and for linearizability. A failing seed is printed with the call that reproduces
it. CI runs a bounded slice; `make test-slow` runs `search_seeds(...)` seeds.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT, assert_mostly_checked, search_seeds

from workbench.experiment.config import ExperimentConfig, config_from, load_config, validate_config
from workbench.fault_search import UNCHECKED, Finding, check_seed, scenario, search
from workbench.runtime.seeds import derive_rng

CI_DURATION_S = 6.0  # shorter runs keep the CI slice near a minute on 2 cores


def checked_search(seeds: range, **scenario_args: Any) -> list[Finding]:
    """`search` over all seeds; also fails when the checker left more than 1% undecided."""
    before = len(UNCHECKED)
    findings = search("paxos", seeds, **scenario_args)
    assert_mostly_checked(UNCHECKED[before:], len(seeds))
    return findings


def explain(findings: list[Finding], **scenario_args: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in scenario_args.items())
    return "\n".join(f"{f}\n  reproduce: check_seed(scenario('paxos', {f.seed}, {args}))"
                     for f in findings)


# ---------------------------------------------------------------- the correct protocol
@pytest.mark.parametrize(("nodes", "count"), [(3, 60), (5, 50), (7, 40)])
def test_fault_search_ci_slice(nodes: int, count: int) -> None:
    """150 seeds in all; fewer for 7 nodes, whose histories take longest to check."""
    seeds = range(nodes * 10_000, nodes * 10_000 + count)
    findings = checked_search(seeds, nodes=nodes, duration_s=CI_DURATION_S)
    assert not findings, explain(findings, nodes=nodes, duration_s=CI_DURATION_S)


@pytest.mark.parametrize("options", [{"single_decree": True}, {"leases": True}],
                         ids=["single_decree", "leases"])
def test_fault_search_modes(options: dict[str, Any]) -> None:
    findings = checked_search(range(500, 515), duration_s=CI_DURATION_S, options=options)
    assert not findings, explain(findings, duration_s=CI_DURATION_S, options=options)


def test_fault_search_set_workload() -> None:
    findings = checked_search(range(700, 710), duration_s=CI_DURATION_S, workload="set")
    assert not findings, explain(findings, duration_s=CI_DURATION_S, workload="set")


# ---------------------------------------------------------------- log compaction
# A threshold of a few slots makes every replica checkpoint, forget and transfer
# checkpoints constantly: catch-up, phase 1 and stray Accepts all reach below some
# peer's checkpoint. Measured when compaction was added, 950 seeds, 0 findings and
# 0 left undecided by the linearizability checker:
#   6 s, random sizes, threshold 20, seeds 0-299 (~97,000 compactions, ~23,000
#     checkpoint installs, 53 promises carrying a checkpoint; ~0.13 s a seed);
#   6 s, threshold 1, seeds 1000-1099; threshold 5 with single_decree, 2000-2099,
#     and with leases, 3000-3099;
#   12 s, random sizes, threshold 20, seeds 5000-5199;
#   6 s, threshold 10: set workload 6000-6049, pre_vote off 7000-7049;
#   6 s, 7 nodes, threshold 3, seeds 8000-8049.
# The `silent_compaction` bug below is what these runs would catch.
COMPACTION = {"snapshot_threshold": 20}


def test_fault_search_with_constant_compaction() -> None:
    findings = checked_search(range(900, 930), duration_s=CI_DURATION_S, options=COMPACTION)
    assert not findings, explain(findings, duration_s=CI_DURATION_S, options=COMPACTION)


@pytest.mark.parametrize("options", [{"snapshot_threshold": 1},
                                     {"snapshot_threshold": 5, "single_decree": True},
                                     {"snapshot_threshold": 5, "leases": True}],
                         ids=["every_slot", "single_decree", "leases"])
def test_fault_search_compaction_modes(options: dict[str, Any]) -> None:
    findings = checked_search(range(930, 940), duration_s=CI_DURATION_S, options=options)
    assert not findings, explain(findings, duration_s=CI_DURATION_S, options=options)


@pytest.mark.slow
def test_fault_search_big_compaction() -> None:
    seeds = range(200_000, 200_000 + max(1, search_seeds(1000) // 5))
    findings = checked_search(seeds, options=COMPACTION)
    assert not findings, explain(findings, options=COMPACTION)


@pytest.mark.slow
def test_fault_search_big() -> None:
    """Random cluster sizes (3/5/7), full 12 s runs."""
    findings = checked_search(range(search_seeds(1000)))
    assert not findings, explain(findings)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"single_decree": True}, {"leases": True},
                                     {"pre_vote": False}],
                         ids=["single_decree", "leases", "no_pre_vote"])
def test_fault_search_big_modes(options: dict[str, Any]) -> None:
    seeds = range(100_000, 100_000 + max(1, search_seeds(1000) // 5))
    findings = checked_search(seeds, options=options)
    assert not findings, explain(findings, options=options)


# ---------------------------------------------------------------- broken variants
# The search is only evidence if it can fail. Seeds below were found by running the
# loops from seed 0 and stopping at the first finding; the bounds leave headroom.
SKIP_PHASE1_BOUND = 10
FORGET_PROMISE_BOUND = 40
SILENT_COMPACTION_BOUND = 20  # first caught at seed 8 (threshold 1); seed 109 at threshold 20


def test_skip_phase1_is_caught_by_the_generic_search() -> None:
    """A leader that skips phase 1 overwrites chosen slots: two values chosen."""
    findings = search("paxos", range(SKIP_PHASE1_BOUND), stop_at_first=True,
                      duration_s=CI_DURATION_S, options={"bug": "skip_phase1"})
    assert findings, f"skip_phase1 not caught within {SKIP_PHASE1_BOUND} seeds"
    assert "two values chosen" in findings[0].problem


def test_skip_phase1_is_caught_by_linearizability_alone() -> None:
    """With the invariant checks off, the history itself shows the bug."""
    for seed in range(SKIP_PHASE1_BOUND):
        config = config_from(scenario("paxos", seed, duration_s=CI_DURATION_S,
                                      options={"bug": "skip_phase1"}),
                             {"sim__invariants": False})
        finding = check_seed(config)
        if finding is not None:
            assert "not linearizable" in finding.problem
            return
    pytest.fail(f"skip_phase1 histories linearizable for {SKIP_PHASE1_BOUND} seeds")


def test_silent_compaction_is_caught_by_the_generic_search() -> None:
    """Acceptors that forget compacted slots without putting their checkpoint in their
    promise: a new leader fills chosen slots with no-ops (see PaxosNode._compact)."""
    options = {"bug": "silent_compaction", "snapshot_threshold": 1}
    findings = search("paxos", range(SILENT_COMPACTION_BOUND), stop_at_first=True,
                      duration_s=CI_DURATION_S, options=options)
    assert findings, f"silent_compaction not caught within {SILENT_COMPACTION_BOUND} seeds"
    assert "two values chosen" in findings[0].problem


def forget_promise_scenario(seed: int) -> ExperimentConfig:
    """The generic scenario plus a process pause of the leader overlapped by a short crash.

    The nemesis runs one fault at a time, and forgetting a promise only matters when
    a node restarts while an older ballot is still live: here the paused leader
    resumes, still believing it leads, after the others elected a new leader and one
    of them crashed and restarted with its promise lost (a GC pause, as in Jepsen).
    """
    rng = derive_rng(seed, "paxos-forget-promise")
    base = scenario("paxos", seed, nodes=rng.choice([3, 5]), duration_s=8,
                    options={"bug": "forget_promise"})
    pause_at, pause_for = rng.uniform(1.0, 3.0), rng.uniform(0.8, 2.0)
    crash_at, crash_for = pause_at + rng.uniform(0.4, pause_for - 0.2), rng.uniform(0.05, 0.3)
    return config_from(base, {"faults__nodes": [
        {"kind": "pause", "node": "leader", "at": round(pause_at, 3), "duration": round(pause_for, 3)},
        {"kind": "crash", "node": "random", "at": round(crash_at, 3), "duration": round(crash_for, 3)},
    ]})


def test_forget_promise_is_caught_by_a_focused_scenario() -> None:
    for seed in range(FORGET_PROMISE_BOUND):
        finding = check_seed(forget_promise_scenario(seed))
        if finding is not None:
            assert "below its" in finding.problem and "promise" in finding.problem, finding
            return
    pytest.fail(f"forget_promise not caught within {FORGET_PROMISE_BOUND} seeds")


def test_the_focused_scenario_passes_with_the_promise_kept() -> None:
    """The same faults without the bug: the finding above is the bug, not the scenario."""
    for seed in range(12):
        config = forget_promise_scenario(seed)
        config = config_from(config, {"paxos__bug": None})
        assert check_seed(config) is None, f"seed {seed}"


# ---------------------------------------------------------------- leases and clock drift
def lease_scenario(seed: int, drift: float) -> ExperimentConfig:
    """Read-heavy load on one key, the leader isolated three times, every clock drifting
    by up to `drift` (leases assume at most `max_clock_drift` = 0.01)."""
    rng = derive_rng(seed, "paxos-lease")
    n = rng.choice([3, 5])
    return validate_config({
        "name": "paxos-lease", "protocol": "paxos", "seed": seed, "nodes": n, "duration_s": 8,
        "workload": {"keys": 1, "clients": 2 * n, "think_ms": 30, "timeout_ms": 500,
                     "start_s": 0.3, "mix": {"read": 0.9, "write": 0.1, "cas": 0}},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "paxos": {"leases": True, "max_clock_drift": 0.01},
        "faults": {
            "partitions": [{"shape": "isolate", "node": "leader", "at": 1.0, "duration": 1.0,
                            "repeat": 3, "every": 2.0}],
            "clocks": [{"node": i, "drift": rng.uniform(-drift, drift)} for i in range(n)],
        },
        "sim": {"invariants": True},
        "check": {"max_seconds": 20},
    })


LEASE_BREAK_BOUND = 60


def test_leases_are_linearizable_within_the_drift_bound() -> None:
    for seed in range(30):
        finding = check_seed(lease_scenario(seed, drift=0.01))
        assert finding is None, f"{finding}\n  reproduce: check_seed(lease_scenario({seed}, 0.01))"


def test_leases_break_when_clocks_drift_past_the_bound() -> None:
    """Past the bound, a slow clock stretches the old leader's lease and fast clocks cut
    short the others' refusal to elect anyone else: the old leader's reads go stale,
    and the linearizability checker sees it. Stale seeds in 0-199: 9 (the first is 42)
    since lease reads stopped waiting for the leader's undecided slots; 7 before (the
    first was 10), so the budget is 60 seeds."""
    for seed in range(LEASE_BREAK_BOUND):
        finding = check_seed(lease_scenario(seed, drift=0.6))
        if finding is not None:
            assert "not linearizable" in finding.problem
            return
    pytest.fail(f"no stale lease read within {LEASE_BREAK_BOUND} seeds at drift 0.6")


# ---------------------------------------------------------------- the CAP experiment
def test_cap_partition_minority_unavailable_majority_recovers_no_stale_reads() -> None:
    from workbench.experiment.run import run_experiment

    config = load_config(ROOT / "experiments" / "cap_partition.yaml", ["protocol=paxos"])
    summary = run_experiment(config).summary
    assert summary["availability_minority"] == 0.0
    assert summary["availability_majority"] > 0.95
    assert summary["stale_read_fraction"] == 0.0
    assert summary["linearizable"] is True
