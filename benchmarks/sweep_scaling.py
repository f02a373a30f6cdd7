"""Sweep scaling: runs per minute with 1 worker vs all cores, and analysis time of 1M ops.

    .venv/bin/python benchmarks/sweep_scaling.py [--seeds 1] [--duration 40] [--ops 1000000]

Part 1 runs one grid (experiments/cap_sweep.yaml: protocol x partition duration, `--seeds`
replicates) twice into temporary stores: serially in-process (`workers=1`, no Ray) and
as Ray tasks on every core. Ray start-up and worker warm-up (importing pandas and the
workbench in each worker) are timed apart from the sweep, since a notebook pays them once.
Parallel efficiency = speedup / cores; below 1 come from Ray's per-task overhead, the
driver writing every result, and uneven run lengths at the tail of the grid.

Part 2 concatenates the runs' ops (replicated under new run ids) into a frame of `--ops`
rows and times the per-op analysis on it: annotate_ops, availability_summary, stale reads,
session guarantees. Linearizability is left out (its cost is per history, not per op).
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import UserInputError
from workbench.experiment.config import apply_overrides, read_yaml
from workbench.experiment.execute import run_sweep
from workbench.experiment.plan import plan_sweep
from workbench.history.frame import FRAME_COLUMNS
from workbench.results.load import Sweep, load
from workbench.runtime.ray_session import end_session, start_session

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = ROOT / "experiments" / "cap_sweep.yaml"


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def warm_up(cores: int) -> None:
    """Import the run path in every worker, so the timed sweep measures runs, not imports."""
    import ray

    @ray.remote(num_cpus=1)
    def touch() -> int:
        import workbench.experiment.run  # noqa: F401
        import workbench.runtime.sim  # noqa: F401

        time.sleep(0.5)  # hold the CPU so the next touch lands on another worker
        return os.getpid()

    ray.get([touch.remote() for _ in range(cores)])


def scaling(seeds: int, duration: float | None, cores: int, scratch: Path) -> Path:
    overrides = [f"sweep.seeds={seeds}"] + ([f"duration_s={duration}"] if duration else [])
    plan = plan_sweep(apply_overrides(read_yaml(EXPERIMENT), overrides), str(EXPERIMENT))
    runs = len(plan.runs)
    print(f"grid: {EXPERIMENT.name}, {runs} runs of {plan.runs[0].config.duration_s:g} s "
          f"simulated, {cores} cores")
    # Speedup needs idle cores: other work on the machine shows up as lost efficiency.
    print(f"load average before: {os.getloadavg()[0]:.1f} (1 min)")

    serial_s, serial = timed(lambda: run_sweep(plan, out=scratch / "serial", workers=1, progress=False))
    assert serial.failed == 0, serial.frame[["run_id", "error"]]
    print(f"  1 worker (serial, no Ray): {serial_s:7.1f} s  {60 * runs / serial_s:6.1f} runs/min")
    try:
        ray_start_s, _ = timed(lambda: start_session(None, cores))
    except UserInputError as exc:  # e.g. Ray's daemons time out on an overloaded machine
        print(f"  {cores} workers: skipped, {exc}")
        return scratch / "serial"
    warm_s, _ = timed(lambda: warm_up(cores))
    parallel_s, parallel = timed(lambda: run_sweep(plan, out=scratch / "parallel", workers=cores,
                                                   progress=False))
    assert parallel.failed == 0, parallel.frame[["run_id", "error"]]

    speedup = serial_s / parallel_s
    print(f"  {cores} workers (Ray tasks):   {parallel_s:7.1f} s  {60 * runs / parallel_s:6.1f} runs/min"
          f"   (+ Ray start {ray_start_s:.1f} s, worker warm-up {warm_s:.1f} s, paid once)")
    print(f"  speedup {speedup:.2f}x, parallel efficiency {speedup / cores:.0%} (speedup / cores)")
    return scratch / "serial"


# ---------------------------------------------------------------- part 2: analysis of 1M ops
def big_frame(sweep: Sweep, target: int) -> pd.DataFrame:
    ops = sweep.ops()
    copies = []
    total, k = 0, 0
    while total < target:
        copies.append(ops.assign(run_id=ops["run_id"] + f"-x{k}"))
        total += len(ops)
        k += 1
    return pd.concat(copies, ignore_index=True).iloc[:target]


def optional(module: str, *names: str) -> Callable[..., Any] | None:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return next((getattr(found, n) for n in names if hasattr(found, n)), None)


def analysis(store: Path, target: int) -> None:
    from workbench.analysis.metrics import availability_summary
    from workbench.analysis.phases import annotate_ops

    load_s, sweep = timed(lambda: load(store))
    assert isinstance(sweep, Sweep)
    ops_s, frame = timed(lambda: big_frame(sweep, target))
    print(f"analysis of {len(frame):,} ops ({frame['run_id'].nunique()} runs; "
          f"loading + replicating the ops took {load_s + ops_s:.1f} s):")
    config = sweep.config
    partition = config["faults"]["partitions"][0]
    intervals = pd.DataFrame([{"fault_id": 0, "shape": partition["shape"],
                               "start": partition["at"] * 1000.0,
                               "end": (partition["at"] + partition["duration"]) * 1000.0,
                               "minority": (3, 4)}])
    raw = frame.drop(columns=["node", "partitioned", "minority", "phase"], errors="ignore")
    steps: list[tuple[str, Callable[[], Any] | None, str]] = [
        ("annotate_ops", lambda: annotate_ops(raw, intervals, config["nodes"]), ""),
        ("availability_summary", lambda: availability_summary(frame), ""),
        ("availability_summary per run",
         lambda: frame.groupby("run_id", sort=False)[list(frame.columns)].apply(
             lambda g: pd.Series(availability_summary(g))), ""),
    ]
    stale = (optional("workbench.checkers.staleness", "stale_reads")
             or optional("workbench.analysis.staleness", "stale_reads"))
    steps.append(("stale_reads", (lambda: stale(frame)) if stale else None,
                  "no workbench.checkers.staleness / analysis.staleness"))
    sessions = optional("workbench.checkers.sessions", "session_guarantees", "check_sessions",
                        "session_violations", "sessions")
    steps.append(("session guarantees", (lambda: sessions(frame)) if sessions else None,
                  "no workbench.checkers.sessions yet"))
    for name, work, missing in steps:
        if work is None:
            print(f"  {name:<30} skipped: {missing}")
            continue
        seconds, _ = timed(work)
        print(f"  {name:<30} {seconds:7.2f} s  ({len(frame) / seconds / 1e6:5.2f} M ops/s)")
    assert set(FRAME_COLUMNS) <= set(frame.columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=1, help="replicates per grid point")
    parser.add_argument("--duration", type=float, default=None, help="simulated seconds per run")
    parser.add_argument("--ops", type=int, default=1_000_000, help="rows of the analysis frame")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as scratch:
        try:
            store = scaling(args.seeds, args.duration, args.workers, Path(scratch))
        finally:
            end_session()  # the raylets and the private token go too, not just the driver
        analysis(store, args.ops)


if __name__ == "__main__":
    main()
