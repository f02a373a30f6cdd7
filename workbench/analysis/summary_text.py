"""A run's summary as the few lines `workbench run` and the demo print.

The headline metrics only, in a fixed order; a percentile that landed on timed-out ops
is shown as a lower bound (`>= x`, docs/metrics.md "censored").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUMMARY_ROWS = ["protocol", "runtime", "seed", "ops", "ok", "fail", "info", "availability",
                "availability_partitioned", "availability_minority", "availability_majority",
                "availability_time_partitioned", "clients_served_partitioned", "latency_p50_ms",
                "latency_p99_ms", "latency_partitioned_p99_ms", "messages_per_ok_op", "stale_read_fraction",
                "stale_read_settled_fraction", "linearizable", "verdict",
                "convergence_ms", "visibility_p50_ms", "visibility_p99_ms", "lost_adds",
                # external (Maelstrom) runs only: the workload's own verdict, misbehaving nodes
                "workload", "final_valid", "malformed_lines", "node_exits"]


def summary_text(summary: Mapping[str, Any]) -> str:
    """`  key  value` lines of the headline metrics the summary has."""
    width = max(len(k) for k in SUMMARY_ROWS)
    lines = []
    for key in SUMMARY_ROWS:
        if key in summary:
            value = summary[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            if summary.get(key.removesuffix("_ms") + "_censored"):
                text = f">= {text}"  # the percentile landed on timed-out ops (docs/metrics.md)
            lines.append(f"  {key:<{width}}  {text}")
    return "\n".join(lines)
