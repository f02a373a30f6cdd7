"""PBS-style t-visibility measured from a run: the chance that a read started t ms after
a write completed returns that write or a successor of it (Bailis et al. 2012,
"Probabilistically Bounded Staleness for Practical Partial Quorums", §3: t-visibility).

PBS predicts the curve from a model of the replication protocol; here it is counted from
a history and its trace, so a model's prediction (a quorum store's, later) and a run can
be drawn on one plot. Two steps, both DataFrame in, DataFrame out:

- `visibility_pairs(frame, trace, max_t_ms, successor)`: one row per (ok write w, ok
  read r of the same key) with r invoked t in [0, max_t_ms) after w completed, and
  whether r returned w or a successor of w. Versions come from the trace's `apply`
  records ((key, value) -> version; values are unique per run).
- `t_visibility(pairs, edges_ms)`: per bin of t, the pairs and the share visible.

What "successor" means is the store's: for a log or a quorum store with totally ordered
versions, any version >= w's (`at_least`); for last-writer-wins, w itself or a write
made after seeing w (`causal_successor(trace)`, from `visibility.causal_forest`), since a
newer but concurrent write replaced w rather than carried it. A null read returns no
write's successor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.versions import WRITE_FS, hashable
from workbench.checkers.visibility import causal_forest

Successor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(keys, write versions, read versions) -> read version is the write's or a successor."""

PAIR_COLUMNS = ["key", "write_op", "read_op", "t_ms", "visible"]
DEFAULT_EDGES_MS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def at_least(keys: np.ndarray, written: np.ndarray, read: np.ndarray) -> np.ndarray:
    """Totally ordered versions (a log, a quorum store): any version >= w's."""
    return np.asarray(read >= written, dtype=bool)


def causal_successor(trace: Iterable[Mapping[str, Any]]) -> Successor:
    """Last-writer-wins: w itself or a write whose writer had seen w (transitively)."""
    forest = causal_forest(trace)
    if forest is None:
        return at_least
    # Per key, version -> (enter, leave) of the Euler tour, for vectorized lookups.
    spans: dict[Any, pd.DataFrame] = {}
    for (key, version), entered in forest.enter.items():
        spans.setdefault(key, []).append((version, entered, forest.leave[(key, version)]))  # type: ignore[arg-type]
    tables = {key: pd.DataFrame(rows, columns=["version", "enter", "leave"]).set_index("version")
              for key, rows in spans.items()}

    def successor(keys: np.ndarray, written: np.ndarray, read: np.ndarray) -> np.ndarray:
        out = np.zeros(len(keys), dtype=bool)
        for key in pd.unique(keys):
            table = tables.get(key)
            if table is None:
                continue
            at = keys == key
            w = table.reindex(written[at].astype(np.int64))
            u_enter = table["enter"].reindex(read[at].astype(np.int64)).to_numpy(dtype=float)
            out[at] = (w["enter"].to_numpy(dtype=float) <= u_enter) & (u_enter < w["leave"].to_numpy(dtype=float))
        return out

    return successor


def visibility_pairs(frame: pd.DataFrame, trace: Sequence[Mapping[str, Any]], max_t_ms: float,
                     successor: Successor = at_least) -> pd.DataFrame:
    version_of: dict[tuple[Any, Any], int] = {}
    for r in trace:
        if r.get("kind") == "apply" and not r.get("set"):
            pair = (r.get("key"), hashable(r.get("value")))
            version_of[pair] = min(int(r["version"]), version_of.get(pair, int(r["version"])))
    ok = frame[frame["type"].eq("ok")]
    writes = ok[ok["f"].isin(WRITE_FS)]
    written = [v[1] if f == "cas" else v for f, v in zip(writes["f"], writes["value"], strict=True)]
    w_version = np.array([version_of.get((k, hashable(v)), np.nan)
                          for k, v in zip(writes["key"], written, strict=True)], dtype=float)
    reads = ok[ok["f"].eq("read")]
    r_version = np.array([-np.inf if hashable(v) is None else version_of.get((k, hashable(v)), np.nan)
                          for k, v in zip(reads["key"], reads["result"], strict=True)], dtype=float)
    out: list[pd.DataFrame] = []
    for key in pd.unique(writes["key"]):
        w_mask = writes["key"].eq(key).to_numpy() & ~np.isnan(w_version)
        r_mask = reads["key"].eq(key).to_numpy() & ~np.isnan(r_version)
        w_done = writes["complete_time"].to_numpy(dtype=float)[w_mask]
        order = np.argsort(w_done, kind="stable")
        w_done, w_ops, w_ver = w_done[order], writes["op"].to_numpy()[w_mask][order], w_version[w_mask][order]
        r_invoke = reads["invoke_time"].to_numpy(dtype=float)[r_mask]
        # Writes that completed in (invoke - max_t, invoke]: 0 <= t < max_t.
        lo = np.searchsorted(w_done, r_invoke - max_t_ms, side="right")
        hi = np.searchsorted(w_done, r_invoke, side="right")
        counts = hi - lo
        if not counts.sum():
            continue
        read_at = np.repeat(np.arange(len(r_invoke)), counts)
        write_at = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        keys = np.full(len(read_at), key, dtype=object)
        reads_version = r_version[r_mask][read_at]
        visible = np.zeros(len(read_at), dtype=bool)
        known = np.isfinite(reads_version)  # a null read shows no write
        visible[known] = successor(keys[known], w_ver[write_at][known], reads_version[known])
        out.append(pd.DataFrame({
            "key": keys, "write_op": w_ops[write_at], "read_op": reads["op"].to_numpy()[r_mask][read_at],
            "t_ms": r_invoke[read_at] - w_done[write_at], "visible": visible}))
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            PAIR_COLUMNS, ("object", "int64", "int64", "float64", "bool"), strict=True)})
    return pd.concat(out, ignore_index=True)[PAIR_COLUMNS]


def t_visibility(pairs: pd.DataFrame, edges_ms: Sequence[float] = DEFAULT_EDGES_MS) -> pd.DataFrame:
    """Per bin [t_ms, t_end_ms): `pairs`, `visible`, `p_visible` (NaN for an empty bin)."""
    edges = np.asarray(edges_ms, dtype=float)
    bins = pd.cut(pairs["t_ms"], edges, right=False, labels=False)
    grouped = pairs.assign(bin=bins).dropna(subset=["bin"]).groupby("bin")["visible"]
    counts = grouped.size().reindex(range(len(edges) - 1), fill_value=0)
    visible = grouped.sum().reindex(range(len(edges) - 1), fill_value=0)
    return pd.DataFrame({
        "t_ms": edges[:-1], "t_end_ms": edges[1:], "pairs": counts.to_numpy(dtype=np.int64),
        "visible": visible.to_numpy(dtype=np.int64),
        "p_visible": np.where(counts.to_numpy() > 0, visible.to_numpy() / np.maximum(counts.to_numpy(), 1),
                              np.nan),
    })
