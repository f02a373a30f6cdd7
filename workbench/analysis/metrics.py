"""The per-run summary: availability, latency and message figures of one run.

`availability` is ok / invoked (Gilbert & Lynch's availability is "every request
receives a response"; a `fail` is a response, but not a useful one, so here only
`ok` counts — the stricter, more informative reading for a CAP study).

Latency is right-censored: an op that timed out (`info`) took *at least* its
timeout, so dropping it, as an ok-only percentile does, cuts off exactly the tail a
partition causes (issue 19 item 4: a one-way cut had an ok-only p99 of 10.6 ms with
163 timeouts of 500 ms). `latency_p50_ms` / `latency_p99_ms` are percentiles over ok
ops plus timed-out ops, each counted at its observed lower bound (complete - invoke of
the `info`, i.e. the timeout); when the percentile lands on such a bound it is only a
lower bound, and `latency_p99_censored` says so (print it as ">= value").
`latency_ok_p50_ms` / `latency_ok_p99_ms` keep the ok-only figures. Every field is
defined in docs/metrics.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def _fraction(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _percentile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return float(values.quantile(q)) if len(values) else None


def censored_latencies(ops: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(ok latencies, lower bounds of timed-out ops), in ms.

    An `info` op's bound is the time from invoke to its `info` (the client's timeout,
    or the run's end); an info with no completion time gives no bound and is left out.
    """
    ok = ops["type"].eq("ok").to_numpy()
    latency = ops["latency_ms"].to_numpy(dtype=float)
    info = ops["type"].eq("info").to_numpy()
    waited = ops["complete_time"].to_numpy(dtype=float) - ops["invoke_time"].to_numpy(dtype=float)
    exact = latency[ok]
    bounds = waited[info]
    return exact[~np.isnan(exact)], bounds[~np.isnan(bounds)]


def censored_quantile(exact: np.ndarray, bounds: np.ndarray, q: float) -> tuple[float | None, bool]:
    """The q-quantile of exact values plus right-censored lower bounds, and whether it is censored.

    Inverted-CDF (an observed value, no interpolation), so a quantile that lands in the
    censored mass is reported as the bound itself ("at least 500 ms"). The value is
    exact when no bound lies at or below it: each censored op's true latency exceeds its
    bound, so it stays above the estimate and the rank does not change. Otherwise the
    true quantile can only be higher, and the flag is set.
    """
    if len(exact) + len(bounds) == 0:
        return None, False
    values = np.concatenate([exact, bounds])
    value = float(np.quantile(values, q, method="inverted_cdf"))
    censored = bool(len(bounds) and bounds.min() <= value)
    return value, censored


def latency_summary(ops: pd.DataFrame) -> dict[str, Any]:
    """Censored and ok-only latency percentiles and the timeout share (module docstring)."""
    exact, bounds = censored_latencies(ops)
    p50, p50_censored = censored_quantile(exact, bounds, 0.5)
    p99, p99_censored = censored_quantile(exact, bounds, 0.99)
    ok_series = pd.Series(exact)
    return {
        "latency_p50_ms": p50,
        "latency_p50_censored": p50_censored,
        "latency_p99_ms": p99,
        "latency_p99_censored": p99_censored,
        "latency_ok_p50_ms": _percentile(ok_series, 0.5),
        "latency_ok_p99_ms": _percentile(ok_series, 0.99),
        "timeout_fraction": _fraction(int(ops["type"].eq("info").sum()), len(ops)),
    }


def availability_summary(ops: pd.DataFrame) -> dict[str, Any]:
    """`ops` is an annotated op frame (see phases.annotate_ops).

    The side figures count ops invoked while a fault was active (`phase == "during"`):
    majority / minority / ambiguous as `faults/sides.py` defines them for the combined
    network state at the op's invoke time. `availability_partitioned` counts ops
    invoked while any partition was active, whatever their side.
    """
    ok = ops["type"] == "ok"
    partitioned = ops["partitioned"]
    during = ops["phase"] == "during"
    side = ops["side"] if "side" in ops.columns else ops["minority"].map({True: "minority", False: "majority"})

    def on(name: str) -> float | None:
        mask = during & (side == name)
        return _fraction(int((ok & mask).sum()), int(mask.sum()))

    return {
        "ops": len(ops),
        "ok": int(ok.sum()),
        "fail": int((ops["type"] == "fail").sum()),
        "info": int((ops["type"] == "info").sum()),
        "availability": _fraction(int(ok.sum()), len(ops)),
        "availability_partitioned": _fraction(int((ok & partitioned).sum()), int(partitioned.sum())),
        "availability_minority": on("minority"),
        "availability_majority": on("majority"),
        "availability_ambiguous": on("ambiguous"),
        **latency_summary(ops),
    }


def message_summary(messages_sent: int, ops: pd.DataFrame, duration_s: float) -> dict[str, Any]:
    """Message cost figures (docs/metrics.md).

    `messages_per_op` is a ratio of totals: it folds in traffic that no op causes
    (heartbeats, anti-entropy) and ops that send nothing (a refused minority op), so it
    falls as clients speed up (Raft 8.2 / 6.7 / 1.8 at think_ms 100 / 10 / 0, issue 19
    item 3). `messages_per_s` is the time-weighted figure: background traffic per
    second does not depend on how fast clients are, and the op-driven part grows with
    the ok rate. `messages_per_ok_op` counts only the ops that did cost messages, so it
    compares across client speeds (Raft on cap_partition: 9.5 / 9.5 / 10.5 at think_ms
    0 / 10 / 100).
    """
    ok = int(ops["type"].eq("ok").sum())
    return {
        "messages_sent": messages_sent,
        "messages_per_op": messages_sent / len(ops) if len(ops) else None,
        "messages_per_ok_op": messages_sent / ok if ok else None,
        "messages_per_s": messages_sent / duration_s if duration_s else None,
    }


def jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    """NaN -> None and numpy scalars -> Python, so summary.json is plain JSON."""
    clean: dict[str, Any] = {}
    for key, value in summary.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            value = None
        clean[key] = value
    return clean
