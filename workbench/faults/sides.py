"""Which side of the combined network state each node is on: majority, minority or ambiguous.

Recorded by the runtimes at every fault event (partition start/end, crash, restart,
pause, resume) so the analysis labels ops by the state the network was really in,
not by one partition's own idea of its minority. Inputs are the merged set of cut
directed links of ALL active partitions and the nodes that are down (crashed or
paused): a down node neither serves nor counts toward anyone's quorum.

Two nodes are *linked* when both directions deliver and both are up (every quorum
protocol needs the reply as well as the request). Over that graph:

- a node whose component holds no strict majority of the n nodes cannot reach a
  quorum: `minority` (down nodes too);
- the (at most one) component with more than n/2 nodes is `majority` when it is
  *clean*, a clique: every member reaches every other directly (halves, isolate,
  groups, one-way, any union of those, crashes). That is the textbook CAP split;
- otherwise (Jepsen's `bridge` and `majorities-ring`) whether a node's ops are
  served depends on where the leader is and on forwarding, not on the cut alone, so
  its nodes are `ambiguous`. Calling them "majority" made availability_majority of a
  bridge 0.48 (nodes 0 and 1 served nothing).

Pure function of its inputs, so both runtimes and the tests share it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from workbench.faults.partitions import Link

SIDES = ("majority", "minority", "ambiguous")


def _components(members: list[int], linked: dict[int, set[int]]) -> list[set[int]]:
    seen: set[int] = set()
    out: list[set[int]] = []
    for start in members:
        if start in seen:
            continue
        component, stack = {start}, [start]
        while stack:
            for peer in linked[stack.pop()]:
                if peer not in component:
                    component.add(peer)
                    stack.append(peer)
        seen |= component
        out.append(component)
    return out


def node_sides(nodes: Iterable[int], blocked: Collection[Link], down: Collection[int] = ()) -> dict[str, list[int]]:
    """{"majority": [...], "minority": [...], "ambiguous": [...]}, each a sorted node list.

    JSON-ready, because it goes into the trace as it is.
    """
    members = sorted(nodes)
    n = len(members)
    down_set = set(down)
    up = [a for a in members if a not in down_set]
    linked = {a: {b for b in up if b != a and (a, b) not in blocked and (b, a) not in blocked} for a in up}
    sides: dict[str, list[int]] = {side: [] for side in SIDES}
    sides["minority"].extend(a for a in members if a in down_set)
    for component in _components(up, linked):
        clique = all(len(linked[a]) == len(component) - 1 for a in component)
        side = "minority" if 2 * len(component) <= n else "majority" if clique else "ambiguous"
        sides[side].extend(component)
    return {side: sorted(nodes_on) for side, nodes_on in sides.items()}
