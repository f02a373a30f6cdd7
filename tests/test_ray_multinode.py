"""A real multi-node Ray cluster: 3 raylets of 1 CPU each on this machine (issue 17).

The driver joins the cluster as a user would with `--address` (with the cluster's
token); sweeps fan out over the raylets, `placement: spread` puts node actors on
different raylets, and losing a worker raylet midway neither loses nor duplicates a
run, nor hangs or leaks actors. One cluster serves the module; the tests run in file
order and the two raylet-kill tests come last (each kills one worker raylet).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import tiny_experiment
from ray_support import MultiRaylet, multi_raylet

from workbench.experiment.config import config_from
from workbench.experiment.execute import run_sweep
from workbench.experiment.plan import plan_sweep
from workbench.results.layout import ERROR_FILE, SUMMARY_FILE

# Over 2 minutes on a 2-core machine (three raylets, workers importing the shipped
# package): `make test-slow`. `make test` keeps the single-raylet slice
# (tests/test_ray_security.py, tests/test_ray_runtime.py).
pytestmark = [pytest.mark.ray, pytest.mark.slow]

RAYLETS = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[MultiRaylet]:
    with multi_raylet(RAYLETS) as running:
        yield running


def node_ids() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def sweep_plan(name: str, runs: int, duration_s: float) -> Any:
    raw = tiny_experiment(name=name, duration_s=duration_s)
    raw["sweep"] = {"seeds": runs}
    return plan_sweep(raw, name)


def assert_every_run_once(plan: Any, out: Path) -> pd.DataFrame:
    summary = pd.read_parquet(out / "summary.parquet")
    assert sorted(summary["run_id"]) == sorted(r.run_id for r in plan.runs)  # each exactly once
    for run in plan.runs:
        folder = out / "runs" / run.run_id
        has = {p.name for p in folder.iterdir()}
        # Whole or error, never half-written: a summary comes with its ops and config.
        assert (SUMMARY_FILE in has and {"ops.parquet", "config.yaml"} <= has) or ERROR_FILE in has, has
    return summary


def test_cluster_has_three_live_raylets(cluster: MultiRaylet) -> None:
    assert len(node_ids()) == RAYLETS


def test_sweep_tasks_land_on_more_than_one_raylet(cluster: MultiRaylet, tmp_path: Path) -> None:
    plan = sweep_plan("spread-sweep", runs=6, duration_s=4)
    result = run_sweep(plan, out=tmp_path / "sweep", progress=False)
    summary = assert_every_run_once(plan, result.path)
    assert (summary["status"] == "ok").all(), summary["error"].tolist()
    used = set(summary["ray_node_id"])
    assert len(used) > 1 and used <= node_ids(), used


def test_spread_placement_puts_node_actors_on_different_raylets(cluster: MultiRaylet) -> None:
    import ray

    from workbench.runtime.ray_cluster import Cluster

    config = config_from({"protocol": "raft", "runtime": "ray", "nodes": RAYLETS, "duration_s": 2,
                          "workload": {"clients": RAYLETS}, "ray": {"placement": "spread"}})
    actors = Cluster(config)
    try:
        actors.launch()
        table = ray.util.placement_group_table(actors.placement)
        where = [table["bundles_to_node_id"][i] for i in range(config.nodes)]
    finally:
        actors.stop()
    assert len(set(where)) == RAYLETS, where


def _kill_when(predicate: Any, cluster: MultiRaylet, node: Any, box: dict[str, Any]) -> threading.Thread:
    """Kill worker raylet `node` (its processes, by pid) once `predicate()` holds."""

    def watch() -> None:
        deadline = time.monotonic() + 1500
        while not predicate():
            if time.monotonic() > deadline:
                return  # never reached: the test reports "never killed"
            time.sleep(0.2)
        box["node_id"] = node.node_id
        cluster.kill(node)
        box["killed"] = True

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_killing_a_worker_raylet_mid_sweep_keeps_every_run_once(cluster: MultiRaylet,
                                                                 tmp_path: Path) -> None:
    plan = sweep_plan("kill-sweep", runs=6, duration_s=20)
    out = tmp_path / "sweep"
    victim = cluster.workers[0]
    box: dict[str, Any] = {}
    # Kill once the first run is stored: the others are in flight or queued.
    killer = _kill_when(lambda: any((out / "runs").glob("*/" + SUMMARY_FILE)), cluster, victim, box)
    result = run_sweep(plan, out=out, progress=False)
    killer.join(timeout=300)
    assert box.get("killed"), "the raylet was never killed"
    summary = assert_every_run_once(plan, result.path)
    # Runs the dead raylet held were re-run elsewhere (max_retries) or recorded as errors.
    failed = summary[summary["status"] != "ok"]
    assert failed["error"].str.len().gt(0).all()
    assert (summary["status"] == "ok").sum() >= len(plan.runs) - 1
    # Nothing that finished claims to have finished on the raylet killed before it.
    print(summary[["run_id", "status", "ray_node_id"]].to_string())


@pytest.mark.timeout(1800)  # a hang fails here (pytest-timeout), not a wall-clock assert
def test_killing_a_raylet_mid_ray_experiment_is_one_clear_error(cluster: MultiRaylet) -> None:
    import ray

    from workbench.runtime import ray_actors, ray_cluster
    from workbench.runtime.ray_cluster import RayNodeLost

    victim = cluster.workers[-1]
    launched: list[Any] = []
    started = threading.Event()
    real_launch, real_stop = ray_cluster.Cluster.launch, ray_cluster.Cluster.stop

    def spy_launch(self: ray_cluster.Cluster) -> None:
        real_launch(self)
        started.set()

    def spy_stop(self: ray_cluster.Cluster) -> None:
        launched.extend(self.actors)
        real_stop(self)

    config = config_from({"protocol": "raft", "runtime": "ray", "nodes": 3, "duration_s": 30,
                          "workload": {"clients": 3}, "ray": {"placement": "spread"}})
    box: dict[str, Any] = {}
    patch = pytest.MonkeyPatch()
    patch.setattr(ray_cluster.Cluster, "launch", spy_launch)
    patch.setattr(ray_cluster.Cluster, "stop", spy_stop)
    try:
        # Kill 2 s after the actors are up: mid-run (the run lasts 30 s).
        killer = _kill_when(lambda: started.is_set() and time.sleep(2) is None, cluster, victim, box)
        with pytest.raises(RayNodeLost, match="lost") as lost:
            ray_actors.run_on_ray(config)
        killer.join(timeout=60)
    finally:
        patch.undo()
    assert "\n" not in str(lost.value)  # one line for the CLI
    assert box.get("killed") and launched
    for actor in launched:  # no leaked actors: every one of them is dead
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(actor.ready.remote(), timeout=60)
