"""Stale reads of a register workload: which reads were stale, by how many versions, how long.

A read that returned the value of write W is *stale* when some other write X was
invoked after W completed and itself completed before the read was invoked: in real
time W -> X -> read, so every linearizable (indeed every regular) register would have
returned X or later. This is the real-time order of Herlihy & Wing, read per key; it
never calls a read stale that a concurrent write could explain.

- `versions_behind`: how many such writes X the read missed (k-staleness, Bailis et al.
  "Probabilistically Bounded Staleness", §3);
- `time_behind_ms`: read invoke minus the completion of the first X, i.e. how long a
  newer value had been acknowledged when the read still saw the old one (t-visibility).

A read of `null` comes from the initial state, which "completed" before every write.
A read whose value came from a write that never completed `ok` (info: unknown) cannot
be placed, so it is counted as not stale, with NaN versions and time: conservative.
Set workloads (reads return a collection) are left out; lost adds are the convergence
checker's business.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.analysis.pipelines import order_phases, run_columns

READ_COLUMNS = ["stale", "versions_behind", "time_behind_ms"]


def _written(f: str, value: Any) -> Any:
    # An ok cas [expected, new] wrote `new`; a write wrote its value.
    return value[1] if f == "cas" else value


def _is_null(value: Any) -> bool:
    # A frame built from rows turns a column of ints and None into floats with NaN.
    return value is None or (isinstance(value, float) and math.isnan(value))


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _key_staleness(group: pd.DataFrame) -> pd.DataFrame:
    """One run, one key: the reads of `group` with the three staleness columns."""
    ok = group["type"].eq("ok")
    writes = group[ok & group["f"].isin(["write", "cas"])].sort_values("invoke_time")
    reads = group[ok & group["f"].eq("read")]
    w_invoke = writes["invoke_time"].to_numpy(dtype=float)
    w_complete = writes["complete_time"].to_numpy(dtype=float)
    completed_at = {_hashable(_written(f, v)): c for f, v, c in
                    zip(writes["f"], writes["value"], w_complete, strict=True)}

    stale = np.zeros(len(reads), dtype=bool)
    behind = np.zeros(len(reads), dtype=float)
    time_behind = np.zeros(len(reads), dtype=float)
    for i, (t, result) in enumerate(zip(reads["invoke_time"], reads["result"], strict=True)):
        source = -np.inf if _is_null(result) else completed_at.get(_hashable(result))
        if source is None:  # value of a write with an unknown outcome: cannot be placed
            behind[i] = time_behind[i] = np.nan
            continue
        # Writes X with source < invoke_x (and so complete_x > source) and complete_x < t:
        # X's invoke lies in (source, t), a contiguous slice of the invoke-sorted writes.
        lo, hi = np.searchsorted(w_invoke, [source, t], side="right")
        newer = w_complete[lo:hi]
        newer = newer[newer < t]
        if len(newer):
            stale[i] = True
            behind[i] = len(newer)
            time_behind[i] = t - newer.min()
    return reads.assign(stale=stale, versions_behind=behind, time_behind_ms=time_behind)


def _is_register_read(frame: pd.DataFrame) -> pd.Series:
    return frame["f"].eq("read") & ~frame["result"].map(lambda r: isinstance(r, list | tuple | dict))


def stale_reads(ops: pd.DataFrame) -> pd.DataFrame:
    """One row per ok register read, with `stale`, `versions_behind` and `time_behind_ms`.

    `ops` may hold many runs (grouped by `run_id` or the run parameter columns).
    """
    keys = run_columns(ops) + ["key"]
    register = ops[~ops["f"].isin(["add"]) & (~ops["f"].eq("read") | _is_register_read(ops))]
    if register.empty:
        return ops.iloc[0:0].assign(stale=pd.Series(dtype=bool),
                                    versions_behind=pd.Series(dtype=float),
                                    time_behind_ms=pd.Series(dtype=float))
    return (
        register.groupby(keys, sort=False, dropna=False, group_keys=False)[list(register.columns)]
        .apply(_key_staleness)
        .sort_values(keys[:-1] + ["op"])
        .reset_index(drop=True)
        .astype({"stale": bool, "versions_behind": float, "time_behind_ms": float})
    )


def _summary(reads: pd.DataFrame) -> pd.Series:
    stale = reads[reads["stale"]]
    return pd.Series({
        "reads": len(reads),
        "stale_reads": len(stale),
        "stale_read_fraction": len(stale) / len(reads) if len(reads) else np.nan,
        "versions_behind_mean": stale["versions_behind"].mean() if len(stale) else np.nan,
        "versions_behind_max": stale["versions_behind"].max() if len(stale) else np.nan,
        "time_behind_p50_ms": stale["time_behind_ms"].quantile(0.5) if len(stale) else np.nan,
        "time_behind_p99_ms": stale["time_behind_ms"].quantile(0.99) if len(stale) else np.nan,
        "time_behind_max_ms": stale["time_behind_ms"].max() if len(stale) else np.nan,
    })


def staleness_summary(reads: pd.DataFrame, by: Sequence[str] = ("protocol",)) -> pd.DataFrame:
    """Per group: reads, stale reads, their fraction, versions behind and time behind of the stale ones."""
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
