"""fast_init keeps a frozen dataclass a frozen dataclass; only its constructor changes."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from workbench.core.effects import Observe, Reply, Send
from workbench.core.frozen import fast_init
from workbench.protocols.raft import AppendEntries


@fast_init
@dataclass(frozen=True, slots=True)
class Sample:
    a: int
    b: str = "b"
    c: dict[str, Any] = field(default_factory=dict)


def test_constructor_sets_positional_keyword_and_default_fields() -> None:
    assert Sample(1) == Sample(1, "b", {})
    assert Sample(1, c={"x": 1}).c == {"x": 1}
    assert Sample(a=2, b="z").b == "z"
    assert Sample(1).c is not Sample(1).c  # a fresh default per instance
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]


def test_instances_stay_frozen_hashable_and_picklable() -> None:
    message = AppendEntries(3, 7, 2, ((2, None),), 6, 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.term = 4  # type: ignore[misc]
    assert not hasattr(message, "__dict__")
    assert hash(message) == hash(AppendEntries(3, 7, 2, ((2, None),), 6, 9))
    assert pickle.loads(pickle.dumps(message)) == message
    assert dataclasses.replace(message, term=5).term == 5
    assert repr(Send(1, message)).startswith("Send(to=1, message=AppendEntries(term=3")


def test_effects_keep_their_defaults() -> None:
    assert Reply(4, 0, "ok").value is None and Reply(4, 0, "ok").error is None
    assert Observe("leader").fields == {}


def test_refuses_classes_it_would_break() -> None:
    with pytest.raises(TypeError, match="frozen=True, slots=True"):
        @fast_init
        @dataclass(slots=True)
        class Mutable:
            a: int

    with pytest.raises(TypeError, match="__post_init__"):
        @fast_init
        @dataclass(frozen=True, slots=True)
        class Checked:
            a: int

            def __post_init__(self) -> None:
                pass
