"""Value types shared by every layer: ids, client operations, messages, effects, storage."""

from workbench.core.effects import CancelTimer, Effect, Observe, Reply, Send, SetTimer
from workbench.core.ids import NodeId, ProcessId
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest, OpKind
from workbench.core.storage import Storage

__all__ = [
    "CancelTimer",
    "ClientRequest",
    "Effect",
    "Message",
    "NodeId",
    "Observe",
    "OpKind",
    "ProcessId",
    "Reply",
    "Send",
    "SetTimer",
    "Storage",
]
