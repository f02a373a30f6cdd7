"""Sweep scaling: runs per minute with 1 worker vs all cores, and analysis time of 1M ops.

    .venv/bin/python benchmarks/sweep_scaling.py [--seeds 1] [--duration 40] [--ops 1000000]
    .venv/bin/python benchmarks/sweep_scaling.py --cluster 3 [--ops 0]

Part 1 runs one grid (experiments/cap_sweep.yaml: protocol x partition duration, `--seeds`
replicates) twice into temporary stores, back to back: serially in-process (`workers=1`,
no Ray) and as Ray tasks on every core. Ray start-up and worker warm-up (importing pandas
and the workbench in each worker) are timed apart from the sweep, since a notebook pays
them once. Parallel efficiency = speedup / cores; below 1 come from Ray's per-task
overhead, the driver writing every result, and uneven run lengths at the tail of the grid.

`--cluster N` runs the Ray half on a multi-node cluster instead: N raylets of 1 CPU each
on this machine (`ray_session.local_cluster`, loopback and a private token, as the
multi-raylet tests), joined as a user's `--address` would (the workers get the driver's
`workbench` by `py_modules`). It prints how many distinct raylets (`ray_node_id`) the
runs landed on. On one machine the raylets share its cores: the speedup is capped by
the cores, not by N (see docs/cluster.md for a measurement).

Part 2 concatenates the runs' ops (replicated under new run ids) into a frame of `--ops`
rows and times the per-op analysis on it: annotate_ops, availability_summary, stale reads,
session guarantees. Linearizability is left out (its cost is per history, not per op).
"""

from __future__ import annotations

import argparse
import contextlib
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
from workbench.runtime.ray_session import end_session, local_cluster, start_session

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


def scaling(seeds: int, duration: float | None, cores: int, scratch: Path,
            cluster: int | None = None) -> Path:
    overrides = [f"sweep.seeds={seeds}"] + ([f"duration_s={duration}"] if duration else [])
    plan = plan_sweep(apply_overrides(read_yaml(EXPERIMENT), overrides), str(EXPERIMENT))
    runs = len(plan.runs)
    slots = cluster or cores
    print(f"grid: {EXPERIMENT.name}, {runs} runs of {plan.runs[0].config.duration_s:g} s "
          f"simulated, {os.cpu_count()} cores on this machine")
    # Speedup needs idle cores: other work on the machine shows up as lost efficiency.
    print(f"load average before: {load_text()}")

    serial_cpu = time.process_time()
    serial_s, serial = timed(lambda: run_sweep(plan, out=scratch / "serial", workers=1, progress=False))
    serial_cpu = time.process_time() - serial_cpu
    assert serial.failed == 0, serial.frame[["run_id", "error"]]
    print(f"  1 worker (serial, no Ray): {serial_s:7.1f} s  {60 * runs / serial_s:6.1f} runs/min"
          f"   (CPU {serial_cpu:.1f} s: {serial_cpu / serial_s:.0%} of one core; load {load_text()})")
    where = (f"{cluster} raylets x 1 CPU" if cluster else f"{cores} workers") + " (Ray tasks)"
    with contextlib.ExitStack() as stack:  # a --cluster's raylets end with it, by pid
        try:
            ray_start_s, _ = timed(lambda: stack.enter_context(local_cluster(cluster, 1)) if cluster
                                   else start_session(None, cores))
        except UserInputError as exc:  # e.g. Ray's daemons time out on an overloaded machine
            print(f"  {where}: skipped, {exc}")
            return scratch / "serial"
        warm_s, _ = timed(lambda: warm_up(slots))
        cpu_before = cpu_by_process()
        # workers=None: one task per CPU of the cluster (the joined cluster's, with --cluster).
        parallel_s, parallel = timed(lambda: run_sweep(plan, out=scratch / "parallel",
                                                       workers=None if cluster else cores,
                                                       progress=False))
        parallel_cpu = cpu_since(cpu_before)
    assert parallel.failed == 0, parallel.frame[["run_id", "error"]]

    speedup = serial_s / parallel_s
    print(f"  {where}: {parallel_s:7.1f} s  {60 * runs / parallel_s:6.1f} runs/min"
          f"   (+ Ray start {ray_start_s:.1f} s, worker warm-up {warm_s:.1f} s, paid once;"
          f" load {load_text()})")
    # CPU seconds are what a loaded machine does not distort: a run's cost on Ray against
    # in-process. On a busy machine each process gets a share of the cores, so three
    # worker processes get more of them than one: the wall-clock speedup can then pass
    # what the machine's idle cores would allow.
    print(f"  CPU: serial {serial_cpu:.1f} s, Ray {parallel_cpu:.1f} s (raylets, workers and this "
          f"driver; {parallel_cpu / serial_cpu:.2f}x the serial CPU), "
          f"{parallel_cpu / parallel_s:.2f} cores busy on average")
    nodes = parallel.frame["ray_node_id"].dropna()
    print(f"  runs per raylet (ray_node_id): {sorted(nodes.value_counts().tolist(), reverse=True)}"
          f", {nodes.nunique()} distinct")
    print(f"  speedup {speedup:.2f}x, parallel efficiency {speedup / slots:.0%} (speedup / {slots} "
          f"slots; {os.cpu_count()} cores cap the speedup at {min(slots, os.cpu_count() or 1)})")
    return scratch / "serial"


def cpu_by_process() -> dict[int, float]:
    """CPU seconds (user + system) of this process and each descendant (the local raylets
    and their workers are our children)."""
    import psutil

    found: dict[int, float] = {}
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system
    return found


def cpu_since(before: dict[int, float]) -> float:
    """CPU seconds this process tree spent since `before` (a process that ended in
    between is not counted: the workers warmed up before the sweep outlive it)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in cpu_by_process().items())


def load_text() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


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
    # The partition as the trace records it (annotate_ops reads a trace, not intervals).
    trace = [{"kind": "partition_start", "fault_id": 0, "shape": partition["shape"],
              "time": partition["at"] * 1000.0, "minority": [3, 4]},
             {"kind": "partition_end", "fault_id": 0,
              "time": (partition["at"] + partition["duration"]) * 1000.0}]
    end_ms = float(config["duration_s"]) * 1000.0
    raw = frame.drop(columns=["node", "partitioned", "minority", "phase"], errors="ignore")
    steps: list[tuple[str, Callable[[], Any] | None, str]] = [
        ("annotate_ops", lambda: annotate_ops(raw, trace, nodes=config["nodes"], end_ms=end_ms), ""),
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
    parser.add_argument("--cluster", type=int, default=None, metavar="N",
                        help="the Ray half on N raylets of 1 CPU each (a multi-node cluster "
                             "on this machine) instead of one local raylet")
    args = parser.parse_args()
    if args.cluster is not None and args.cluster < 1:
        parser.error(f"--cluster {args.cluster}: expected 1 or more raylets")
    with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as scratch:
        try:
            store = scaling(args.seeds, args.duration, args.workers, Path(scratch), args.cluster)
        finally:
            end_session()  # the raylets and the private token go too, not just the driver
        if args.ops > 0:
            analysis(store, args.ops)


if __name__ == "__main__":
    main()
