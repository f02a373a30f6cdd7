"""Durable storage: the only state that survives a crash, written through typed records.

The runtime owns one `Storage` per node and passes it to the node's constructor on
boot and again on every restart. A core never writes it directly: it asks for a
`Persist(records)` effect (`workbench.core.effects`), batched like etcd's `Ready` or
Stateright's `Save`, and the node driver applies the records — at once without a disk
model, or when the modelled fsync completes (`Disk` below). A core reads storage only
in its constructor. Everything else in the node object is volatile and lost on crash.

Storage holds copies, never aliases: `put`/`get` copy containers (lists, dicts, sets)
one level deep, so a core's in-memory log is not its stored log and an in-memory append
is durable only once a record says so (as on a real disk). Values inside containers
must be immutable (tuples, frozen dataclasses), which every core's entries are.

Records are typed writes:
- `Put(name, value)`: replace a whole value;
- `Extend(name, at, items)`: truncate the stored list to `at` items, then append
  `items` (Raft's §5.3 append: delete a conflicting suffix, append the new entries);
- `PutItem(name, key, value)` / `DeleteItems(name, keys)`: one slot of a stored dict;
- `PutMany(items)`: several names written as ONE atomic record (a torn write keeps a
  prefix of a persist's records, never part of one record).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, TypeAlias

from workbench.core.frozen import fast_init


def _copy(value: Any) -> Any:
    cls = type(value)
    if cls is list or cls is dict or cls is set:
        return cls(value)
    return value


@fast_init
@dataclass(frozen=True, slots=True)
class Put:
    name: str
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class Extend:
    name: str
    at: int
    items: tuple[Any, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class PutItem:
    name: str
    key: Any
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class DeleteItems:
    name: str
    keys: tuple[Any, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class PutMany:
    items: tuple[tuple[str, Any], ...]


Record: TypeAlias = Put | Extend | PutItem | DeleteItems | PutMany


class Storage:
    __slots__ = ("_data", "writes")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.writes = 0  # counts durable writes (one per name written), e.g. to price fsyncs

    def put(self, name: str, value: Any) -> None:
        self._data[name] = _copy(value)
        self.writes += 1

    def get(self, name: str, default: Any = None) -> Any:
        return _copy(self._data.get(name, default))

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def extend(self, record: Extend) -> None:
        """One `Extend` record (the driver's hot path for a lone log append)."""
        stored = self._data.get(record.name)
        if stored is None:
            stored = self._data[record.name] = []
        if record.at < len(stored):
            del stored[record.at:]
        stored.extend(record.items)
        self.writes += 1

    def apply(self, records: tuple[Record, ...]) -> None:
        """Carry out a persist's records in order."""
        data = self._data
        for record in records:
            cls = type(record)
            if cls is Extend:
                stored = data.get(record.name)
                if stored is None:
                    stored = data[record.name] = []
                del stored[record.at:]
                stored.extend(record.items)
                self.writes += 1
            elif cls is Put:
                data[record.name] = _copy(record.value)
                self.writes += 1
            elif cls is PutItem:
                stored = data.get(record.name)
                if stored is None:
                    stored = data[record.name] = {}
                stored[record.key] = record.value
                self.writes += 1
            elif cls is DeleteItems:
                stored = data.get(record.name)
                if stored is not None:
                    for key in record.keys:
                        stored.pop(key, None)
                self.writes += 1
            elif cls is PutMany:
                for name, value in record.items:
                    data[name] = _copy(value)
                self.writes += len(record.items)
            else:
                raise TypeError(f"not a storage record: {record!r}")

    def snapshot(self) -> dict[str, Any]:
        """A copy, e.g. to ship to a Ray actor that restarts elsewhere."""
        return {name: _copy(value) for name, value in self._data.items()}

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Storage:
        storage = cls()
        storage._data = {name: _copy(value) for name, value in data.items()}
        return storage


class Disk:
    """The write path between a node's persists and its `Storage`: what a crash can lose.

    Each persist is queued; it becomes durable (applied to storage) when its fsync
    completes. `write` returns the time the runtime may release the effects that wait
    on it (the fsync's acknowledgement). A crash (`crash`) drops every write not yet
    durable — LazyFS's model of unsynced data ("When Amnesia Strikes", VLDB 2024) —
    and, with `torn`, the oldest lost write keeps a random prefix of its records.
    A lying disk acknowledges at once but makes a write durable only
    `lie_ms` later: a crash in between loses acknowledged data (a negative control).

    Latency is drawn by `latency(rng)`; `group_commit` lets writes that arrive while an
    fsync is in flight share the next one (one fsync for the group), otherwise fsyncs
    run one after another.
    """

    __slots__ = ("storage", "rng", "latency", "group_commit", "torn", "lie_ms",
                 "pending", "busy_until", "next_group_end", "fsyncs")

    def __init__(self, storage: Storage, rng: random.Random, latency: Any,
                 *, group_commit: bool = False, torn: bool = False,
                 lie_ms: float | None = None) -> None:
        self.storage = storage
        self.rng = rng
        self.latency = latency
        self.group_commit = group_commit
        self.torn = torn
        self.lie_ms = lie_ms
        # (durable at, records), in write order; durable times never decrease
        self.pending: list[tuple[float, tuple[Record, ...]]] = []
        self.busy_until = -1.0  # end of the fsync in flight
        self.next_group_end = -1.0  # end of the fsync that queued writes will share
        self.fsyncs = 0

    def write(self, records: tuple[Record, ...], now: float) -> float:
        """Queue a persist; returns when its fsync is acknowledged."""
        if self.group_commit and now < self.busy_until:
            if self.next_group_end < self.busy_until:
                self.next_group_end = self.busy_until + self.latency(self.rng)
                self.fsyncs += 1
            done = self.next_group_end
        else:
            start = now if now > self.busy_until else self.busy_until
            if self.group_commit and self.next_group_end > start:
                start = self.next_group_end
            done = start + self.latency(self.rng)
            self.fsyncs += 1
        if done > self.busy_until:
            self.busy_until = done
        durable = done if self.lie_ms is None else done + self.lie_ms
        if self.pending and self.pending[-1][0] > durable:
            durable = self.pending[-1][0]
        self.pending.append((durable, records))
        if self.lie_ms is not None:
            return now  # acknowledged at once, durable later (or never)
        return done

    def sync(self, now: float) -> None:
        """Apply every write whose fsync has completed by `now`."""
        pending = self.pending
        k = 0
        while k < len(pending) and pending[k][0] <= now:
            self.storage.apply(pending[k][1])
            k += 1
        if k:
            del pending[:k]

    def crash(self, now: float) -> int:
        """Power loss at `now`: keep what was synced, lose the rest; returns records lost."""
        self.sync(now)
        lost = 0
        if self.pending:
            first = self.pending[0][1]
            if self.torn and len(first) > 1:
                keep = self.rng.randrange(len(first))  # a prefix of 0..len-1 records survives
                self.storage.apply(first[:keep])
                lost -= keep
            lost += sum(len(records) for _, records in self.pending)
        self.pending.clear()
        self.busy_until = self.next_group_end = -1.0
        return lost
