"""Expand a `FaultsConfig` into a time-ordered list of fault events, in milliseconds.

Both runtimes walk this list: at `partition_start` they resolve the spec into a
`Partition` (see `partitions.resolve_partition`) and hand it to the `Network` under
the event's `fault_id`; at `partition_end` they end that `fault_id`. Node faults name
a target ("random", "leader", an id) that is resolved with `resolve_node` at the
start event; the runtime must remember fault_id -> node so the matching
`restart`/`resume` goes to the same node.

Ordering: by time, then end events before start events at the same instant (a fault
that ends exactly when the next begins heals first, so "one fault at a time" holds),
then by fault_id. `seq` is the position in that order, which makes it total and
reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from workbench.faults.spec import (
    QUIET_TAIL_S,
    FaultsConfig,
    LinkFaultSpec,
    NemesisSpec,
    NodeFaultSpec,
    PartitionSpec,
)
from workbench.faults.targets import resolve_node

__all__ = ["FaultEvent", "EventKind", "build_schedule", "resolve_node"]

EventKind = Literal["partition_start", "partition_end", "crash", "restart", "pause", "resume",
                    "link_start", "link_end", "clock"]

_START_END: dict[str, tuple[EventKind, EventKind]] = {
    "partition": ("partition_start", "partition_end"),
    "crash": ("crash", "restart"),
    "pause": ("pause", "resume"),
    # Sim only (issue 11's composed nemesis): bad-link windows and mid-run clock changes.
    "link": ("link_start", "link_end"),
    "clock": ("clock", "clock"),  # a single event, no end
}


@dataclass(frozen=True, slots=True, order=True)
class FaultEvent:
    time_ms: float
    seq: int
    kind: str
    """One of `EventKind`."""
    fault_id: int
    """Shared by a start event and its end event; unique per occurrence of a fault."""
    spec: object = field(compare=False)
    """The `PartitionSpec` or `NodeFaultSpec` (nemesis faults get a synthesized one)."""


def _ms(seconds: float) -> float:
    # Rounded to a nanosecond so `at + k*every` in binary floats prints cleanly in traces.
    return round(seconds * 1000.0, 6)


_Raw = tuple[float, int, int, str, object]  # time_ms, 0=end/1=start, fault_id, kind, spec


class _Builder:
    def __init__(self) -> None:
        self.raw: list[_Raw] = []
        self.next_id = 0

    def add(self, category: str, start_ms: float, end_ms: float | None, spec: object) -> None:
        start_kind, end_kind = _START_END[category]
        fid = self.next_id
        self.next_id += 1
        self.raw.append((start_ms, 1, fid, start_kind, spec))
        if end_ms is not None:
            self.raw.append((end_ms, 0, fid, end_kind, spec))

    def add_timed(self, category: str, spec: PartitionSpec | NodeFaultSpec | LinkFaultSpec) -> None:
        for k in range(spec.repeat):
            start_s = spec.at + k * (spec.every or 0.0)
            end_ms = None if spec.duration is None else _ms(start_s + spec.duration)
            self.add(category, _ms(start_s), end_ms, spec)


def _nemesis(b: _Builder, nem: NemesisSpec, duration_ms: float, rng: random.Random) -> None:
    """Jepsen's nemesis loop: wait, start one fault, wait for it to end, repeat."""
    stop_ms = _ms(nem.stop) if nem.stop is not None else duration_ms - QUIET_TAIL_S * 1000.0
    stop_ms = min(stop_ms, duration_ms)
    gap_rate = 1.0 / (nem.mean_interval * 1000.0)
    length_rate = 1.0 / (nem.mean_duration * 1000.0)
    # Pick the kind of fault first, then the shape, so enabling crashes does not make
    # them 1-in-6 rare next to five partition shapes.
    categories = (["partition"] if nem.shapes else []) + (["crash"] if nem.crash else [])
    categories += ["pause"] if nem.pause else []
    t = _ms(nem.start)
    while True:
        t += rng.expovariate(gap_rate)
        if t >= stop_ms:
            return
        # Faults still running at `stop` are cut short: the tail after it is for healing.
        end = min(t + rng.expovariate(length_rate), stop_ms)
        category = rng.choice(categories)
        if end <= t:  # expovariate returned 0.0: a fault of no length, nothing to do
            continue
        at_s, dur_s = t / 1000.0, (end - t) / 1000.0
        spec: PartitionSpec | NodeFaultSpec
        if category == "partition":
            spec = PartitionSpec(shape=rng.choice(nem.shapes), at=at_s, duration=dur_s)
        else:
            spec = NodeFaultSpec(kind=category, node="random", at=at_s, duration=dur_s)  # type: ignore[arg-type]
        b.add(category, t, end, spec)
        t = end


def build_schedule(cfg: FaultsConfig, duration_ms: float, rng: random.Random) -> list[FaultEvent]:
    """All fault events of a run of `duration_ms`, sorted; deterministic given `rng`.

    Only the nemesis draws from `rng`. Events after the run end are dropped; a start
    at or after the end is dropped with its end, and a fault whose end falls after
    the run end simply stays active until the run stops.
    """
    b = _Builder()
    for p in cfg.partitions:
        b.add_timed("partition", p)
    for f in cfg.nodes:
        b.add_timed(f.kind, f)
    for lf in cfg.links:
        b.add_timed("link", lf)
    for c in cfg.clock_changes:
        b.add("clock", _ms(c.at), None, c)
    if cfg.nemesis is not None:
        _nemesis(b, cfg.nemesis, duration_ms, rng)
    kept = [r for r in b.raw if (r[0] <= duration_ms if r[1] == 0 else r[0] < duration_ms)]
    kept_starts = {r[2] for r in kept if r[1] == 1}
    kept = [r for r in kept if r[2] in kept_starts]
    kept.sort(key=lambda r: (r[0], r[1], r[2]))
    return [
        FaultEvent(time_ms=t, seq=i, kind=kind, fault_id=fid, spec=spec)
        for i, (t, _, fid, kind, spec) in enumerate(kept)
    ]
