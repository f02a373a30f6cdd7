"""Canonical, hashable snapshots of core state, for the systematic explorer (issue 13).

Two node objects in the same protocol situation must give equal values, whatever
order their dicts were filled in and wherever they live in memory: lists become
tuples, dicts become frozensets of their items, sets become frozensets, plain
objects (a state machine) become their type name and fields. Nothing uses `id()`.

Values that hash by value (frozen dataclasses: messages, requests, ballots) keep their
type too: a dataclass's hash is the hash of its fields alone, so `PreVote(term=1, ...)`
and `RequestVote(term=1, ...)` hash alike, and the explorer, which keeps 64-bit
fingerprints of its keys, merged two states that differed only there (found
2026-12-07 by the sleep-set check; DESIGN.md, "Systematic exploration").

This runs for every changed node on every explored transition, so the rule for a
value is decided once per *type* and kept in `_RULES` (one dict lookup per value
afterwards, instead of a chain of isinstance/hasattr tests: the chain was ~40% of
key building). The rules, and so the values produced, are exactly the old chain's:
a type's rule never depends on the value, except for the bound-method test, which is
decided by the type (`types.MethodType`) here as the only type with `__self__` and
`__func__` among the cores' fields.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

_ATOMS = (int, float, str, bytes, bool, type(None))
_ATOM_TYPES = frozenset(_ATOMS)


def _sequence(value: Any) -> tuple[Any, ...]:
    atoms = _ATOM_TYPES
    for v in value:
        if type(v) not in atoms:
            return tuple([canonical(v) for v in value])
    return tuple(value)


def _mapping(value: dict[Any, Any]) -> frozenset[Any]:
    # A frozenset of items: order-insensitive without sorting, and it caches its hash
    # (tuples do not), so an unchanged dict costs nothing to rehash. (It equals the
    # canonical form of a set of pairs; a field never holds both kinds.)
    atoms = _ATOM_TYPES
    return frozenset([(k, v if type(v) in atoms else canonical(v)) for k, v in value.items()])


def _set(value: Any) -> frozenset[Any]:
    return frozenset(canonical(v) for v in value)


def _method(value: Any) -> str:
    return str(value.__func__.__qualname__)  # a bound method kept as a dispatch pointer


def _fields(value: Any) -> tuple[str, Any]:
    fields = getattr(value, "__dict__", None)
    if fields is None:
        fields = {name: getattr(value, name) for name in getattr(type(value), "__slots__", ())
                  if hasattr(value, name)}
    return (type(value).__name__, _mapping(fields))


def _typed(value: Any) -> tuple[str, Any]:
    """A value that hashes by value, with its type's name (its own hash leaves the type out)."""
    return (type(value).__qualname__, value)


def _frozen(value: Any) -> tuple[str, tuple[Any, ...]]:
    """A frozen dataclass: its type's name and its fields in declaration order, each
    canonical (a field may hold another dataclass, whose hash would leave its type out)."""
    return (type(value).__qualname__, tuple([canonical(getattr(value, name)) for name in _NAMES[type(value)]]))


_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, in declaration order

_Rule = Callable[[Any], Any] | None  # None: the value is its own canonical form
_RULES: dict[type, _Rule] = {kind: None for kind in _ATOMS}
_RULES.update({list: _sequence, tuple: _sequence, dict: _mapping})


def _rule_for(kind: type) -> _Rule:
    """The old isinstance chain, decided for a type once."""
    rule: _Rule
    if issubclass(kind, _ATOMS):
        rule = None
    elif issubclass(kind, list | tuple):
        rule = _sequence
    elif issubclass(kind, dict):
        rule = _mapping
    elif issubclass(kind, set | frozenset):
        rule = _set
    elif kind is types.MethodType:
        rule = _method
    elif kind.__hash__ not in (None, object.__hash__) and dataclasses.is_dataclass(kind):
        _NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
        rule = _frozen  # messages, requests, ballots: their hash is by value, without the type
    elif kind.__hash__ not in (None, object.__hash__):
        rule = _typed
    else:
        rule = _fields
    _RULES[kind] = rule
    return rule


_UNSEEN: Any = object()


def canonical(value: Any) -> Any:
    """A hashable value equal for equal states (order-insensitive where order is not state)."""
    rule = _RULES.get(type(value), _UNSEEN)
    if rule is None:
        return value
    if rule is _UNSEEN:
        rule = _rule_for(type(value))
        if rule is None:
            return value
    return rule(value)


# (class, field names in the instance's order, skipped names) -> the kept names, sorted:
# instances of one class almost always share one field order, so the sort runs once.
_FIELD_ORDER: dict[tuple[type, tuple[str, ...], frozenset[str]], tuple[str, ...]] = {}


def canonical_fields(obj: Any, skip: frozenset[str]) -> tuple[Any, ...]:
    """`obj`'s instance fields, minus `skip`, as one canonical tuple sorted by name."""
    fields = vars(obj)
    shape = (type(obj), tuple(fields), skip)
    names = _FIELD_ORDER.get(shape)
    if names is None:
        names = _FIELD_ORDER[shape] = tuple(sorted(name for name in fields if name not in skip))
    atoms = _ATOM_TYPES
    return tuple([(name, v if type(v) in atoms else canonical(v))
                  for name in names for v in (fields[name],)])
