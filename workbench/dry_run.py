"""`--dry-run`: the resolved config, the number of runs and an estimated time; nothing is written.

The estimate is measured, not guessed: a few sample runs of the plan are simulated for
a short stretch (`SAMPLE_S` of virtual time, with a short checker budget) and their wall
time is scaled linearly to the full duration. Linear is right for the simulator, whose
cost is one event per message and per op, and both grow with time at a steady workload.
A Ray run takes its duration in real time (divided by `ray.time_scale`) plus start-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import yaml

from workbench.experiment.config import ExperimentConfig

SAMPLE_S = 2.0
"""Virtual seconds simulated per sample run."""
SAMPLES = 3
"""Sample runs of a sweep: the first, middle and last of the plan."""
RAY_START_S = 10.0
"""Ray actor start-up and shutdown per run, measured on a 2-core machine (about 5-15 s)."""


def resolved_yaml(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False).rstrip()


def estimate_run_seconds(config: ExperimentConfig) -> float:
    """Wall seconds one run of `config` should take on this machine."""
    if config.runtime == "ray":
        return config.duration_s / config.ray.time_scale + RAY_START_S
    from workbench.experiment.run import run_experiment

    sample_s = min(SAMPLE_S, config.duration_s)
    sample = config.model_copy(update={
        "duration_s": sample_s,
        "check": config.check.model_copy(update={"max_seconds": min(config.check.max_seconds, 2.0)}),
    })
    started = time.perf_counter()
    try:
        run_experiment(sample)
    except Exception:  # noqa: BLE001 - a fault scheduled after the sample's end, say
        # The sample cut a config that needs its full length; time the whole run instead
        # would defeat a dry run, so fall back to the sample-free lower bound.
        return 0.0
    return (time.perf_counter() - started) * config.duration_s / sample_s


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"


def describe_run(config: ExperimentConfig, out_dir: str) -> str:
    seconds = estimate_run_seconds(config)
    dump = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return "\n".join([
        "# resolved config", resolved_yaml(dump), "",
        f"runs: 1 ({config.protocol} on {config.runtime}, {config.nodes} nodes, {config.duration_s:g} s)",
        f"estimated time: ~{_duration(seconds)} ({_basis(config)})",
        f"output folder: {out_dir}",
        "dry run: nothing was run or written",
    ])


def describe_sweep(plan_config: dict, runs: Sequence, grid_paths: list[str], *, seeds: int,
                   workers: int | None, serial: bool, out_dir: str) -> str:
    from workbench.experiment.plan import MAX_RUNS

    total = len(runs)
    picks = sorted({0, total // 2, total - 1}) if total else []
    samples = [runs[i].config for i in picks[:SAMPLES]]
    per_run = sum(estimate_run_seconds(c) for c in samples) / len(samples) if samples else 0.0
    slots = 1 if serial else (workers or os.cpu_count() or 1)
    sweep = plan_config.get("sweep") or {}
    grid, cases = sweep.get("grid") or {}, sweep.get("cases") or []
    # Paths a `cases` entry sets are swept paths too, but not grid axes: count the cases.
    shape = " x ".join([*([f"{len(cases)} cases"] if cases else []),
                        *(f"{len(grid[p])} {p}" for p in grid_paths if p in grid),
                        f"{seeds} seeds"])
    lines = ["# resolved config (the base experiment and its sweep section)",
             resolved_yaml(plan_config), "",
             f"runs: {total:,} ({shape})",
             f"estimated time: ~{_duration(per_run * total / slots)} ({_basis(samples[0]) if samples else ''}; "
             f"{len(samples)} sample runs, {slots} in parallel)",
             f"output folder: {out_dir}"]
    if total > MAX_RUNS:
        lines.append(f"more than {MAX_RUNS:,} runs: the sweep itself needs --yes")
    lines.append("dry run: nothing was run or written")
    return "\n".join(lines)


def _basis(config: ExperimentConfig) -> str:
    if config.runtime == "ray":
        return f"ray: the run's duration in real time plus about {RAY_START_S:g} s of start-up"
    return (f"sim: timed on {min(SAMPLE_S, config.duration_s):g} s of virtual time, scaled to "
            f"{config.duration_s:g} s; the checker may add up to {config.check.max_seconds:g} s per run")
