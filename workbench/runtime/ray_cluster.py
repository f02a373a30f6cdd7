"""Getting actors onto a Ray cluster, and off it again.

`Cluster` places one bundle per node in a placement group — `pack` keeps the bundles
on as few machines as possible, `spread` puts them on different machines — and
schedules node i's actor (and, with `client_actors`, the actor of its client slots)
into bundle i, so a client always sits on the same machine as its node. Bundles and actors ask for a token fraction of a CPU:
the actors are mostly idle, waiting on timers and calls, and must fit on a 2-core
machine next to whatever else runs.

`stop` kills every actor it started (`ray.kill`) and removes the placement group; it
is safe to call at any point of a launch, and twice.

Starting or joining Ray is not done here: `ray_session` is the one way (`ray_actors`
calls its `start_session` before launching).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from workbench.errors import UserInputError
from workbench.experiment.config import ExperimentConfig
from workbench.runtime.ray_session import RayStartError
from workbench.runtime.realtime_host import HostActor

__all__ = ["Cluster", "RayNodeLost", "RayStartError", "actor_loss_as_error", "client_slots"]

BUNDLE_CPU = 0.01
ACTOR_CPU = BUNDLE_CPU / 2  # a node actor and its client actor share a bundle
START_TIMEOUT_S = 420.0  # worker processes start slowly on a loaded 2-core machine (>180 s at load 30)

RemoteHost = ray.remote(HostActor)


class RayNodeLost(UserInputError):
    """An actor of the run died mid-run (its raylet or machine was lost): the run cannot
    finish. One line for the CLI (exit 2), like a start failure, not a traceback."""


@contextlib.contextmanager
def actor_loss_as_error(config: ExperimentConfig) -> Iterator[None]:
    """Turn Ray's "actor died" of a run's actors into one `RayNodeLost` line."""
    from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError

    try:
        yield
    except (RayActorError, NodeDiedError, ObjectLostError) as exc:
        cause = next((line.strip() for line in str(exc).splitlines()
                      if "node" in line.lower() or "died" in line.lower()), type(exc).__name__)
        raise RayNodeLost(f"ray: run {config.name!r} lost an actor mid-run, so it stopped "
                          f"(every actor of the run was killed): {cause[:300]}") from exc


def client_slots(config: ExperimentConfig) -> list[list[int]]:
    """Slot s starts as process s, beside node s mod n: host i runs the slots beside node i."""
    slots: list[list[int]] = [[] for _ in range(config.nodes)]
    for slot in range(config.clients):
        slots[slot % config.nodes].append(slot)
    return slots


def reserve_bundles(config: ExperimentConfig) -> PlacementGroup:
    """One bundle per node (`ray.placement`: pack or spread), reserved or one clear error."""
    strategy = "SPREAD" if config.ray.placement == "spread" else "PACK"
    placement = placement_group([{"CPU": BUNDLE_CPU}] * config.nodes, strategy=strategy)
    ready, _ = ray.wait([placement.ready()], timeout=START_TIMEOUT_S)
    if not ready:
        with contextlib.suppress(Exception):
            remove_placement_group(placement)
        raise RayStartError(f"ray: could not reserve {config.nodes} bundles of "
                            f"{BUNDLE_CPU} CPU ({strategy}) within {START_TIMEOUT_S:.0f} s")
    return placement


def bundle_options(placement: PlacementGroup, index: int) -> dict[str, Any]:
    """`.options(...)` for an actor in bundle `index` (node `index`'s machine)."""
    place = PlacementGroupSchedulingStrategy(placement, placement_group_bundle_index=index)
    return {"num_cpus": ACTOR_CPU, "scheduling_strategy": place, "max_restarts": 0}


def wait_ready(actors: list[Any]) -> list[str]:
    """Each actor's `ready()` (its host:pid), once all are up, or one clear error."""
    refs = [actor.ready.remote() for actor in actors]
    _, pending = ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT_S)
    if pending:
        raise RayStartError(f"ray: {len(pending)} of {len(refs)} actors did not start "
                            f"within {START_TIMEOUT_S:.0f} s")
    return list(ray.get(refs))


@dataclass
class Cluster:
    config: ExperimentConfig
    client_actors: bool = False
    """True: each node's client slots run in an actor of their own beside the node's.
    False: they run inside the node's actor (fewer processes and Ray calls)."""
    node_factory: Callable[..., Any] | None = None
    """Replaces the protocol's node class (as in `sim.simulate`); must pickle."""
    nodes: list[Any] = field(default_factory=list)
    client_hosts: list[Any] = field(default_factory=list)
    """Per node index: the actor that runs that node's client slots."""
    placement: PlacementGroup | None = None
    locations: list[str] = field(default_factory=list)
    startup_s: float = 0.0

    @property
    def actors(self) -> list[Any]:
        return list({id(a): a for a in [*self.nodes, *self.client_hosts] if a is not None}.values())

    def launch(self) -> None:
        started = time.perf_counter()
        config = self.config
        self.placement = reserve_bundles(config)
        slots = client_slots(config)
        for i in range(config.nodes):
            options = bundle_options(self.placement, i)
            node = RemoteHost.options(**options).remote(
                config, i, True, [] if self.client_actors else slots[i], self.node_factory)
            self.nodes.append(node)
            if self.client_actors:
                # Fewer clients than nodes leaves some nodes without a client actor.
                self.client_hosts.append(RemoteHost.options(**options).remote(config, i, False, slots[i])
                                         if slots[i] else None)
            else:
                self.client_hosts.append(node)
        self.locations = wait_ready(self.actors)
        self.startup_s = time.perf_counter() - started

    def stop(self) -> None:
        for actor in self.actors:
            # Already dead, or Ray is going down: nothing left to stop.
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self.nodes, self.client_hosts = [], []
        if self.placement is not None:
            with contextlib.suppress(Exception):
                remove_placement_group(self.placement)
            self.placement = None
