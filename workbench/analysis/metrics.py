"""The per-run summary: availability, latency and message figures of one run.

`availability` is ok / invoked (Gilbert & Lynch's availability is "every request
receives a response"; a `fail` is a response, but not a useful one, so here only
`ok` counts — the stricter, more informative reading for a CAP study).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def _fraction(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _percentile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return float(values.quantile(q)) if len(values) else None


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
        "latency_p50_ms": _percentile(ops.loc[ok, "latency_ms"], 0.5),
        "latency_p99_ms": _percentile(ops.loc[ok, "latency_ms"], 0.99),
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
