"""`workbench sweep` as a user runs it: bad input, and kills (SIGINT, SIGKILL) then restarts.

Each test starts the real command in a subprocess, waits until some but not all runs
are in the store, kills it, checks that the store is consistent, and starts it again.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import tiny_experiment

RUNS = 10  # 5 grid points x 2 seeds
EXPERIMENT = tiny_experiment(
    name="killme", duration_s=3, workload={"clients": 5, "think_ms": 5},
    sweep={"grid": {"faults.partitions.0.duration": [0.5, 1, 1.5, 2, 2.5]}, "seeds": 2},
)


def experiment(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, **changes}))
    return path


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", "sweep", *args],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def sweep(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", "sweep", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)


def finished(out: Path) -> set[str]:
    runs = out / "runs"
    return {p.name for p in runs.iterdir() if not p.name.startswith(".")} if runs.is_dir() else set()


def wait_until_some_done(proc: subprocess.Popen[str], out: Path, at_least: int) -> None:
    """Poll the sweep's own progress for as long as it runs. No wall-clock deadline: at
    load 5-11 beside 4 burners, starting Ray for `--workers 2` outlasted a 120 s one
    (`make test-loaded`); a sweep of finitely many runs ends, and if it ends first the
    assertion shows its output."""
    while len(finished(out)) < at_least:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)


def assert_consistent(out: Path) -> set[str]:
    """Every visible file is whole: the summary reads, every listed run is complete."""
    done = finished(out)
    for rid in done:
        files = {p.name for p in (out / "runs" / rid).iterdir()}
        if files == {"error.json"}:
            json.loads((out / "runs" / rid / "error.json").read_text())
            continue
        assert files == {"config.yaml", "events.jsonl", "ops.parquet", "point.json",
                         "summary.json"}, (rid, files)
        json.loads((out / "runs" / rid / "summary.json").read_text())
        assert len(pd.read_parquet(out / "runs" / rid / "ops.parquet")) > 0
    if (out / "summary.parquet").exists():
        listed = pd.read_parquet(out / "summary.parquet")["run_id"]
        assert listed.is_unique and set(listed) <= done
    return done


def assert_complete(out: Path) -> None:
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == RUNS and summary["run_id"].is_unique
    assert (summary["status"] == "ok").all(), summary[["run_id", "error"]]
    assert set(summary["run_id"]) == finished(out)
    assert not [p for p in out.rglob(".*") if p.name != ".workbench-output"], "leftover temp files"


def test_sigkill_at_any_point_then_restart_finishes_every_run_once(tmp_path: Path) -> None:
    exp, out = experiment(tmp_path), tmp_path / "out"
    rng = random.Random(7)
    for kills in range(1, 3):
        proc = start(tmp_path, str(exp), "--out", str(out), "--workers", "1", "--no-report")
        wait_until_some_done(proc, out, at_least=2 * kills)
        time.sleep(rng.uniform(0, 0.15))  # land anywhere: mid-run, mid-write, between
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert 0 < len(assert_consistent(out)) < RUNS
    before = finished(out)
    done = sweep(tmp_path, str(exp), "--out", str(out), "--workers", "1", "--no-report")
    assert done.returncode == 0, done.stderr
    assert f"skipped {len(before)} already done" in done.stderr
    assert_complete(out)


@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.ray)])
def test_sigint_stops_cleanly_keeps_results_and_restart_finishes(tmp_path: Path, workers: str) -> None:
    """Serial: the run in progress is dropped. Ray: in-flight tasks are abandoned (and
    die with the local Ray the sweep started)."""
    # Longer runs than the SIGKILL test: the signal must land before the last run ends,
    # even when a loaded machine stalls this test process for a second.
    exp, out = experiment(tmp_path, duration_s=6), tmp_path / "out"
    proc = start(tmp_path, str(exp), "--out", str(out), "--workers", workers, "--no-report")
    wait_until_some_done(proc, out, at_least=2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: finished runs are kept" in stderr
    done = assert_consistent(out)
    assert 0 < len(done) < RUNS
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["run_id"]) == done and (summary["status"] == "ok").all()

    again = sweep(tmp_path, str(exp), "--out", str(out), "--workers", "1", "--no-report")
    assert again.returncode == 0, again.stderr
    assert_complete(out)


@pytest.mark.parametrize(
    ("changes", "args", "expected"),
    [
        ({"sweep": {"grid": {"raft.read_mod": ["lease"]}}}, [],
         "sweep.grid.raft.read_mod: no field 'raft.read_mod' in the experiment config"),
        ({"sweep": {"grid": {"faults.partitions.0.duration": [1, -5]}}}, [],
         "sweep.grid.faults.partitions.0.duration: value -5: Input should be greater than 0"),
        ({}, ["--set", "sweep.seeds=-1"], "sweep.seeds: expected a count >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_folder(
        tmp_path: Path, changes: dict, args: list[str], expected: str) -> None:
    exp, out = experiment(tmp_path, **changes), tmp_path / "out"
    proc = sweep(tmp_path, str(exp), "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), proc.stderr
    assert expected in lines[0]
    assert not out.exists() and not (tmp_path / "data").exists()


def test_a_folder_of_another_experiment_is_refused_untouched(tmp_path: Path) -> None:
    from workbench.experiment.config import read_yaml
    from workbench.experiment.execute import run_sweep
    from workbench.experiment.plan import plan_sweep

    exp, out = experiment(tmp_path, sweep={"grid": {}, "seeds": 1}), tmp_path / "out"
    run_sweep(plan_sweep(read_yaml(exp)), out=out, workers=1, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    proc = sweep(tmp_path, str(exp), "--out", str(out), "--set", "nodes=3", "--workers", "1")
    assert proc.returncode == 2
    assert "holds a sweep of a different experiment (nodes differs)" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
