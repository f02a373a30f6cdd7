"""Acknowledged writes a store silently dropped (Kingsbury's "lost updates" under LWW).

A write is *lost* when it was acknowledged (ok), its version is not in the store's
final state, and no version in the final state causally follows it. Being overwritten
by a write that saw it is normal register behaviour; being overwritten by a concurrent
write that never saw it — what last-writer-wins does to the losing side of a partition
— is a lost write. Version vectors with siblings (Dynamo §4.4) keep such writes as
siblings instead, so they lose none.

Causality comes from the store's trace: a `write` record `{"key", "value", "version",
"context"}` per version created, `context` being the versions the coordinator held for
the key at that moment (the quorum store reports it). "Follows" is the transitive
closure of context. The final state — the versions each key holds once replicas have
converged — is passed in (the simulator's replicas, or a final read of siblings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd


def lost_writes(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]],
                final: Mapping[str, Iterable[int]]) -> pd.DataFrame:
    """One row per ok write: key, value, version, `survived`, `lost`."""
    created = {r["version"]: r for r in trace if r.get("kind") == "write"}
    ok = frame[frame["type"].eq("ok") & frame["f"].eq("write")]
    rows = []
    for key, value in zip(ok["key"], ok["value"], strict=True):
        rows.append((key, value))
    by_write = {(r["key"], _hashable(r["value"])): stamp for stamp, r in created.items()}
    followed: dict[str, set[int]] = {key: _ancestors(set(stamps), created) for key, stamps in final.items()}
    finals = {key: set(stamps) for key, stamps in final.items()}
    out = []
    for key, value in rows:
        stamp = by_write.get((key, _hashable(value)))
        survived = stamp is not None and stamp in finals.get(key, set())
        covered = stamp is not None and stamp in followed.get(key, set())
        out.append({"key": key, "value": value, "version": stamp, "survived": survived,
                    "lost": stamp is not None and not survived and not covered})
    return pd.DataFrame(out, columns=["key", "value", "version", "survived", "lost"])


def count_lost_writes(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]],
                      final: Mapping[str, Iterable[int]]) -> int:
    report = lost_writes(frame, trace, final)
    return int(report["lost"].sum()) if len(report) else 0


def causal_past(stamps: Iterable[int], trace: Iterable[Mapping[str, Any]]) -> set[int]:
    """The given versions and every version they causally follow, from `write` records."""
    created = {r["version"]: r for r in trace if r.get("kind") == "write"}
    return set(stamps) | _ancestors(set(stamps), created)


def _ancestors(stamps: set[int], created: Mapping[int, Mapping[str, Any]]) -> set[int]:
    """Every version the given ones causally follow (not including themselves)."""
    seen: set[int] = set()
    stack = [c for s in stamps for c in created.get(s, {}).get("context", ())]
    while stack:
        stamp = stack.pop()
        if stamp in seen:
            continue
        seen.add(stamp)
        stack.extend(created.get(stamp, {}).get("context", ()))
    return seen


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
