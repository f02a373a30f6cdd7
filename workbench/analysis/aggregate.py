"""Aggregate runs over seeds: mean and a confidence interval that fits the metric.

Seeds are independent replications of one setting. The interval depends on the metric
(issue 19 item 5):

- yes/no metrics (a column of booleans: `linearizable`, `lost_writes > 0`): the Wilson
  score interval of the rate k/n (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it
  over the Wald/t interval, which for 2 of 3 seeds gave [-0.77, 2.10]). It lies in [0, 1]
  by construction;
- other metrics: mean ± t_{(1+c)/2, n-1} · s / √n (Student's t; with 3-10 seeds the
  normal approximation would be far too narrow), clipped to [0, 1] for fractions and
  availabilities, which cannot leave it, and at 0 for a metric whose values are all
  non-negative (counts, durations).

Fewer than two seeds give no interval (NaN; the report prints "n=1, no interval" and
plots draw no bar). A run whose metric is missing (a failed run, a linearizability
check that ended `unknown`) is left out of that metric's n and counted in `unknown`,
so a rate is never reported without how many verdicts it lacks.

`paired_differences` compares two settings that share seeds: the per-seed
differences cancel what the seed does to both (the same fault draws, the same
workload), so its interval is much tighter than the difference of two means.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

AGGREGATE_COLUMNS = ["metric", "n", "unknown", "mean", "std", "ci_low", "ci_high", "interval"]
BOUNDED = re.compile(r"^availability|fraction|^linearizable$|^non_linearizable$")
"""Metrics that live in [0, 1]: their intervals are clipped to it."""
PAIRED_COLUMNS = ["metric", "baseline", "setting", "pairs", "mean_diff", "ci_low", "ci_high"]


def t_interval(values: pd.Series, confidence: float = 0.95) -> pd.Series:
    """n, mean, std, ci_low, ci_high of one sample (NaNs dropped; no interval below n = 2)."""
    values = pd.to_numeric(values, errors="coerce").astype(float).dropna()
    n = len(values)
    mean = values.mean() if n else np.nan
    std = values.std(ddof=1) if n > 1 else np.nan
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n) if n > 1 else np.nan
    return pd.Series({"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half})


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n; (nan, nan) for n = 0."""
    if n == 0:
        return np.nan, np.nan
    z = stats.norm.ppf((1 + confidence) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At k = 0 or k = n the bound is exactly 0 or 1; say so without rounding noise.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return float(low), float(high)


def _is_yes_no(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and all(isinstance(v, bool | np.bool_) for v in present)


def metric_interval(values: pd.Series, metric: str, confidence: float = 0.95) -> pd.Series:
    """n, unknown, mean, std, ci_low, ci_high and the interval's kind for one metric of one group."""
    yes_no = _is_yes_no(values)
    unknown = int(values.isna().sum())
    numeric = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce").astype(float)
    out = t_interval(numeric, confidence)
    n = int(out["n"])
    if n < 2:
        out["ci_low"] = out["ci_high"] = np.nan
        kind = "none"
    elif yes_no:
        out["ci_low"], out["ci_high"] = wilson_interval(int(numeric.sum()), n, confidence)
        kind = "wilson"
    else:
        kind = "t"
        if BOUNDED.search(metric):
            out["ci_low"], out["ci_high"] = max(out["ci_low"], 0.0), min(out["ci_high"], 1.0)
        elif (numeric.dropna() >= 0).all():
            # Counts and durations cannot be negative: a t-interval reaching below 0
            # (leader_changes 1.33 [-0.10, 2.77] over 3 seeds) is clipped there.
            out["ci_low"] = max(out["ci_low"], 0.0)
    out["unknown"] = unknown
    out["interval"] = kind
    return out


def aggregate_seeds(runs: pd.DataFrame, metrics: Sequence[str], *, by: Sequence[str],
                    confidence: float = 0.95) -> pd.DataFrame:
    """Tidy (long) result: one row per group of `by` and metric, with n, unknown, mean, std, CI.

    `runs` is a summary frame, one row per run (`by` are parameter columns such as
    protocol or `raft.read_mode`; the seed is what varies inside a group). A metric
    column of booleans (e.g. `linearizable`) averages to a rate with a Wilson interval.
    """
    by = list(by)
    metrics = [m for m in metrics if m in runs.columns]
    rows = []
    groups = runs.groupby(by, sort=False, dropna=False, observed=True) if by else [((), runs)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            row = metric_interval(group[metric], metric, confidence)
            rows.append({**dict(zip(by, key, strict=True)), "metric": metric, **row.to_dict()})
    out = pd.DataFrame(rows, columns=by + AGGREGATE_COLUMNS)
    return out.astype({"n": "int64", "unknown": "int64"})


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


def paired_differences(runs: pd.DataFrame, metric: str, *, setting: str, baseline: object,
                       by: Sequence[str] = (), pair_on: str = "seed",
                       confidence: float = 0.95) -> pd.DataFrame:
    """Per level of `setting` other than `baseline`: mean of (level - baseline) over the
    `pair_on` values (seeds) both have, with a t-interval over those differences.

    Within each group of `by`. A seed missing the metric on either side is not a pair.
    """
    by = list(by)
    rows = []
    groups = runs.groupby(by, sort=True, dropna=False, observed=True) if by else [((), runs)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        values = pd.to_numeric(group[metric].astype(object).where(group[metric].notna(), np.nan),
                               errors="coerce").astype(float)
        table = group.assign(_v=values).pivot_table(index=pair_on, columns=setting, values="_v",
                                                    aggfunc="mean", dropna=False)
        if baseline not in table.columns:
            continue
        for level in [c for c in table.columns if c != baseline]:
            diffs = (table[level] - table[baseline]).dropna()
            interval = t_interval(diffs, confidence)
            rows.append({**dict(zip(by, key, strict=True)), "metric": metric, "baseline": baseline,
                         "setting": level, "pairs": int(interval["n"]), "mean_diff": interval["mean"],
                         "ci_low": interval["ci_low"], "ci_high": interval["ci_high"]})
    return pd.DataFrame(rows, columns=by + PAIRED_COLUMNS)
