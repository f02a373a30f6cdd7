"""One run's consistency figures, as JSON-native values for its summary.json.

Keys (None where a figure does not apply or cannot be computed):
- `linearizable` True / False / None (unknown, or not checked when `model` is None),
  `lin_check_ms`;
- `stale_read_fraction`, `stale_reads`: register workloads by the real-time definition
  (`staleness.py`); set workloads count set reads missing an acknowledged element;
- `mean_versions_behind` (over the stale reads), `max_ms_behind` (registers only);
- `ryw_violations`, `monotonic_read_violations` (registers only, `sessions.py`): reads
  that violate by the store's version order or by real time;
- `lost_adds`, `never_read_adds` (sets only, `sets.py`, Jepsen's set-full; info adds count);
- `stale_read_settled_fraction`, `stale_read_settled_reads` (registers only,
  `pbs.settled_staleness`): staleness judged against versions committed at least
  100 ms before the read, which does not move with client speed;
- `convergence_ms` (`convergence.py`);
- `visibility_p50_ms`, `visibility_p99_ms`, `visibility_incomplete`: replication lag
  of writes (registers only, `visibility.py`; causal for last-writer-wins traces).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from workbench.checkers.convergence import convergence_ms
from workbench.checkers.linearizability import check_linearizability
from workbench.checkers.pbs import settled_staleness
from workbench.checkers.sessions import session_guarantees_of
from workbench.checkers.sets import set_report
from workbench.checkers.staleness import stale_reads_of
from workbench.checkers.versions import register_ops
from workbench.checkers.visibility import visibility_lags, visibility_summary

SUMMARY_KEYS = (
    "linearizable", "lin_check_ms", "stale_read_fraction", "stale_reads",
    "stale_read_settled_fraction", "stale_read_settled_reads",
    "mean_versions_behind", "max_ms_behind", "ryw_violations", "monotonic_read_violations",
    "lost_adds", "never_read_adds", "convergence_ms",
    "visibility_p50_ms", "visibility_p99_ms", "visibility_incomplete",
)  # fmt: skip


def consistency_summary(
    events: Sequence[Mapping[str, Any]],
    frame: pd.DataFrame,
    trace: Sequence[Mapping[str, Any]] | None,
    *, model: str | None,
    nodes: int,
    duration_ms: float,
    max_seconds: float | None = 30.0,
) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    if model is not None:
        result = check_linearizability(events, model, max_seconds=max_seconds)
        out["linearizable"] = result.linearizable
        out["lin_check_ms"] = result.elapsed_ms

    fs = set(frame["f"].unique()) if len(frame) else set()
    if "add" in fs:
        sets = set_report(frame)
        out["stale_reads"] = sets.stale_reads
        out["stale_read_fraction"] = sets.reads["stale"].mean() if len(sets.reads) else None
        out["lost_adds"] = sets.lost_adds
        out["never_read_adds"] = sets.never_read_adds
    elif not fs & {"get", "put", "append"}:
        coded = register_ops(frame, trace)  # once, for both checks below
        reads = stale_reads_of(coded)
        stale = reads[reads["stale"]]
        if len(reads):
            out["stale_read_fraction"] = reads["stale"].mean()
            out["stale_reads"] = len(stale)
            out["max_ms_behind"] = stale["ms_behind"].max() if len(stale) else 0.0
            out["mean_versions_behind"] = stale["versions_behind"].mean() if len(stale) else None
        if len(reads):
            out.update(settled_staleness(frame, trace))
        sessions = session_guarantees_of(coded)
        out["ryw_violations"] = sessions.ryw_violations
        out["monotonic_read_violations"] = sessions.monotonic_read_violations
        out.update(visibility_summary(visibility_lags(trace or [], nodes)))
    out["convergence_ms"] = convergence_ms(trace or [], nodes=nodes, end_ms=duration_ms)
    return {k: _native(v) for k, v in out.items()}


def _native(value: Any) -> Any:
    """numpy scalars to Python, NaN to None: the result goes to JSON as it is."""
    if value is None or isinstance(value, bool):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
