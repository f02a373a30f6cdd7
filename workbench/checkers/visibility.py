"""Replication lag: how long after a write first took effect on some replica it had
taken effect on every replica.

Input is the trace's `apply` records, `{"time", "kind": "apply", "node", "key",
"value", "version"}` (see `core.effects.Observe`): one per replica per write it
applies. For a write version (key, v) first applied anywhere at t0, replica n holds it
from the first time it applies any version of that key >= v — a replica may skip
versions (the eventual store's last-writer-wins, Raft's InstallSnapshot), and a newer
version subsumes an older one. The lag of (key, v) is the latest of those times over
all `nodes` replicas, minus t0; a version some replica never reached has no lag and
counts as `incomplete`.

For last-writer-wins (a trace whose local-write records carry `writer` and `seen`, as
the eventual store's do), "any version >= v" is wrong: the other side's own later
writes are >= v without ever having carried v, so the lag would measure how often the
other side writes, not how fast writes travel (issue 19 §6). There a replica reaches v
only when it applies v or a causal successor of v: a write whose writer had already
seen v, directly (its `seen` is v) or through a chain of such writes. `seen` names one
version per write, so the successor relation is a forest per key; a replica's reach
of v is the earliest of its applies over v's subtree (`causal_forest`).

Why besides `convergence_ms`: that one asks when sampled state digests of all
replicas agree at one instant, which under continuous writes happens only when writes
pause (on Ray, where each actor samples on its own clock, that is the end of the
workload). The lag is defined per write, needs no quiescence, and means the same on
both runtimes: the window in which a read at some replica can miss an acknowledged
write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["key", "version", "first_ms", "everywhere_ms", "lag_ms", "replicas"]


def visibility_lags(trace: Iterable[Mapping[str, Any]], nodes: int) -> pd.DataFrame:
    """One row per write version (key, version) that some replica applied.

    `first_ms` when it first took effect anywhere; `replicas` how many of the `nodes`
    replicas reached it (it or something newer); `everywhere_ms` / `lag_ms` when the
    last of all `nodes` replicas reached it, and that minus `first_ms` (NaN if some
    replica never did). A replica that installs a snapshot or checkpoint (`install`
    records, Raft and Paxos, whose versions are log positions) reaches every version
    up to the installed one then: it gets no `apply` record for those writes.
    """
    records = list(trace)
    applies = pd.DataFrame([(r["time"], r["node"], r["key"], r["version"]) for r in records
                            if r.get("kind") == "apply" and not r.get("set")],
                           columns=["time", "node", "key", "version"])
    if applies.empty:
        return pd.DataFrame(columns=COLUMNS)
    applies["time"] = applies["time"].astype(float)
    forest = causal_forest(records)
    if forest is not None:
        return _causal_lags(applies, forest, nodes)
    installs = _earliest_covering([(r["node"], r["version"], float(r["time"])) for r in records
                                   if r.get("kind") == "install"])
    rows = []
    for key, of_key in applies.groupby("key", sort=True):
        first = of_key.groupby("version")["time"].min()
        versions = first.index.to_numpy()
        # reached[n, j]: when replica n first held version j of this key or a newer one.
        reached = np.full((nodes, len(versions)), np.inf)
        for node, of_node in of_key.groupby("node"):
            if 0 <= int(node) < nodes:
                by_version = of_node.groupby("version")["time"].min()
                reached[int(node)] = _first_at_least(by_version.index.to_numpy(),
                                                     by_version.to_numpy(), versions)
        for node, (uptos, times) in installs.items():
            if 0 <= node < nodes:
                reached[node] = np.minimum(reached[node], _first_at_least(uptos, times, versions))
        everywhere = reached.max(axis=0)
        complete = np.isfinite(everywhere)
        rows.append(pd.DataFrame({
            "key": key, "version": versions, "first_ms": first.to_numpy(),
            "everywhere_ms": np.where(complete, everywhere, np.nan),
            "lag_ms": np.where(complete, everywhere - first.to_numpy(), np.nan),
            "replicas": np.isfinite(reached).sum(axis=0),
        }))
    return pd.concat(rows, ignore_index=True)[COLUMNS]


class CausalForest:
    """Per key, which version each local write had seen (its parent), with a DFS
    numbering so "u is v or a causal successor of v" is two comparisons."""

    def __init__(self, parents: dict[tuple[Any, int], int | None]) -> None:
        self.parents = parents
        children: dict[tuple[Any, int], list[int]] = {}
        for (key, version), seen in parents.items():
            if seen is not None and (key, seen) in parents:
                children.setdefault((key, seen), []).append(version)
        self.children = children
        # Euler-tour intervals: u in subtree(v) iff enter[v] <= enter[u] < leave[v].
        self.enter: dict[tuple[Any, int], int] = {}
        self.leave: dict[tuple[Any, int], int] = {}
        clock = 0
        # Any visiting order gives correct intervals; dict order keeps it deterministic.
        for root in [kv for kv, seen in parents.items() if seen is None or (kv[0], seen) not in parents]:
            stack: list[tuple[tuple[Any, int], bool]] = [(root, False)]
            while stack:
                node, done = stack.pop()
                if done:
                    self.leave[node] = clock
                    continue
                self.enter[node] = clock
                clock += 1
                stack.append((node, True))
                stack.extend(((node[0], c), False) for c in self.children.get(node, ()))

    def post_order(self, key: Any) -> list[int]:
        """The key's versions, every write after all its causal successors."""
        if not hasattr(self, "_by_key"):
            by_key: dict[Any, list[tuple[Any, int]]] = {}
            for kv in self.enter:
                by_key.setdefault(kv[0], []).append(kv)
            self._by_key = by_key
        return [kv[1] for kv in sorted(self._by_key.get(key, ()), key=lambda kv: -self.enter[kv])]

    def is_successor(self, key: Any, v: int, u: int) -> bool:
        """u is v or a causal successor of v (both writes of `key`)."""
        ev, eu = self.enter.get((key, v)), self.enter.get((key, u))
        return ev is not None and eu is not None and ev <= eu < self.leave[(key, v)]


def causal_forest(records: Iterable[Mapping[str, Any]]) -> CausalForest | None:
    """The seen-forest of a trace's local writes (records with `writer`); None if the
    trace has none (a log-based store: every later version is a successor)."""
    parents: dict[tuple[Any, int], int | None] = {}
    for r in records:
        if r.get("kind") == "apply" and "writer" in r and not r.get("set"):
            seen = r.get("seen")
            parents.setdefault((r["key"], int(r["version"])), None if seen is None else int(seen))
    return CausalForest(parents) if parents else None


def _causal_lags(applies: pd.DataFrame, forest: CausalForest, nodes: int) -> pd.DataFrame:
    rows = []
    for key, of_key in applies.groupby("key", sort=True):
        first = of_key.groupby("version")["time"].min()
        order = [v for v in forest.post_order(key) if v in first.index]
        if not order:
            continue
        position = pd.Index(order)
        # reach[i, n]: when replica n first applied version order[i] itself, then (below)
        # the earliest over order[i]'s subtree.
        reach = np.full((len(order), nodes), np.inf)
        known = of_key[of_key["node"].between(0, nodes - 1)]
        at = position.get_indexer(known["version"])
        has = at >= 0
        np.minimum.at(reach, (at[has], known["node"].to_numpy(dtype=np.int64)[has]),
                      known["time"].to_numpy(dtype=float)[has])
        parents = position.get_indexer([forest.parents.get((key, v), -1) for v in order])
        for i, parent in enumerate(parents):  # successors first: fold each subtree into its root
            if parent >= 0:
                np.minimum(reach[parent], reach[i], out=reach[parent])
        everywhere = reach.max(axis=1)
        complete = np.isfinite(everywhere)
        first_ms = first.reindex(order).to_numpy()
        rows.append(pd.DataFrame({
            "key": key, "version": order, "first_ms": first_ms,
            "everywhere_ms": np.where(complete, everywhere, np.nan),
            "lag_ms": np.where(complete, everywhere - first_ms, np.nan),
            "replicas": np.isfinite(reach).sum(axis=1),
        }).sort_values("version"))
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(rows, ignore_index=True)[COLUMNS]


def _first_at_least(marks: np.ndarray, times: np.ndarray, versions: np.ndarray) -> np.ndarray:
    """For each version v: the earliest of `times` whose mark (sorted ascending) is >= v
    (inf if none) — a suffix minimum looked up by binary search."""
    if not len(marks):
        return np.full(len(versions), np.inf)
    suffix_min = np.minimum.accumulate(np.asarray(times, dtype=float)[::-1])[::-1]
    at = np.searchsorted(marks, versions, side="left")
    out = np.full(len(versions), np.inf)
    has = at < len(marks)
    out[has] = suffix_min[at[has]]
    return out


def _earliest_covering(installs: list[tuple[int, int, float]]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """node -> (installed versions ascending, when each was first installed)."""
    by_node: dict[int, dict[int, float]] = {}
    for node, upto, time in installs:
        seen = by_node.setdefault(int(node), {})
        seen[upto] = min(time, seen.get(upto, np.inf))
    return {node: (np.array(sorted(seen)), np.array([seen[u] for u in sorted(seen)]))
            for node, seen in by_node.items()}


def visibility_summary(lags: pd.DataFrame) -> dict[str, float | None]:
    """`visibility_p50_ms` / `visibility_p99_ms` over the versions every replica
    reached, and `visibility_incomplete`: the fraction of versions some replica never
    reached before the run ended (None without writes)."""
    if lags.empty:
        return {"visibility_p50_ms": None, "visibility_p99_ms": None, "visibility_incomplete": None}
    done = lags["lag_ms"].dropna()
    return {
        "visibility_p50_ms": float(done.quantile(0.5)) if len(done) else None,
        "visibility_p99_ms": float(done.quantile(0.99)) if len(done) else None,
        "visibility_incomplete": float(lags["lag_ms"].isna().mean()),
    }
