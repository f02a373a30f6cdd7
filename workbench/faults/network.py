"""The network between the nodes: active partitions plus the link model.

Partitions live here and nowhere else (house rule 3): protocol cores never learn they
are cut off, they just stop hearing from peers.

Several partitions can be active at once (an explicit one and a nemesis one, or
overlapping flapping). A link is cut while any active partition cuts it, so the
merged blocked set keeps a count per directed link; ending one partition restores
exactly the links no other active partition still cuts. `allows` is then one set
lookup, which matters because the simulator asks it for every message.
"""

from __future__ import annotations

import random

from workbench.faults.links import LinkModel
from workbench.faults.partitions import Link, Partition, minority_of


class Network:
    __slots__ = ("nodes", "link", "_active", "_cut_count", "_blocked", "_minority")

    def __init__(self, nodes: int, link: LinkModel) -> None:
        self.nodes = nodes
        self.link = link
        self._active: dict[int, Partition] = {}
        self._cut_count: dict[Link, int] = {}
        self._blocked: set[Link] = set()
        self._minority: frozenset[int] = frozenset()

    def start_partition(self, fault_id: int, partition: Partition) -> None:
        if fault_id in self._active:
            raise ValueError(f"partition {fault_id} is already active")
        self._active[fault_id] = partition
        for pair in partition.blocked:
            count = self._cut_count.get(pair, 0)
            self._cut_count[pair] = count + 1
            if count == 0:
                self._blocked.add(pair)
        self._minority = minority_of(range(self.nodes), self._blocked)

    def end_partition(self, fault_id: int) -> None:
        partition = self._active.pop(fault_id, None)
        if partition is None:
            raise KeyError(f"partition {fault_id} is not active")
        for pair in partition.blocked:
            count = self._cut_count[pair] - 1
            if count:
                self._cut_count[pair] = count
            else:
                del self._cut_count[pair]
                self._blocked.discard(pair)
        self._minority = minority_of(range(self.nodes), self._blocked)

    @property
    def cut_links(self) -> set[Link]:
        """The live merged set of cut directed links, for hot loops that test
        membership themselves (read it, never mutate it)."""
        return self._blocked

    def allows(self, src: int, dst: int) -> bool:
        return (src, dst) not in self._blocked

    def deliveries(self, src: int, dst: int, rng: random.Random, *, message: object = None) -> list[float]:
        """Delays in ms at which copies of one message from src reach dst ([] = none).

        A cut message draws nothing from `rng`; the same schedule and seed still give
        the same draws, which is all reproducibility needs. `message` picks the WARS
        distribution when the link has one (`LinkModel.delays`).
        """
        if (src, dst) in self._blocked:
            return []
        return self.link.delays(rng, message, src != dst)

    @property
    def partitioned(self) -> bool:
        """Any partition active (even one that happens to cut nothing)."""
        return bool(self._active)

    def blocked(self) -> frozenset[Link]:
        """The merged set of directed links currently cut."""
        return frozenset(self._blocked)

    def minority_nodes(self) -> frozenset[int]:
        """Nodes without two-way links to a strict majority under ALL active partitions.

        Computed on the merged cut rather than as a union of each partition's
        minority: it contains that union, and is exact when partitions combine (two
        isolations in a 3-node cluster leave the third node alone too).
        """
        return self._minority

    def active_groups(self) -> dict[int, list[list[int]]]:
        """fault_id -> its groups as sorted node lists (JSON-ready, deterministic) for traces."""
        return {fid: [sorted(g) for g in self._active[fid].groups] for fid in sorted(self._active)}
