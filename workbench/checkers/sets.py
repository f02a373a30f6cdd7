"""The set workload, checked as Jepsen's `set-full` defines it (jepsen.checker/set-full).

Clients `add` unique elements to a set (per key) and `read` the whole set. Every add
that was invoked and did not definitely fail (ok or info: an info add may have taken
effect) is an element to account for. Per element x, over the ok reads of its key:
- `known_time`: the earlier of the add's completion (ok adds only) and the completion
  of the first read that shows x. Before it, nothing says x exists.
- a read *counts* for x if it shows x, or if it misses x and completed after the add
  was invoked (a read that ended earlier could not have seen it). Reads are ordered by
  invocation (invoke time, then op).
- `stable`: some read shows x and no counting read invoked after the last such read
  misses it. `stable_latency_ms` = (the invoke time of the last read that missed x)
  - known_time, at least 0; 0 if no read missed it.
- `lost`: a counting read invoked after known_time misses x, and no read invoked after
  it shows x: the store made x known and then lost it for good. `lost_latency_ms` =
  (invoke time of the last read that showed x, or known_time) - known_time, at least 0.
- `never_read`: neither: no read began after x was known, or x was never known.
- `stale`: stable with `stable_latency_ms` > 0: some read begun after x was known
  missed it before it settled.
- `recovered`: an info add (outcome unknown) that some read shows: it took effect.
Times compare strictly: a read invoked at the very time x became known is concurrent,
so it can make x never-read but not lost (Jepsen compares history indices; a history
frame has times, and the strict choice errs toward "not lost").

Per ok read: `missing` counts elements known before the read was invoked that the
read does not show; `stale` if any.

`rule="legacy"` is the pre-issue-20 rule (`sets_legacy.py`), kept only as a mutant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from workbench.checkers import sets_legacy
from workbench.checkers.versions import hashable

OUTCOMES = ("stable", "lost", "never-read")


@dataclass(frozen=True)
class SetReport:
    adds: pd.DataFrame  # one row per element: see ADD_COLUMNS
    reads: pd.DataFrame  # op, process, key, invoke_time, complete_time, size, missing, stale
    lost_adds: int
    never_read_adds: int
    stale_reads: int
    stale_adds: int = 0
    recovered_adds: int = 0
    info_adds: int = 0


ADD_COLUMNS = ["op", "key", "element", "type", "invoke_time", "complete_time", "known_time",
               "outcome", "lost", "never_read", "stale", "recovered",
               "stable_latency_ms", "lost_latency_ms"]


def set_report(frame: pd.DataFrame, rule: Literal["set-full", "legacy"] = "set-full") -> SetReport:
    key_report = _key_report if rule == "set-full" else sets_legacy.key_report
    adds_out: list[pd.DataFrame] = []
    reads_out: list[pd.DataFrame] = []
    is_add = frame["f"].eq("add")
    set_keys = pd.unique(frame.loc[is_add, "key"])  # a key with adds is a set
    add_rows = frame[is_add & frame["type"].isin(["ok", "info"])]
    read_rows = frame[frame["f"].eq("read") & frame["type"].eq("ok")]
    read_rows = read_rows[read_rows["key"].isin(set_keys)]
    for key in set_keys:
        adds, reads = key_report(add_rows[add_rows["key"].eq(key) if key is not None
                                          else add_rows["key"].isna()],
                                 read_rows[read_rows["key"].eq(key) if key is not None
                                           else read_rows["key"].isna()])
        adds_out.append(adds)
        reads_out.append(reads)
    adds = pd.concat(adds_out, ignore_index=True) if adds_out else _empty_adds()
    reads = pd.concat(reads_out, ignore_index=True) if reads_out else _empty_reads()
    if rule == "legacy":
        return SetReport(adds=adds, reads=reads, lost_adds=int(adds["lost"].sum()),
                         never_read_adds=int((adds["never_read"] & adds["type"].eq("ok")).sum()),
                         stale_reads=int(reads["stale"].sum()))
    return SetReport(adds=adds, reads=reads, lost_adds=int(adds["lost"].sum()),
                     never_read_adds=int(adds["never_read"].sum()),
                     stale_reads=int(reads["stale"].sum()), stale_adds=int(adds["stale"].sum()),
                     recovered_adds=int(adds["recovered"].sum()),
                     info_adds=int(adds["type"].eq("info").sum()))


def _key_report(adds: pd.DataFrame, reads: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    reads = reads.sort_values(["invoke_time", "op"], kind="stable")
    contents = [_content(r) for r in reads["result"]]
    r_invoke = reads["invoke_time"].to_numpy(dtype=float)
    r_done = reads["complete_time"].to_numpy(dtype=float)
    n_reads = len(contents)
    done_so_far = np.maximum.accumulate(r_done) if n_reads else r_done

    # Every (element, read that shows it) as flat integer arrays, grouped by element and
    # in read order within a group: hits of element code c = read_at[starts[c]:ends[c]].
    sizes = np.fromiter((len(c) for c in contents), dtype=np.int64, count=n_reads)
    flat = np.empty(int(sizes.sum()), dtype=object)
    flat[:] = [x for c in contents for x in c]
    codes, unique_values = pd.factorize(flat) if len(flat) else (np.empty(0, np.int64), [])
    uniques = pd.Index(unique_values, dtype=object)
    read_of = np.repeat(np.arange(n_reads), sizes)
    order = np.lexsort((read_of, codes))
    read_at, code_sorted = read_of[order], codes[order]
    starts = np.searchsorted(code_sorted, np.arange(len(uniques)), side="left")
    ends = np.searchsorted(code_sorted, np.arange(len(uniques)), side="right")
    first_seen_by_code = np.full(len(uniques), np.inf)
    np.minimum.at(first_seen_by_code, codes, r_done[read_of])

    elements = [hashable(v) for v in adds["value"]]
    add_code = uniques.get_indexer(pd.Index(elements, dtype=object)) if len(uniques) \
        else np.full(len(elements), -1)
    a_type = adds["type"].to_numpy()
    a_invoke = adds["invoke_time"].to_numpy(dtype=float)
    a_done = np.where(a_type == "ok", adds["complete_time"].to_numpy(dtype=float), np.inf)
    n = len(elements)
    known = np.full(n, np.nan)
    outcome = np.empty(n, dtype=object)
    stable_latency = np.full(n, np.nan)
    lost_latency = np.full(n, np.nan)
    no_hits = np.empty(0, dtype=np.int64)
    for j, (c, invoked, acked) in enumerate(zip(add_code, a_invoke, a_done, strict=True)):
        hits = read_at[starts[c]:ends[c]] if c >= 0 else no_hits
        known_at = min(acked, first_seen_by_code[c]) if c >= 0 else acked
        last_present = int(hits[-1]) if len(hits) else -1
        last_absent = _last_absent(hits, r_done, done_so_far, invoked, n_reads)
        if len(hits) and last_absent < last_present:
            outcome[j] = "stable"
            stable_latency[j] = max(r_invoke[last_absent] - known_at, 0.0) if last_absent >= 0 else 0.0
        elif np.isfinite(known_at) and last_absent >= 0 and r_invoke[last_absent] > known_at:
            outcome[j] = "lost"
            lost_latency[j] = max(r_invoke[last_present] - known_at, 0.0) if len(hits) else 0.0
        else:
            outcome[j] = "never-read"
        known[j] = known_at if np.isfinite(known_at) else np.nan

    adds_frame = pd.DataFrame({
        "op": adds["op"].to_numpy(), "key": adds["key"].to_numpy(dtype=object),
        "element": pd.Series(elements, dtype=object).to_numpy(), "type": a_type,
        "invoke_time": a_invoke, "complete_time": adds["complete_time"].to_numpy(dtype=float),
        "known_time": known, "outcome": outcome,
    })
    adds_frame["lost"] = adds_frame["outcome"].eq("lost")
    adds_frame["never_read"] = adds_frame["outcome"].eq("never-read")
    adds_frame["stale"] = adds_frame["outcome"].eq("stable") & (stable_latency > 0)
    adds_frame["recovered"] = adds_frame["type"].eq("info") & (add_code >= 0)
    adds_frame["stable_latency_ms"] = stable_latency
    adds_frame["lost_latency_ms"] = lost_latency

    # Stale reads: elements known before the read was invoked that it does not show.
    known_at_by_element: dict[Any, float] = {}
    for x, k in zip(elements, known, strict=True):
        if not np.isnan(k) and not k >= known_at_by_element.get(x, np.inf):
            known_at_by_element[x] = k
    known_times = np.sort(np.fromiter(known_at_by_element.values(), dtype=float,
                                      count=len(known_at_by_element)))
    known_before = np.searchsorted(known_times, r_invoke, side="left")
    known_by_code = np.full(len(uniques), np.inf)
    if len(uniques) and known_at_by_element:
        at = uniques.get_indexer(pd.Index(list(known_at_by_element), dtype=object))
        times = np.fromiter(known_at_by_element.values(), dtype=float, count=len(at))
        known_by_code[at[at >= 0]] = times[at >= 0]
    shown_known = known_by_code[codes] < r_invoke[read_of]
    present = np.bincount(read_of, weights=shown_known, minlength=n_reads).astype(np.int64)
    missing = known_before - present
    reads_frame = pd.DataFrame({
        "op": reads["op"].to_numpy(), "process": reads["process"].to_numpy(),
        "key": reads["key"].to_numpy(dtype=object), "invoke_time": r_invoke,
        "complete_time": r_done, "size": sizes, "missing": missing, "stale": missing > 0,
    })
    return adds_frame[ADD_COLUMNS], reads_frame


def _content(result: Any) -> frozenset[Any]:
    """A read's elements as a set; the fast path takes plain ints as they are."""
    try:
        return frozenset(result or ())
    except TypeError:  # unhashable elements (lists from JSON)
        return frozenset(hashable(x) for x in result)


def _last_absent(hits: np.ndarray, r_done: np.ndarray, done_so_far: np.ndarray,
                 invoked: float, n_reads: int) -> int:
    """The position of the last read (in invocation order) that misses the element and
    completed after its add was invoked; -1 if none.

    Walks back from the last read, jumping over each run of consecutive reads that show
    the element (in `hits`, ascending, hits[m] - m is constant along a run, so a binary
    search finds its start), and stops once no earlier read completed after `invoked`
    (`done_so_far`: running max of completion times)."""
    offsets: np.ndarray | None = None
    i, h = n_reads - 1, len(hits) - 1
    while i >= 0 and done_so_far[i] > invoked:
        if h >= 0 and hits[h] == i:
            if offsets is None:
                offsets = hits - np.arange(len(hits))
            start = int(np.searchsorted(offsets[:h + 1], i - h, side="left"))
            i, h = int(hits[start]) - 1, start - 1
        elif r_done[i] > invoked:
            return i
        else:
            i -= 1
    return -1


def _empty_adds() -> pd.DataFrame:
    dtypes = {"op": "int64", "key": object, "element": object, "type": object,
              "invoke_time": float, "complete_time": float, "known_time": float, "outcome": object,
              "lost": bool, "never_read": bool, "stale": bool, "recovered": bool,
              "stable_latency_ms": float, "lost_latency_ms": float}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in ADD_COLUMNS})


def _empty_reads() -> pd.DataFrame:
    return pd.DataFrame({"op": pd.Series(dtype="int64"), "process": pd.Series(dtype="int64"),
                         "key": pd.Series(dtype=object), "invoke_time": pd.Series(dtype=float),
                         "complete_time": pd.Series(dtype=float), "size": pd.Series(dtype="int64"),
                         "missing": pd.Series(dtype="int64"), "stale": pd.Series(dtype=bool)})
