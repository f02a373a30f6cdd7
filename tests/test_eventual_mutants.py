"""The eventual store's deliberate bugs (`eventual.bug`, issue 20 §6), each caught in a
short simulator run by the last-writer-wins checks of `checkers.lww`, and the same
scenarios clean without the bug (so the finding is the bug, not the scenario).

Reproduce a catching seed with the scenario below, e.g.
`lww_anomalies(simulate(scenario("hlc_counter_capped", 1)).trace)`.
"""

from __future__ import annotations

from typing import Any

import pytest

from workbench.checkers.lww import lww_anomalies
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.runtime.sim import simulate

# Each bug's scenario (three nodes, one key so writes collide), the catching seed and
# the anomaly that catches it.
SCENARIOS: dict[str, dict[str, Any]] = {
    # Issue 20 §1: node 2's clock 10 s ahead, a short partition. Writes made right
    # after a tie on l get a counter below the version just received.
    "hlc_ignore_remote_counter": {
        "faults": {"partitions": [{"shape": "halves", "at": 1, "duration": 0.2}],
                   "clocks": [{"node": 2, "offset_ms": 10_000}]}},
    # Issue 20 §2: node 2 (10 s ahead) is cut off after its writes reached the others,
    # whose clocks then stay behind l for seconds: > 999 writes in one tick.
    "hlc_counter_capped": {
        "faults": {"partitions": [{"shape": "isolate", "node": 2, "at": 1, "duration": 3}],
                   "clocks": [{"node": 2, "offset_ms": 10_000}]}},
    # Node 1 crashes as it is cut off: versions it merged after its last acknowledged
    # write are above its restored clock; its first write after restart must compare.
    "write_without_version_compare": {
        "faults": {"partitions": [{"shape": "isolate", "node": 1, "at": 2.5, "duration": 1.5}],
                   "clocks": [{"node": 2, "offset_ms": 10_000}],
                   "nodes": [{"kind": "crash", "node": 1, "at": 2.5, "duration": 0.3}]}},
    # Any anti-entropy exchange with a replica that is behind reverts the newer one.
    "anti_entropy_accepts_older": {
        "faults": {"partitions": [{"shape": "halves", "at": 1, "duration": 0.2}]}},
}
CAUGHT_BY = {
    "hlc_ignore_remote_counter": ("stamped_below_seen", 1),
    "hlc_counter_capped": ("shared_versions", 1),
    "write_without_version_compare": ("stamped_below_seen", 1),
    "anti_entropy_accepts_older": ("version_regressions", 1),
}


def scenario(bug: str, seed: int, with_bug: bool = True) -> ExperimentConfig:
    raw: dict[str, Any] = {
        "name": f"eventual-{bug}", "protocol": "eventual", "seed": seed, "nodes": 3,
        "duration_s": 5,
        "workload": {"keys": 1, "clients": 6, "think_ms": 2,
                     "mix": {"read": 0.5, "write": 0.5, "cas": 0}},
        "check": {"linearizability": False},
        **SCENARIOS[bug],
    }
    if with_bug:
        raw["eventual"] = {"bug": bug}
    return validate_config(raw)


@pytest.mark.parametrize("bug", sorted(SCENARIOS))
def test_each_bug_is_caught_by_its_seed_and_the_scenario_is_clean_without_it(bug: str) -> None:
    check, seed = CAUGHT_BY[bug]
    buggy = lww_anomalies(simulate(scenario(bug, seed)).trace)
    assert buggy[check] > 0, f"{bug} not caught by {check} at seed {seed}: {buggy}"
    clean = lww_anomalies(simulate(scenario(bug, seed, with_bug=False)).trace)
    assert clean == {"shared_versions": 0, "stamped_below_seen": 0, "version_regressions": 0}, (
        f"seed {seed}, scenario of {bug} without the bug: {clean}")
