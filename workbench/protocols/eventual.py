"""An eventually consistent (AP) key-value store: the baseline that stays available.

Every node serves reads and writes locally and at once, so no partition can make it
unavailable (the "A" of CAP, Gilbert & Lynch 2002 §3). Writes replicate
asynchronously: a push to every peer when the write happens, plus periodic push-pull
anti-entropy with a random peer (Demers et al. 1987, "Epidemic algorithms", §1.3),
which is what makes replicas converge after a partition heals.

Conflicts resolve last-writer-wins by hybrid logical clock timestamp (Kulkarni et al.
2014, "Logical Physical Clocks", Fig. 5), node id as tie-break, so every replica picks
the same winner. The set workload uses a grow-only set merged by union: an add-wins
set without removes, in which no acknowledged add is ever lost (Shapiro et al. 2011,
"CRDTs", §3.3.1 G-Set).

Register data and sets are durable (written to storage as they change); the HLC is
volatile and restarts from the node's clock, which HLC tolerates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.protocols.base import Node

Version = int
"""An HLC timestamp packed into one int: ((physical µs * 1000 + logical) * 1000 + node).
One int orders versions exactly as the (physical, logical, node) triple would, and is
what the trace reports as a register version for the staleness checker."""

_ANTI_ENTROPY = "anti_entropy"


@dataclass(frozen=True)
class EventualOptions:
    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic when validating config

    replication: bool = True
    """Push every write to all peers at once. Off: only anti-entropy spreads writes."""
    anti_entropy_interval_ms: float = 500.0
    """Push-pull exchange with one random peer this often (0 disables anti-entropy)."""


# Register entries are (version, value); sets are frozensets of elements.
@fast_init
@dataclass(frozen=True, slots=True)
class Push(Message):
    """A write replicated eagerly to peers."""

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
    """Anti-entropy, push half: the sender's whole state."""

    registers: tuple[tuple[str, Version, Any], ...]
    sets: tuple[tuple[str, tuple[Any, ...]], ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SyncReply(Message):
    """Anti-entropy, pull half: the receiver's state after merging, sent back."""

    registers: tuple[tuple[str, Version, Any], ...]
    sets: tuple[tuple[str, tuple[Any, ...]], ...]


class EventualNode(Node):
    name: ClassVar[str] = "eventual"
    options: EventualOptions

    def __init__(self, node_id, peers, options, rng, storage) -> None:  # type: ignore[no-untyped-def]
        super().__init__(node_id, peers, options, rng, storage)
        if "registers" not in storage:
            storage.put("registers", {})
            storage.put("sets", {})
        self.registers: dict[str, tuple[Version, Any]] = storage.get("registers")
        self.sets: dict[str, set[Any]] = storage.get("sets")
        self._hlc_us = 0
        self._hlc_logical = 0

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
            self._observe_remote(message.version, now)
            self._merge_register(message.key, message.version, message.value)
        elif isinstance(message, PushSet):
            self._merge_set(message.key, message.elements)
        elif isinstance(message, SyncRequest):
            self._merge_state(message.registers, message.sets, now)
            self.send(src, SyncReply(*self._state_payload()))
        elif isinstance(message, SyncReply):
            self._merge_state(message.registers, message.sets, now)

    def on_timer(self, name: str, now: float) -> None:
        if name == _ANTI_ENTROPY:
            if self.peers:
                peer = self.peers[self.rng.randrange(len(self.peers))]
                self.send(peer, SyncRequest(*self._state_payload()))
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
        elements = self.sets.setdefault(request.key, set())
        elements.add(request.value)
        self.observe("apply", key=request.key, value=request.value, version=self._tick(now))
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
    def _local_write(self, key: str, value: Any, now: float) -> None:
        version = self._tick(now)
        self.registers[key] = (version, value)
        self.observe("apply", key=key, value=value, version=version)
        if self.options.replication:
            self.broadcast(Push(key, version, value))

    def _tick(self, now: float) -> Version:
        """HLC send/local event (Kulkarni et al. Fig. 5): l = max(l, pt); c bumps on a tie."""
        physical = int(now * 1000)
        if physical > self._hlc_us:
            self._hlc_us, self._hlc_logical = physical, 0
        else:
            self._hlc_logical += 1
        return (self._hlc_us * 1000 + min(self._hlc_logical, 999)) * 1000 + self.id

    def _observe_remote(self, version: Version, now: float) -> None:
        """HLC receive event: never issue a timestamp below one already seen."""
        remote_us = version // 1_000_000
        if remote_us > self._hlc_us and remote_us > int(now * 1000):
            self._hlc_us, self._hlc_logical = remote_us, (version // 1000) % 1000 + 1

    def _merge_register(self, key: str, version: Version, value: Any) -> None:
        current = self.registers.get(key)
        if current is None or version > current[0]:
            self.registers[key] = (version, value)
            self.observe("apply", key=key, value=value, version=version)

    def _merge_set(self, key: str, elements: tuple[Any, ...]) -> None:
        mine = self.sets.setdefault(key, set())
        for element in elements:
            if element not in mine:
                mine.add(element)
                self.observe("apply", key=key, value=element, version=0)

    def _merge_state(self, registers, sets, now: float) -> None:  # type: ignore[no-untyped-def]
        for key, version, value in registers:
            self._observe_remote(version, now)
            self._merge_register(key, version, value)
        for key, elements in sets:
            self._merge_set(key, elements)

    def _state_payload(self) -> tuple[tuple[tuple[str, Version, Any], ...], tuple[tuple[str, tuple[Any, ...]], ...]]:
        registers = tuple((k, v[0], v[1]) for k, v in sorted(self.registers.items()))
        sets = tuple((k, tuple(sorted(v))) for k, v in sorted(self.sets.items()))
        return registers, sets

    def _arm_anti_entropy(self) -> None:
        interval = self.options.anti_entropy_interval_ms
        if interval > 0:
            # Jitter desynchronises the nodes' exchanges, as gossip protocols do.
            self.set_timer(_ANTI_ENTROPY, interval * (0.5 + self.rng.random()))
