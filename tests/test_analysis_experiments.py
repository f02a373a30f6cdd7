"""The experiment files this part ships: valid sweeps of the intended grids."""

from __future__ import annotations

from pathlib import Path

from workbench.experiment.config import read_yaml
from workbench.experiment.plan import plan_sweep

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def test_raft_read_modes_sweeps_the_four_modes_with_drift_and_an_isolated_leader() -> None:
    path = EXPERIMENTS / "raft_read_modes.yaml"
    plan = plan_sweep(read_yaml(path), str(path))
    assert plan.grid_paths == ["raft.read_mode"]
    modes = [r.config.raft.read_mode for r in plan.runs]
    assert sorted(set(modes)) == ["follower", "lease", "log", "read_index"]
    assert len(plan.runs) == 4 * 3  # three seeds each
    config = plan.runs[0].config
    assert config.protocol == "raft"
    assert [(p.shape, p.node) for p in config.faults.partitions] == [("isolate", "leader")]
    drifts = [abs(c.drift) for c in config.faults.clocks]
    assert drifts and max(drifts) > config.raft.max_clock_drift  # beyond what leases assume


def test_latency_pacelc_is_protocol_by_link_latency_without_faults() -> None:
    path = EXPERIMENTS / "latency_pacelc.yaml"
    plan = plan_sweep(read_yaml(path), str(path))
    assert plan.grid_paths == ["protocol", "network.latency.ms"]
    assert {(r.config.protocol, r.config.network.latency.ms) for r in plan.runs} == {
        (p, ms) for p in ("eventual", "raft", "paxos") for ms in (1, 5, 20)}
    config = plan.runs[0].config
    assert not config.faults.partitions and not config.faults.nodes and config.faults.nemesis is None
