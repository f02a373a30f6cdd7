"""A Dynamo-style quorum store: N replicas per key, answers after W acks or R replies.

DeCandia et al. 2007, "Dynamo: Amazon's highly available key-value store":
- §4.2 partitioning: a key's preference list is the N nodes that follow the key's hash
  on a ring (here a simple ring of the cluster's nodes, one position each);
- §4.5 execution: the coordinator — the node the client sits beside — sends the op to
  all N replicas and answers after W write acks or R read replies; R + W > N is a
  "strict" quorum, anything less a partial one (Bailis et al. 2012, "PBS", §2);
- §4.4 versioning: last-writer-wins by hybrid logical clock (`versioning: lww`), or
  version vectors with siblings (`versioning: vv`): concurrent writes are all kept;
- §4.6 sloppy quorum and hinted handoff: a write (or read) the preference list does not
  answer within `sloppy_after_ms` goes to the next nodes on the ring, tagged with the
  replica it was meant for; the stand-in hands it back once that replica answers;
- §4.7 anti-entropy: periodic push-pull of the keys two nodes share (Dynamo uses Merkle
  trees to find the difference; here the whole shared state is exchanged, as the
  eventual store does, which is the same outcome at simulation sizes).

Read repair (`read_repair`): `none`; `async` writes the merged value back to replicas
that answered with older data after replying; `blocking` writes it back to a W-quorum
*before* replying — the write-back phase of ABD (Attiya, Bar-Noy & Dolev 1995, §3),
which removes the new-old inversion strict quorums otherwise allow (a read that sees
a write in flight returns it, and a later read from another quorum returns the older
value). With synchronized clocks HLC timestamps grow with real time, which gives
ABD's write-side order, so strict quorums + blocking repair are linearizable.

Siblings (`versioning: vv`) are resolved by a deterministic merge at read time: a read
returns the sibling with the greatest HLC timestamp, so histories stay register
histories the checkers understand, while every sibling stays stored until a write whose
context covers it replaces it — no acknowledged write is dropped. A write's context is
what the coordinator itself holds for the key (clients send no context).

Client ops: `read` and `write`. `cas` and set `add` are answered `fail` (they did not
happen): a quorum store has no atomic compare-and-set (Dynamo §4.4 leaves it to clients).
On `request_timeout_ms` a read fails (reads change nothing) and a write is left
unanswered, so the client records `info`: some replicas may hold it.

`fanout: quorum` is the closed-form PBS setting (Bailis et al. 2012, §3.2): a write is
sent to exactly a random W-subset of the preference list and a read to a random
R-subset, nothing else spreads it (turn anti-entropy and read repair off with it).

Messages carry a `wars_kind` so the network's WARS mode (`faults/wars.py`) can delay
write requests, acks, read requests and responses by separate distributions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId, ProcessId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import (
    DeleteItems,
    Put as StoragePut,  # `Put` here is the replica write message
    PutItem,
    PutMany,
)
from workbench.protocols.base import Node
from workbench.protocols.quorum_clock import HybridClock
from workbench.protocols.quorum_versions import Clock, Entries, merge_entries, resolve

_ANTI_ENTROPY = "anti_entropy"
_HANDOFF = "handoff"


@dataclass(frozen=True)
class QuorumOptions:
    __pydantic_config__ = {"extra": "forbid"}  # read by pydantic when validating config

    n: int = 3
    """Replicas per key (N); at most the cluster size."""
    r: int = 2
    """Read replies the coordinator waits for (R)."""
    w: int = 2
    """Write acks the coordinator waits for (W)."""
    versioning: Literal["lww", "vv"] = "lww"
    """lww: last writer wins by HLC version; vv: version vectors, concurrent writes kept as siblings."""
    read_repair: Literal["none", "async", "blocking"] = "none"
    """blocking: write the value read back to a W-quorum before answering (ABD); async: after."""
    sloppy: bool = False
    """Sloppy quorums with hinted handoff (Dynamo §4.6)."""
    sloppy_after_ms: float = 50.0
    """How long the preference list has to answer before fallback nodes are asked."""
    handoff_interval_ms: float = 200.0
    """Stand-ins retry handing hints back this often."""
    anti_entropy_interval_ms: float = 1000.0
    """Push-pull with one random peer this often (0 disables)."""
    request_timeout_ms: float = 400.0
    """The coordinator gives up on an op after this (keep it under the client timeout)."""
    fanout: Literal["all", "quorum"] = "all"
    """`quorum`: send to a random W (R) subset only — the closed-form PBS assumptions."""
    bug: Literal["early_read_reply"] | None = None
    """Deliberate bug: `early_read_reply` answers a blocking-repair read before its
    write-back reaches W replicas (so the inversion comes back)."""

    def __post_init__(self) -> None:
        for name in ("n", "r", "w"):
            if getattr(self, name) < 1:
                raise ValueError(f"quorum.{name}: must be >= 1")
        if self.r > self.n or self.w > self.n:
            raise ValueError(f"quorum: need r <= n and w <= n (n={self.n}, r={self.r}, w={self.w})")
        for name in ("sloppy_after_ms", "handoff_interval_ms", "request_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"quorum.{name}: must be > 0")
        if self.anti_entropy_interval_ms < 0:
            raise ValueError("quorum.anti_entropy_interval_ms: must be >= 0")


# ------------------------------------------------------------------ messages
@fast_init
@dataclass(frozen=True, slots=True)
class Put(Message):
    """Store these versions (a client write, a read-repair write-back, a hinted write)."""

    wars_kind: ClassVar[str] = "write_request"
    op: tuple[ProcessId, int]
    key: str
    entries: Entries
    hint_for: NodeId | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class PutAck(Message):
    wars_kind: ClassVar[str] = "ack"
    op: tuple[ProcessId, int]


@fast_init
@dataclass(frozen=True, slots=True)
class Get(Message):
    wars_kind: ClassVar[str] = "read_request"
    op: tuple[ProcessId, int]
    key: str


@fast_init
@dataclass(frozen=True, slots=True)
class GetReply(Message):
    wars_kind: ClassVar[str] = "response"
    op: tuple[ProcessId, int]
    entries: Entries


@fast_init
@dataclass(frozen=True, slots=True)
class Handoff(Message):
    """Hinted writes handed back to the replica they were meant for (Dynamo §4.6)."""

    items: tuple[tuple[str, Entries], ...]


@fast_init
@dataclass(frozen=True, slots=True)
class HandoffAck(Message):
    items: tuple[tuple[str, Entries], ...]


@fast_init
@dataclass(frozen=True, slots=True)
class Sync(Message):
    """Anti-entropy push: the sender's versions of the keys the receiver replicates."""

    items: tuple[tuple[str, Entries], ...]
    reply: bool


# ------------------------------------------------------------------ coordinator state
@dataclass
class _Op:
    """One client op this node coordinates (volatile: lost on crash, then the client times out)."""

    request: ClientRequest
    phase: Literal["write", "read", "repair"]
    entries: Entries = ()
    asked: set[NodeId] = field(default_factory=set)
    acks: set[NodeId] = field(default_factory=set)
    replies: dict[NodeId, Entries] = field(default_factory=dict)
    hinted: dict[NodeId, NodeId] = field(default_factory=dict)  # stand-in -> replica


class QuorumNode(Node):
    name: ClassVar[str] = "quorum"
    options: QuorumOptions

    def __init__(self, node_id, peers, options, rng, storage) -> None:  # type: ignore[no-untyped-def]
        super().__init__(node_id, peers, options, rng, storage)
        # Durable state is written through `Persist` (issue 12) and read back only here;
        # storage returns copies one level deep, so the hints' inner dicts are copied too.
        if "store" not in storage:  # first boot: format the disk (one atomic record)
            self.persist(PutMany((("store", {}), ("hints", {}), ("counter", 0))))
        self.store: dict[str, Entries] = storage.get("store", {})
        self.hints: dict[NodeId, dict[str, Entries]] = {
            node: dict(held) for node, held in storage.get("hints", {}).items()}
        self.counter: int = storage.get("counter", 0)  # this node's version-vector entry
        self.own_last: dict[str, Any] = storage.get("own_last", {})  # key -> own last stamp
        self.clock = HybridClock(node_id)
        self.ops: dict[tuple[ProcessId, int], _Op] = {}
        self._ring: dict[str, tuple[NodeId, ...]] = {}
        o = options
        self._n = min(o.n, len(self.members))

    # ------------------------------------------------------------------ ring
    def ring_walk(self, key: str) -> tuple[NodeId, ...]:
        """Every node in ring order from the key's position; the first N are its
        preference list, the rest its fallbacks (Dynamo §4.2, one token per node)."""
        walk = self._ring.get(key)
        if walk is None:
            # A stable hash: Python's str hash is salted per process.
            start = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
            size = len(self.members)
            walk = tuple(self.members[(start + i) % size] for i in range(size))
            self._ring[key] = walk
        return walk

    def preference_list(self, key: str) -> tuple[NodeId, ...]:
        return self.ring_walk(key)[: self._n]

    # ------------------------------------------------------------------ inputs
    def start(self, now: float) -> None:
        self._arm_anti_entropy()
        if self.options.sloppy:
            self.set_timer(_HANDOFF, self.options.handoff_interval_ms)

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        if request.f == "write":
            self._start_write(request, now)
        elif request.f == "read":
            self._start_read(request)
        else:
            self.reply(request.process, request.seq, False,
                       error=f"{request.f} is not supported by the quorum store")

    def on_message(self, src: NodeId, message: Message, now: float) -> None:
        handler = self._HANDLERS.get(type(message))
        if handler is not None:
            handler(self, src, message, now)

    def on_timer(self, name: str, now: float) -> None:
        if name == _ANTI_ENTROPY:
            self._anti_entropy()
            self._arm_anti_entropy()
        elif name == _HANDOFF:
            for target in sorted(self.hints):
                items = tuple(sorted(self.hints[target].items()))
                if items:
                    self.send(target, Handoff(items))
            self.set_timer(_HANDOFF, self.options.handoff_interval_ms)
        elif name.startswith("timeout:"):
            self._timeout(_op_id(name))
        elif name.startswith("sloppy:"):
            self._go_sloppy(_op_id(name))

    def state_digest(self) -> int:
        text = repr(sorted((k, sorted(e[2] for e in v)) for k, v in self.store.items()))
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    # ------------------------------------------------------------------ coordinator
    def _targets(self, key: str, count: int) -> list[NodeId]:
        pref = list(self.preference_list(key))
        if self.options.fanout == "quorum":
            return sorted(self.rng.sample(pref, count))
        return pref

    def _begin(self, op: _Op) -> None:
        request = op.request
        rid = request.request_id
        self.ops[rid] = op
        self.set_timer(f"timeout:{rid[0]}:{rid[1]}", self.options.request_timeout_ms)
        if self.options.sloppy:
            self.set_timer(f"sloppy:{rid[0]}:{rid[1]}", self.options.sloppy_after_ms)

    def _start_write(self, request: ClientRequest, now: float) -> None:
        stamp = self.clock.tick(now)
        if self.options.versioning == "vv":
            # Context: what this node holds for the key (clients send none); the new
            # version descends from all of it, so it replaces what it has seen.
            counter = self.counter = self.counter + 1
            self.persist(StoragePut("counter", counter))
            seen: dict[NodeId, int] = {}
            for _, vv, _ in self.store.get(request.key, ()):
                for node, count in vv:
                    seen[node] = max(seen.get(node, 0), count)
            seen[self.id] = counter
            clock: Clock = tuple(sorted(seen.items()))
        else:
            clock = ()
        # The versions this write causally follows, for the lost-write checker
        # (`checkers/lost_writes.py`): what the coordinator held for the key.
        # A coordinator's own earlier write is in the past too (its vector entry, or
        # session order under LWW), even when it is not a replica of the key.
        own = self.own_last
        context = {e[0] for e in self.store.get(request.key, ())} | (
            {own[request.key]} if request.key in own else set())
        own[request.key] = stamp
        self.persist(PutItem("own_last", request.key, stamp))
        self.observe("write", key=request.key, value=request.value, version=stamp,
                     context=sorted(context))
        op = _Op(request, "write", entries=((stamp, clock, request.value),))
        self._begin(op)
        self._put_to(op, self._targets(request.key, self.options.w))

    def _start_read(self, request: ClientRequest) -> None:
        op = _Op(request, "read")
        self._begin(op)
        for target in self._targets(request.key, self.options.r):
            op.asked.add(target)
            self.send(target, Get(request.request_id, request.key))

    def _put_to(self, op: _Op, targets: list[NodeId]) -> None:
        rid, key = op.request.request_id, op.request.key
        for target in targets:
            op.asked.add(target)
            self.send(target, Put(rid, key, op.entries))

    def _on_put_ack(self, src: NodeId, message: PutAck, now: float) -> None:
        op = self.ops.get(message.op)
        if op is None or op.phase == "read":
            return
        op.acks.add(src)
        if len(op.acks) >= self.options.w:
            value = op.request.value if op.phase == "write" else resolve(op.entries)
            self._finish(op, True, value)

    def _on_get_reply(self, src: NodeId, message: GetReply, now: float) -> None:
        op = self.ops.get(message.op)
        if op is None or op.phase != "read":
            return
        op.replies[src] = message.entries
        if len(op.replies) < self.options.r:
            return
        merged: Entries = ()
        for entries in op.replies.values():
            merged = merge_entries(merged, entries, self.options.versioning)
        op.entries = merged
        mode = self.options.read_repair
        if mode == "blocking" and self.options.bug != "early_read_reply":
            # ABD write-back: replicas that answered with exactly the merged set already
            # hold it durably and count as acks; the rest get it now.
            op.phase = "repair"
            op.acks = {n for n, e in op.replies.items() if e == merged}
            if len(op.acks) >= self.options.w:
                self._finish(op, True, resolve(merged))
                return
            self._put_to(op, [n for n in self.preference_list(op.request.key) if n not in op.acks])
            return
        if mode != "none" and merged:
            rid, key = op.request.request_id, op.request.key
            for node, entries in sorted(op.replies.items()):
                if entries != merged:
                    self.send(node, Put(rid, key, merged))
        self._finish(op, True, resolve(merged))

    def _finish(self, op: _Op, ok: bool, value: Any = None, error: str | None = None) -> None:
        rid = op.request.request_id
        self.ops.pop(rid, None)
        self.cancel_timer(f"timeout:{rid[0]}:{rid[1]}")
        self.cancel_timer(f"sloppy:{rid[0]}:{rid[1]}")
        self.reply(rid[0], rid[1], ok, value, error)

    def _timeout(self, rid: tuple[ProcessId, int]) -> None:
        op = self.ops.pop(rid, None)
        if op is None:
            return
        self.cancel_timer(f"sloppy:{rid[0]}:{rid[1]}")
        if op.phase == "read":
            self.reply(rid[0], rid[1], False, error="read quorum timed out")
        # A write (or a read's write-back) may have reached some replicas: no reply,
        # so the client records `info` — the outcome is unknown.

    def _go_sloppy(self, rid: tuple[ProcessId, int]) -> None:
        """Dynamo §4.6: each preference-list replica that has not answered is stood in
        for by the next unused node on the ring, which stores the write with a hint."""
        op = self.ops.get(rid)
        if op is None:
            return
        key = op.request.key
        walk = self.ring_walk(key)
        answered = op.replies.keys() if op.phase == "read" else op.acks
        # A replica is covered once it or one of its stand-ins answered; a stand-in
        # that stays silent too is replaced by the next spare node in the next round.
        covered = {op.hinted[n] for n in answered if n in op.hinted}
        silent = [n for n in walk[: self._n] if n not in answered and n not in covered]
        spare = [n for n in walk[self._n:] if n not in op.asked]
        for replica, stand_in in zip(silent, spare, strict=False):
            op.asked.add(stand_in)
            op.hinted[stand_in] = replica
            if op.phase == "read":
                self.send(stand_in, Get(rid, key))
            else:
                self.send(stand_in, Put(rid, key, op.entries, hint_for=replica))
        if silent and len(spare) > len(silent):
            self.set_timer(f"sloppy:{rid[0]}:{rid[1]}", self.options.sloppy_after_ms)

    # ------------------------------------------------------------------ replica
    def _on_put(self, src: NodeId, message: Put, now: float) -> None:
        self._store(message.key, message.entries, now)
        if message.hint_for is not None and message.hint_for != self.id:
            held = self.hints.setdefault(message.hint_for, {})
            held[message.key] = merge_entries(held.get(message.key, ()), message.entries,
                                              self.options.versioning)
            for stamp, _, _ in message.entries:
                self.observe("hint", key=message.key, version=stamp, replica=message.hint_for)
            self.persist(PutItem("hints", message.hint_for, dict(held)))
        self.send(src, PutAck(message.op))

    def _on_get(self, src: NodeId, message: Get, now: float) -> None:
        self.send(src, GetReply(message.op, self.store.get(message.key, ())))

    def _store(self, key: str, entries: Entries, now: float) -> None:
        current = self.store.get(key, ())
        merged = merge_entries(current, entries, self.options.versioning)
        if merged == current:
            return
        for stamp, _, _ in entries:
            self.clock.observe(stamp, now)
        self.store[key] = merged
        self.persist(PutItem("store", key, merged))  # durable before the ack goes out
        old = {e[0] for e in current}
        for stamp, _, value in merged:
            if stamp not in old:
                self.observe("apply", key=key, value=value, version=stamp)

    def _on_handoff(self, src: NodeId, message: Handoff, now: float) -> None:
        for key, entries in message.items:
            self._store(key, entries, now)
        self.send(src, HandoffAck(message.items))

    def _on_handoff_ack(self, src: NodeId, message: HandoffAck, now: float) -> None:
        held = self.hints.get(src, {})
        for key, entries in message.items:
            if held.get(key) == entries:  # not updated since it was sent
                del held[key]
        if not held:
            self.hints.pop(src, None)
            self.persist(DeleteItems("hints", (src,)))
        else:
            self.persist(PutItem("hints", src, dict(held)))

    def _anti_entropy(self) -> None:
        if self.peers:
            peer = self.peers[self.rng.randrange(len(self.peers))]
            self.send(peer, Sync(self._shared_with(peer), True))

    def _on_sync(self, src: NodeId, message: Sync, now: float) -> None:
        for key, entries in message.items:
            if self.id in self.preference_list(key):
                self._store(key, entries, now)
        if message.reply:
            self.send(src, Sync(self._shared_with(src), False))

    def _shared_with(self, peer: NodeId) -> tuple[tuple[str, Entries], ...]:
        return tuple((k, v) for k, v in sorted(self.store.items()) if peer in self.preference_list(k))

    def _arm_anti_entropy(self) -> None:
        interval = self.options.anti_entropy_interval_ms
        if interval > 0:
            self.set_timer(_ANTI_ENTROPY, interval * (0.5 + self.rng.random()))

    _HANDLERS: ClassVar[dict[type, Any]] = {
        Put: _on_put,
        PutAck: _on_put_ack,
        Get: _on_get,
        GetReply: _on_get_reply,
        Handoff: _on_handoff,
        HandoffAck: _on_handoff_ack,
        Sync: _on_sync,
    }


def _op_id(timer: str) -> tuple[ProcessId, int]:
    _, process, seq = timer.split(":")
    return int(process), int(seq)
