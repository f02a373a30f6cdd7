"""Aggregate runs over seeds: mean and a t-distribution confidence interval per group.

Seeds are independent replications of one setting, so a metric's mean over n seeds
has the interval mean ± t_{(1+c)/2, n-1} · s / √n (Student's t; with 3-10 seeds the
normal approximation would be far too narrow). One seed gives no interval (NaN).
Runs whose metric is missing (a failed run, a checker that gave up) are left out of
that metric's n, not counted as zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

AGGREGATE_COLUMNS = ["metric", "n", "mean", "std", "ci_low", "ci_high"]


def t_interval(values: pd.Series, confidence: float = 0.95) -> pd.Series:
    """n, mean, std, ci_low, ci_high of one sample (NaNs dropped)."""
    values = pd.to_numeric(values, errors="coerce").astype(float).dropna()
    n = len(values)
    mean = values.mean() if n else np.nan
    std = values.std(ddof=1) if n > 1 else np.nan
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n) if n > 1 else np.nan
    return pd.Series({"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half})


def aggregate_seeds(runs: pd.DataFrame, metrics: Sequence[str], by: Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
    """Tidy (long) result: one row per group of `by` and metric, with n, mean, std and CI.

    `runs` is a summary frame, one row per run (`by` are parameter columns such as
    protocol or `raft.read_mode`; the seed is what varies inside a group). A metric
    column of booleans (e.g. `linearizable`) averages to a rate.
    """
    by = list(by)
    metrics = [m for m in metrics if m in runs.columns]
    return (
        runs.assign(**{m: pd.to_numeric(runs[m], errors="coerce").astype(float) for m in metrics})
        .melt(id_vars=by, value_vars=metrics, var_name="metric", value_name="value")
        .groupby(by + ["metric"], sort=False, dropna=False)["value"]
        .apply(lambda v: t_interval(v, confidence))
        .unstack()
        .reset_index()
        .astype({"n": "int64"})
        [by + AGGREGATE_COLUMNS]
    )


def wide(aggregated: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """One row per group, columns `<metric>` (the mean), `<metric>_ci_low`, `<metric>_ci_high`, `<metric>_n`.

    What a plot needs to put two metrics of the same group on x and y.
    """
    by = list(by)
    pivot = aggregated.pivot_table(index=by, columns="metric",
                                   values=["mean", "ci_low", "ci_high", "n"], dropna=False,
                                   observed=True)
    metrics = list(dict.fromkeys(aggregated["metric"]))
    # Each metric's four columns side by side, in the order the metrics were asked for.
    order = [(stat, m) for m in metrics for stat in ("mean", "ci_low", "ci_high", "n")]
    pivot = pivot.reindex(columns=order)
    pivot.columns = [m if stat == "mean" else f"{m}_{stat}" for stat, m in order]
    # dropna=False crosses the `by` levels; drop combinations no run had (hue x label
    # need not be a product, e.g. the cap_spectrum points).
    pivot = pivot.dropna(how="all", subset=[f"{m}_n" for m in metrics])
    return pivot.reset_index().astype({f"{m}_n": "int64" for m in metrics})
