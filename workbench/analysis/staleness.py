"""Stale reads per op, for many runs at once, keeping each read's phase, side and run columns.

The verdict is the checkers' (`workbench.checkers.staleness.stale_reads`, one run at a
time); this module runs it per run of a concatenated frame and joins its answer back
onto the op rows, so staleness groups by protocol, read mode, phase or side like every
other pipeline. The definitions, briefly (the checker's docstring has them in full):

- `stale`: the read returned the value of write W although some ok write X was invoked
  after W completed and completed before the read was invoked (W -> X -> read in real
  time; Herlihy & Wing). Concurrency never makes a read stale; a read of `null` is
  stale once any write was acknowledged before it; a value from a write of unknown
  outcome cannot be placed and is not stale.
- `versions_behind`: versions of the key between the value read and the newest one
  acknowledged before the read began (k-staleness, Bailis et al. 2012, "PBS");
- `ms_behind`: the read's invoke minus the acknowledgement of that newest version.
Both are 0 for reads that are not stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.pipelines import order_phases, run_columns
from workbench.checkers import staleness as checker

READ_COLUMNS = ["stale", "versions_behind", "ms_behind"]


def stale_reads(ops: pd.DataFrame, trace: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The ok register reads of `ops` (all columns kept) with `stale`, `versions_behind`, `ms_behind`.

    `ops` may hold many runs (told apart by `run_id` or the run parameter columns);
    `trace` (the store's `apply` records give the version order) only for a single run.
    """
    runs = run_columns(ops)
    groups = list(ops.groupby(runs, sort=False, dropna=False)) if runs else [((), ops)]
    if trace is not None and len(groups) > 1:
        raise ValueError("a trace orders the versions of one run; pass one run's ops with it")
    # Each run's verdicts join its own ops (op ids repeat across runs); the inner merge
    # keeps the run's row order and drops everything that is not an ok register read.
    judged = [run.merge(checker.stale_reads(run, trace)[["op", *READ_COLUMNS]], on="op",
                        how="inner", validate="one_to_one") for _, run in groups]
    if not judged:  # a run without ops (its report must still render)
        judged = [ops.iloc[:0].assign(stale=False, versions_behind=0.0, ms_behind=0.0)]
    return (pd.concat(judged, ignore_index=True)
            .astype({"stale": bool, "versions_behind": float, "ms_behind": float}))


# ---------------------------------------------------------------- summaries
def _summary(reads: pd.DataFrame) -> pd.Series:
    stale = reads[reads["stale"]]
    return pd.Series({
        "reads": len(reads),
        "stale_reads": len(stale),
        "stale_read_fraction": len(stale) / len(reads) if len(reads) else np.nan,
        "versions_behind_mean": stale["versions_behind"].mean() if len(stale) else np.nan,
        "versions_behind_max": stale["versions_behind"].max() if len(stale) else np.nan,
        "ms_behind_p50": stale["ms_behind"].quantile(0.5) if len(stale) else np.nan,
        "ms_behind_p99": stale["ms_behind"].quantile(0.99) if len(stale) else np.nan,
        "ms_behind_max": stale["ms_behind"].max() if len(stale) else np.nan,
    })


def staleness_summary(reads: pd.DataFrame, by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Per group: reads, stale reads, their fraction, versions and ms behind of the stale ones."""
    keys = [c for c in by if c in reads.columns]
    if not keys:
        return _summary(reads).to_frame().T.astype({"reads": "int64", "stale_reads": "int64"})
    return (
        reads.pipe(order_phases)
        .groupby(keys, observed=True, sort=True, dropna=False)[READ_COLUMNS]
        .apply(_summary)
        .reset_index()
        .astype({"reads": "int64", "stale_reads": "int64"})
    )


def stale_fraction_per_run(reads: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its run columns and `stale_fraction` (stale ok reads / ok reads)."""
    keys = [c for c in run_columns(reads) if c not in READ_COLUMNS]
    return (reads.groupby(keys, sort=False, dropna=False)["stale"].mean()
            .rename("stale_fraction").reset_index())
