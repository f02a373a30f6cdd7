"""Pair a history's invoke events with their completions, as plain tuples.

The checkers walk operations, not events. `history_to_frame` does the same join for
pandas; this is the allocation-light version the linearizability search starts from.
Op ids are the same as the frame's `op` column (position of the invoke among all
invokes, 0-based), so a witness can be joined back onto the frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple


class Op(NamedTuple):
    """One operation. `type` is ok / fail / info (info also when never completed)."""

    id: int
    process: int
    f: str
    key: Any
    value: Any  # the invoke's value ([expected, new] for cas)
    type: str
    result: Any  # the completion's value for ok/fail ops (the value read), else None
    invoke_time: float
    complete_time: float | None  # None when the outcome is unknown (info)


def pair_ops(events: Iterable[Mapping[str, Any]]) -> list[Op]:
    """Join each invoke to the next completion of the same process.

    A process has at most one outstanding op (Jepsen). If it invokes again before
    completing, the earlier op stays `info`: its outcome is unknown, as for a crash.
    """
    rows: list[list[Any]] = []
    pending: dict[int, list[Any]] = {}
    for event in events:
        kind = event["type"]
        process = event["process"]
        if kind == "invoke":
            row = [len(rows), process, event["f"], event.get("key"), event.get("value"),
                   "info", None, event["time"], None]
            rows.append(row)
            pending[process] = row
            continue
        row = pending.pop(process, None)
        if row is None:
            continue  # a completion without an invoke: nothing to join it to
        row[5] = kind
        if kind != "info":
            row[6] = event.get("value")
            row[8] = event["time"]
    return list(map(Op._make, rows))
