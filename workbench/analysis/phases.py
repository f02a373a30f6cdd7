"""Where each op stands relative to the faults: phase, fault window and side.

DataFrame in, DataFrame out. Two readings of the trace:

- `partition_intervals`: one row per partition (for shading plots, convergence).
- `network_states`: the network state as a step function of time. The runtimes record,
  at every fault event (partition start/end, crash, restart, pause, resume), the
  `sides` of the COMBINED state (`faults/sides.py`): which nodes can reach a clean
  majority, which cannot (down nodes included), and which are `ambiguous` (a bridge
  or a majorities-ring, where serving depends on the leader's place, not on the
  cut). An op takes the side of its node at its invoke time. The union of each
  partition's own minority, used before, called both sides of a bridge "majority"
  and missed crashes and overlapping partitions (issue 19 item 1).

Phases come from fault *windows*: maximal spans during which at least one fault
(partition, crash or pause) is active. An op is `before` the first window, `during`
one, `between` two, or `after` the last (`none` in a run without faults); `window`
numbers the windows from 1 (a `between` op carries the window before it), and
`period` names the span ("during 2", "between 1-2"), so repeated faults are told apart.

Clients sit beside node p mod n for their whole run (DESIGN.md; workload/clients.py
keeps that true after a timeout).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

INTERVAL_COLUMNS = ["fault_id", "shape", "start", "end", "minority"]
WINDOW_COLUMNS = ["window", "start", "end"]

_STARTS = {"partition_start": "partition", "crash": "crash", "pause": "pause"}
_ENDS = {"partition_end": "partition", "restart": "crash", "resume": "pause"}


def partition_intervals(trace: Iterable[Mapping[str, Any]], end_ms: float) -> pd.DataFrame:
    """One row per partition: start, end (run end if never healed), minority nodes."""
    rows: dict[int, dict[str, Any]] = {}
    for record in trace:
        kind = record.get("kind")
        if kind == "partition_start":
            rows[record["fault_id"]] = {"fault_id": record["fault_id"], "shape": record.get("shape"),
                                        "start": record["time"], "end": end_ms,
                                        "minority": tuple(record.get("minority", ()))}
        elif kind == "partition_end" and record["fault_id"] in rows:
            rows[record["fault_id"]]["end"] = record["time"]
    return pd.DataFrame(list(rows.values()), columns=INTERVAL_COLUMNS)


def _fault_records(trace: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    records = [r for r in trace if r.get("kind") in _STARTS or r.get("kind") in _ENDS]
    return sorted(records, key=lambda r: r["time"])  # stable: same-time events keep their order


def fault_windows(trace: Iterable[Mapping[str, Any]], end_ms: float) -> pd.DataFrame:
    """Maximal spans with at least one fault active: window (from 1), start, end (ms)."""
    active: set[tuple[str, Any]] = set()
    windows: list[dict[str, Any]] = []
    for record in _fault_records(trace):
        kind = record["kind"]
        if kind in _STARTS:
            if not active:
                windows.append({"window": len(windows) + 1, "start": record["time"], "end": end_ms})
            active.add((_STARTS[kind], record.get("fault_id")))
        else:
            active.discard((_ENDS[kind], record.get("fault_id")))
            if not active and windows:
                windows[-1]["end"] = record["time"]
    return pd.DataFrame(windows, columns=WINDOW_COLUMNS)


def network_states(trace: Iterable[Mapping[str, Any]], nodes: int) -> list[tuple[float, dict[int, str]]]:
    """The side of every node from each fault event on: [(time, {node: side}), ...] by time.

    Before the first event every node is on the majority side. Traces written before
    the runtimes recorded `sides` fall back to the old rule (a node is minority while
    in an active partition's own minority) plus crashed and paused nodes as minority.
    """
    states: list[tuple[float, dict[int, str]]] = []
    minorities: dict[Any, set[int]] = {}
    down: dict[tuple[str, Any], int] = {}
    for record in _fault_records(trace):
        kind, fault_id = record["kind"], record.get("fault_id")
        if kind == "partition_start":
            minorities[fault_id] = set(record.get("minority", ()))
        elif kind == "partition_end":
            minorities.pop(fault_id, None)
        elif kind in ("crash", "pause"):
            down[(kind, fault_id)] = record.get("node")
        else:
            down.pop(("crash" if kind == "restart" else "pause", fault_id), None)
        sides = record.get("sides")
        if sides is not None:
            side_of = {node: side for side, members in sides.items() for node in members}
        else:
            cut_off = set().union(*minorities.values(), down.values())
            side_of = {node: "minority" if node in cut_off else "majority" for node in range(nodes)}
        states.append((float(record["time"]), side_of))
    return states


def _sides_at(node: np.ndarray, invoke: np.ndarray,
              states: Sequence[tuple[float, dict[int, str]]]) -> np.ndarray:
    side = np.full(len(node), "majority", dtype=object)
    times = [t for t, _ in states]
    for i, (start, side_of) in enumerate(states):
        end = times[i + 1] if i + 1 < len(times) else np.inf
        active = (invoke >= start) & (invoke < end)
        if active.any():
            side[active] = [side_of.get(int(n), "majority") for n in node[active]]
    return side


def _phases(invoke: np.ndarray, windows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(invoke)
    if windows.empty:
        return np.full(n, "none", dtype=object), np.zeros(n, dtype=np.int64), np.full(n, "none", dtype=object)
    phase = np.full(n, "before", dtype=object)
    window = np.zeros(n, dtype=np.int64)
    last = int(windows["window"].max())
    for number, start, end in windows[WINDOW_COLUMNS].itertuples(index=False):
        during = (invoke >= start) & (invoke < end)
        phase[during] = "during"
        window[during] = number
        later = invoke >= end
        phase[later] = "after" if number == last else "between"
        window[later] = number
    period = np.array([
        p if p in ("before", "after") else f"during {w}" if p == "during" else f"between {w}-{w + 1}"
        for p, w in zip(phase, window, strict=True)
    ], dtype=object)
    return phase, window, period


def annotate_ops(frame: pd.DataFrame, trace: Iterable[Mapping[str, Any]], *, nodes: int,
                 end_ms: float) -> pd.DataFrame:
    """Add `node`, `partitioned`, `side`, `minority`, `phase`, `window` and `period` columns.

    `partitioned`: a partition was active at the op's invoke time (what
    `availability_partitioned` counts); `phase` also counts crashes and pauses as faults.
    """
    trace = list(trace)
    node = frame["process"].to_numpy() % nodes
    invoke = frame["invoke_time"].to_numpy(dtype=float)
    partitioned = np.zeros(len(frame), dtype=bool)
    for start, end in partition_intervals(trace, end_ms)[["start", "end"]].itertuples(index=False):
        partitioned |= (invoke >= start) & (invoke < end)
    side = _sides_at(node, invoke, network_states(trace, nodes))
    phase, window, period = _phases(invoke, fault_windows(trace, end_ms))
    return frame.assign(node=node, partitioned=partitioned, side=side, minority=side == "minority",
                        phase=phase, window=window, period=period)
