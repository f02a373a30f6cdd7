"""Sequential specifications (models) for the linearizability checker.

Each model gives two views of the same semantics:

- `step(state, f, value, result, definite) -> (legal, new_state)` on real values, the
  reference the witness replays and the tests trust;
- `encode(...)`: the compiled form the search runs on. States are interned to small
  ints per key (`StateTable`) and an op becomes `(req, out, fn, cls)`:
  `req` the state it needs (-1: any), `out` the state it leads to (-1: unchanged),
  `fn` a state-dependent transition (new state id, or -1 if illegal) when `req`/`out`
  cannot say it, and `cls` a key equal for ops with the same effect in every state.
  `encode` returns None for an op that can be dropped (no effect, no constraint).

Semantics (DESIGN.md, Jepsen): an `info` op may take effect at any time after its
invoke, or never. So an info read constrains nothing and is dropped; an info cas whose
compare does not match is a no-op, the same as never happening, so it is encoded to
require its compare value (the search only ever tries it when it matches). `fail` ops
are dropped before encoding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from workbench.history.limits import short_repr

Encoded = tuple[int, int, Callable[[int], int] | None, Hashable]
_SMALL_SET = 64


def freeze(value: Any) -> Hashable:
    """JSON/EDN values as hashable ones: lists become tuples, maps and sets frozensets
    (a map's marked, so `{}` and `#{}` stay different values)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("map", frozenset((freeze(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value


class StateTable:
    """Interns the model states of one key to ints 0, 1, 2, ... (0 = initial)."""

    __slots__ = ("values", "ids", "fns")

    def __init__(self, initial: Hashable) -> None:
        self.values: list[Any] = [initial]
        self.ids: dict[Hashable, int] = {initial: 0}
        self.fns: dict[Hashable, Callable[[int], int]] = {}  # shared by ops of one class

    def intern(self, value: Hashable) -> int:
        i = self.ids.get(value)
        if i is None:
            i = self.ids[value] = len(self.values)
            self.values.append(value)
        return i


class Model:
    name = ""
    fs: frozenset[str] = frozenset()
    initial: Hashable = None

    def problem(self, f: str, value: Any) -> str | None:
        """Why this model cannot check an op (None when it can)."""
        if f not in self.fs:
            return f"model {self.name!r} has no operation {f!r} (it knows {', '.join(sorted(self.fs))})"
        return None

    def step(self, state: Any, f: str, value: Any, result: Any, definite: bool) -> tuple[bool, Any]:
        raise NotImplementedError

    def grows_to(self, state: Any, target: Any) -> bool:
        """Whether ops with a state-dependent effect (`fn`) alone might turn `state` into
        `target`. A necessary condition only: True when unsure. The search uses it to
        give up early on a configuration that cannot reach the value a read returned."""
        return True

    def last_steps(self, fn_ops: list[tuple[int, str, Any]]) -> Callable[[Any], int]:
        """For a key's ops with a state-dependent effect, given as (bitset, f, value): a
        function from a target value to the bitset of those that might leave exactly
        it (from some state). A superset is fine: the default answers all of them."""
        every = sum(bit for bit, _, _ in fn_ops)
        return lambda target: every

    def encode(self, f: str, value: Any, result: Any, definite: bool,
               table: StateTable) -> Encoded | None:
        raise NotImplementedError


class RegisterModel(Model):
    """A register that starts absent (None): read / write, and cas for `cas-register`.

    A read of None means "never written". An ok cas [a, b] must see a and leaves b.
    """

    def __init__(self, cas: bool) -> None:
        self.cas = cas
        self.name = "cas-register" if cas else "register"
        self.fs = frozenset({"read", "write", "cas"} if cas else {"read", "write"})

    def problem(self, f: str, value: Any) -> str | None:
        if f == "cas" and self.cas and not (isinstance(value, list | tuple) and len(value) == 2):
            return f"cas value {short_repr(value)} is not [expected, new]"
        return super().problem(f, value)

    def step(self, state: Any, f: str, value: Any, result: Any, definite: bool) -> tuple[bool, Any]:
        if f == "read":
            return (not definite or freeze(result) == state), state
        if f == "write":
            return True, freeze(value)
        expected, new = freeze(value)
        if state == expected:
            return True, new
        return not definite, state  # an info cas that does not match changes nothing

    def encode(self, f: str, value: Any, result: Any, definite: bool,
               table: StateTable) -> Encoded | None:
        if f == "read":
            if not definite:
                return None
            req = table.intern(freeze(result))
            return req, -1, None, (req, -1)
        if f == "write":
            out = table.intern(freeze(value))
            return -1, out, None, (-1, out)
        expected, new = freeze(value)
        req, out = table.intern(expected), table.intern(new)
        return req, out, None, (req, out)


class KVModel(Model):
    """One string value per key, starting as "" (porcupine's kv tests): get / put / append.

    A get must return the whole current string; None is read as "" (never written).
    """

    name = "kv"
    fs = frozenset({"get", "put", "append", "read", "write"})
    initial = ""

    def problem(self, f: str, value: Any) -> str | None:
        if f == "append" and not isinstance(value, str):
            return f"append value {short_repr(value)} is not a string"
        return super().problem(f, value)

    def grows_to(self, state: Any, target: Any) -> bool:
        return target.startswith(state)  # appends only ever extend the string

    def last_steps(self, fn_ops: list[tuple[int, str, Any]]) -> Callable[[Any], int]:
        # An append leaves a string ending in its value: index the values by length, so
        # a target costs one lookup per distinct length, not one test per append.
        by_value: dict[str, int] = defaultdict(int)
        for bit, _, value in fn_ops:
            by_value[value] |= bit
        lengths = sorted({len(v) for v in by_value})

        def lasts(target: str) -> int:
            mask, size = 0, len(target)
            for length in lengths:
                if length > size:
                    break
                mask |= by_value.get(target[size - length:], 0)
            return mask

        return lasts

    def step(self, state: Any, f: str, value: Any, result: Any, definite: bool) -> tuple[bool, Any]:
        if f in ("get", "read"):
            return (not definite or ("" if result is None else result) == state), state
        if f in ("put", "write"):
            return True, value
        return True, state + value

    def encode(self, f: str, value: Any, result: Any, definite: bool,
               table: StateTable) -> Encoded | None:
        if f in ("get", "read"):
            if not definite:
                return None
            req = table.intern(freeze("" if result is None else result))
            return req, -1, None, (req, -1)
        if f in ("put", "write"):
            out = table.intern(freeze(value))
            return -1, out, None, (-1, out)
        cls = ("append", value)
        fn = table.fns.get(cls)
        if fn is None:
            fn = table.fns[cls] = _memo_step(table, lambda s, v=value: s + v)
        return -1, -1, fn, cls


class SetModel(Model):
    """A grow-only set, starting empty: add x / read (the elements, as a list; None = empty)."""

    name = "set"
    fs = frozenset({"add", "read"})
    initial: Hashable = frozenset()

    def grows_to(self, state: Any, target: Any) -> bool:
        return state <= target  # adds only ever grow the set

    def last_steps(self, fn_ops: list[tuple[int, str, Any]]) -> Callable[[Any], int]:
        # An add leaves a set holding its element. A big target would cost one lookup
        # per element for little pruning: then every add is answered.
        by_element: dict[Hashable, int] = defaultdict(int)
        for bit, _, value in fn_ops:
            by_element[freeze(value)] |= bit
        every = sum(by_element.values())

        def lasts(target: frozenset[Any]) -> int:
            if len(target) > _SMALL_SET:
                return every
            mask = 0
            for element in target:
                mask |= by_element.get(element, 0)
            return mask

        return lasts

    def step(self, state: Any, f: str, value: Any, result: Any, definite: bool) -> tuple[bool, Any]:
        if f == "read":
            return (not definite or _elements(result) == state), state
        return True, state | {freeze(value)}

    def encode(self, f: str, value: Any, result: Any, definite: bool,
               table: StateTable) -> Encoded | None:
        if f == "read":
            if not definite:
                return None
            req = table.intern(_elements(result))
            return req, -1, None, (req, -1)
        element = freeze(value)
        cls = ("add", element)
        fn = table.fns.get(cls)
        if fn is None:
            fn = table.fns[cls] = _memo_step(table, lambda s, x=element: s | {x})
        return -1, -1, fn, cls


def _elements(result: Any) -> frozenset[Any]:
    """A set read's result as a frozenset (None = empty). Reads return thousands of
    elements, so scalars skip `freeze`."""
    try:
        return frozenset(result or ())
    except TypeError:  # list elements: make them hashable
        return frozenset(freeze(x) for x in result)


def _memo_step(table: StateTable, apply: Callable[[Any], Any]) -> Callable[[int], int]:
    """A state-id transition computed once per state: the search calls it many times."""
    memo: dict[int, int] = {}
    values, intern = table.values, table.intern

    def step(state: int) -> int:
        new = memo.get(state)
        if new is None:
            new = memo[state] = intern(apply(values[state]))
        return new

    return step


MODELS: dict[str, Model] = {
    "register": RegisterModel(cas=False),
    "cas-register": RegisterModel(cas=True),
    "kv": KVModel(),
    "set": SetModel(),
}


def get_model(name: str) -> Model:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(MODELS)})") from None
