"""Dotted paths into a config tree: `raft.read_mode`, `faults.partitions.0.at`.

One walker for every place a user names a config field by path: `--set` overrides
(`config.apply_overrides`, also behind the Python API's `a__b=` keywords via
`config.resolve`) and sweep grids and cases (`plan.plan_sweep`). A numeric part indexes
a list; any other part is a dict key. Paths are checked against the resolved config
(defaults included), so a path is valid even when the file leaves its section out.
"""

from __future__ import annotations

import copy
from typing import Any


def index(part: str) -> int | None:
    """The list index a path part names, or None."""
    return int(part) if part.isdigit() else None


def problem(resolved: Any, parts: list[str]) -> str | None:
    """Why `parts` names no field of the resolved config, or None if it does."""
    node = resolved
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            at = index(part)
            if at is None or at >= len(node):
                return f"no item {where!r} (the list has {len(node)} items)"
            node = node[at]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return f"no field {where!r} in the experiment config"
    return None


def set_resolved(resolved: Any, parts: list[str], value: Any) -> None:
    """Set a checked path (see `problem`) in a resolved config tree, in place."""
    node = resolved
    for part in parts[:-1]:
        node = node[index(part)] if isinstance(node, list) else node[part]
    node[index(parts[-1]) if isinstance(node, list) else parts[-1]] = value


def set_raw(raw: dict[str, Any], resolved: dict[str, Any], parts: list[str], *,
            value: Any) -> None:
    """Set a checked path in a raw config dict (as written), in place.

    The raw dict is edited rather than the resolved one so that defaults and tagged
    unions (`network.latency.dist`) resolve as usual; a section missing from the raw
    dict starts empty, and a missing list is copied from the resolved config, since an
    index into it needs its items.
    """
    node_raw: Any = raw
    node_res: Any = resolved
    for part in parts[:-1]:
        key: Any = index(part) if isinstance(node_res, list) else part
        child_res = node_res[key]
        if isinstance(node_raw, dict):
            child_raw = node_raw.get(key)
        else:
            child_raw = node_raw[key] if key < len(node_raw) else None
        if not isinstance(child_raw, dict | list) or type(child_raw) is not type(child_res):
            child_raw = copy.deepcopy(child_res) if isinstance(child_res, list) else {}
            node_raw[key] = child_raw
        node_raw, node_res = child_raw, child_res
    last: Any = index(parts[-1]) if isinstance(node_res, list) else parts[-1]
    node_raw[last] = value
