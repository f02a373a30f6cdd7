"""Checker verdicts of an external (Maelstrom) run, merged into its summary.json.

On top of the workbench's usual figures (`checkers.summary.SUMMARY_KEYS`, computed
where they apply: linearizability for lin-kv, the set checks for g-set and
broadcast), per workload:

- echo: `echo_mismatches`, ok echoes whose payload came back different.
- broadcast / g-set (set-full, after Jepsen's `set-full` and Maelstrom's broadcast
  checker): for every node, its last ok read must hold every element whose add was
  acknowledged before that read was invoked. `final_read_misses` counts missing
  (node, element) pairs, `nodes_without_final_read` nodes never read;
  `stable_latency_p50_ms` / `_p99_ms`: how long an element took from its add until every
  later read held it (the set checker's stable latency).
- g-counter (Maelstrom's pn-counter checker, for non-negative deltas): every node's
  last ok read must lie in [sum of ok adds, sum of ok + info adds];
  `counter_bounds` and `counter_bad_reads`.
`final_valid` is the workload's own verdict (None where it has none).
Plus the harness's robustness counters: `malformed_lines`, `node_exits`,
`stray_replies`, `bridge_messages_per_s`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.checkers.sets import set_report
from workbench.checkers.summary import SUMMARY_KEYS, consistency_summary
from workbench.checkers.versions import hashable
from workbench.experiment.config import ExperimentConfig
from workbench.runtime.result import RunResult

EXTERNAL_KEYS = (
    "workload", "final_valid", "echo_mismatches", "final_read_misses", "nodes_without_final_read",
    "stable_latency_p50_ms", "stable_latency_p99_ms", "counter_bounds", "counter_bad_reads",
    "malformed_lines", "node_exits", "stray_replies", "bridge_messages_per_s",
)  # fmt: skip


def external_summary(config: ExperimentConfig, result: RunResult, frame: pd.DataFrame) -> dict[str, Any]:
    assert config.external is not None
    workload = config.external.workload
    out: dict[str, Any] = dict.fromkeys(SUMMARY_KEYS)
    out.update(dict.fromkeys(EXTERNAL_KEYS))
    out["workload"] = workload
    if workload in ("lin-kv", "g-set", "broadcast"):
        model = "cas-register" if workload == "lin-kv" else None
        out.update(consistency_summary(
            result.history, frame, result.trace,
            model=model if config.check.linearizability else None, nodes=config.nodes,
            duration_ms=config.duration_ms, max_seconds=config.check.max_seconds))
    if workload == "lin-kv":
        out["final_valid"] = out["linearizable"]
    elif workload == "echo":
        out.update(echo_check(frame))
    elif workload == "g-counter":
        out.update(counter_check(frame, config.nodes))
    else:
        out.update(set_full_check(frame, config.nodes))
    # The harness never sees a node's state (no digests in the trace): convergence is
    # judged by the final reads above, not by replica digests.
    out["convergence_ms"] = None
    stats = result.stats
    out["malformed_lines"] = stats.get("malformed_lines", 0)
    out["node_exits"] = sum(1 for r in result.trace if r["kind"] == "node_exit")
    out["stray_replies"] = stats.get("stray_replies", 0)
    out["bridge_messages_per_s"] = stats.get("messages_per_s")
    return out


def echo_check(frame: pd.DataFrame) -> dict[str, Any]:
    ok = frame[frame["type"].eq("ok")]
    mismatches = int(sum(1 for sent, got in zip(ok["value"], ok["result"], strict=True) if sent != got))
    return {"echo_mismatches": mismatches, "final_valid": mismatches == 0}


def _last_reads(frame: pd.DataFrame, nodes: int) -> dict[int, pd.Series]:
    """Node -> its last ok read (by invoke time) among the processes beside it."""
    reads = frame[frame["f"].eq("read") & frame["type"].eq("ok")].sort_values("invoke_time", kind="stable")
    last: dict[int, pd.Series] = {}
    for _, row in reads.iterrows():
        last[int(row["process"]) % nodes] = row
    return last


def set_full_check(frame: pd.DataFrame, nodes: int) -> dict[str, Any]:
    adds = frame[frame["f"].eq("add") & frame["type"].eq("ok")]
    acked = [(hashable(v), t) for v, t in zip(adds["value"], adds["complete_time"], strict=True)]
    last = _last_reads(frame, nodes)
    misses = 0
    for row in last.values():
        content = {hashable(x) for x in (row["result"] or ())}
        misses += sum(1 for x, done in acked if done < row["invoke_time"] and x not in content)
    latency = set_report(frame).adds["stable_latency_ms"].dropna() if len(adds) else pd.Series(dtype=float)
    return {
        "final_read_misses": misses,
        "nodes_without_final_read": nodes - len(last),
        "stable_latency_p50_ms": float(np.percentile(latency, 50)) if len(latency) else None,
        "stable_latency_p99_ms": float(np.percentile(latency, 99)) if len(latency) else None,
        "final_valid": misses == 0 and len(last) == nodes,
    }


def counter_check(frame: pd.DataFrame, nodes: int) -> dict[str, Any]:
    adds = frame[frame["f"].eq("add")]
    low = int(adds.loc[adds["type"].eq("ok"), "value"].sum())
    high = low + int(adds.loc[adds["type"].eq("info"), "value"].sum())
    last = _last_reads(frame, nodes)
    bad = sum(1 for row in last.values()
              if (count := _whole_number(row["result"])) is None or not low <= count <= high)
    return {"counter_bounds": [low, high], "counter_bad_reads": bad,
            "nodes_without_final_read": nodes - len(last),
            "final_valid": bad == 0 and len(last) == nodes}


def _whole_number(value: Any) -> int | None:
    """A counter read as an int, or None if it is not a whole number. A frame's `result`
    column that mixes ints with the None of an info read is float64 (0 reads as 0.0):
    a run with one timed-out read had all its reads judged "not an int"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return None
