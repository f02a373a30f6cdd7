"""Op-frame pipelines: availability and latency by phase and side, over time, per message.

DataFrame in, DataFrame out (DESIGN.md rule 5). The input is the one-row-per-op frame
of `workbench.history.frame`, annotated by `phases.annotate_ops` (`phase`,
`partitioned`, `minority`) and carrying run parameters as extra columns, so the
frames of many runs concatenate and every function groups by whatever parameter
columns the caller names (`by=["protocol", "raft.read_mode"]`).

Availability counts only `ok` (see metrics.py for why a `fail` is not "available").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.analysis.aggregate import aggregate_seeds
from workbench.analysis.metrics import censored_latencies, censored_quantile
from workbench.history.frame import FRAME_COLUMNS

ANNOTATION_COLUMNS = ["node", "partitioned", "minority", "phase", "side", "window", "period"]
"""Per-op columns added by the analysis; everything else that is not an op column is a run parameter."""

PHASE_ORDER = ["before", "during", "between", "after", "none"]
SIDE_ORDER = ["majority", "minority", "ambiguous"]


RUN_PARAMETERS = ["name", "protocol", "runtime", "seed", "nodes", "duration_s"]
"""What `runner.run_params` puts on every op row."""


def run_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that identify a run within a frame of many.

    `run_id` if a sweep added it; else the runner's parameters, as long as they tell the
    runs apart (an op id occurs once per run); else every column that is not per-op
    (runs of one protocol and seed that differ in, say, `raft.read_mode`).
    """
    if "run_id" in frame.columns:
        return ["run_id"]
    per_op = set(FRAME_COLUMNS) | set(ANNOTATION_COLUMNS)
    params = [c for c in frame.columns if c not in per_op]
    known = [c for c in RUN_PARAMETERS if c in params]
    if known and not frame.duplicated([*known, "op"]).any():
        return known
    return params


def with_side(ops: pd.DataFrame) -> pd.DataFrame:
    """Make sure `side` is there: `phases.annotate_ops` adds it (majority / minority /
    ambiguous, from the combined network state); frames written before it existed
    derive it from the `minority` flag.

    Outside faults every node reaches a majority, so those ops are "majority" too;
    combine with `phase` to tell "majority during the partition" from "before".
    """
    if "side" in ops.columns:
        return ops
    return ops.assign(side=np.where(ops["minority"].to_numpy(dtype=bool), "minority", "majority"))


def order_phases(frame: pd.DataFrame) -> pd.DataFrame:
    """`phase` and `side` as ordered categoricals, so groups sort before / during / after."""
    return frame.pipe(_ordered, "phase", PHASE_ORDER).pipe(_ordered, "side", SIDE_ORDER)


def _ordered(frame: pd.DataFrame, column: str, order: Sequence[str]) -> pd.DataFrame:
    if column not in frame.columns:
        return frame
    values = set(frame[column].unique())
    present = [v for v in order if v in values]
    extra = sorted(values - set(order))
    return frame.assign(**{column: pd.Categorical(frame[column], categories=present + extra, ordered=True)})


def _stats(group: pd.DataFrame) -> pd.Series:
    ok = group["type"].eq("ok")
    latency = group.loc[ok, "latency_ms"].dropna()
    exact, bounds = censored_latencies(group)
    n = len(group)
    return pd.Series({
        "ops": n,
        "ok": int(ok.sum()),
        "fail": int(group["type"].eq("fail").sum()),
        "info": int(group["type"].eq("info").sum()),
        "availability": ok.sum() / n if n else np.nan,
        "timeout_fraction": group["type"].eq("info").sum() / n if n else np.nan,
        "latency_mean_ms": latency.mean() if len(latency) else np.nan,
        "latency_ok_p50_ms": latency.quantile(0.5) if len(latency) else np.nan,
        "latency_ok_p99_ms": latency.quantile(0.99) if len(latency) else np.nan,
        # Timeouts counted as ">= timeout" (metrics.censored_quantile): the tail a fault causes.
        "latency_p50_ms": censored_quantile(exact, bounds, 0.5)[0],
        "latency_p99_ms": censored_quantile(exact, bounds, 0.99)[0],
    })


def op_stats(ops: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Counts, availability, timeout share, ok-latency (mean, p50, p99) and censored
    latency (p50, p99 with timeouts as ">= timeout") per group of `by` columns."""
    by = list(by)
    if not by:
        return _stats(ops).to_frame().T.astype({"ops": "int64", "ok": "int64", "fail": "int64", "info": "int64"})
    return (
        ops.groupby(by, observed=True, sort=True, dropna=False)[["type", "latency_ms", "invoke_time", "complete_time"]]
        .apply(_stats)
        .reset_index()
        .astype({"ops": "int64", "ok": "int64", "fail": "int64", "info": "int64"})
    )


def by_phase(ops: pd.DataFrame, by: Sequence[str] = ("protocol",), side: bool = True) -> pd.DataFrame:
    """Availability and latency per phase (before / during / after the partitions), and per side.

    With `side=True` the groups are (phase, side): during a partition the minority's
    ops are what CAP is about (a CP system refuses them, an AP system serves them).
    """
    keys = [c for c in by if c in ops.columns] + ["phase"] + (["side"] if side else [])
    return (
        ops.pipe(with_side)
        .pipe(order_phases)
        .pipe(op_stats, keys)
    )


def by_phase_over_runs(ops: pd.DataFrame, *, by: Sequence[str] = ("protocol",), side: bool = True,
                       confidence: float = 0.95) -> pd.DataFrame:
    """Availability per (by, phase, side), computed per run first, then over the runs.

    Pooling the ops of all seeds (what `by_phase` does on a sweep's frame) weights each
    run by its op count and gives no interval; here each run counts once, and the
    interval is `aggregate.metric_interval`'s (t, clipped to [0, 1]; none for one run).
    Columns: by..., phase, side, availability (the mean over runs), n, unknown, std,
    ci_low, ci_high, interval.
    """
    keys = [c for c in by if c in ops.columns] + ["phase"] + (["side"] if side else [])
    runs = [c for c in run_columns(ops) if c not in keys]
    per_run = by_phase(ops, by=[*[c for c in by if c in ops.columns], *runs], side=side)
    return (
        aggregate_seeds(per_run, ["availability"], by=keys, confidence=confidence)
        .drop(columns="metric")
        .rename(columns={"mean": "availability"})
        .pipe(order_phases)
        .sort_values(keys, kind="stable")
        .reset_index(drop=True)
    )


def by_node(ops: pd.DataFrame, by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Availability and latency per phase and node: which nodes actually served.

    Beside the per-side figures, because a side is a label of the network state while
    this is what each node's clients saw (in a bridge, some "ambiguous" nodes serve and
    others do not).
    """
    keys = [c for c in by if c in ops.columns] + ["phase", "node"]
    return ops.pipe(order_phases).pipe(op_stats, keys)


def latency_over_time(ops: pd.DataFrame, bin_ms: float = 1000.0,
                      by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Per time bin of invoke time: ops, availability, latency p50 / p99 (`time_s` = bin start)."""
    keys = [c for c in by if c in ops.columns]
    return (
        ops.assign(time_s=(ops["invoke_time"] // bin_ms) * bin_ms / 1000.0)
        .pipe(op_stats, keys + ["time_s"])
    )


def messages_per_op(runs: pd.DataFrame, by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Messages sent per client op, per run and then summed per group (a ratio of totals).

    `runs` is a summary frame (one row per run with `messages_sent` and `ops`).
    """
    keys = [c for c in by if c in runs.columns]
    summed = (
        runs.groupby(keys, sort=True, dropna=False)[["messages_sent", "ops"]].sum().reset_index()
        if keys else runs[["messages_sent", "ops"]].sum().to_frame().T
    )
    return summed.assign(messages_per_op=lambda f: f["messages_sent"] / f["ops"].where(f["ops"] > 0))
