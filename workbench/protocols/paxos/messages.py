"""Multi-Paxos values, ballots and messages: one frozen, slotted dataclass per message
type (Paxos Made Simple §2.2 phases 1a/1b/2a/2b, §3 Multi-Paxos; PMMC's scout and
commander; catch-up and checkpoints from Paxos Made Live §5.5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeAlias

from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest

# ------------------------------------------------------------------ values, ballots
Ballot: TypeAlias = tuple[int, int]
"""(round, node id): totally ordered, and no two proposers ever use the same one (PMS §2.5)."""

ZERO: Ballot = (0, -1)
"""Below every real ballot: nothing promised / nothing accepted."""

NO_ECHO = -math.inf
"""An ack that answers no heartbeat (clocks may read negative, so no other sentinel)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Command:
    """A client request as a log value; `origin` is the node its client sits beside."""

    request: ClientRequest
    origin: NodeId


Value: TypeAlias = Command | None
"""What a slot holds; None is the no-op that fills a gap (PMS §3)."""

Entry: TypeAlias = tuple[int, Ballot, Value, bool]
"""(slot, accepted ballot, value, decided) as reported in a promise."""


# ------------------------------------------------------------------ messages
@fast_init
@dataclass(frozen=True, slots=True)
class PreVote(Message):
    """Would you promise a ballot of this round? Changes no state at the receiver."""

    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class PreVoteReply(Message):
    round: int
    granted: bool
    promised: Ballot


@fast_init
@dataclass(frozen=True, slots=True)
class Prepare(Message):
    """Phase 1a for every slot >= first_slot at once (PMS §3)."""

    ballot: Ballot
    first_slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class Checkpoint(Message):
    """Every slot below `slot` is chosen and applied; `data` is the state machine after them.

    Sent instead of per-slot state the sender compacted away (Paxos Made Live §5.5:
    a replica that lags behind the others' snapshots catches up from a snapshot). A fact about chosen slots only, so it is
    valid whatever ballot is current; the receiver installs it if `slot` is past its
    own applied point and ignores it otherwise.
    """

    slot: int
    data: tuple[Any, ...]
    """`KVStateMachine.snapshot()`: plain immutable data, shared by every copy of the message."""


@fast_init
@dataclass(frozen=True, slots=True)
class Promise(Message):
    """Phase 1b: the acceptor promised `ballot`; what it accepted (or knows decided) from first_slot.

    When first_slot is below the acceptor's checkpoint, `entries` start at the
    checkpoint and `checkpoint` stands for every slot below it: a promise never drops
    a slot silently (see `PaxosNode._compact` for why that is what safety needs).
    """

    ballot: Ballot
    entries: tuple[Entry, ...]
    checkpoint: Checkpoint | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class Accept(Message):
    """Phase 2a for one slot; `commit`: every slot below it is decided (the leader's learning)."""

    ballot: Ballot
    slot: int
    value: Value
    commit: int


@fast_init
@dataclass(frozen=True, slots=True)
class Accepted(Message):
    """Phase 2b."""

    ballot: Ballot
    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class Nack(Message):
    """A prepare/accept/heartbeat of `ballot` was refused: the acceptor promised `promised`."""

    ballot: Ballot
    promised: Ballot


@fast_init
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    ballot: Ballot
    commit: int
    sent_at: float
    """The leader's clock at sending, echoed in the ack: the start of a lease."""


@fast_init
@dataclass(frozen=True, slots=True)
class Ack(Message):
    """A heartbeat or catch-up ack; `first_unchosen` tells the leader what the follower lacks."""

    ballot: Ballot
    first_unchosen: int
    echo: float
    """The acked heartbeat's `sent_at`; NO_ECHO for a catch-up ack (no lease)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Decisions(Message):
    """Decided values a follower lacks, resent by the leader (catch-up)."""

    ballot: Ballot
    entries: tuple[tuple[int, Value], ...]


@fast_init
@dataclass(frozen=True, slots=True)
class SlotPrepare(Message):
    """single_decree: phase 1a for one slot only."""

    ballot: Ballot
    slot: int


@fast_init
@dataclass(frozen=True, slots=True)
class SlotPromise(Message):
    """single_decree: phase 1b for one slot; accepted_ballot ZERO = nothing accepted there."""

    ballot: Ballot
    slot: int
    accepted_ballot: Ballot
    value: Value
    decided: bool


@fast_init
@dataclass(frozen=True, slots=True)
class Forward(Message):
    """A client request handed by the client's node (the sender) to the leader."""

    request: ClientRequest


@fast_init
@dataclass(frozen=True, slots=True)
class Result(Message):
    """The leader's answer for a forwarded request; only the origin node replies to the client."""

    process: int
    seq: int
    ok: bool
    value: Any = None
    error: str | None = None
