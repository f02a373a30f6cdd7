"""`protocol: external` on `runtime: ray`: each node's process belongs to a Ray node actor.

One `ExternalNodeOwner` actor per node, placed like the Ray runtime's node actors (one
bundle per node in a placement group, `ray.placement` pack or spread, through the one
`ray_session`), spawns that node's process (a child of the actor's worker process) and
owns it for the whole run: spawn, kill -9, re-spawn, SIGSTOP/SIGCONT, its stderr log.

Everything else is the asyncio `ExternalRuntime`, unchanged, in the conductor (this
process): it routes every line through the network model, runs the clients and the
Maelstrom services and plays the fault schedule. `RemoteNode` is its transport to a
node: the same interface as `NodeProcess`, carried over two Ray calls (owner module).
Why the router stays in one place: every message already crosses the router, and one
router keeps one partition table, one set of seeded rngs and one clock for the
history, exactly as in the local runtime (DESIGN.md "External nodes").

Nothing is left running: a node's process dies with its actor (PR_SET_PDEATHSIG), the
actors are killed when the run ends, fails, or fails to initialise its nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, remove_placement_group

from workbench.experiment.config import ExperimentConfig
from workbench.runtime.external import ExternalRuntime, python_argv
from workbench.runtime.external_owner import ExternalNodeOwner
from workbench.runtime.ray_cluster import (
    actor_loss_as_error,
    bundle_options,
    reserve_bundles,
    wait_ready,
)
from workbench.runtime.ray_session import start_session
from workbench.runtime.result import RunResult

RemoteOwner = ray.remote(ExternalNodeOwner)


class RemoteNode:
    """The conductor's stand-in for a node whose process a Ray actor owns (`NodeTransport`).

    Writes and signals queue up in order and go to the actor in one `apply` call at a
    time; lines, malformed-line reports and exits come back through one `poll` call at a
    time. A lost actor ends the run (`on_lost`), as a lost node actor does on `runtime: ray`.
    """

    def __init__(self, actor: Any, run: int, name: str,
                 argv: list[str], log_path: Path, max_line_bytes: int,
                 on_line: Callable[[RemoteNode, bytes], None],
                 on_malformed: Callable[[RemoteNode, str], None],
                 on_exit: Callable[[RemoteNode, int], None]) -> None:
        self.actor = actor
        self.run = run  # the owner's run number: a reused actor's events of an earlier run are not ours
        self.name = name
        self.log_path = log_path
        self._on_line, self._on_malformed, self._on_exit = on_line, on_malformed, on_exit
        self.on_lost: Callable[[BaseException], None] = lambda exc: None  # set by the run
        self.dropped_writes = 0
        self.pids: list[int] = []
        self.parents: list[int] = []
        self._exit_code: int | None = None
        self._started = False
        self._exited: asyncio.Event | None = None
        self._commands: list[bytes | str] = []
        self._sender: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    # ------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        # What is still queued was written to the incarnation that exited (a restart waits
        # for its exit, and writes stop once it is seen): lost, as anything sent to a
        # crashed node. Sent on, it would reach the new process before its init, which
        # Maelstrom's contract puts first (make test-loaded: a slow `apply` of the kill let
        # the next batch, stale echoes, go out after this start; the echo node died).
        self._commands.clear()
        answer = await self.actor.start.remote()
        if "error" in answer:
            raise OSError(answer["errno"], answer["error"])
        self.pids.append(answer["pid"])
        self.parents.append(answer["parent"])
        self._exit_code, self._started = None, True
        self._exited = asyncio.Event()
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def wait_exit(self) -> None:
        if self._exited is not None:
            await self._exited.wait()

    async def sync_log(self) -> None:
        with contextlib.suppress(Exception):  # a lost actor: no log to show
            self.log_path.write_bytes(await self.actor.log_tail.remote())

    async def stop(self, grace_s: float) -> None:
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender
        try:
            report = await self.actor.stop.remote(grace_s)
        finally:
            if self._poller is not None:
                # The owner's last poll returns once it has stopped; bounded in case the actor is gone.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._poller, timeout=5.0)
                self._poller.cancel()
        self.log_path.write_bytes(report["log"])
        self.dropped_writes = report["dropped_writes"]

    # ------------------------------------------------------------ to the node
    def write(self, data: bytes) -> bool:
        if not self._started or self._exit_code is not None:
            return False
        self._queue(data)
        return True

    def kill(self) -> None:
        self._queue("kill")

    def pause(self) -> None:
        self._queue("pause")

    def resume(self) -> None:
        self._queue("resume")

    def _queue(self, command: bytes | str) -> None:
        self._commands.append(command)
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        # One call in flight: what queues meanwhile goes in the next batch, in order.
        try:
            while self._commands:
                batch, self._commands = self._commands, []
                await self.actor.apply.remote(batch)
        except Exception as exc:  # noqa: BLE001 - the actor died: the run cannot go on
            self.on_lost(exc)
        finally:
            self._sender = None

    # ------------------------------------------------------------ from the node
    async def _poll(self) -> None:
        try:
            while (events := await self.actor.poll.remote(self.run)) is not None:
                for kind, value in events:
                    if kind == "line":
                        self._on_line(self, value)
                    elif kind == "malformed":
                        self._on_malformed(self, value)
                    else:
                        self._exit_code = value
                        assert self._exited is not None
                        self._exited.set()
                        self._on_exit(self, value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the actor died: the run cannot go on
            self.on_lost(exc)


@dataclass
class _Idle:
    """Node actors kept between the runs of a sweep (`reusing_node_actors`)."""

    key: tuple[str, int, str]  # Ray job, nodes, placement strategy
    actors: list[Any]
    placement: PlacementGroup
    locations: list[str]


_reuse_depth = 0
_idle: list[_Idle] = []


@contextlib.contextmanager
def reusing_node_actors() -> Iterator[None]:
    """Inside: a run's node actors, once its nodes are stopped and reaped, wait for the
    next run of the same shape instead of being killed (a serial sweep of external runs
    on Ray then starts its actors once, not once per run: each new actor is a new Ray
    worker process, seconds of start-up on a busy machine). At the end every kept actor
    is killed and its bundles freed."""
    global _reuse_depth
    _reuse_depth += 1
    try:
        yield
    finally:
        _reuse_depth -= 1
        if _reuse_depth == 0:
            while _idle:
                idle = _idle.pop()
                _kill(idle.actors, idle.placement)


def _kill(actors: list[Any], placement: PlacementGroup | None) -> None:
    for actor in actors:
        with contextlib.suppress(Exception):  # already dead, or Ray is going down
            ray.kill(actor)
    if placement is not None:
        with contextlib.suppress(Exception):
            remove_placement_group(placement)


@dataclass
class NodeOwners:
    """The run's node actors: one per node, in bundle i of one placement group."""

    config: ExperimentConfig
    actors: list[Any] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    placement: PlacementGroup | None = None
    locations: list[str] = field(default_factory=list)
    startup_s: float = 0.0
    reused: bool = False

    @property
    def key(self) -> tuple[str, int, str]:
        return (ray.get_runtime_context().get_job_id(), self.config.nodes, self.config.ray.placement)

    def launch(self) -> None:
        started = time.perf_counter()
        spec = self.config.external
        assert spec is not None
        argv = python_argv(spec.command)
        names = [f"n{i + 1}" for i in range(self.config.nodes)]
        if self._reuse():
            try:
                self.runs = ray.get([actor.begin.remote(name, argv, spec.max_line_bytes)
                                     for actor, name in zip(self.actors, names, strict=True)])
            except Exception:  # noqa: BLE001 - a kept actor died meanwhile: start afresh
                self.stop()
                self.reused = False
        if not self.reused:
            self.placement = reserve_bundles(self.config)
            for i, name in enumerate(names):
                self.actors.append(RemoteOwner.options(**bundle_options(self.placement, i)).remote(
                    name, argv, spec.max_line_bytes))
            self.runs = [1] * len(names)
            self.locations = wait_ready(self.actors)
        self.startup_s = time.perf_counter() - started

    def _reuse(self) -> bool:
        key = self.key
        for idle in _idle:
            if idle.key == key:
                _idle.remove(idle)
                self.actors, self.placement, self.locations = idle.actors, idle.placement, idle.locations
                self.reused = True
                return True
        return False

    def transport(self, name: str, *args: Any) -> RemoteNode:
        """The `ExternalRuntime` transport: node `n{i+1}` is actor i."""
        i = int(name[1:]) - 1
        return RemoteNode(self.actors[i], self.runs[i], name, *args)

    def release(self) -> None:
        """After a run whose nodes were all stopped: keep the actors for the next run
        inside `reusing_node_actors`, else kill them."""
        if _reuse_depth > 0 and self.placement is not None:
            _idle.append(_Idle(self.key, self.actors, self.placement, self.locations))
            self.actors, self.placement = [], None
        else:
            self.stop()

    def stop(self) -> None:
        """Kill every actor (its node process dies with it) and free the bundles; safe twice."""
        _kill(self.actors, self.placement)
        self.actors, self.placement = [], None


def run_external_on_ray(config: ExperimentConfig) -> RunResult:
    """Run `config` (protocol external, runtime ray); every actor and process is gone afterwards."""
    wall = time.perf_counter()
    # Ray for the rest of the process, as `ray_actors.run_on_ray`: the one starter.
    start_session(config.ray.address, config.ray.num_cpus)
    owners = NodeOwners(config)
    try:
        with actor_loss_as_error(config):
            owners.launch()
            with tempfile.TemporaryDirectory(prefix="workbench-external-") as tmp:
                runtime = ExternalRuntime(config, Path(tmp), transport=owners.transport)
                nodes = [node for node in runtime.nodes if isinstance(node, RemoteNode)]
                for node in nodes:
                    node.on_lost = runtime.fail
                result = asyncio.run(runtime.run())
        owners.release()  # every node was stopped and reaped: the actors may serve again
    finally:
        owners.stop()  # a failed run's actors are never kept
    result.stats.update({
        "wall_s": time.perf_counter() - wall,
        "startup_s": owners.startup_s,
        "actors_reused": owners.reused,
        "actor_locations": owners.locations,
        "node_pids": {node.name: node.pids for node in nodes},
        "node_parents": {node.name: node.parents for node in nodes},
    })
    return result
