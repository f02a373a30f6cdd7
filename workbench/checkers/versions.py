"""The version order of a register workload, for staleness and session checks.

A store's trace reports `{"time", "kind": "apply", "node", "key", "value", "version"}`
each time a replica applies a value (Raft: the log index; the eventual store: its
hybrid-logical-clock timestamp). Values written are unique per run, so (key, value)
names one version. Without a trace, the fallback order is the order in which ok writes
completed, per key (exact for a linearizable store whose writes do not overlap; an
approximation otherwise).

`rank` is the dense rank of a version among the distinct versions of its key (1 = the
oldest); the initial null is rank 0; NaN when the order does not know the value (it was
written by an info op and there is no trace). Counting "versions between" two values
is then a difference of ranks.

Everything is coded to integers first (keys and values with `pandas.factorize`, a
(key, value) pair as one int64), so million-op frames never go through Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

WRITE_FS = ("write", "cas")


def hashable(value: Any) -> Any:
    """Frame values may be lists (JSON); lists cannot be dict keys or merge keys."""
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class RegisterOps:
    """Ok writes and ok reads of the register keys, with integer codes and ranks.

    writes: op, process, key, key_code, pair, invoke_time, complete_time, rank, version
    reads:  op, process, key, value, key_code, pair, invoke_time, complete_time, rank, version
    `pair` codes (key, value); a null read has its key's pair for null. `version` is the
    trace's version number (the lowest a replica applied; without a trace, the rank;
    -inf for null), which the causal successor rule of last-writer-wins needs.
    """

    writes: pd.DataFrame
    reads: pd.DataFrame


def register_ops(frame: pd.DataFrame,
                 trace: Iterable[Mapping[str, Any]] | None = None) -> RegisterOps:
    ok = frame["type"].eq("ok")
    is_add = frame["f"].eq("add")
    w_rows = frame[ok & frame["f"].isin(WRITE_FS)]
    r_rows = frame[ok & frame["f"].eq("read")]
    if is_add.any():  # set keys: their reads return collections, not register values
        r_rows = r_rows[~r_rows["key"].isin(pd.unique(frame.loc[is_add, "key"]))]

    written = w_rows["value"].to_numpy(dtype=object).copy()
    cas = w_rows["f"].eq("cas").to_numpy()
    if cas.any():  # an ok cas [expected, new] wrote `new`
        written[cas] = [v[1] for v in written[cas]]
    read_values = r_rows["result"].to_numpy(dtype=object)

    applied = [(r.get("key"), r.get("value"), r.get("version"))
               for r in (trace or ()) if r.get("kind") == "apply"]
    t_keys = np.array([a[0] for a in applied], dtype=object)
    t_values = np.array([a[1] for a in applied] + [None], dtype=object)[:-1]

    key_codes, _ = pd.factorize(
        np.concatenate([w_rows["key"].to_numpy(dtype=object), r_rows["key"].to_numpy(dtype=object),
                        t_keys]), use_na_sentinel=False)
    value_codes, uniques = _factorize_values(np.concatenate([written, read_values, t_values]))
    width = len(uniques) + 1
    pairs = key_codes.astype(np.int64) * width + (value_codes + 1)  # value -1 (null) -> +0
    n_w, n_r = len(w_rows), len(r_rows)
    w_key, r_key, t_key = key_codes[:n_w], key_codes[n_w:n_w + n_r], key_codes[n_w + n_r:]
    w_pair, r_pair, t_pair = pairs[:n_w], pairs[n_w:n_w + n_r], pairs[n_w + n_r:]

    writes = pd.DataFrame({
        "op": w_rows["op"].to_numpy(), "process": w_rows["process"].to_numpy(),
        "key": w_rows["key"].to_numpy(dtype=object), "key_code": w_key, "pair": w_pair,
        "invoke_time": w_rows["invoke_time"].to_numpy(dtype=float),
        "complete_time": w_rows["complete_time"].to_numpy(dtype=float),
    })
    if applied:
        versions = pd.DataFrame({"key_code": t_key, "pair": t_pair,
                                 "version": [a[2] for a in applied]})
        per_pair = versions.groupby("pair", sort=False).agg(key_code=("key_code", "first"),
                                                           version=("version", "min"))
        per_pair["rank"] = per_pair.groupby("key_code")["version"].rank(method="dense")
        rank_by_pair = per_pair["rank"]
        version_by_pair = per_pair["version"].astype(float)
    else:
        ordered = writes.sort_values(["complete_time", "op"], kind="stable")
        ranks = ordered.groupby("key_code", sort=False).cumcount() + 1
        rank_by_pair = pd.Series(ranks.to_numpy(dtype=float),
                                 index=ordered["pair"].to_numpy()).groupby(level=0).min()
        version_by_pair = rank_by_pair

    def rank_of(pair: np.ndarray) -> np.ndarray:
        rank = rank_by_pair.reindex(pair).to_numpy(dtype=float, copy=True)
        rank[pair % width == 0] = 0.0  # null: the initial state, older than every write
        return rank

    def version_of(pair: np.ndarray) -> np.ndarray:
        version = version_by_pair.reindex(pair).to_numpy(dtype=float, copy=True)
        version[pair % width == 0] = -np.inf  # null: no write's version
        return version

    writes["rank"] = rank_of(w_pair)
    writes["version"] = version_of(w_pair)
    reads = pd.DataFrame({
        "op": r_rows["op"].to_numpy(), "process": r_rows["process"].to_numpy(),
        "key": r_rows["key"].to_numpy(dtype=object),
        "value": pd.Series(read_values, dtype=object).where(value_codes[n_w:n_w + n_r] >= 0, None)
        .to_numpy(),
        "key_code": r_key, "pair": r_pair,
        "invoke_time": r_rows["invoke_time"].to_numpy(dtype=float),
        "complete_time": r_rows["complete_time"].to_numpy(dtype=float),
        "rank": rank_of(r_pair),
        "version": version_of(r_pair),
    })
    return RegisterOps(writes=writes, reads=reads)


def _factorize_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes for values; None and NaN are -1. 1 and 1.0 share a code."""
    try:
        return pd.factorize(values)
    except TypeError:  # unhashable values (lists): make them tuples first
        return pd.factorize(np.array([hashable(v) for v in values] + [None], dtype=object)[:-1])
