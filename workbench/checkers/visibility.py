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
                            if r.get("kind") == "apply"], columns=["time", "node", "key", "version"])
    if applies.empty:
        return pd.DataFrame(columns=COLUMNS)
    applies["time"] = applies["time"].astype(float)
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
