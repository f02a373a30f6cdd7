"""The eventual store under the composed nemesis (every partition shape, crashes,
pauses, a one-way cut, lossy / duplicating / reordering links) with clock offsets up to
±30 s and drift, many seeds: no acknowledged add lost (Jepsen's set-full), no two
distinct writes sharing a version and no write stamped below what its replica had seen
(`checkers.lww`), and every live replica equal after the final heal.

A failing seed is printed; reproduce it with `eventual_scenario(SEED)` and `simulate`.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from conftest import search_seeds

from workbench.checkers.convergence import convergence_ms
from workbench.checkers.lww import lww_anomalies
from workbench.checkers.sets import set_report
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.fault_search import scenario
from workbench.history.frame import history_to_frame
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import simulate

DURATION_S = 8.0


def eventual_scenario(seed: int, duration_s: float = DURATION_S) -> ExperimentConfig:
    """`fault_search.scenario` for the eventual store, plus skewed, drifting clocks on
    every node; even seeds run the register workload, odd seeds the set workload (with
    at least 20 ms think time and 2.5 s of final reads)."""
    workload = "register" if seed % 2 == 0 else "set"
    raw = scenario("eventual", seed, duration_s=duration_s, workload=workload).model_dump(
        by_alias=True, exclude_none=True)
    if workload == "set":
        # A set read returns the whole set, so a closed loop without think time makes the
        # history (and its check) quadratic in the run's length: gigabytes in 8 s.
        raw["workload"]["think_ms"] = max(raw["workload"]["think_ms"], 20)
        # Set-full judges an element by the last reads that could show it, so the final
        # reads must outlast anti-entropy's stragglers, as Jepsen's come after a quiet
        # wait: with 5% loss and a random peer every 0.25-0.75 s, a replica can miss an
        # add for over 1 s (seed 10089 with 1 s of final reads: 1.1 s, a false "lost").
        raw["workload"]["final_reads_s"] = 2.5
    rng = derive_rng(seed, "clocks")
    raw["faults"]["clocks"] = [{"node": n, "offset_ms": rng.uniform(-30_000, 30_000),
                                "drift": rng.uniform(-0.1, 0.1)} for n in range(raw["nodes"])]
    raw["check"] = {"linearizability": False}
    return validate_config(raw, f"eventual_scenario(seed={seed})")


def check_seed(seed: int) -> list[str]:
    """What went wrong in one seed (empty: nothing)."""
    config = eventual_scenario(seed)
    result = simulate(config)
    problems = []
    if config.workload.kind == "set":
        report = set_report(history_to_frame(result.history))
        if report.lost_adds:
            problems.append(f"seed {seed}: {report.lost_adds} lost adds")
    else:
        anomalies = lww_anomalies(result.trace)
        if any(anomalies.values()):
            problems.append(f"seed {seed}: {anomalies}")
    if convergence_ms(result.trace, nodes=config.nodes, end_ms=config.duration_ms) is None:
        problems.append(f"seed {seed}: replicas did not converge after the final heal")
    return problems


def _chunk(seeds: list[int]) -> list[str]:
    return [p for seed in seeds for p in check_seed(seed)]


def search(seeds: list[int]) -> list[str]:
    workers = min(2, os.cpu_count() or 1)
    if workers == 1 or len(seeds) < 4:
        return _chunk(seeds)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [p for found in pool.map(_chunk, [seeds[i::workers] for i in range(workers)])
                for p in found]


def test_eventual_search_slice() -> None:
    problems = search(list(range(8)))
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_eventual_search_1000_seeds() -> None:
    """`make test-slow`: 1,000 seeds (WORKBENCH_SEARCH_SEEDS overrides)."""
    seeds = list(range(10_000, 10_000 + search_seeds(1000)))
    problems = search(seeds)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])


def test_the_scenarios_skew_clocks_and_vary_the_workload() -> None:
    configs: list[Any] = [eventual_scenario(seed) for seed in range(4)]
    assert {c.workload.kind for c in configs} == {"register", "set"}
    offsets = [abs(c.offset_ms) for config in configs for c in config.faults.clocks]
    assert max(offsets) > 10_000 and all(o <= 30_000 for o in offsets)
