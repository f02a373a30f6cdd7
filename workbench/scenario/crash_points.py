"""Crash points for the scenario world (and so the explorer): die *inside* a step.

The simulator's driver arms a node to crash inside its next step that has a given
point (runtime/driver_disk.py, `arm_crash`, issue 12). The scenario world has no disk
model (a write is durable the moment it is drained), so the same seams are cut out of
the step's own effect list, in outbox order:

- `after_persist`: the step's writes are durable; the crash falls before its first
  send or reply behind them.
- `mid_persist`: the step writes more than `keep` records (a `Persist` of several, or
  several persists; `PutMany` is one atomic record); the first `keep` are durable, then
  the crash. `record` aims it at steps that write a record of that name (a snapshot).
  The simulator draws the cut from its rng; here it is part of the command, so the
  explorer enumerates it and a counterexample replays it.
- `before_reply`: the step replies to a client after a write or a send; the crash falls
  before its first reply.
- `after_send`: the step writes and sends; what it sent *before* its first write is out,
  the writes are lost (the crash falls before the fsync completes) and so is everything
  the driver would have held behind them. The seam of an ack that did not wait for its
  write (paxos:accept_ack_before_persist).

Torn writes (a record half on disk) belong to the simulator's disk model only: the
world writes whole records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.effects import Reply, Send, records_of, writes_record
from workbench.errors import UserInputError

POINTS = ("after_persist", "mid_persist", "before_reply", "after_send")


@dataclass(frozen=True)
class CrashPoint:
    """An armed crash: lands in the node's next step that has `point`."""

    point: str
    keep: int = 1
    """mid_persist: how many of the step's records are durable (at least 1 fewer than it writes)."""
    record: str | None = None
    """mid_persist: only a step that writes a record of this name."""

    def describe(self) -> str:
        if self.point != "mid_persist":
            return self.point
        aimed = f" record={self.record}" if self.record else ""
        return f"mid_persist keep={self.keep}{aimed}"


def parse_crash_point(kwargs: dict[str, str]) -> CrashPoint | None:
    """`at=POINT [keep=K] [record=NAME]` of a `crash` command; None for a plain crash."""
    point = kwargs.get("at")
    if point is None:
        if set(kwargs) - {"at"}:
            raise UserInputError(f"crash: {', '.join(sorted(kwargs))} need at=POINT")
        return None
    if point not in POINTS:
        raise UserInputError(f"crash: at= must be one of {', '.join(POINTS)}, got {point!r}")
    unknown = set(kwargs) - {"at", "keep", "record"}
    if unknown or (point != "mid_persist" and set(kwargs) != {"at"}):
        raise UserInputError(f"crash: unexpected {', '.join(sorted(set(kwargs) - {'at'}))} for at={point}")
    keep_text = kwargs.get("keep", "1")
    if not keep_text.isdigit() or int(keep_text) < 1:
        raise UserInputError(f"crash: keep= must be a whole number of records >= 1, got {keep_text!r}")
    return CrashPoint(point, int(keep_text), kwargs.get("record"))


def landing(effects: list[Any], armed: CrashPoint) -> tuple[int, int] | None:
    """Where an armed crash cuts this step: (effects carried out, most records written;
    -1 for no limit), or None when the step has no such point (it runs as usual)."""
    writes = [e for e in effects if records_of(e) is not None]
    if armed.point == "mid_persist":
        total = sum(len(records_of(e) or ()) for e in writes)
        if total <= armed.keep or (armed.record is not None and not writes_record(effects, armed.record)):
            return None
        return len(effects), armed.keep
    if armed.point == "after_send":
        if not writes or not any(type(e) is Send for e in effects):
            return None
        first_write = next(k for k, e in enumerate(effects) if records_of(e) is not None)
        return first_write, 0
    wrote = sent = False
    for k, effect in enumerate(effects):
        cls = type(effect)
        if records_of(effect) is not None:
            wrote = True
        elif cls is Send:
            if armed.point == "after_persist" and wrote:
                return k, -1
            sent = True
        elif cls is Reply and (wrote if armed.point == "after_persist" else wrote or sent):
            return k, -1
    return None
