"""The bytes of one batch between actors: the C pickler, with cheap reducers for messages.

A batch handed to Ray as a Python list is pickled by Ray's cloudpickle, whose
`reducer_override` hook runs in Python for every object, and every frozen slotted
dataclass (messages, `ClientRequest`, `Reply`) pickles through the `__getstate__` /
`__setstate__` that `dataclasses` generates, which walk `fields()` in Python on both
sides. Profiled inside the node actors at 1,000 requests in flight (issue 17 item 5)
that was most of the actors' own Python time outside the protocol.

So a batch travels as one `bytes` (which Ray ships without looking inside), made by the
C pickler with a `dispatch_table` entry for each message class: reduce to the class and
its fields in order (one C `attrgetter`), rebuild by calling the class (the
`fast_init` constructor). A class the table does not know (one defined after the
first batch, or a dataclass whose fields are not all positional init fields) pickles
the ordinary way, and what plain pickle cannot name at all (a class defined inside a
function) goes through cloudpickle as before, so nothing depends on the table.
"""

from __future__ import annotations

import copyreg
import dataclasses
import io
import operator
import pickle
from collections.abc import Callable
from typing import Any

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest

_table: dict[type, Callable[[Any], tuple[Any, ...]]] | None = None


def _reducer(cls: type) -> Callable[[Any], tuple[Any, ...]] | None:
    """`obj -> (cls, (field, ...))` if `cls(*fields)` rebuilds it, else None."""
    if not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    if not fields or any(not f.init or f.kw_only for f in fields):
        return None
    names = [f.name for f in fields]
    if len(names) == 1:
        name = names[0]
        return lambda obj: (cls, (getattr(obj, name),))
    get = operator.attrgetter(*names)
    return lambda obj: (cls, get(obj))


def subclasses(root: type) -> list[type]:
    """Every subclass of `root`, at any depth, as far as they are imported."""
    found, stack = [], [root]
    while stack:
        for sub in stack.pop().__subclasses__():
            found.append(sub)
            stack.append(sub)
    return found


def dispatch_table() -> dict[type, Callable[[Any], tuple[Any, ...]]]:
    """Built on the first batch, when the protocol's message modules are imported."""
    global _table
    if _table is None:
        table: dict[type, Callable[[Any], tuple[Any, ...]]] = dict(copyreg.dispatch_table)
        for cls in [ClientRequest, Reply, *subclasses(Message)]:
            reduce = _reducer(cls)
            if reduce is not None:
                table[cls] = reduce
        _table = table
    return _table


def encode(items: list[Any]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = dispatch_table()
    try:
        pickler.dump(items)
    except (pickle.PicklingError, AttributeError, TypeError):
        # Something plain pickle cannot name (a class defined inside a function, say
        # a test's message type): cloudpickle, as Ray itself would have pickled it.
        from ray import cloudpickle

        return cloudpickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def decode(payload: bytes) -> list[Any]:
    return pickle.loads(payload)  # noqa: S301 - bytes from this run's own actors only
