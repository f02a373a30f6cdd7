"""Session guarantees per client process (Terry et al. 1994, "Session guarantees for
weakly consistent replicated data", §3), on a register workload.

For each ok read by process p of key k, in p's own order (a process is sequential):
- read-your-writes violation: the value read is older, in the version order, than p's
  own latest acknowledged write to k;
- monotonic-reads violation: the value read is older than the value of an earlier read
  by p of k (the newest of them).

"Older" uses the store's version order from the trace, or without a trace the order
of ok write completions (`versions.py`); null is older than every write. A read whose
value the order does not know (written by an info op, no trace) is never a violation
and does not raise the monotonic bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import RegisterOps, register_ops


@dataclass(frozen=True)
class SessionReport:
    reads: pd.DataFrame  # one row per ok read, with the two violation flags
    per_process: pd.DataFrame  # process, reads, ryw_violations, monotonic_read_violations
    ryw_violations: int
    monotonic_read_violations: int


def session_reads(frame: pd.DataFrame,
                  trace: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Ok reads with `rank`, `ryw_violation` and `monotonic_violation`."""
    return session_reads_of(register_ops(frame, trace))


def session_reads_of(coded: RegisterOps) -> pd.DataFrame:
    """`session_reads` of ops already coded by `versions.register_ops`."""
    reads, writes = coded.reads, coded.writes
    columns = ["op", "process", "key_code", "invoke_time", "rank"]
    both = pd.concat([writes[columns].assign(is_read=False), reads[columns].assign(is_read=True)],
                     ignore_index=True)
    # One group per (process, key), p's ops in p's own order (a process is sequential).
    process_code = pd.factorize(both["process"])[0].astype(np.int64)
    both["session"] = process_code * (int(both["key_code"].max()) + 1 if len(both) else 1) \
        + both["key_code"].to_numpy()
    both = both.sort_values(["session", "invoke_time", "op"], kind="stable")
    sessions = both["session"]
    is_read = both["is_read"]
    rank = both["rank"]

    # p's latest own write, carried forward to p's later reads; an own write whose
    # version is unknown counts -1 (it sets no bar; NaN would not carry forward).
    own = rank.where(~is_read).where(is_read | rank.notna(), -1.0)
    last_write = own.groupby(sessions).ffill()
    ryw = is_read & (rank < last_write)
    # The newest value an earlier read of p saw: running max, shifted past the read itself.
    seen = rank.where(is_read)
    bar = seen.groupby(sessions).cummax().groupby(sessions).shift(1).groupby(sessions).ffill()
    monotonic = is_read & (rank < bar)

    flags = pd.DataFrame({"op": both["op"].to_numpy(), "ryw_violation": ryw.to_numpy(),
                          "monotonic_violation": monotonic.to_numpy()})[is_read.to_numpy()]
    out = reads.drop(columns=["key_code", "pair"]).merge(flags, on="op", how="left")
    return out.astype({"ryw_violation": bool, "monotonic_violation": bool})


def session_guarantees(frame: pd.DataFrame,
                       trace: Iterable[Mapping[str, Any]] | None = None) -> SessionReport:
    return session_guarantees_of(register_ops(frame, trace))


def session_guarantees_of(coded: RegisterOps) -> SessionReport:
    """`session_guarantees` of ops already coded by `versions.register_ops`."""
    reads = session_reads_of(coded)
    per_process = (
        reads.groupby("process", sort=True)
        .agg(reads=("op", "size"), ryw_violations=("ryw_violation", "sum"),
             monotonic_read_violations=("monotonic_violation", "sum"))
        .reset_index()
        .astype({"reads": "int64", "ryw_violations": "int64",
                 "monotonic_read_violations": "int64"})
    )
    return SessionReport(reads=reads, per_process=per_process,
                         ryw_violations=int(np.sum(reads["ryw_violation"])),
                         monotonic_read_violations=int(np.sum(reads["monotonic_violation"])))
