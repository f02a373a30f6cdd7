"""Raft under randomized faults: the linearizability checker and the invariant checks
over many seeded scenarios (workbench.fault_search), and proof that the search can fail:
deliberately broken variants are caught within a bounded number of seeds.

A failing seed is printed in the assertion message; reproduce it with
`.venv/bin/python -m workbench.fault_search raft SEED` (generic scenarios; add
`--nodes`, `--duration`, `-o KEY=VALUE` as the test passes them, `--figure8` for
`figure8_scenario`) or by calling the focused generator below with the same arguments.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from conftest import assert_mostly_checked, search_seeds

from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.fault_search import (
    UNCHECKED,
    Finding,
    check_seed,
    figure8_scenario,
    scenario,
    search,
)
from workbench.runtime.seeds import derive_rng

# CI slice: 200 seeds split over cluster sizes, short scenarios (faults for the first
# half, then a quiet tail for healing), run on up to two processes.
SLICE = {3: 80, 5: 70, 7: 50}
DURATION_S = 6.0


def _search_chunk(args: tuple[int, list[int], float, dict[str, Any] | None]) -> tuple[list[str], list[int]]:
    nodes, seeds, duration_s, options = args
    before = len(UNCHECKED)
    findings = [str(f) for f in search("raft", seeds, nodes=nodes, duration_s=duration_s, options=options)]
    return findings, UNCHECKED[before:]


def parallel_search(nodes: int, seeds: list[int], duration_s: float = DURATION_S,
                    options: dict[str, Any] | None = None) -> tuple[list[str], list[int]]:
    """Findings and the seeds the checker could not decide, over up to two processes."""
    workers = min(2, os.cpu_count() or 1)
    if workers == 1 or len(seeds) < 4:
        return _search_chunk((nodes, seeds, duration_s, options))
    chunks = [(nodes, seeds[i::workers], duration_s, options) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_search_chunk, chunks))
    return [f for found, _ in results for f in found], [s for _, unknown in results for s in unknown]


@pytest.mark.parametrize("nodes", sorted(SLICE))
def test_fault_search_slice_finds_nothing(nodes: int) -> None:
    seeds = list(range(1000 * nodes, 1000 * nodes + SLICE[nodes]))
    findings, unchecked = parallel_search(nodes, seeds)
    assert not findings, "Raft violated safety:\n" + "\n".join(findings)
    assert_mostly_checked(unchecked, len(seeds))


@pytest.mark.slow
@pytest.mark.parametrize("nodes", [3, 5, 7])
def test_fault_search_big(nodes: int) -> None:
    """`make test-slow`: WORKBENCH_SEARCH_SEEDS seeds (5,000 there) over the three sizes."""
    total = search_seeds(600)
    count = total // 3 + (1 if nodes == 3 else 0) * (total % 3)
    seeds = list(range(100_000 + 1_000_000 * nodes, 100_000 + 1_000_000 * nodes + count))
    findings, unchecked = parallel_search(nodes, seeds, duration_s=12.0)
    assert not findings, "Raft violated safety:\n" + "\n".join(findings)
    assert_mostly_checked(unchecked, len(seeds))


# ------------------------------------------------------------------ broken variants
def focused_scenario(seed: int, nodes: int = 3, options: dict[str, Any] | None = None,
                     duration_s: float = 5.0) -> ExperimentConfig:
    """A scenario aimed at elections: the generic one from `fault_search.scenario`
    (workload, cluster) with short election timeouts, crashes of a random node or the
    leader at 10-40 per second for 2-50 ms each, a nemesis that cuts off a node or
    bridges the cluster, and slow, reordering, duplicating links. Seeded and random like
    the generic one; used where the generic scenario exposes a bug too rarely."""
    raw = scenario("raft", seed, nodes=nodes, options=options,
                   duration_s=duration_s).model_dump(by_alias=True, exclude_none=True)
    rng = derive_rng(seed, "focused")
    low = rng.choice([30, 50])
    raw["raft"].update(election_timeout_min_ms=low, election_timeout_max_ms=low * rng.choice([1.1, 1.5]),
                       heartbeat_ms=low / 3)
    stop = duration_s - 1.5
    crashes = []
    at, rate = 0.3, rng.choice([10, 20, 40])
    while True:
        at += rng.expovariate(rate)
        if at >= stop:
            break
        crashes.append({"kind": "crash", "node": rng.choice(["random", "leader"]), "at": round(at, 4),
                        "duration": round(rng.uniform(0.002, 0.05), 4)})
    raw["faults"] = {"nodes": crashes, "nemesis": {"mean_interval": 0.2, "mean_duration": 0.1,
                                                    "shapes": ["isolate", "bridge"], "stop": stop}}
    raw["network"] = {"latency": rng.choice([{"dist": "exponential", "mean_ms": 5},
                                             {"dist": "uniform", "low_ms": 1, "high_ms": 15}]),
                      "reorder": 0.2, "duplicate": 0.1, "loss": rng.choice([0, 0.05])}
    raw["workload"].update(timeout_ms=300, think_ms=rng.choice([5, 20]))
    return validate_config(raw, f"focused_scenario(seed={seed})")


def first_finding(configs: Any, limit: int) -> tuple[int, Finding | None]:
    """Check scenarios in order; stop at the first finding. Returns (seeds run, finding)."""
    for count, config in enumerate(configs, start=1):
        finding = check_seed(config)
        if finding is not None or count >= limit:
            return count, finding
    return 0, None


def findings_of(configs: Any, limit: int, wanted: int) -> tuple[int, list[Finding]]:
    """Check scenarios in order until `wanted` findings or `limit` scenarios. Returns
    (seeds run, findings)."""
    findings: list[Finding] = []
    count = 0
    for count, config in enumerate(configs, start=1):
        finding = check_seed(config)
        if finding is not None:
            findings.append(finding)
        if len(findings) >= wanted or count >= limit:
            break
    return count, findings


# Bounds on seeds-to-detection. Measured first findings: follower reads seed 7000 (the
# first tried); vote_not_persisted seed 74 (then 76, 109).
FOLLOWER_READS_BOUND = 40
VOTE_BUG_BOUND = 300

# commit_old_term on figure8_scenario (3 nodes, max_batch 1, max_inflight 1), measured:
# found in 28 of seeds 0-199, every one a leader-completeness trip — seeds 0, 18, 20,
# 27, 29, 32, 39, 72, 73, 82, 83, 85, 96, 97 (14 in the first 100), 105, 106, 113, 116,
# 126, 129, 133, 136, 139, 148, 153, 156, 188, 192; the longest dry run is 32 seeds.
# Correct Raft, same options: no finding in seeds 0-299. (focused_scenario, which this
# test used before, found the bug once in 400 seeds: seed 119. On 5 nodes
# figure8_scenario finds nothing in seeds 0-99: three nodes must lack each entry at
# the right moments.) The test wants three findings, not one lucky seed: measured by
# seed 20; the bound is 3x that, and about twice the longest dry run.
COMMIT_BUG_BOUND = 60
COMMIT_BUG_FINDINGS = 3
FIGURE8_OPTIONS: dict[str, Any] = {"max_batch": 1, "max_inflight": 1}
FIGURE8_CLEAN_SEEDS = 30


def test_search_catches_stale_follower_reads() -> None:
    configs = (scenario("raft", seed, nodes=5, duration_s=DURATION_S, options={"read_mode": "follower"})
               for seed in range(7_000, 7_000 + FOLLOWER_READS_BOUND))
    count, finding = first_finding(configs, FOLLOWER_READS_BOUND)
    assert finding is not None, f"follower reads not caught in {FOLLOWER_READS_BOUND} seeds"
    assert "not linearizable" in finding.problem, str(finding)


def test_search_catches_votes_not_persisted() -> None:
    # PreVote and CheckQuorum shrink the double-vote window a lot; off, as in the paper.
    options = {"bug": "vote_not_persisted", "pre_vote": False, "check_quorum": False}
    configs = (focused_scenario(seed, 3, options) for seed in range(VOTE_BUG_BOUND))
    count, finding = first_finding(configs, VOTE_BUG_BOUND)
    assert finding is not None, f"vote_not_persisted not caught in {VOTE_BUG_BOUND} seeds"


def test_search_catches_commit_of_old_term_entries() -> None:
    # One entry per AppendEntries and one in flight, so a new leader spends round trips
    # replicating old-term entries to a majority before its no-op gets there — Figure
    # 8's window, in which it must not count them; figure8_scenario's chains of leader
    # faults take it away inside that window and bring back the node that erases them.
    options = {"bug": "commit_old_term", **FIGURE8_OPTIONS}
    configs = (figure8_scenario(seed, nodes=3, options=options) for seed in range(COMMIT_BUG_BOUND))
    count, findings = findings_of(configs, COMMIT_BUG_BOUND, COMMIT_BUG_FINDINGS)
    assert len(findings) >= COMMIT_BUG_FINDINGS, (
        f"commit_old_term caught in {len(findings)} of {count} figure8 seeds "
        f"(want {COMMIT_BUG_FINDINGS}): " + "; ".join(map(str, findings)))


def test_figure8_scenarios_pass_without_the_bug() -> None:
    """The seeds the commit_old_term test runs, and a few more, pass with §5.4.2 in place."""
    for seed in range(FIGURE8_CLEAN_SEEDS):
        finding = check_seed(figure8_scenario(seed, nodes=3, options=FIGURE8_OPTIONS))
        assert finding is None, (
            f"{finding}\nreproduce: .venv/bin/python -m workbench.fault_search raft {seed} "
            "--figure8 -o max_batch=1 -o max_inflight=1")


def test_focused_scenarios_pass_without_the_bugs() -> None:
    for seed in range(20):
        for options in ({"pre_vote": False, "check_quorum": False},
                        {"max_batch": 1, "max_inflight": 1}):
            finding = check_seed(focused_scenario(seed, 3, options))
            assert finding is None, str(finding)
