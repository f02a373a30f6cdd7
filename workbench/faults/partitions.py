"""Partition shapes -> concrete connectivity (which directed links are cut).

A `Partition` is resolved from a `PartitionSpec` when the fault starts, because some
shapes depend on the moment: `isolate: leader` needs the current leader, and random
shapes draw from the run's rng.

Shapes (n = number of nodes, `nodes` in the order given; the examples use n = 5):

- `halves` / `majority-minority`: the first n//2+1 nodes against the rest:
  {0,1,2} | {3,4}. Always a strict majority side; for n = 2 it is 1 | 1.
- `random-halves`: the same split after shuffling the nodes with the rng.
- `isolate`: one node (named, random, or the current leader; with no leader known,
  a random node) against the rest.
- `bridge` (Jepsen): two halves that only meet through one bridge node, which keeps
  two-way links to everyone: {0,1} | 2 | {3,4}.
- `majorities-ring` (Jepsen): every node sees a strict majority, no two nodes see the
  same one. The nodes are shuffled into a ring and each keeps two-way links to its
  `d` nearest neighbours on either side, with the smallest `d` whose view (2d+1 nodes,
  itself included) is a strict majority. That view is < n, hence the views differ,
  for every n >= 4. For n = 3 no symmetric version exists (each node would need
  exactly one two-way neighbour), so like Jepsen we cut one direction per pair: node
  ring[i] hears only ring[i+1] (views {a,b}, {b,c}, {c,a}). Every node then *hears*
  a distinct majority, but no node has a two-way majority, so a request/response
  protocol cannot make progress and `minority_nodes()` is every node. For n <= 2 a
  majority is the whole cluster: nothing is cut.
- `groups`: the listed groups plus one group of the unlisted nodes; links across
  groups are cut both ways.
- `one-way`: messages from `from` nodes to `to` nodes are dropped; the reverse
  direction still works.

`Partition.blocked` is authoritative. `Partition.groups` describes the shape for
traces and plots: disjoint components for halves/isolate/groups; for bridge the two
sides each with the bridge node (so they overlap); for majorities-ring the view of
each node, in node order; for one-way a single group of all nodes, since no node is
fully cut off. The union of `groups` is always the whole cluster.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.faults.spec import PartitionSpec
from workbench.faults.targets import resolve_node

Link = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Partition:
    groups: tuple[frozenset[int], ...]
    blocked: frozenset[Link]
    """Directed (src, dst) pairs that cannot deliver."""

    def allows(self, src: int, dst: int) -> bool:
        return (src, dst) not in self.blocked

    def nodes(self) -> frozenset[int]:
        return frozenset().union(*self.groups)

    def minority_nodes(self) -> frozenset[int]:
        """Nodes without two-way links to a strict majority of the cluster (themselves included).

        Two-way, because every quorum protocol needs the reply as well as the request:
        a node that can send to a majority but not hear back is as stuck as an isolated
        one (this is how a one-way cut makes its `from` side a minority).
        """
        return minority_of(self.nodes(), self.blocked)


def minority_of(nodes: Iterable[int], blocked: frozenset[Link] | set[Link]) -> frozenset[int]:
    """Nodes of `nodes` that see (both ways) no strict majority of `nodes`, given `blocked`."""
    members = list(nodes)
    n = len(members)
    if not blocked:
        return frozenset()
    out = []
    for a in members:
        sees = sum(1 for b in members if (a, b) not in blocked and (b, a) not in blocked)
        if 2 * sees <= n:
            out.append(a)
    return frozenset(out)


def _cut_between(groups: Sequence[frozenset[int]]) -> frozenset[Link]:
    """Both directions of every link whose ends lie in different groups."""
    return frozenset(
        (a, b)
        for i, ga in enumerate(groups)
        for j, gb in enumerate(groups)
        if i != j
        for a in ga
        for b in gb
    )


def _split(nodes: Sequence[int]) -> Partition:
    n = len(nodes)
    if n < 2:
        return Partition((frozenset(nodes),), frozenset())
    # n//2+1 is the smallest strict majority; for n = 2 that is everyone, so take 1.
    size = min(n // 2 + 1, n - 1)
    groups = (frozenset(nodes[:size]), frozenset(nodes[size:]))
    return Partition(groups, _cut_between(groups))


def _isolate(node: int, nodes: Sequence[int]) -> Partition:
    rest = frozenset(nodes) - {node}
    groups = (frozenset({node}), rest) if rest else (frozenset({node}),)
    return Partition(groups, _cut_between(groups))


def _bridge(nodes: Sequence[int]) -> Partition:
    n = len(nodes)
    if n < 3:
        return Partition((frozenset(nodes),), frozenset())
    mid = n // 2
    left, bridge, right = frozenset(nodes[:mid]), nodes[mid], frozenset(nodes[mid + 1 :])
    blocked = _cut_between((left, right))
    return Partition((left | {bridge}, right | {bridge}), blocked)


def _majorities_ring(nodes: Sequence[int], rng: random.Random) -> Partition:
    n = len(nodes)
    if n <= 2:
        return Partition((frozenset(nodes),), frozenset())
    ring = list(nodes)
    rng.shuffle(ring)
    pos = {node: i for i, node in enumerate(ring)}
    if n == 3:
        # Directed: ring[i] hears only ring[i+1]; see the module docstring.
        blocked = frozenset((ring[(i + 2) % 3], ring[i]) for i in range(3))
        views = {ring[i]: frozenset({ring[i], ring[(i + 1) % 3]}) for i in range(3)}
    else:
        d = (n // 2 + 1) // 2  # smallest d with 2d+1 >= n//2+1
        views = {
            node: frozenset(ring[(pos[node] + k) % n] for k in range(-d, d + 1)) for node in ring
        }
        blocked = frozenset((a, b) for a in ring for b in ring if b not in views[a])
    return Partition(tuple(views[node] for node in sorted(nodes)), blocked)


def _groups(listed: list[list[int]], nodes: Sequence[int]) -> Partition:
    groups = [frozenset(g) for g in listed]
    rest = frozenset(nodes).difference(*groups)
    if rest:
        groups.append(rest)
    return Partition(tuple(groups), _cut_between(groups))


def _one_way(src: list[int], dst: list[int], nodes: Sequence[int]) -> Partition:
    blocked = frozenset((a, b) for a in src for b in dst if a != b)
    return Partition((frozenset(nodes),), blocked)


def _aim(spec: PartitionSpec, nodes: list[int], leader: int | None, rng: random.Random,
         at_end: bool) -> list[int]:
    """`nodes` with the aimed node (if the spec names one) moved last (the minority side
    of a split) or first (an end of a bridge, cut from the other half)."""
    if spec.node is None or len(nodes) < 2:
        return nodes
    target = resolve_node(spec.node, nodes, leader=leader, rng=rng)
    rest = [x for x in nodes if x != target]
    return rest + [target] if at_end else [target] + rest


def resolve_partition(
    spec: PartitionSpec, nodes: Sequence[int], *, leader: int | None, rng: random.Random
) -> Partition:
    """The concrete partition for `spec` now. Only `random-halves`, `majorities-ring` and
    `isolate` with a random node draw from `rng`."""
    nodes = list(nodes)
    shape = spec.shape
    if shape in ("halves", "majority-minority"):
        return _split(_aim(spec, nodes, leader, rng, at_end=True))
    if shape == "random-halves":
        shuffled = list(nodes)
        rng.shuffle(shuffled)
        return _split(_aim(spec, shuffled, leader, rng, at_end=True))
    if shape == "isolate":
        return _isolate(resolve_node(spec.node, nodes, leader=leader, rng=rng), nodes)
    if shape == "bridge":
        return _bridge(_aim(spec, nodes, leader, rng, at_end=False))
    if shape == "majorities-ring":
        return _majorities_ring(nodes, rng)
    if shape == "groups":
        return _groups(spec.groups or [], nodes)
    if shape == "one-way":
        return _one_way(spec.from_, spec.to, nodes)
    raise ValueError(f"unknown partition shape {shape!r}")
