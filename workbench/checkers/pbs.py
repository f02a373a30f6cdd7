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
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import register_ops

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


def t_visibility(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """One row per ok register read: key, invoke_time, t_ms, consistent, k_stale."""
    coded = register_ops(frame, trace)
    reads, writes = coded.reads, coded.writes
    columns = ["op", "process", "key", "invoke_time", "t_ms", "consistent", "k_stale", "committed_before"]
    if reads.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    t_ms = np.full(len(reads), np.nan)
    consistent = np.ones(len(reads), dtype=bool)
    k_stale = np.zeros(len(reads), dtype=np.int64)
    committed_before = np.zeros(len(reads), dtype=np.int64)
    read_rank = np.nan_to_num(reads["rank"].to_numpy(dtype=float), nan=-1.0)
    r_key = reads["key_code"].to_numpy()
    r_invoke = reads["invoke_time"].to_numpy(dtype=float)
    for key, group in writes.groupby("key_code", sort=False):
        group = group.sort_values(["complete_time", "op"], kind="stable")
        done = group["complete_time"].to_numpy(dtype=float)
        rank = np.nan_to_num(group["rank"].to_numpy(dtype=float), nan=-1.0)
        newest = np.maximum.accumulate(rank)
        # Where the running newest version was reached: its commit time.
        raised = np.r_[True, newest[1:] > newest[:-1]]
        newest_at = pd.Series(np.where(raised, done, np.nan)).ffill().to_numpy()
        mine = np.flatnonzero(r_key == key)
        # Writes done by the invoke; a write completing at the very instant of the
        # invoke counts (t = 0: a client's read right after its own write commits).
        committed = np.searchsorted(done, r_invoke[mine], side="right")
        has = committed > 0
        last = committed[has] - 1
        rows = mine[has]
        t_ms[rows] = r_invoke[rows] - newest_at[last]
        consistent[rows] = read_rank[rows] >= newest[last]
        for row, count in zip(rows, committed[has], strict=True):
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
