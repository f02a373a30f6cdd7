"""Raft's messages (§5 Figure 2, §7, thesis §6.4 and §9.6): one frozen, slotted
dataclass per type, plus the log entry they carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.core.frozen import fast_init
from workbench.core.ids import NodeId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest

Entry = tuple[int, ClientRequest | None]
"""(term, command); command None is a leader's no-op."""


@fast_init
@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """§5.3; also the heartbeat. `round` numbers leader broadcasts for ReadIndex / leases."""

    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class AppendReply(Message):
    """Success: `index` is the follower's match index. Failure: `rejected` is the
    prev_index that failed the check, `index`/`hint_term` the fast back-off hint."""

    term: int
    success: bool
    index: int
    hint_term: int
    rejected: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    term: int
    last_index: int
    last_term: int


@fast_init
@dataclass(frozen=True, slots=True)
class VoteReply(Message):
    term: int
    granted: bool


@fast_init
@dataclass(frozen=True, slots=True)
class PreVote(Message):
    """Thesis §9.6: "would you vote for me in `term`?" — changes no one's term."""

    term: int
    last_index: int
    last_term: int


@fast_init
@dataclass(frozen=True, slots=True)
class PreVoteReply(Message):
    term: int
    granted: bool


@fast_init
@dataclass(frozen=True, slots=True)
class InstallSnapshot(Message):
    """§7: the whole snapshot in one message (the state machine is small)."""

    term: int
    index: int
    snap_term: int
    data: tuple[Any, ...]
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class SnapshotReply(Message):
    term: int
    index: int
    round: int


@fast_init
@dataclass(frozen=True, slots=True)
class Forward(Message):
    """A client request handed from the client's node (`origin`) to the leader; a node
    that is no longer leader passes it on once (`hops`) to the leader it knows."""

    request: ClientRequest
    origin: NodeId
    hops: int


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardReply(Message):
    """The leader's answer to a forwarded request, for the client's node to relay."""

    process: int
    seq: int
    ok: bool
    value: Any
    error: str | None


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardBatch(Message):
    """`raft.propose_batch_ms`: the client requests a node held over one batch interval,
    handed to the leader in one message (each as a `Forward` would be)."""

    requests: tuple[ClientRequest, ...]
    origin: NodeId
    hops: int


@fast_init
@dataclass(frozen=True, slots=True)
class ForwardReplies(Message):
    """`raft.propose_batch_ms`: the leader's answers to one node's forwarded requests that
    one apply step settled, each `(process, seq, ok, value, error)` as a `ForwardReply`."""

    replies: tuple[tuple[int, int, bool, Any, str | None], ...]
