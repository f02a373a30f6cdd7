"""Stale reads of a register workload (values written are unique per run).

`stale` is the real-time definition: an ok read is stale when it returned a value that
an ok write had already overwritten before the read was invoked, i.e. some ok write X
was invoked after the write of the value read completed and X completed before the
read was invoked (write -> X -> read in real time, so every linearizable, indeed every
regular register would have returned X or newer; Herlihy & Wing 1990, Lamport 1986).
A read of null is stale when any ok write completed before it was invoked. Ops with an
unknown outcome (info) are ignored: they neither overwrite nor can a read of their
value be shown stale. This never calls a read stale that concurrency could explain.

How far behind (Bailis et al. 2012, "Probabilistically Bounded Staleness", k- and
t-staleness), for stale reads (0 otherwise):
- `versions_behind`: distinct versions of the key after the value read, up to the newest
  version acknowledged before the read's invoke, in the version order the store reports
  in its trace (`versions.py`), or without a trace the order of ok write completions;
- `ms_behind`: the read's invoke minus the time that newest version was acknowledged.

Vectorized for million-op frames: per key, ok writes sorted by completion time with
running maxima, and one `numpy.searchsorted` for all reads (keys and times folded
into one sortable integer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import RegisterOps, register_ops

STALE_COLUMNS = ["op", "process", "key", "value", "invoke_time", "complete_time",
                 "stale", "versions_behind", "ms_behind"]


def stale_reads(frame: pd.DataFrame,
                trace: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per ok register read: `stale`, `versions_behind`, `ms_behind`."""
    return stale_reads_of(register_ops(frame, trace))


def stale_reads_of(coded: RegisterOps) -> pd.DataFrame:
    """`stale_reads` of ops already coded by `versions.register_ops` (code once, check twice)."""
    reads, writes = coded.reads, coded.writes
    if reads.empty:
        return _empty()
    n_writes = len(writes)
    order = np.lexsort((writes["complete_time"].to_numpy(), writes["key_code"].to_numpy()))
    w_key = writes["key_code"].to_numpy()[order]
    w_done = writes["complete_time"].to_numpy()[order]
    w_invoked = writes["invoke_time"].to_numpy()[order]
    w_rank = writes["rank"].to_numpy()[order]
    r_key = reads["key_code"].to_numpy()
    r_invoked = reads["invoke_time"].to_numpy()

    # Running maxima per key, in completion order: the latest invoke of an acknowledged
    # write (for the real-time test), the newest version acknowledged, and when it was.
    groups = pd.Series(w_key)
    latest_invoke = pd.Series(w_invoked).groupby(groups).cummax().to_numpy()
    newest = pd.Series(np.nan_to_num(w_rank, nan=-1.0)).groupby(groups).cummax()
    before = newest.groupby(groups).shift(1)
    raised = (before.isna() | (newest > before)) & ~np.isnan(w_rank)  # unordered: skipped
    newest_at = pd.Series(np.where(raised, w_done, np.nan)).groupby(groups).ffill().to_numpy()
    newest = newest.to_numpy()

    # The last ok write of the read's key completed strictly before the read's invoke:
    # keys and times folded into one sorted int64, then one searchsorted for all reads.
    _, time_rank = np.unique(np.concatenate([w_done, r_invoked]), return_inverse=True)
    span = int(time_rank.max()) + 1
    w_pos = w_key.astype(np.int64) * span + time_rank[:n_writes]
    r_pos = r_key.astype(np.int64) * span + time_rank[n_writes:]
    last = np.searchsorted(w_pos, r_pos, side="left") - 1
    if n_writes:
        safe = last.clip(0)
        known = (last >= 0) & (w_key[safe] == r_key)
        overwriter_invoked = np.where(known, latest_invoke[safe], -np.inf)
        newest_rank = np.where(known, newest[safe], 0.0)
        newest_ack = np.where(known, newest_at[safe], np.nan)
    else:
        overwriter_invoked = np.full(len(reads), -np.inf)
        newest_rank = np.zeros(len(reads))
        newest_ack = np.full(len(reads), np.nan)

    # When the value read was acknowledged: -inf for null (the initial state), NaN when
    # no ok write wrote it (info or never), which no comparison calls stale.
    acked_at = writes.groupby("pair")["complete_time"].min()
    value_acked = acked_at.reindex(reads["pair"].to_numpy()).to_numpy(dtype=float, copy=True)
    value_acked[reads["value"].isna().to_numpy()] = -np.inf
    stale = overwriter_invoked > value_acked

    behind = np.where(stale, np.maximum(newest_rank - reads["rank"].to_numpy(), 0.0), 0.0)
    ms_behind = np.where(stale, r_invoked - newest_ack, 0.0)
    return reads.assign(stale=stale, versions_behind=behind, ms_behind=ms_behind)[STALE_COLUMNS]


def stale_read_fraction(frame: pd.DataFrame) -> float:
    """Stale ok reads / ok reads (NaN when there are no ok reads)."""
    reads = stale_reads(frame)
    return float(reads["stale"].mean()) if len(reads) else float("nan")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({
        "op": pd.Series(dtype="int64"), "process": pd.Series(dtype="int64"),
        "key": pd.Series(dtype=object), "value": pd.Series(dtype=object),
        "invoke_time": pd.Series(dtype=float), "complete_time": pd.Series(dtype=float),
        "stale": pd.Series(dtype=bool), "versions_behind": pd.Series(dtype=float),
        "ms_behind": pd.Series(dtype=float)})
