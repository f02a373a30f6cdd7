"""Session guarantees per client process (Terry et al. 1994, "Session guarantees for
weakly consistent replicated data", §3), on a register workload.

For each ok read by process p of key k, in p's own order (a process is sequential),
two judgements, each by two orders:
- read-your-writes: the value read is older than p's own latest acknowledged write to k;
- monotonic reads: the value read is older than the value of an earlier read by p of k.

"Older" by the store's version order (`ryw_violation`, `monotonic_violation`): from the
trace, or without a trace the order of ok write completions (`versions.py`); null is
older than every write; a value the order does not know is never a violation and sets
no bar.

"Older" by real time, i.e. by what the client observed (`ryw_realtime_violation`,
`monotonic_realtime_violation`, issue 20 §4): the value's write completed before a
write p observed was invoked: p's own acknowledged write (read-your-writes) or the
write of a value p read earlier (monotonic). Such a write precedes the observed one in
real time, so no correct order can put it after. This needs no trust in the store's
versions: a store whose clock orders a causally later write first (issue 20 §1) gets
a version-order verdict of "fine" and a real-time violation. The initial null precedes
every write; a value whose write is unknown or unacknowledged (info) sets no bar and
is never a violation (it may have taken effect at any time).

`ryw_violations` / `monotonic_read_violations` count reads that violate by either order.
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
    reads: pd.DataFrame  # one row per ok read, with the four violation flags
    per_process: pd.DataFrame  # process, reads, ryw_violations, monotonic_read_violations
    ryw_violations: int  # by either order
    monotonic_read_violations: int  # by either order
    ryw_realtime_violations: int = 0  # by real time alone
    monotonic_realtime_violations: int = 0


def session_reads(frame: pd.DataFrame,
                  trace: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Ok reads with `rank` and the violation flags by version order (`ryw_violation`,
    `monotonic_violation`) and by real time (`ryw_realtime_violation`,
    `monotonic_realtime_violation`)."""
    return session_reads_of(register_ops(frame, trace))


def session_reads_of(coded: RegisterOps) -> pd.DataFrame:
    """`session_reads` of ops already coded by `versions.register_ops`."""
    reads, writes = coded.reads, coded.writes
    columns = ["op", "process", "key_code", "pair", "invoke_time", "rank"]
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

    # Real time: each op's write times (a write's own; a read's value's write), then the
    # latest invoke among writes p observed, carried forward like the bars above.
    w_invoke, w_done = _write_times(writes, both, is_read)
    own_bar = w_invoke.where(~is_read).groupby(sessions).cummax().groupby(sessions).ffill()
    read_bar = (w_invoke.where(is_read).groupby(sessions).cummax()
                .groupby(sessions).shift(1).groupby(sessions).ffill())
    ryw_rt = is_read & (w_done < own_bar)
    monotonic_rt = is_read & (w_done < read_bar)

    flags = pd.DataFrame({"op": both["op"].to_numpy(), "ryw_violation": ryw.to_numpy(),
                          "monotonic_violation": monotonic.to_numpy(),
                          "ryw_realtime_violation": ryw_rt.to_numpy(),
                          "monotonic_realtime_violation": monotonic_rt.to_numpy(),
                          })[is_read.to_numpy()]
    out = reads.drop(columns=["key_code", "pair"]).merge(flags, on="op", how="left")
    return out.astype({"ryw_violation": bool, "monotonic_violation": bool,
                       "ryw_realtime_violation": bool, "monotonic_realtime_violation": bool})


def _write_times(writes: pd.DataFrame, both: pd.DataFrame,
                 is_read: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Invoke and completion time of the write behind each row of `both`: a write row's
    own; a read row's value's ok write (values are unique per run); for a null read no
    invoke and completion -inf (the initial state precedes everything); NaN if unknown."""
    by_pair = writes.groupby("pair", sort=False).agg(invoke=("invoke_time", "min"),
                                                     done=("complete_time", "min"))
    pairs = both["pair"].to_numpy()
    w_invoke = pd.Series(by_pair["invoke"].reindex(pairs).to_numpy(dtype=float), index=both.index)
    w_done = pd.Series(by_pair["done"].reindex(pairs).to_numpy(dtype=float), index=both.index)
    null_read = is_read & both["rank"].eq(0)
    w_invoke = w_invoke.mask(null_read)
    w_done = w_done.mask(null_read, -np.inf)
    return w_invoke, w_done


def session_guarantees(frame: pd.DataFrame,
                       trace: Iterable[Mapping[str, Any]] | None = None) -> SessionReport:
    return session_guarantees_of(register_ops(frame, trace))


def session_guarantees_of(coded: RegisterOps) -> SessionReport:
    """`session_guarantees` of ops already coded by `versions.register_ops`."""
    reads = session_reads_of(coded)
    ryw = reads["ryw_violation"] | reads["ryw_realtime_violation"]
    monotonic = reads["monotonic_violation"] | reads["monotonic_realtime_violation"]
    per_process = (
        reads.assign(ryw=ryw, monotonic=monotonic).groupby("process", sort=True)
        .agg(reads=("op", "size"), ryw_violations=("ryw", "sum"),
             monotonic_read_violations=("monotonic", "sum"))
        .reset_index()
        .astype({"reads": "int64", "ryw_violations": "int64",
                 "monotonic_read_violations": "int64"})
    )
    return SessionReport(
        reads=reads, per_process=per_process, ryw_violations=int(np.sum(ryw)),
        monotonic_read_violations=int(np.sum(monotonic)),
        ryw_realtime_violations=int(np.sum(reads["ryw_realtime_violation"])),
        monotonic_realtime_violations=int(np.sum(reads["monotonic_realtime_violation"])))
