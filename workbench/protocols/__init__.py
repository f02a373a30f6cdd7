"""Sans-IO protocol cores. `PROTOCOLS` maps a config name to its node and options classes."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# name -> (module, node class, options class). Imported lazily so that a broken or
# slow-to-import protocol never affects the others.
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "eventual": ("workbench.protocols.eventual", "EventualNode", "EventualOptions"),
    "raft": ("workbench.protocols.raft", "RaftNode", "RaftOptions"),
    "paxos": ("workbench.protocols.paxos", "PaxosNode", "PaxosOptions"),
    "quorum": ("workbench.protocols.quorum", "QuorumNode", "QuorumOptions"),
}

PROTOCOL_NAMES = tuple(_REGISTRY)


def node_class(name: str) -> Any:
    module, node, _ = _REGISTRY[name]
    return getattr(importlib.import_module(module), node)


def protocol_module(name: str) -> ModuleType:
    """The module (Raft and Paxos: the package) that defines protocol `name` and its messages."""
    return importlib.import_module(_REGISTRY[name][0])


def options_class(name: str) -> Any:
    module, _, options = _REGISTRY[name]
    return getattr(importlib.import_module(module), options)
