"""Probabilistically Bounded Staleness metrics (Bailis et al., VLDB 2012, "PBS").

Per ok register read (`t_visibility`):
- `t_ms`: how long before the read's invocation the latest write committed — the
  newest version (in the store's version order, `versions.py`) among the ok writes
  completed by the invoke, and its completion time. NaN when no write had
  committed (the read can only return the initial null, which is then current);
- `consistent`: the read returned that version or a newer one (§3.3 t-visibility:
  "a read returns the last written version t seconds after it commits");
- `k_stale`: how many committed versions newer than the value read existed at the
  invoke (0 = current; §3.2 k-staleness: a read within the last k versions has
  `k_stale < k`); `committed_before`: how many versions had committed by then.

`consistency_vs_t` turns those rows into P(consistent) against t with Wilson 95%
intervals, one curve per group (e.g. per N/R/W and latency preset);
`k_staleness` gives P(k_stale >= k) with intervals next to the closed form of §3.2:
a read misses the latest version with p = C(N-W, R) / C(N, R) and the latest k with
p^k, when every write reaches a random W-subset only and every read asks a random
R-subset. All frames are tidy: one row per read, or one row per group and point.

The pairwise form (issue 19 item 5; this module is the workbench's one t-visibility
implementation, `checkers/tvisibility.py` was folded in): `visibility_pairs` gives one
row per (ok write w, ok read r of its key) with r invoked t in [0, max_t_ms) after w
completed, and whether r returned w or a successor of w; `visibility_curve` bins them.

What "successor" means is the store's: for a log or a quorum store with totally ordered
versions, any version >= w's (`at_least`, the default everywhere); for last-writer-wins,
w itself or a write made after seeing w (`causal_successor(trace)`, from
`visibility.causal_forest`), since a newer but concurrent write replaced w rather than
carried it. A null read returns no write's successor.

`settled_staleness` is the per-read form with a lag: the newest version committed at
least `settle_ms` before the read, and whether the read reflected it. It is the far end
of the t-visibility curve as one number, and unlike `stale_read_fraction` it does not
move with client speed (docs/metrics.md, `stale_read_settled_fraction`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import RegisterOps, register_ops
from workbench.checkers.visibility import causal_forest

Successor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(key codes, write versions, read versions) -> the read's version is the write's or a
successor of it. Versions are `versions.register_ops`' `version` column."""

PAIR_COLUMNS = ["key", "write_op", "read_op", "t_ms", "visible"]
DEFAULT_EDGES_MS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
SETTLE_MS = 100.0
"""`settled_staleness`' lag: far past a write's propagation on a connected network
(1-3 ms links, a few hops), far below a partition's length."""

PAPER_T_POINTS_MS: tuple[float, ...] = (0.0, 1.0, 5.0, 10.0, 50.0)
"""Where the headline table reads P(consistent) off the curve."""

Z95 = 1.959963984540054


def closed_form_miss(n: int, r: int, w: int) -> float:
    """PBS §3.2: P(a read of a random R-subset misses a random W-subset) = C(N-W,R)/C(N,R)."""
    return math.comb(n - w, r) / math.comb(n, r)


def wilson_interval(hits: np.ndarray | float, total: np.ndarray | float,
                    z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (exact enough at p near 0 or 1,
    where the normal approximation collapses to a zero-width band)."""
    hits, total = np.asarray(hits, dtype=float), np.asarray(total, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / total
        denom = 1 + z**2 / total
        centre = (p + z**2 / (2 * total)) / denom
        half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    # Exactly 0 (1) at p = 0 (1), where rounding would leave a bound a hair off.
    low = np.where(hits == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(hits == total, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


def at_least(keys: np.ndarray, written: np.ndarray, read: np.ndarray) -> np.ndarray:
    """Totally ordered versions (a log, a quorum store): any version >= w's."""
    with np.errstate(invalid="ignore"):
        return np.asarray(read >= written, dtype=bool)


def causal_successor(trace: Iterable[Mapping[str, Any]]) -> Successor:
    """Last-writer-wins: w itself or a write whose writer had seen w (transitively).
    `keys` are the trace's keys here (`visibility_pairs` and `t_visibility` pass them)."""
    forest = causal_forest(trace)
    if forest is None:
        return at_least
    # Per key, version -> (enter, leave) of the Euler tour, for vectorized lookups.
    spans: dict[Any, list[tuple[int, int, int]]] = {}
    for (key, version), entered in forest.enter.items():
        spans.setdefault(key, []).append((version, entered, forest.leave[(key, version)]))
    tables = {key: pd.DataFrame(rows, columns=["version", "enter", "leave"]).set_index("version")
              for key, rows in spans.items()}

    def successor(keys: np.ndarray, written: np.ndarray, read: np.ndarray) -> np.ndarray:
        out = np.zeros(len(keys), dtype=bool)
        known = np.isfinite(written) & np.isfinite(read)
        for key in pd.unique(keys[known]):
            table = tables.get(key)
            if table is None:
                continue
            at = known & (keys == key)
            w = table.reindex(written[at].astype(np.int64))
            u_enter = table["enter"].reindex(read[at].astype(np.int64)).to_numpy(dtype=float)
            out[at] = (w["enter"].to_numpy(dtype=float) <= u_enter) & (u_enter < w["leave"].to_numpy(dtype=float))
        return out

    return successor


def _keys_of(coded: RegisterOps) -> dict[int, Any]:
    """key_code -> key, for successor rules that look keys up in the trace."""
    return dict(zip(coded.writes["key_code"], coded.writes["key"], strict=True)) | dict(
        zip(coded.reads["key_code"], coded.reads["key"], strict=True))


def t_visibility(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]] | None = None,
                 successor: Successor = at_least, lag_ms: float = 0.0, with_k_stale: bool = True) -> pd.DataFrame:
    """One row per ok register read: key, invoke_time, t_ms, consistent, k_stale.

    The write a read is judged against is the newest version committed by the read's
    invoke minus `lag_ms` (0: the PBS definition); `consistent` is `successor`'s verdict.
    `with_k_stale=False` leaves k_stale and committed_before at 0 (their count is a loop
    per read; a run summary does not need it).
    """
    trace = None if trace is None else list(trace)
    coded = register_ops(frame, trace)
    reads, writes = coded.reads, coded.writes
    keys_of = _keys_of(coded) if successor is not at_least else {}
    columns = ["op", "process", "key", "invoke_time", "t_ms", "consistent", "k_stale", "committed_before"]
    if reads.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    t_ms = np.full(len(reads), np.nan)
    consistent = np.ones(len(reads), dtype=bool)
    k_stale = np.zeros(len(reads), dtype=np.int64)
    committed_before = np.zeros(len(reads), dtype=np.int64)
    read_rank = np.nan_to_num(reads["rank"].to_numpy(dtype=float), nan=-1.0)
    read_version = reads["version"].to_numpy(dtype=float)
    r_key = reads["key_code"].to_numpy()
    r_invoke = reads["invoke_time"].to_numpy(dtype=float)
    for key, group in writes.groupby("key_code", sort=False):
        group = group.sort_values(["complete_time", "op"], kind="stable")
        done = group["complete_time"].to_numpy(dtype=float)
        rank = np.nan_to_num(group["rank"].to_numpy(dtype=float), nan=-1.0)
        newest = np.maximum.accumulate(rank)
        # Where the running newest version was reached: its commit time and version.
        raised = np.r_[True, newest[1:] > newest[:-1]]
        newest_at = pd.Series(np.where(raised, done, np.nan)).ffill().to_numpy()
        newest_version = pd.Series(np.where(raised, group["version"].to_numpy(dtype=float), np.nan)).ffill().to_numpy()
        mine = np.flatnonzero(r_key == key)
        # Writes done by the invoke (minus the lag); a write completing at the very
        # instant counts (t = 0: a client's read right after its own write commits).
        committed = np.searchsorted(done, r_invoke[mine] - lag_ms, side="right")
        has = committed > 0
        last = committed[has] - 1
        rows = mine[has]
        t_ms[rows] = r_invoke[rows] - newest_at[last]
        if successor is at_least:  # ranks: also right without a trace
            consistent[rows] = read_rank[rows] >= newest[last]
        else:
            trace_keys = np.full(len(rows), keys_of.get(key), dtype=object)
            consistent[rows] = successor(trace_keys, newest_version[last], read_version[rows])
        for row, count in zip(rows, committed[has], strict=True) if with_k_stale else ():
            # Distinct committed versions newer than the one read (ranks are dense).
            versions = np.unique(rank[:count])
            k_stale[row] = np.count_nonzero(versions > read_rank[row])
            committed_before[row] = np.count_nonzero(versions > 0)
    return pd.DataFrame({
        "op": reads["op"].to_numpy(), "process": reads["process"].to_numpy(),
        "key": reads["key"].to_numpy(dtype=object), "invoke_time": r_invoke,
        "t_ms": t_ms, "consistent": consistent, "k_stale": k_stale,
        "committed_before": committed_before,
    })[columns]


def consistency_vs_t(tvis: pd.DataFrame, edges: Sequence[float] | None = None,
                     by: Sequence[str] = ()) -> pd.DataFrame:
    """P(consistent) per bin of t (left edge `t_ms`), with Wilson 95% bounds, per group.

    Columns: *by, t_ms, t_hi_ms, reads, consistent, p_consistent, ci_low, ci_high.
    """
    if edges is None:
        edges = [0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200]
    edges = np.asarray(edges, dtype=float)
    rows = tvis[tvis["t_ms"].notna()]
    binned = rows.assign(bin=pd.cut(rows["t_ms"], edges, right=False, labels=False))
    binned = binned[binned["bin"].notna()]
    keys = [*by, "bin"]
    out = (binned.groupby(keys, observed=True)["consistent"].agg(reads="size", consistent="sum")
           .reset_index())
    out["t_ms"] = edges[out["bin"].astype(int)]
    out["t_hi_ms"] = edges[out["bin"].astype(int) + 1]
    out["p_consistent"] = out["consistent"] / out["reads"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["consistent"], out["reads"])
    return out[[*by, "t_ms", "t_hi_ms", "reads", "consistent", "p_consistent", "ci_low", "ci_high"]]


def consistency_at(tvis: pd.DataFrame, points: Sequence[float] = PAPER_T_POINTS_MS,
                   by: Sequence[str] = (), rel_width: float = 0.1,
                   min_width_ms: float = 0.25) -> pd.DataFrame:
    """P(consistent) at chosen t: reads with t in [t, t + max(min_width, rel_width*t)).

    A read t ms after a commit is consistent at least as often as one earlier (the curve
    is non-decreasing), so a window starting at t reports t or slightly better.
    """
    frames = []
    for point in points:
        width = max(min_width_ms, rel_width * point)
        window = tvis[(tvis["t_ms"] >= point) & (tvis["t_ms"] < point + width)]
        agg = (window.groupby(list(by), observed=True)["consistent"].agg(reads="size", consistent="sum")
               .reset_index() if by else
               pd.DataFrame({"reads": [len(window)], "consistent": [int(window["consistent"].sum())]}))
        frames.append(agg.assign(t_ms=point, window_ms=width))
    out = pd.concat(frames, ignore_index=True)
    out["p_consistent"] = out["consistent"] / out["reads"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["consistent"], out["reads"])
    return out[[*by, "t_ms", "window_ms", "reads", "consistent", "p_consistent", "ci_low", "ci_high"]]


def k_staleness(tvis: pd.DataFrame, ks: Sequence[int] = (1, 2, 3), by: Sequence[str] = ()) -> pd.DataFrame:
    """P(k_stale >= k): the read missed the latest k committed versions, with Wilson
    95% bounds. Only reads after at least k committed writes can miss k of them."""
    frames = []
    for k in ks:
        eligible = tvis[tvis["t_ms"].notna()]
        if "committed_before" in eligible:
            eligible = eligible[eligible["committed_before"] >= k]
        flags = eligible.assign(missed=eligible["k_stale"] >= k)
        if by:
            agg = flags.groupby(list(by), observed=True)["missed"].agg(reads="size", missed="sum").reset_index()
        else:
            agg = pd.DataFrame({"reads": [len(flags)], "missed": [int(flags["missed"].sum())]})
        frames.append(agg.assign(k=k))
    out = pd.concat(frames, ignore_index=True)
    out["p_missed"] = out["missed"] / out["reads"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["missed"], out["reads"])
    return out[[*by, "k", "reads", "missed", "p_missed", "ci_low", "ci_high"]]


def settled_staleness(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]] | None = None,
                      settle_ms: float = SETTLE_MS) -> dict[str, Any]:
    """`stale_read_settled_fraction`: over ok reads with a version of their key committed
    at least `settle_ms` before their invoke, the share that returned neither the newest
    such version nor a successor of it. `stale_read_settled_reads`: how many qualified.

    Why it does not move with client speed where `stale_read_fraction` does: the latter
    asks about the newest write acknowledged before the read, which at think_ms 0 is
    often a few ms old and still in flight (a read concurrent with replication), at
    think_ms 100 rarely; the chance that a read lands in that gap is the write rate.
    Here every read is judged against a version at least `settle_ms` old, which a
    connected store has long propagated, so what remains is staleness the network state
    causes (a partition), not the write rate.

    For last-writer-wins (a trace with a causal forest) "successor" is causal: a minority
    read returning its own side's later write did not see the majority's (with version
    order it would pass, its HLC being newer). And only versions whose branch was still
    alive `settle_ms` after they committed (some replica applied them or a successor
    then, `alive_until`) are judged against: a version on a branch that a concurrent
    write killed first was lost, not stale (the lost-write figures count it), and how
    many are lost grows with the write rate — at think_ms 0 a local store forks a key
    into concurrent branches that reach several nodes before all but one die.
    """
    trace = None if trace is None else list(trace)
    forest = causal_forest(trace) if trace else None
    rule = causal_successor(trace) if forest is not None else at_least
    if forest is not None and trace is not None:
        writes = register_ops(frame, trace).writes
        alive = alive_until(forest, trace)
        lost = [op for op, key, version, done in zip(writes["op"], writes["key"], writes["version"],
                                                     writes["complete_time"], strict=True)
                if np.isfinite(version) and alive.get((key, int(version)), -np.inf) < done + settle_ms]
        frame = frame[~frame["op"].isin(lost)]
    rows = t_visibility(frame, trace, successor=rule, lag_ms=settle_ms, with_k_stale=False)
    judged = rows[rows["t_ms"].notna()]
    return {"stale_read_settled_fraction": float((~judged["consistent"]).mean()) if len(judged) else None,
            "stale_read_settled_reads": len(judged)}


def alive_until(forest: Any, trace: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, int], float]:
    """(key, version) -> the last time any replica applied the version or a causal
    successor of it: when its branch of the key's history was last alive."""
    last: dict[tuple[Any, int], float] = {}
    for r in trace:
        if r.get("kind") == "apply" and not r.get("set"):
            at = (r["key"], int(r["version"]))
            last[at] = max(last.get(at, -np.inf), float(r["time"]))
    out: dict[tuple[Any, int], float] = {}
    for key in {k for k, _ in forest.enter}:
        for version in forest.post_order(key):  # successors first
            until = last.get((key, version), -np.inf)
            for child in forest.children.get((key, version), ()):
                until = max(until, out[(key, child)])
            out[(key, version)] = until
    return out


def visibility_pairs(frame: pd.DataFrame, trace: Sequence[Mapping[str, Any]] | None, max_t_ms: float,
                     successor: Successor = at_least) -> pd.DataFrame:
    """One row per (ok write w, ok read r of its key) with r invoked t in [0, max_t_ms)
    after w completed: key, write_op, read_op, t_ms, visible (r returned w or a successor).
    Writes and reads of a version the order does not know are left out."""
    coded = register_ops(frame, trace)
    writes, reads = coded.writes, coded.reads
    writes = writes[np.isfinite(writes["version"].to_numpy(dtype=float))]
    reads = reads[~np.isnan(reads["version"].to_numpy(dtype=float))]
    keys_of = _keys_of(coded)
    out: list[pd.DataFrame] = []
    for code, of_key in writes.groupby("key_code", sort=False):
        of_key = of_key.sort_values(["complete_time", "op"], kind="stable")
        w_done = of_key["complete_time"].to_numpy(dtype=float)
        mine = reads[reads["key_code"].eq(code)]
        r_invoke = mine["invoke_time"].to_numpy(dtype=float)
        # Writes that completed in (invoke - max_t, invoke]: 0 <= t < max_t.
        lo = np.searchsorted(w_done, r_invoke - max_t_ms, side="right")
        hi = np.searchsorted(w_done, r_invoke, side="right")
        counts = hi - lo
        if not counts.sum():
            continue
        read_at = np.repeat(np.arange(len(r_invoke)), counts)
        write_at = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        keys = np.full(len(read_at), keys_of.get(code), dtype=object)
        read_version = mine["version"].to_numpy(dtype=float)[read_at]
        visible = np.zeros(len(read_at), dtype=bool)
        known = np.isfinite(read_version)  # a null read shows no write
        visible[known] = successor(keys[known], of_key["version"].to_numpy(dtype=float)[write_at][known],
                                   read_version[known])
        out.append(pd.DataFrame({
            "key": keys, "write_op": of_key["op"].to_numpy()[write_at], "read_op": mine["op"].to_numpy()[read_at],
            "t_ms": r_invoke[read_at] - w_done[write_at], "visible": visible}))
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            PAIR_COLUMNS, ("object", "int64", "int64", "float64", "bool"), strict=True)})
    return pd.concat(out, ignore_index=True)[PAIR_COLUMNS]


def visibility_curve(pairs: pd.DataFrame, edges_ms: Sequence[float] = DEFAULT_EDGES_MS) -> pd.DataFrame:
    """Per bin [t_ms, t_end_ms): `pairs`, `visible`, `p_visible` (NaN for an empty bin),
    with Wilson 95% bounds `ci_low`, `ci_high` (pairs share reads, so the bounds are
    optimistic: use them to read the curve, not to test it)."""
    edges = np.asarray(edges_ms, dtype=float)
    bins = pd.cut(pairs["t_ms"], edges, right=False, labels=False)
    grouped = pairs.assign(bin=bins).dropna(subset=["bin"]).groupby("bin")["visible"]
    counts = grouped.size().reindex(range(len(edges) - 1), fill_value=0).to_numpy(dtype=np.int64)
    visible = grouped.sum().reindex(range(len(edges) - 1), fill_value=0).to_numpy(dtype=np.int64)
    low, high = wilson_interval(visible, counts)
    return pd.DataFrame({
        "t_ms": edges[:-1], "t_end_ms": edges[1:], "pairs": counts, "visible": visible,
        "p_visible": np.where(counts > 0, visible / np.maximum(counts, 1), np.nan),
        "ci_low": np.where(counts > 0, low, np.nan), "ci_high": np.where(counts > 0, high, np.nan),
    })
