"""Our cores' peer messages as JSON bodies, so they can cross Maelstrom's network.

Maelstrom lets node-to-node bodies have any shape (doc/protocol.md "Message
Bodies"); ours are `{"type": "workbench", "m": <tagged value>}`. The tagging keeps
what JSON would lose: tuples, sets, dicts with non-string keys, non-finite floats
(Multi-Paxos uses -inf as "no echo"; bare `-Infinity` is not JSON and Maelstrom's
parser would reject it) and the message dataclasses themselves. Decoding builds only
classes from an explicit registry, never arbitrary ones: a peer's bytes are data.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from types import ModuleType
from typing import Any

from workbench.core.ops import ClientRequest

BODY_TYPE = "workbench"


def registry_of(*modules: ModuleType) -> dict[str, type]:
    """Name -> dataclass for every dataclass defined in `modules` (or, for a package, in its
    submodules and exported by it), plus ClientRequest."""
    classes: dict[str, type] = {"ClientRequest": ClientRequest}
    for module in modules:
        for name, cls in inspect.getmembers(module, inspect.isclass):
            # Wire types only: messages and the values inside them, not options or
            # private bookkeeping classes.
            # A package (raft/, paxos/) re-exports its submodules' messages.
            defined_here = cls.__module__ == module.__name__ or cls.__module__.startswith(module.__name__ + ".")
            if (dataclasses.is_dataclass(cls) and defined_here
                    and not name.startswith("_") and not name.endswith("Options")):
                classes[name] = cls
    return classes


def encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, tuple):
        return {"$t": [encode(x) for x in value]}
    if isinstance(value, list):
        return [encode(x) for x in value]
    if isinstance(value, frozenset | set):
        return {"$s": [encode(x) for x in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k), encode(v)] for k, v in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$": type(value).__name__,
                "v": [encode(getattr(value, f.name)) for f in dataclasses.fields(value)]}
    raise TypeError(f"cannot encode {type(value).__name__} for the wire")


def decode(value: Any, classes: dict[str, type]) -> Any:
    if isinstance(value, list):
        return [decode(x, classes) for x in value]
    if not isinstance(value, dict):
        return value
    if "$t" in value:
        return tuple(decode(x, classes) for x in value["$t"])
    if "$s" in value:
        return frozenset(decode(x, classes) for x in value["$s"])
    if "$d" in value:
        return {decode(k, classes): decode(v, classes) for k, v in value["$d"]}
    if "$f" in value:
        return float(value["$f"])
    if "$" in value:
        cls = classes.get(value["$"])
        if cls is None:
            raise ValueError(f"unknown message class {value['$']!r}")
        return cls(*(decode(x, classes) for x in value["v"]))
    raise ValueError(f"not a tagged value: {sorted(value)}")
