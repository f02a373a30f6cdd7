"""Canonical, hashable snapshots of core state, for the systematic explorer (issue 13).

Two node objects in the same protocol situation must give equal values, whatever
order their dicts were filled in and wherever they live in memory: lists become
tuples, dicts become frozensets of their items, sets become frozensets, plain
objects (a state machine) become their type name and fields. Nothing uses `id()`.

This runs for every changed node on every explored transition, so it dispatches on
the exact type first (one dict lookup) and only falls back to the general rules for
anything else.
"""

from __future__ import annotations

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
    return frozenset([(k, canonical(v)) for k, v in value.items()])


def canonical(value: Any) -> Any:
    """A hashable value equal for equal states (order-insensitive where order is not state)."""
    kind = type(value)
    if kind in _ATOM_TYPES:
        return value
    if kind is list or kind is tuple:
        return _sequence(value)
    if kind is dict:
        return _mapping(value)
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, list | tuple):
        return _sequence(value)
    if isinstance(value, dict):
        return _mapping(value)
    if isinstance(value, set | frozenset):
        return frozenset(canonical(v) for v in value)
    if hasattr(value, "__self__") and hasattr(value, "__func__"):
        return value.__func__.__qualname__  # a bound method kept as a dispatch pointer
    if type(value).__hash__ not in (None, object.__hash__):
        return value  # frozen dataclasses (messages, requests) hash by value already
    fields = getattr(value, "__dict__", None)
    if fields is None:
        fields = {name: getattr(value, name) for name in getattr(type(value), "__slots__", ())
                  if hasattr(value, name)}
    return (type(value).__name__, canonical(fields))


def canonical_fields(obj: Any, skip: frozenset[str]) -> tuple[Any, ...]:
    """`obj`'s instance fields, minus `skip`, as one canonical tuple sorted by name."""
    return tuple([(name, canonical(v)) for name, v in sorted(vars(obj).items()) if name not in skip])
