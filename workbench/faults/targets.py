"""Resolve a fault's node target ("random", "leader" or an id) to a node id when it starts."""

from __future__ import annotations

import random
from collections.abc import Sequence


def resolve_node(
    target: int | str | None, nodes: Sequence[int], *, leader: int | None, rng: random.Random
) -> int:
    """A node id for `target`.

    `"leader"` is the leader the runtime knows right now; with none (mid-election) the
    fault still happens, on a random node, rather than silently not at all.
    `"random"` (and None) draw from `rng` only, so a seed fixes the choice.
    """
    if isinstance(target, int):
        if target not in nodes:
            raise ValueError(f"node {target} is not in the cluster {list(nodes)}")
        return target
    if target == "leader" and leader is not None:
        return leader
    if target not in ("leader", "random", None):
        raise ValueError(f"unknown node target {target!r}")
    return rng.choice(list(nodes))
