"""The sans-IO protocol contract every replica core implements (DESIGN.md).

A node is built from its id, its peers, its options, an injected `random.Random`
and its durable `Storage` (empty on first boot, the surviving one after a crash).
It reacts to three inputs — a peer message, a client request, a timer firing — each
given `now`, the node's own clock in ms (a node never reads a clock: the runtime
owns time, including clock offset and drift). It answers only with effects, which
the runtime drains with `take_effects()` after every input.

Rules for subclasses (checked by tests/test_architecture.py):
- import only the standard library and `workbench.core`;
- never read a clock, never touch the module-level `random`: use `self.rng`;
- one frozen, slotted dataclass per message type;
- dispatch roles through per-role methods (`_step_leader`, ...) or tables.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from workbench.core.canonical import canonical_fields
from workbench.core.effects import CancelTimer, Effect, Observe, Persist, Reply, Send, SetTimer
from workbench.core.ids import NodeId, ProcessId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Record, Storage


def check_leader_options(protocol: str, options: Any, at_least_one: Sequence[str]) -> None:
    """The option checks leader-based protocols share (Raft, Multi-Paxos): a sane
    election-timeout range, heartbeat and drift bound, and counts that must be >= 1.
    Raises ValueError naming `protocol.field`, which config errors pass on verbatim."""
    if not 0 < options.election_timeout_min_ms <= options.election_timeout_max_ms:
        raise ValueError(f"{protocol}: need 0 < election_timeout_min_ms <= election_timeout_max_ms")
    if options.heartbeat_ms <= 0:
        raise ValueError(f"{protocol}.heartbeat_ms: must be > 0")
    if not 0 <= options.max_clock_drift < 1:
        raise ValueError(f"{protocol}.max_clock_drift: must be in [0, 1)")
    for name in at_least_one:
        if getattr(options, name) < 1:
            raise ValueError(f"{protocol}.{name}: must be >= 1")


class Node(ABC):
    """One replica. Subclasses set `name` and `Options` and implement the four inputs."""

    name: ClassVar[str]

    def __init__(
        self,
        node_id: NodeId,
        peers: Sequence[NodeId],
        options: Any,
        rng: random.Random,
        storage: Storage,
    ) -> None:
        self.id = node_id
        # Peers exclude this node; `members` is the whole cluster, sorted.
        self.peers: tuple[NodeId, ...] = tuple(p for p in peers if p != node_id)
        self.members: tuple[NodeId, ...] = tuple(sorted((*self.peers, node_id)))
        self.options = options
        self.rng = rng
        self.storage = storage
        self._outbox: list[Effect] = []

    # ----------------------------------------------------------------- inputs
    # Fields that are not protocol state: wiring, configuration and the effect outbox.
    # The rng's position is kept (it decides future timeouts), as a hash of its state.
    CANONICAL_SKIP: ClassVar[frozenset[str]] = frozenset(
        {"options", "rng", "storage", "_outbox", "_step", "peers", "members"})

    def canonical_state(self) -> tuple[Any, ...]:
        """A hashable value equal for equal states (issue 13: the explorer's state key).

        Volatile fields plus the rng position; durable state is in the `Storage`, which
        the explorer keys separately because a down node has only that.
        """
        return (canonical_fields(self, self.CANONICAL_SKIP), hash(self.rng.getstate()))

    @abstractmethod
    def start(self, now: float) -> None:
        """Called once after construction (boot or restart): arm the first timers."""

    @abstractmethod
    def on_message(self, src: NodeId, message: Message, now: float) -> None: ...

    @abstractmethod
    def on_client_request(self, request: ClientRequest, now: float) -> None: ...

    @abstractmethod
    def on_timer(self, name: str, now: float) -> None: ...

    # ------------------------------------------------------- runtime queries
    def take_effects(self) -> list[Effect]:
        effects, self._outbox = self._outbox, []
        return effects

    def leader(self) -> NodeId | None:
        """The leader this node believes in, if the protocol has one (for `isolate: leader`)."""
        return None

    def is_leader(self) -> bool:
        return False

    def needs_leader(self, request: ClientRequest) -> bool:
        """Whether only a leader can serve `request`. When it does and `leader()` is None,
        the runtime's request policy answers it instead of the core (runtime/driver.py):
        fail at once or hold. Leaderless stores (eventual, quorum) never need one."""
        return False

    @abstractmethod
    def state_digest(self) -> int:
        """A hash of the replica's applied state; equal digests mean converged replicas."""

    # ------------------------------------------------------- effect helpers
    @property
    def quorum(self) -> int:
        return len(self.members) // 2 + 1

    def send(self, to: NodeId, message: Message) -> None:
        self._outbox.append(Send(to, message))

    def broadcast(self, message: Message) -> None:
        for peer in self.peers:
            self._outbox.append(Send(peer, message))

    def reply(
        self,
        process: ProcessId,
        seq: int,
        ok: bool,
        value: Any = None,
        error: str | None = None,
    ) -> None:
        self._outbox.append(Reply(process, seq, "ok" if ok else "fail", value, error))

    def set_timer(self, name: str, delay_ms: float) -> None:
        self._outbox.append(SetTimer(name, delay_ms))

    def cancel_timer(self, name: str) -> None:
        self._outbox.append(CancelTimer(name))

    def observe(self, kind: str, **fields: Any) -> None:
        self._outbox.append(Observe(kind, fields))

    def persist(self, *records: Record) -> None:
        """Ask for a durable write; every send and reply after it waits until it is durable."""
        self._outbox.append(Persist(records))
