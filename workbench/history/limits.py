"""Limits that keep any history file, however strange, a one-line error instead of a crash.

A history value nests a few levels at most (a txn's `[[:append k v] ...]` is three), so
a value nested deeper than `MAX_DEPTH` is refused when read: deeper values would hit
Python's recursion limit later, in a checker or while formatting an error message.
Error messages quote values through `short_repr`, which is bounded in depth and length.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_DEPTH = 100
"""Deepest nesting of lists, maps and sets accepted in a history (levels of brackets)."""

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 60, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 6


def short_repr(value: Any) -> str:
    """A repr for error messages: at most a few levels and about a hundred characters."""
    text = _REPR.repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests containers deeper than `limit`; iterative, so any depth is safe."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple | set | frozenset):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
