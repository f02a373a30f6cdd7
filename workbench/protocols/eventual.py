"""An eventually consistent (AP) key-value store: the baseline that stays available.

Every node serves reads and writes locally and at once, so no partition can make it
unavailable (the "A" of CAP, Gilbert & Lynch 2002 §3). Writes replicate
asynchronously: a push to every peer when the write happens, plus periodic push-pull
anti-entropy with a random peer (Demers et al. 1987, "Epidemic algorithms", §1.3),
which is what makes replicas converge after a partition heals.

Conflicts resolve last-writer-wins by hybrid logical clock timestamp
(`protocols.common.hlc`, Kulkarni et al. 2014, Fig. 5), node id as the last component,
so every replica picks the same winner and no two distinct writes share a version.
Every message that carries versions is a receive event for the clock (a Push carries
its write's timestamp, a Sync the sender's clock), so a write made after reading v is
stamped above v: a causally later write wins. Two rules keep an acknowledged write:
- a local write is stamped above every version the replica has seen, including the
  key's stored version (compared explicitly: after a restart the clock may be behind
  versions merged since the last acknowledged op, see below);
- a stored version is only ever replaced by a newer one (push and anti-entropy alike).

The set workload uses a grow-only set merged by union: an add-wins set without removes,
in which no acknowledged add is ever lost (Shapiro et al. 2011, "CRDTs", §3.3.1 G-Set).

Durability: what changes is written to storage explicitly as a fresh immutable value
before any reply (a register as its (version, value) tuple, a set as one entry per
element), so the store stays correct if storage copies values. The clock is persisted
on the ack path (writes and adds), not on every merge (that would price a disk write
per message); a restart restores it, and versions merged after the last ack are
witnessed lazily, per key, by the compare on the next write to that key. So after a
restart a write stays above its own key's versions (what last-writer-wins needs), but
not necessarily above versions of other keys merged before the crash: a known limit,
observable by no client of a per-key register.

Trace: a local write's `apply` record carries `writer` (this node) and `seen`: the
version of the key this replica held when the write was made (None if none). A write
with seen = v was made by a writer that had seen v, so it is a causal successor of v;
`checkers.visibility` uses this for a causal replication lag (issue 19 §5), and
`checkers.lww` checks the rules above from it. Set-element records carry `set=True`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from workbench.core.effects import Persist, Reply, Send
from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Put, Record
from workbench.protocols.base import Node
from workbench.protocols.common.hlc import HybridClock, Timestamp

Version = int
"""An HLC timestamp (l µs, c, node) packed into one int (`Timestamp.packed`): one int
orders versions exactly as the triple does, and is what the trace reports as a
register version for the staleness and visibility checkers."""

_ANTI_ENTROPY = "anti_entropy"
_REGISTER_KEYS, _SET_KEYS, _CLOCK = "register_keys", "set_keys", "hlc"

EventualBug = Literal["hlc_ignore_remote_counter", "hlc_counter_capped",
                      "write_without_version_compare", "anti_entropy_accepts_older"]


@dataclass(frozen=True)
class EventualOptions:
    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic when validating config

    replication: bool = True
    """Push every write to all peers at once. Off: only anti-entropy spreads writes."""
    anti_entropy_interval_ms: float = 500.0
    """Push-pull exchange with one random peer this often (0 disables anti-entropy)."""
    bug: EventualBug | None = None
    """Deliberate bugs for the mutant catalogue (issue 20): the clock's receive rule
    dropping the remote counter, the counter capped at 999 (distinct writes share a
    version), a local write that overwrites without comparing with the stored version,
    and anti-entropy accepting an older version."""


# Register entries are (version, value); sets are frozensets of elements.
@fast_init
@dataclass(frozen=True, slots=True)
class Push(Message):
    """A write replicated eagerly to peers; `version` is also the sender's clock."""

    key: str
    version: Version
    value: Any


@fast_init
@dataclass(frozen=True, slots=True)
class PushSet(Message):
    """Set elements added here, replicated eagerly to peers."""

    key: str
    elements: tuple[Any, ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SyncRequest(Message):
    """Anti-entropy, push half: the sender's whole state and its clock (a send event)."""

    registers: tuple[tuple[str, Version, Any], ...]
    sets: tuple[tuple[str, tuple[Any, ...]], ...]
    clock: Version


@fast_init
@dataclass(frozen=True, slots=True)
class SyncReply(Message):
    """Anti-entropy, pull half: the receiver's state after merging, sent back."""

    registers: tuple[tuple[str, Version, Any], ...]
    sets: tuple[tuple[str, tuple[Any, ...]], ...]
    clock: Version


def physical_ticks(now_ms: float) -> int:
    """The HLC's physical reading: the node's clock in whole µs (floor keeps it monotone
    for negative readings too)."""
    return math.floor(now_ms * 1000)


class EventualNode(Node):
    name: ClassVar[str] = "eventual"
    options: EventualOptions

    def __init__(self, node_id, peers, options, rng, storage) -> None:  # type: ignore[no-untyped-def]
        super().__init__(node_id, peers, options, rng, storage)
        bug = options.bug
        self._bug = bug
        clock_bug = bug if bug in ("hlc_ignore_remote_counter", "hlc_counter_capped") else None
        self.clock = HybridClock(node_id, bug=clock_bug)  # type: ignore[arg-type]
        # Rebuild from storage (empty on first boot): registers, sets, then the clock.
        self.registers: dict[str, tuple[Version, Any]] = {
            key: storage.get(f"register/{key}") for key in storage.get(_REGISTER_KEYS, ())}
        self.sets: dict[str, set[Any]] = {
            key: {storage.get(f"set/{key}/{i}") for i in range(storage.get(f"set/{key}#"))}
            for key in storage.get(_SET_KEYS, ())}
        if _CLOCK in storage:
            self.clock.restore(Timestamp.unpack(storage.get(_CLOCK)))

    # ------------------------------------------------------------ inputs
    def start(self, now: float) -> None:
        self._arm_anti_entropy()

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        handler = self._CLIENT_OPS.get(request.f)
        if handler is None:
            self.reply(request.process, request.seq, False, error=f"unknown op {request.f!r}")
            return
        handler(self, request, now)

    def on_message(self, src: NodeId, message: Message, now: float) -> None:
        if isinstance(message, Push):
            self.clock.receive(Timestamp.unpack(message.version), physical_ticks(now))
            self._merge_register(message.key, message.version, message.value, from_sync=False)
        elif isinstance(message, PushSet):
            self._merge_set(message.key, message.elements)
        elif isinstance(message, SyncRequest):
            self._merge_state(message.registers, message.sets, message.clock, now)
            self.send(src, SyncReply(*self._state_payload(now)))
        elif isinstance(message, SyncReply):
            self._merge_state(message.registers, message.sets, message.clock, now)

    def on_timer(self, name: str, now: float) -> None:
        if name == _ANTI_ENTROPY:
            if self.peers:
                peer = self.peers[self.rng.randrange(len(self.peers))]
                self.send(peer, SyncRequest(*self._state_payload(now)))
            self._arm_anti_entropy()

    def state_digest(self) -> int:
        text = repr((sorted((k, v[1]) for k, v in self.registers.items()),
                     sorted((k, sorted(v)) for k, v in self.sets.items())))
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    # ------------------------------------------------------- client ops
    def _client_read(self, request: ClientRequest, now: float) -> None:
        if request.key in self.sets:
            value: Any = tuple(sorted(self.sets[request.key]))
        else:
            entry = self.registers.get(request.key)
            value = None if entry is None else entry[1]
        self.reply(request.process, request.seq, True, value)

    def _client_write(self, request: ClientRequest, now: float) -> None:
        self._local_write(request.key, request.value, now)
        self.reply(request.process, request.seq, True, request.value)

    def _client_cas(self, request: ClientRequest, now: float) -> None:
        # A local compare: only as good as this replica's view, which is the point.
        expected, new = request.value
        entry = self.registers.get(request.key)
        if (None if entry is None else entry[1]) != expected:
            self.reply(request.process, request.seq, False, error="cas mismatch")
            return
        self._local_write(request.key, new, now)
        self.reply(request.process, request.seq, True, request.value)

    def _client_add(self, request: ClientRequest, now: float) -> None:
        stamp = self.clock.tick(physical_ticks(now)).packed()
        self._store_element(request.key, request.value)
        self.persist(Put(_CLOCK, stamp))  # acknowledged: durable before the reply
        self.observe("apply", key=request.key, value=request.value, version=stamp, set=True)
        if self.options.replication:
            self.broadcast(PushSet(request.key, (request.value,)))
        self.reply(request.process, request.seq, True, request.value)

    _CLIENT_OPS: ClassVar[dict[str, Any]] = {
        "read": _client_read,
        "write": _client_write,
        "cas": _client_cas,
        "add": _client_add,
    }

    # ------------------------------------------------------------ internals
    def persist(self, *records: Record) -> None:
        """The store's one persist path: a step's writes (register/set index, value,
        clock) join the step's open `Persist` — one batch, one fsync under a disk model
        — unless a send or reply already left after it (that one must not wait for
        writes it does not depend on). Applied at once, in order, without a disk model,
        so histories are those of separate writes."""
        outbox = self._outbox
        for k in range(len(outbox) - 1, -1, -1):
            effect = outbox[k]
            cls = type(effect)
            if cls is Persist:
                outbox[k] = Persist(effect.records + records)
                return
            if cls is Send or cls is Reply:
                break
        outbox.append(Persist(records))

    def _local_write(self, key: str, value: Any, now: float) -> None:
        pt = physical_ticks(now)
        stamp = self.clock.tick(pt)
        current = self.registers.get(key)
        seen = None if current is None else current[0]
        if (seen is not None and stamp.packed() <= seen
                and self._bug != "write_without_version_compare"):
            # The clock has not witnessed this key's stored version (merged after the
            # last persisted clock, then a restart): witness it now, as a receive.
            stamp = self.clock.receive(Timestamp.unpack(seen), pt)
        version = stamp.packed()
        self._store_register(key, version, value)
        self.persist(Put(_CLOCK, version))  # acknowledged: durable before the reply
        self.observe("apply", key=key, value=value, version=version, writer=self.id, seen=seen)
        if self.options.replication:
            self.broadcast(Push(key, version, value))

    def _merge_register(self, key: str, version: Version, value: Any, from_sync: bool) -> None:
        current = self.registers.get(key)
        if current is None or version > current[0] or (
                from_sync and self._bug == "anti_entropy_accepts_older" and version != current[0]):
            self._store_register(key, version, value)
            self.observe("apply", key=key, value=value, version=version)

    def _merge_set(self, key: str, elements: tuple[Any, ...]) -> None:
        mine = self.sets.get(key)
        for element in elements:
            if mine is None or element not in mine:
                self._store_element(key, element)
                mine = self.sets[key]
                self.observe("apply", key=key, value=element, version=0, set=True)

    def _merge_state(self, registers, sets, clock: Version, now: float) -> None:  # type: ignore[no-untyped-def]
        # One receive event for the message (Fig. 5), stamped with the larger of the
        # sender's clock and its newest version (a sender restarted since merging may
        # hold versions above its restored clock), so the clock ends above all of them.
        top = max((version for _, version, _ in registers), default=clock)
        self.clock.receive(Timestamp.unpack(max(clock, top)), physical_ticks(now))
        for key, version, value in registers:
            self._merge_register(key, version, value, from_sync=True)
        for key, elements in sets:
            self._merge_set(key, elements)

    # Records go value first, index last: a crash between two records of the step's
    # persist (issue 12's crash points, a torn write) then leaves at worst a value no
    # index names, never an indexed key without its value or count (a restart would read
    # None). The step's reply waits for the whole persist, so nothing acked is lost.
    def _store_register(self, key: str, version: Version, value: Any) -> None:
        new = key not in self.registers
        entry = (version, value)
        self.registers[key] = entry
        self.persist(Put(f"register/{key}", entry))
        if new:
            self.persist(Put(_REGISTER_KEYS, tuple(self.registers)))

    def _store_element(self, key: str, element: Any) -> None:
        """A G-Set persisted as one entry per element: O(1) per add, immutable values."""
        mine = self.sets.get(key)
        new = mine is None
        if mine is None:
            mine = self.sets[key] = set()
        if element in mine:
            return
        self.persist(Put(f"set/{key}/{len(mine)}", element))
        mine.add(element)
        self.persist(Put(f"set/{key}#", len(mine)))
        if new:
            self.persist(Put(_SET_KEYS, tuple(self.sets)))

    def _state_payload(self, now: float) -> tuple[tuple[tuple[str, Version, Any], ...],
                                                  tuple[tuple[str, tuple[Any, ...]], ...], Version]:
        registers = tuple((k, v[0], v[1]) for k, v in sorted(self.registers.items()))
        sets = tuple((k, tuple(sorted(v))) for k, v in sorted(self.sets.items()))
        return registers, sets, self.clock.tick(physical_ticks(now)).packed()

    def _arm_anti_entropy(self) -> None:
        interval = self.options.anti_entropy_interval_ms
        if interval > 0:
            # Jitter desynchronises the nodes' exchanges, as gossip protocols do.
            self.set_timer(_ANTI_ENTROPY, interval * (0.5 + self.rng.random()))
