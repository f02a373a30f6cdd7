"""Effects: everything a protocol core asks of the world.

A core never performs I/O. Each input call appends effects to its outbox; the runtime
drains the outbox (`Node.take_effects`) and carries them out: sends through the
fault model, replies to the client process, (re)arms or cancels timers, records
observations in the run's trace, writes durable state (`Persist`, see
`workbench.core.storage`).
"""

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId, ProcessId
from workbench.core.messages import Message
from workbench.core.storage import Extend, PutMany, Record


@fast_init
@dataclass(frozen=True, slots=True)
class Send:
    """Send `message` to peer `to`. The network may delay, drop, duplicate or cut it."""

    to: NodeId
    message: Message


@fast_init
@dataclass(frozen=True, slots=True)
class Reply:
    """Answer the client process `process` for its request `seq`.

    Only the node the client sits beside may reply (clients reach only their own
    node, as in Jepsen); a leader serving a forwarded request sends the result back
    to that node in a message of its own protocol.
    `type` is `ok` (it happened) or `fail` (it definitely did not happen).
    """

    process: ProcessId
    seq: int
    type: Literal["ok", "fail"]
    value: Any = None
    error: str | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class SetTimer:
    """Fire `on_timer(name)` after `delay_ms` of the node's own clock; replaces a pending timer of that name."""

    name: str
    delay_ms: float


@fast_init
@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@fast_init
@dataclass(frozen=True, slots=True)
class Observe:
    """A fact for the run's trace, never seen by other nodes.

    Kinds the runtimes and checkers understand:
    - `apply`: a write took effect in the node's state machine;
      fields `key`, `value`, `version` (a number that orders the versions of one key:
      the log index / slot for Raft and Paxos, the timestamp for the eventual store).
    - `install`: the node adopted a snapshot / checkpoint holding every write with a
      version up to field `version` (no `apply` records come for those writes).
    - `leader`: the node became leader; field `term` (term or ballot round).
    - `step_down`: the node stopped being leader.
    Protocols may add their own kinds; unknown kinds are kept in the trace as they are.
    """

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@fast_init
@dataclass(frozen=True, slots=True)
class Persist:
    """Write `records` to the node's durable storage, as one batch (etcd's `Ready`).

    Every `Send` and `Reply` after a `Persist` in an outbox — and every one the node
    emits later — waits until the write is durable: the driver releases them in order
    once the modelled fsync completes (at once without a disk model). So a vote, an ack
    or a client reply never leaves before the state it promises is on disk (Raft §5.1
    Figure 2: "updated on stable storage before responding to RPCs").
    """

    records: tuple[Record, ...]


# A lone `Extend` in an outbox is the one-record persist `Persist((extend,))`, with the
# same ordering rule: Raft's per-entry log append is the hottest write, and this saves
# an object and a tuple per append (benchmarks/raft_sim.py).
Effect: TypeAlias = Send | Reply | SetTimer | CancelTimer | Observe | Persist | Extend


def records_of(effect: Any) -> tuple[Record, ...] | None:
    """The records a durable write carries (a `Persist`'s, or a lone `Extend` itself);
    None for any other effect."""
    cls = type(effect)
    if cls is Persist:
        return effect.records  # type: ignore[no-any-return]
    if cls is Extend:
        return (effect,)
    return None


def writes_record(effects: list[Any], name: str) -> bool:
    """Whether a step's writes include a record called `name` (one of a `PutMany`'s too).

    What a record-aimed crash point waits for (issue 12): the simulator's driver and the
    scenario world both ask it, so both aim at the same steps."""
    for effect in effects:
        for record in records_of(effect) or ():
            if type(record) is PutMany:
                if any(key == name for key, _ in record.items):
                    return True
            elif getattr(record, "name", None) == name:
                return True
    return False
