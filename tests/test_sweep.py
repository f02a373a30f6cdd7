"""Sweeps in-process: grid expansion and validation, the result store, errors, resuming, Ray."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import tiny_experiment

from workbench.errors import ConfigError, UserInputError
from workbench.experiment.config import validate_config
from workbench.experiment.execute import run_sweep
from workbench.experiment.plan import plan_sweep, run_id
from workbench.results.store import SweepStore, atomic_write_bytes, summary_frame

BASE: dict[str, Any] = tiny_experiment()
GRID = {"faults.partitions.0.duration": [0.5, 1.0], "workload.keys": [1, 3]}


def tiny(grid: dict[str, list[Any]] | None = None, seeds: Any = 2, **extra: Any) -> dict[str, Any]:
    return {**BASE, **extra, "sweep": {"grid": GRID if grid is None else grid, "seeds": seeds}}


# ---------------------------------------------------------------- expansion
def test_grid_times_seeds_with_list_index_paths() -> None:
    plan = plan_sweep(tiny())
    assert len(plan.runs) == 2 * 2 * 2
    assert plan.grid_paths == list(GRID)
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    first = plan.runs[0]
    assert first.config.faults.partitions[0].duration == 0.5
    assert first.config.workload.keys == 1
    assert first.config.sweep is None
    assert [r.seed for r in plan.runs[:2]] == [1, 2]  # seeds count from the base seed
    assert first.run_id.endswith("-s1") and first.run_id.startswith("0.5_1-")


def test_run_ids_are_stable_and_name_the_seed() -> None:
    point = {"protocol": "raft", "faults.partitions.0.duration": 10}
    rid = run_id(point, 3)
    assert re.fullmatch(r"raft_10-[0-9a-f]{8}-s3", rid)
    # The hash part ignores dict order; another value or seed is another id.
    assert run_id(dict(reversed(point.items())), 3).split("-")[1] == rid.split("-")[1]
    assert run_id({**point, "protocol": "paxos"}, 3) != rid != run_id(point, 4)


def test_explicit_seed_list_and_seed_only_sweep() -> None:
    plan = plan_sweep(tiny(grid={}, seeds=[7, 11]))
    assert [(r.seed, r.config.seed) for r in plan.runs] == [(7, 7), (11, 11)]
    assert plan.runs[0].point == {}


def test_grid_on_a_section_missing_from_the_file_keeps_its_defaults() -> None:
    plan = plan_sweep(tiny(grid={"sim.client_latency_ms": [0.1, 0.5]}, seeds=1))
    assert [r.config.sim.client_latency_ms for r in plan.runs] == [0.1, 0.5]
    assert plan.runs[0].config.sim.digest_interval_ms == validate_config(BASE).sim.digest_interval_ms


@pytest.mark.parametrize(
    ("grid", "seeds", "expected"),
    [
        ({"raft.read_mod": ["lease"]}, 1, "sweep.grid.raft.read_mod: no field 'raft.read_mod'"),
        ({"faults.partitions.3.at": [1]}, 1, "sweep.grid.faults.partitions.3.at: no item"),
        ({"duration_s": [1, -1]}, 1, "sweep.grid.duration_s: value -1: Input should be greater than 0"),
        ({"protocol": ["eventual", "pbft"]}, 1, "sweep.grid.protocol: value 'pbft'"),
        ({"protocol": "eventual"}, 1, "sweep.grid.protocol: expected a list of values"),
        ({"protocol": []}, 1, "sweep.grid.protocol: expected at least one value"),
        ({"nodes": [5, 5]}, 1, "sweep.grid.nodes: value 5 is listed twice"),
        ({"seed": [1, 2]}, 1, "sweep.grid.seed: use sweep.seeds"),
        ({}, 0, "sweep.seeds: expected a count >= 1"),
        ({}, [3, 3], "sweep.seeds: expected a count >= 1 or a list of distinct seeds"),
        ({"nodes": [5, 0]}, 1, "sweep.grid.nodes: value 0: Input should be greater than or equal to 1"),
    ],
)
def test_bad_grid_names_the_sweep_path(grid: dict, seeds: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        plan_sweep(tiny(grid=grid, seeds=seeds), "exp.yaml")
    message = str(info.value)
    assert message.startswith("exp.yaml: ") and expected in message, message
    assert "\n" not in message


def test_missing_or_misspelled_sweep_section() -> None:
    with pytest.raises(ConfigError, match="sweep: missing"):
        plan_sweep(dict(BASE))
    with pytest.raises(ConfigError, match=r"sweep\.gird: unknown field"):
        plan_sweep({**BASE, "sweep": {"gird": {}}})


# ---------------------------------------------------------------- the store
def read_summary(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "summary.parquet")


def test_sweep_writes_the_store_and_resumes(tmp_path: Path) -> None:
    plan = plan_sweep(tiny())
    out = tmp_path / "tiny"
    result = run_sweep(plan, out=out, workers=1, progress=False)
    assert (result.ran, result.failed, result.skipped) == (8, 0, 0)

    frame = read_summary(out)
    assert list(frame.columns[:5]) == ["run_id", *GRID, "status", "error"]
    assert frame["run_id"].tolist() == [r.run_id for r in plan.runs]
    assert (frame["status"] == "ok").all() and frame["error"].isna().all()
    assert {"availability", "ops", "protocol", "seed"} <= set(frame.columns)
    assert sorted(frame["seed"].unique()) == [1, 2]
    for rid in frame["run_id"]:
        assert {p.name for p in (out / "runs" / rid).iterdir()} == {
            "config.yaml", "events.jsonl", "ops.parquet", "point.json", "summary.json"}
    stored = yaml.safe_load((out / "config.yaml").read_text())
    assert stored["sweep"] == {"grid": GRID, "seeds": 2}
    assert validate_config(stored).duration_s == 2  # the stored config is an experiment file

    again = run_sweep(plan, out=out, workers=1, progress=False)
    assert (again.ran, again.skipped) == (0, 8)
    pd.testing.assert_frame_equal(read_summary(out), frame)


def test_more_seeds_extend_a_sweep_but_a_changed_base_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    run_sweep(plan_sweep(tiny(seeds=1)), out=out, workers=1, progress=False)
    more = run_sweep(plan_sweep(tiny(seeds=2)), out=out, workers=1, progress=False)
    assert (more.ran, more.skipped) == (4, 4)
    assert len(read_summary(out)) == 8
    with pytest.raises(ConfigError, match="different experiment .duration_s differs"):
        run_sweep(plan_sweep(tiny(duration_s=3)), out=out, workers=1, progress=False)
    with pytest.raises(ConfigError, match="other grid paths"):
        run_sweep(plan_sweep(tiny(grid={"workload.keys": [1]})), out=out, workers=1, progress=False)


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.experiment.run

    real = workbench.experiment.run.run_experiment

    def flaky(config: Any) -> Any:
        if config.workload.keys == 3 and config.seed == 2:
            raise RuntimeError("injected failure\nsecond line")
        return real(config)

    monkeypatch.setattr(workbench.experiment.run, "run_experiment", flaky)
    plan = plan_sweep(tiny())
    out = tmp_path / "tiny"
    result = run_sweep(plan, out=out, workers=1, progress=False)
    assert (result.ran, result.failed) == (8, 2)
    frame = read_summary(out).set_index("run_id")
    bad = frame[frame["status"] == "error"]
    assert len(bad) == 2 and (bad["workload.keys"] == 3).all() and (bad["seed"] == 2).all()
    assert (bad["error"] == "RuntimeError: injected failure").all()
    assert bad["availability"].isna().all()
    assert (frame.loc[frame["status"] == "ok", "availability"] > 0).all()
    info = json.loads((out / "runs" / bad.index[0] / "error.json").read_text())
    assert "Traceback" in info["traceback"] and info["params"]["seed"] == 2

    # Started again (the bug fixed), failed runs are retried and every run appears once.
    monkeypatch.setattr(workbench.experiment.run, "run_experiment", real)
    again = run_sweep(plan, out=out, workers=1, progress=False)
    assert (again.ran, again.skipped, again.failed) == (2, 6, 0)
    final = read_summary(out)
    assert final["run_id"].is_unique and len(final) == 8 and (final["status"] == "ok").all()
    assert not list((out / "runs").glob("*/error.json"))


def test_a_killed_writer_leaves_nothing_a_restart_cannot_repair(tmp_path: Path) -> None:
    plan = plan_sweep(tiny())
    out = tmp_path / "tiny"
    run_sweep(plan, out=out, workers=1, progress=False)
    # What a SIGKILL can leave: a half-staged run folder, a temp file, a stale summary.
    victim = plan.runs[-1].run_id
    (out / "runs" / victim).rename(out / "runs" / f".{victim}.stage-abc")
    (out / ".summary.parquet.tmp-xyz").write_bytes(b"half a parquet")
    atomic_write_bytes(out / "summary.parquet", (out / "summary.parquet").read_bytes())
    from workbench.api import load

    assert len(load(out).summary) == 8  # summary.parquet still lists the victim ...
    (out / "summary.parquet").unlink()
    assert len(load(out).summary) == 7  # ... rebuilt from the run folders it is 7
    result = run_sweep(plan, out=out, workers=1, progress=False)
    assert (result.ran, result.skipped) == (1, 7)
    assert read_summary(out)["run_id"].tolist() == [r.run_id for r in plan.runs]
    assert not [p for p in out.rglob(".*") if p.name != ".workbench-output"]


def test_summary_frame_keeps_mixed_grid_values_parquet_safe(tmp_path: Path) -> None:
    rows = [{"run_id": "a", "g": 5, "status": "ok", "error": None, "x": 1.0},
            {"run_id": "b", "g": "five", "status": "ok", "error": None, "x": None},
            {"run_id": "c", "g": [1, 2], "status": "error", "error": "boom"}]
    frame = summary_frame(rows, ["g"])
    assert frame["g"].tolist() == ["5", '"five"', "[1, 2]"]
    frame.to_parquet(tmp_path / "s.parquet")
    assert summary_frame([], ["g"]).columns.tolist() == ["run_id", "g", "status", "error"]


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a sweep folder"):
        run_sweep(plan_sweep(tiny()), out=tmp_path, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert not SweepStore(tmp_path).is_sweep()


# ---------------------------------------------------------------- Ray
@pytest.mark.ray
def test_sweep_on_ray_tasks(ray_session: None, tmp_path: Path) -> None:
    import ray

    from workbench.api import load, sweep

    frame = sweep(tiny(), out=tmp_path / "tiny", workers=2, progress=False)
    assert ray.is_initialized()  # the session's Ray: neither re-initialized nor shut down
    assert len(frame) == 8 and (frame["status"] == "ok").all()
    serial = run_sweep(plan_sweep(tiny()), out=tmp_path / "serial", workers=1, progress=False).frame
    # Same seeds, same simulator: Ray workers produce exactly the serial results.
    timings = [c for c in frame.columns if c == "wall_s" or c.endswith("check_ms")]
    assert frame["ray_node_id"].notna().all()  # where each task ran (issue 17)
    pd.testing.assert_frame_equal(frame.drop(columns=[*timings, "ray_node_id"]),
                                  serial.drop(columns=timings))
    assert len(load(tmp_path / "tiny").ops()) == frame["ops"].sum()


def test_history_flag_keeps_each_runs_event_log(tmp_path: Path) -> None:
    from workbench.api import load

    plan = plan_sweep(tiny(grid={}, seeds=1))
    run_sweep(plan, out=tmp_path / "h", workers=1, keep_history=True, progress=False)
    run = load(tmp_path / "h").run(plan.runs[0].run_id)
    invokes = [e for e in run.history if e["type"] == "invoke"]
    assert len(invokes) == run.summary["ops"]
    assert any(r["kind"] == "partition_start" for r in run.trace)


def test_without_history_each_run_keeps_its_fault_and_leader_events(tmp_path: Path) -> None:
    from workbench.analysis.phases import partition_intervals
    from workbench.analysis.report import run_context
    from workbench.api import load
    from workbench.results.load import load_run

    plan = plan_sweep(tiny(grid={"protocol": ["raft"]}, seeds=1))
    run_sweep(plan, out=tmp_path / "e", workers=1, progress=False)
    run_id = plan.runs[0].run_id
    run = load(tmp_path / "e").run(run_id)
    kinds = {r["kind"] for r in run.events}
    assert {"partition_start", "partition_end", "leader"} <= kinds
    assert not kinds & {"apply", "digest"}
    with pytest.raises(UserInputError, match="--history"):
        run.trace  # noqa: B018 - the full trace is still only kept with --history
    # The run's own report shades the partition and shows leadership from the events,
    # but draws no convergence from digests it does not have.
    folder = load_run(tmp_path / "e" / "runs" / run_id)
    assert not folder.trace_complete
    assert len(partition_intervals(folder.trace_records, folder.duration_ms)) == 1
    context = run_context(folder)
    titles = [title for title, _ in context["sections"]]
    assert "Leadership" in titles and "Convergence after each heal" not in titles
    assert not [i for i in context["images"] if "Replication lag" in str(i)]  # needs applies
