"""Canonical, hashable snapshots of core state, for the systematic explorer (issue 13).

Two node objects in the same protocol situation must give equal values, whatever
order their dicts were filled in and wherever they live in memory: lists become
tuples, dicts become tuples of items sorted by key, sets become frozensets, plain
objects (a state machine) become their type name and fields. Nothing uses `id()`.
"""

from __future__ import annotations

from typing import Any

_ATOMS = (int, float, str, bytes, bool, type(None))


def canonical(value: Any) -> Any:
    """A hashable value equal for equal states (order-insensitive where order is not state)."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, list | tuple):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((k, canonical(v)) for k, v in value.items()), key=lambda kv: repr(kv[0])))
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
    return tuple((name, canonical(v)) for name, v in sorted(vars(obj).items()) if name not in skip)
