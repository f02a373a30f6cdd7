"""The Ray runtime: one actor per node, clients beside each node, a conductor in the driver.

`run_on_ray(config)` runs an experiment in real time and returns the same `RunResult`
as the simulator (history events, trace records, stats), so everything downstream —
checkers, summaries, reports — cannot tell the runtimes apart.

The pieces, each in its own module:
- `ray_cluster`:      start or join Ray, place the actors (pack/spread), kill them at the end;
- `realtime_host`:    the actor; batches all traffic per destination per flush interval;
- `realtime_node`:    one replica: a `driver.NodeDriver` over an asyncio transport, with
                      the fault model at its node;
- `realtime_clients`: the client slots beside one node, driven by the shared `ClientPool`;
- this module:        the conductor — starts the run, plays the fault schedule in real
                      time, watches the actors' health, and gathers histories and traces.

Real time is not reproducible, but everything stochastic is seeded from the run seed
as in the simulator: the fault schedule and its target choices (one "faults" stream,
used in the same order), each sender's link samples, each node's core rng, each
client host's workload.

Fault times in the trace are when a fault took effect, not when it was scheduled: a
partition starts when the last node has applied it (from then on it holds everywhere)
and ends when the first node lifts it; node faults record when their node applied
them. Ops are classified against these times, so a late-applied cut never makes an op
look as if it ran during a partition it did not see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ray

from workbench.experiment.config import ExperimentConfig
from workbench.faults import FaultEvent, build_schedule, resolve_node, resolve_partition
from workbench.faults.sides import node_sides
from workbench.protocols.base import Node
from workbench.runtime.driver import current_leader
from workbench.runtime.ray_cluster import Cluster, actor_loss_as_error
from workbench.runtime.ray_session import start_session
from workbench.runtime.ray_timing import timing_health
from workbench.runtime.result import RunResult
from workbench.runtime.seeds import derive_rng

START_MARGIN_S = 0.5
"""Run time 0 is this far after the actors were told to start, so they all begin together."""
HEALTH_INTERVAL_S = 1.0


class RunFailed(RuntimeError):
    """An actor's protocol core or client raised; the message carries its traceback."""


def run_on_ray(config: ExperimentConfig, *, client_actors: bool | None = None,
               node_factory: Callable[..., Node] | None = None) -> RunResult:
    """Run `config` on Ray actors; every actor is killed at the end, also on error or Ctrl-C.

    By default a node's client slots run inside its actor, on the same event loop but
    in their own `ClientHost` (a crash or pause of the node leaves them running). That
    is as close as clients can sit (the simulator puts them 0.2 ms away) and halves
    the processes to start and the Ray calls per op. `client_actors=True` gives each
    node's slots an actor of their own in the node's placement bundle instead.
    `node_factory` replaces the protocol's node class, as in `sim.simulate`.
    `client_actors=None` takes the experiment's `ray.client_actors`.
    """
    if client_actors is None:
        client_actors = config.ray.client_actors
    wall = time.perf_counter()
    # Ray for the rest of the process (a notebook's next run reuses it): the one
    # starter, `ray_session.start_session`, which does nothing if Ray is up already.
    start_session(config.ray.address, config.ray.num_cpus)
    cluster = Cluster(config, client_actors=client_actors, node_factory=node_factory)
    try:
        with actor_loss_as_error(config):
            cluster.launch()
            result = Conductor(config, cluster).run()
    finally:
        cluster.stop()
    result.stats["wall_s"] = time.perf_counter() - wall
    return result


class Conductor:
    def __init__(self, config: ExperimentConfig, cluster: Cluster) -> None:
        self.config = config
        self.cluster = cluster
        self.members = list(range(config.nodes))
        self.scale = config.ray.time_scale
        self.fault_rng = derive_rng(config.seed, "faults")
        self.trace: list[dict[str, Any]] = []
        self.crashed_by_fault: dict[int, int] = {}
        self.paused_by_fault: dict[int, int] = {}
        self.cut_by_fault: dict[int, frozenset[tuple[int, int]]] = {}  # for the trace's `sides`
        self.t0 = 0.0
        self._health: list[Any] = []
        self._next_health = 0.0

    # ------------------------------------------------------------ the run
    def run(self) -> RunResult:
        config, cluster = self.config, self.cluster
        end_ms = config.duration_ms
        schedule = build_schedule(config.faults, end_ms, self.fault_rng)
        self.t0 = time.time() + START_MARGIN_S
        ray.get([actor.start.remote(self.t0, cluster.nodes, cluster.client_hosts)
                 for actor in cluster.actors])
        for event in schedule:
            self._wait_until(event.time_ms)
            self._fault(event)
        self._wait_until(end_ms)
        reports = ray.get([actor.finish.remote(end_ms) for actor in cluster.actors])
        errors = [r["error"] for r in reports if r["error"]]
        if errors:
            raise RunFailed(errors[0])
        return self._result(reports)

    def run_ms(self) -> float:
        return (time.time() - self.t0) * 1000.0 * self.scale

    def _wait_until(self, at_ms: float) -> None:
        """Sleep until run time `at_ms`, checking the actors' health on the way."""
        deadline = self.t0 + at_ms / self.scale / 1000.0
        while True:
            self._check_health()
            remaining = deadline - time.time()
            if remaining <= 0:
                return
            time.sleep(min(remaining, HEALTH_INTERVAL_S))

    def _check_health(self) -> None:
        # Non-blocking: look at last round's answers, then ask again. A busy actor
        # answering late must not delay the fault schedule.
        if self._health:
            ready, _ = ray.wait(self._health, num_returns=len(self._health), timeout=0)
            for ref in ready:
                error = ray.get(ref)  # raises if the actor died
                if error:
                    raise RunFailed(error)
            if len(ready) < len(self._health):
                return
        if time.monotonic() >= self._next_health:
            self._next_health = time.monotonic() + HEALTH_INTERVAL_S
            self._health = [actor.health.remote() for actor in self.cluster.actors]

    # ------------------------------------------------------------ faults
    def current_leader(self) -> int | None:
        """The leader most live nodes believe in, among nodes that think they lead (as sim)."""
        return current_leader(ray.get([node.leader_status.remote() for node in self.cluster.nodes]))

    def _leader_if_needed(self, spec: Any) -> int | None:
        # Asking every node costs a round of calls; only `leader` targets need it.
        return self.current_leader() if getattr(spec, "node", None) == "leader" else None

    def _fault(self, event: FaultEvent) -> None:
        nodes = self.cluster.nodes
        record: dict[str, Any] = {"kind": event.kind, "fault_id": event.fault_id}
        if event.kind == "partition_start":
            partition = resolve_partition(event.spec, self.members,  # type: ignore[arg-type]
                                          leader=self._leader_if_needed(event.spec), rng=self.fault_rng)
            applied = ray.get([n.start_partition.remote(event.fault_id, partition) for n in nodes])
            at = max(applied)
            self.cut_by_fault[event.fault_id] = partition.blocked
            record.update(shape=event.spec.shape,  # type: ignore[attr-defined]
                          groups=[sorted(g) for g in partition.groups],
                          minority=sorted(partition.minority_nodes()))
        elif event.kind == "partition_end":
            at = min(ray.get([n.end_partition.remote(event.fault_id) for n in nodes]))
            self.cut_by_fault.pop(event.fault_id, None)
        elif event.kind in ("crash", "pause"):
            node = resolve_node(event.spec.node, self.members,  # type: ignore[attr-defined]
                                leader=self._leader_if_needed(event.spec), rng=self.fault_rng)
            (self.crashed_by_fault if event.kind == "crash" else self.paused_by_fault)[event.fault_id] = node
            at = ray.get(getattr(nodes[node], event.kind).remote())
            record["node"] = node
        elif event.kind in ("restart", "resume"):
            node = (self.crashed_by_fault if event.kind == "restart" else self.paused_by_fault).pop(event.fault_id)
            at = ray.get(getattr(nodes[node], event.kind).remote())
            record["node"] = node
        else:
            raise ValueError(f"unknown fault event {event.kind!r}")
        # Sides under the combined cut, down nodes excluded (faults/sides.py), as the sim records them.
        down = {*self.crashed_by_fault.values(), *self.paused_by_fault.values()}
        record["sides"] = node_sides(self.members, frozenset().union(*self.cut_by_fault.values()), down)
        self.trace.append({"time": round(at, 3), **record})

    # ------------------------------------------------------------ results
    def _result(self, reports: list[dict[str, Any]]) -> RunResult:
        node_reports = [r for r in reports if "sent" in r]
        node_reports.sort(key=lambda r: r["index"])
        history = [event for r in reports for event in r["history"]]
        history.sort(key=lambda e: e["time"])  # stable: each host's own order is kept
        trace = self.trace + [record for r in node_reports for record in r["trace"]]
        trace.sort(key=lambda r: r["time"])
        stats: dict[str, Any] = {
            "messages_sent": sum(r["sent"] for r in node_reports),
            "messages_delivered": sum(r["delivered"] for r in node_reports),
            "messages_dropped": sum(r["dropped"] for r in node_reports),
            "sent_per_node": [r["sent"] for r in node_reports],
            "delivered_per_node": [r["delivered"] for r in node_reports],
            "skipped_arrivals": sum(r["skipped_arrivals"] for r in reports),
            "storage_writes": sum(r["storage_writes"] for r in node_reports),
        }
        stats.update(self._ray_stats(reports))
        return RunResult(history, trace, stats)

    def _ray_stats(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        calls: dict[str, int] = {}
        items: dict[str, int] = {}
        for r in reports:
            for channel, count in r.get("calls", {}).items():
                calls[channel] = calls.get(channel, 0) + count
            for channel, count in r.get("items", {}).items():
                items[channel] = items.get(channel, 0) + count
        stats: dict[str, Any] = {
            "ray_calls": sum(calls.values()),
            "ray_calls_by_channel": calls,
            "ray_items_by_channel": items,
            "startup_s": self.cluster.startup_s,
            "actor_locations": self.cluster.locations,
            # CPU seconds the actors' processes used over the run (all threads).
            "actor_cpu_s": sum(r.get("cpu_s", 0.0) for r in reports),
            # Per actor: (run ms, process CPU s, Ray calls so far), every half second.
            "actor_samples": [r.get("samples", []) for r in reports],
        }
        stats["timing"], stats["warnings"] = timing_health(
            self.config, [s for r in reports for s in r.get("timer_slips", ())],
            [d for r in reports for d in r.get("delivery_lateness", ())])
        for channel, count in calls.items():
            stats[f"{channel}_per_call"] = items[channel] / count if count else None
        return stats
