"""Base class of peer-to-peer messages.

Every protocol declares one frozen, slotted dataclass per message type, subclassing
`Message`, e.g.::

    @dataclass(frozen=True, slots=True)
    class RequestVote(Message):
        term: int
        candidate: NodeId

Frozen so a message can be delivered twice (duplication) or to many peers without
copying; slots because the simulator moves millions of them.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Message:
    """Marker base class; carries no fields of its own."""
