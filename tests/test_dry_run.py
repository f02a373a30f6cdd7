"""Plan before work (issue 18 item 3): --dry-run, the run count, and the 10,000-run limit."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from cli_harness import run_cli, snapshot, write_experiment
from conftest import tiny_experiment

from workbench.errors import ConfigError
from workbench.experiment.plan import MAX_RUNS, PlannedRuns, plan_sweep

NINE = list(range(1, 10))
BILLION_GRID = {  # 9 keys x 9 values x 3 seeds = 1,162,261,467 runs (the reproducer)
    "nodes": [1, 3, 5, 7, 9, 11, 13, 15, 17], "workload.keys": NINE, "workload.think_ms": NINE,
    "workload.timeout_ms": [100 * v for v in NINE], "network.latency.ms": NINE,
    "raft.heartbeat_ms": [10 * v for v in NINE], "sim.client_latency_ms": [v / 10 for v in NINE],
    "check.max_seconds": NINE, "sim.digest_interval_ms": [10 * v for v in NINE],
}


def billion(**changes: object) -> dict:
    return {**tiny_experiment(protocol="raft", faults={}), "network": {"latency": {"dist": "constant", "ms": 1}},
            "sweep": {"grid": BILLION_GRID, "seeds": 3}, **changes}


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_billion_run_grid_is_refused_at_once_with_bounded_memory(tmp_path: Path, cli) -> None:
    experiment = tmp_path / "big.yaml"
    experiment.write_text(yaml.safe_dump(billion()))
    before = snapshot(tmp_path)
    line = cli("sweep", str(experiment)).one_error_line()
    assert "1,162,261,467 runs" in line and "--yes" in line
    assert snapshot(tmp_path) == before
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="more than 10,000"):
            plan_sweep(billion())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"planning a refused grid took {peak / 2**20:.1f} MiB"


def test_a_huge_grid_with_yes_is_lazy_and_indexes_like_it_iterates() -> None:
    plan = plan_sweep(billion(), max_runs=None)
    assert isinstance(plan.runs, PlannedRuns) and len(plan.runs) == 9**9 * 3
    last = plan.runs[-1]
    assert last.seed == 3 and last.point == {path: values[-1] for path, values in BILLION_GRID.items()}
    small = {**tiny_experiment(), "sweep": {"grid": {"protocol": ["raft", "eventual"], "workload.keys": [1, 2, 3]},
                                            "seeds": 2}}
    eager = plan_sweep(small).runs
    lazy = plan_sweep(small, max_runs=None).runs
    assert [r.run_id for r in eager] == [lazy[i].run_id for i in range(len(eager))]  # type: ignore[index]
    assert MAX_RUNS == 10_000


def test_run_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path, cli) -> None:
    experiment = write_experiment(tmp_path)
    before = snapshot(tmp_path)
    result = cli("run", str(experiment), "--dry-run", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert "# resolved config" in result.out and "protocol: eventual" in result.out
    assert "runs: 1 " in result.out and "estimated time: ~" in result.out
    assert snapshot(tmp_path) == before


def test_sweep_dry_run_counts_runs_even_above_the_limit(tmp_path: Path, cli) -> None:
    experiment = tmp_path / "big.yaml"
    experiment.write_text(yaml.safe_dump(billion(duration_s=0.5)))
    before = snapshot(tmp_path)
    result = cli("sweep", str(experiment), "--dry-run")
    assert result.code == 0, result.err
    assert "runs: 1,162,261,467 (9 check.max_seconds x" in result.out and "x 3 seeds)" in result.out
    assert "needs --yes" in result.out
    assert "estimated time: ~" in result.out
    assert snapshot(tmp_path) == before


def test_sweep_dry_run_with_cases_counts_them(tmp_path) -> None:
    """`sweep.cases` set paths outside the grid (experiments/cap_spectrum.yaml): the plan
    counts the cases instead of looking those paths up in the grid."""
    from workbench.dry_run import describe_sweep

    plan_config = {"name": "x", "sweep": {"grid": {"faults.partitions.0.duration": [5, 10]},
                                          "cases": [{"protocol": "raft"}, {"protocol": "quorum"}],
                                          "seeds": 1}}
    text = describe_sweep(plan_config, [], ["protocol", "faults.partitions.0.duration"], seeds=1,
                          workers=1, serial=True, out_dir=str(tmp_path))
    assert "runs: 0 (2 cases x 2 faults.partitions.0.duration x 1 seeds)" in text
