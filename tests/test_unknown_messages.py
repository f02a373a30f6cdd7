"""One rule for unknown messages in every core (DESIGN.md, "Protocol cores"): a message
of a type the core does not handle is ignored — no exception, no effect, no change of
state — as a message of a stale term is. Handler tables and dispatch chains must then
name every message type of their own protocol, so ignoring cannot hide a forgotten
handler; the second half of this file checks that statically."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import random
from typing import Any

import pytest

from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.protocols import PROTOCOL_NAMES, node_class, options_class, protocol_module
from workbench.protocols.paxos import Heartbeat
from workbench.protocols.raft import AppendEntries


@dataclasses.dataclass(frozen=True, slots=True)
class Stranger(Message):
    """No core knows this type (as a message from another version or protocol would be)."""

    term: int = 99


def booted(protocol: str, seed: int = 0) -> Any:
    """Node 0 of a 3-node cluster, started, with a client request in progress (so that it
    holds volatile state an unknown message must not disturb) and its effects drained."""
    node = node_class(protocol)(0, [0, 1, 2], options_class(protocol)(), random.Random(seed), Storage())
    node.start(0.0)
    node.on_client_request(ClientRequest(0, 1, "write", "k", 1), 1.0)
    node.take_effects()
    return node


def foreign_message(protocol: str) -> Message:
    """A real message of another protocol: Raft's AppendEntries, or for Raft a Paxos Heartbeat."""
    if protocol != "raft":
        return AppendEntries(5, 0, 0, (), 0, 1)
    return Heartbeat((7, 1), 0, 0.0)


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
@pytest.mark.parametrize("make", [lambda protocol: Stranger(), foreign_message], ids=["unknown", "foreign"])
def test_every_core_ignores_a_message_it_does_not_know(protocol: str, make: Any) -> None:
    node = booted(protocol)
    before = node.canonical_state()
    storage_before = dict(node.storage._data)
    node.on_message(1, make(protocol), 5.0)
    assert node.take_effects() == [], f"{protocol}: an unknown message produced effects"
    assert node.canonical_state() == before, f"{protocol}: an unknown message changed state"
    assert dict(node.storage._data) == storage_before, f"{protocol}: an unknown message was persisted"


def message_types(protocol: str) -> set[type]:
    module = protocol_module(protocol)
    return {cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Message) and cls is not Message}


@pytest.mark.parametrize("protocol", [p for p in PROTOCOL_NAMES if hasattr(node_class(p), "_HANDLERS")])
def test_handler_tables_name_every_message_type_of_their_protocol(protocol: str) -> None:
    handled = set(node_class(protocol)._HANDLERS)
    missing = {cls.__name__ for cls in message_types(protocol) - handled}
    assert not missing, f"{protocol}: no handler for {sorted(missing)} (it would be ignored silently)"


def names_in_dispatch(functions: list[Any]) -> set[str]:
    """Names compared in `cls is X` / `isinstance(m, X)` tests inside these functions."""
    names: set[str] = set()
    for function in functions:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and all(isinstance(op, ast.Is) for op in node.ops):
                names |= {c.id for c in node.comparators if isinstance(c, ast.Name)}
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                names |= {a.id for a in node.args[1:] if isinstance(a, ast.Name)}
    return names


@pytest.mark.parametrize("protocol", [p for p in PROTOCOL_NAMES if not hasattr(node_class(p), "_HANDLERS")])
def test_dispatch_chains_name_every_message_type_of_their_protocol(protocol: str) -> None:
    cls = node_class(protocol)
    dispatchers = [getattr(cls, name) for name in dir(cls)
                   if name == "on_message" or name.startswith("_step_")]
    missing = {t.__name__ for t in message_types(protocol)} - names_in_dispatch(dispatchers)
    assert not missing, f"{protocol}: on_message never dispatches {sorted(missing)}"


def test_the_dispatch_check_sees_a_missing_type() -> None:
    def on_message(self: Any, m: Any) -> None:
        if type(m) is AppendEntries:
            pass

    assert names_in_dispatch([on_message]) == {"AppendEntries"}
