"""The disk model of the fault spec (`faults.disk`): fsync cost and what a crash loses.

Without `faults.disk` a `Persist` is durable the instant the core asks for it (the
simulator's old behaviour, histories unchanged). With it, each persist waits for an
fsync whose latency is drawn from `fsync` (or a preset), the sends and replies behind
it wait too (`runtime.driver`), and a crash loses every write whose fsync has not
completed — LazyFS's model of unsynced data (Jepsen, "When Amnesia Strikes", VLDB
2024). `torn_writes` keeps a random prefix of the oldest lost persist's records;
`lying_fsync` acknowledges at once but makes writes durable only `lie_ms` later (a
negative control: a correct protocol on a lying disk CAN lose acknowledged data).
Every draw comes from the node's own stream `derive_rng(seed, "disk", node)`, so a
run replays from its seed.
The model itself (`DiskSpec`, its presets) is data in `faults.spec`.
"""

from __future__ import annotations

import random

from workbench.core.storage import Disk, Storage
from workbench.faults.links import make_sampler
from workbench.faults.spec import DiskSpec


def make_disk(spec: DiskSpec | None, storage: Storage, rng: random.Random) -> Disk | None:
    """The node's `Disk` for the driver, or None when the model is off."""
    if spec is None:
        return None
    return Disk(storage, rng, make_sampler(spec.fsync_latency()), group_commit=spec.group_commit,
                torn=spec.torn_writes, lie_ms=spec.lie_ms if spec.lying_fsync else None)
