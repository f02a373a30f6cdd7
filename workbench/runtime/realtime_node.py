"""One replica in real time: a `NodeDriver` whose transport is an asyncio loop.

The driver (driver.py) holds the core, its storage, timers, crash/restart, pause and
its clock, exactly as in the simulator; `NodeHost` is the real-time transport under it:

- `send`: through this node's copy of the `Network` (the conductor pushes every
  partition start/end to every node): a cut or lost message is dropped at the sender,
  the others are stamped with their due time (send time + sampled delay; duplicates
  give two copies, reordering a later due time) and handed to the actor's `send`;
- an arriving batch is held until each message's due time, then given to the driver,
  which checks the partitions again (a message in flight when a cut starts is lost);
- `schedule`: an asyncio timer (`call_later`) in run time; handles are kept only to be
  cancelled when the run finishes;
- resume replays the held inputs at once, in arrival order.

The host never blocks and never awaits: each input runs the core to completion and
drains its effects, so one asyncio loop serialises everything a node does. A core that
raises stops the host and records the traceback; the conductor polls `error` and fails
the run, as the simulator would by raising. Nothing here imports Ray: the actor wrapper
(realtime_host.py) is made a Ray actor by ray_cluster.py.
"""

from __future__ import annotations

import asyncio
import operator
import traceback
from collections.abc import Callable
from typing import Any

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.experiment.config import ExperimentConfig
from workbench.faults import LinkModel, Network, Partition, clocks_for
from workbench.faults.disk import make_disk
from workbench.protocols import node_class
from workbench.protocols.base import Node
from workbench.runtime.driver import NodeDriver, seeded_rngs
from workbench.runtime.realtime_clock import RunClock
from workbench.runtime.seeds import derive_rng

_due = operator.itemgetter(0)  # of a held (due run ms, message) pair


class NodeHost:
    def __init__(
        self,
        config: ExperimentConfig,
        node_id: int,
        loop: asyncio.AbstractEventLoop,
        clock: RunClock,
        send: Callable[[int, float, Message], None],
        reply: Callable[[Reply], None],
        node_factory: Callable[..., Node] | None = None,
    ) -> None:
        self.id = node_id
        self.loop, self.clock = loop, clock
        self._send, self._reply = send, reply
        self.network = Network(config.nodes, LinkModel(config.network))
        # The sender samples its links, so each node draws from its own stream.
        self.net_rng = derive_rng(config.seed, "network", node_id)
        clock_fault = clocks_for(config.faults, config.nodes)[node_id]
        self.driver = NodeDriver(
            node_id, members=range(config.nodes), factory=node_factory or node_class(config.protocol),
            options=config.protocol_options(), transport=self, rng_for=seeded_rngs(config.seed, node_id),
            clock_offset_ms=clock_fault.offset_ms, clock_drift=clock_fault.drift,
            cut=self.network.cut_links, storage=(storage := Storage()),
            disk=make_disk(config.faults.disk, storage, derive_rng(config.seed, "disk", node_id)),
            hold_ms=config.workload.request_policy.node_hold_ms)
        # The simulator's sampling interval, so convergence times of both runtimes compare.
        self.digest_interval_ms = config.sim.digest_interval_ms
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self._token = 0
        self._digest_handle: asyncio.TimerHandle | None = None
        self.stopped = False
        self.error: str | None = None
        self.dropped_at_sender = 0
        # Timing health (runtime/ray_timing.py): run ms late against deadline / due time.
        self.timer_slips: list[float] = []
        self.delivery_lateness: list[float] = []

    # ------------------------------------------------------------ the driver's state
    @property
    def node(self) -> Node | None:
        return self.driver.node

    @property
    def storage(self) -> Storage:
        return self.driver.storage

    @property
    def timers(self) -> dict[str, list[Any]]:
        return self.driver.timers

    @property
    def pending(self) -> list[tuple[int, Any, Any]]:
        return self.driver.pending

    @property
    def incarnation(self) -> int:
        return self.driver.incarnation

    @property
    def trace(self) -> list[dict[str, Any]]:
        return self.driver.trace

    @property
    def sent(self) -> int:
        return self.driver.sent

    @property
    def delivered(self) -> int:
        return self.driver.delivered

    @property
    def dropped(self) -> int:
        return self.dropped_at_sender + self.driver.dropped

    # ------------------------------------------------------------ the transport
    def now_ms(self) -> float:
        return self.clock.now_ms()

    def send(self, src: int, dst: int, message: Message) -> None:
        delays = self.network.deliveries(src, dst, self.net_rng, message=message)
        if not delays:
            self.dropped_at_sender += 1
            return
        now = self.clock.now_ms()
        for delay in delays:
            self._send(dst, now + delay, message)

    def reply(self, src: int, effect: Reply) -> None:
        self._reply(effect)

    def schedule(self, at: float, node: int, name: str, token: int | None) -> int:
        if token is None:
            self._token += 1
            token = self._token
        delay_s = self.clock.wall_s(max(0.0, at - self.clock.now_ms()))
        self._handles[token] = self.loop.call_later(delay_s, self._fire, name, token)
        return token

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Boot at run time 0 and start sampling state digests (for convergence)."""
        self.loop.call_later(self.clock.until_s(0.0), self.boot)
        self._digest_handle = self.loop.call_later(self.clock.until_s(0.0), self._sample_digest)

    def boot(self) -> None:
        self._run(self.driver.boot, self.clock.now_ms())

    def finish(self) -> None:
        """The run is over: record the final digest, then ignore every further input."""
        if not self.stopped:
            self._record_digest(self.clock.now_ms())
        self.stopped = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self.driver.timers.clear()
        if self._digest_handle is not None:
            self._digest_handle.cancel()

    # ------------------------------------------------------------ inputs
    def deliver(self, src: int, items: list[tuple[float, Message]]) -> None:
        """A batch from `src`: (due run ms, message) pairs. Hold each until it is due.

        One timer per batch, not per message (a timer handle costs more than the
        protocol's work on a small message): what is due now goes in at once, in
        batch order; the rest, in order of due time, when the earliest is due, and so
        on. Each message still reaches the core no earlier than its due time.
        """
        now = self.clock.now_ms()
        later: list[tuple[float, Message]] = []
        for item in items:
            if item[0] > now:
                later.append(item)
            else:
                self._arrive(src, item[1], item[0])
        if later:
            later.sort(key=_due)  # stable: equal due times keep their batch order
            self._hold(src, later, 0)

    def _hold(self, src: int, held: list[tuple[float, Message]], start: int) -> None:
        delay_ms = held[start][0] - self.clock.now_ms()
        self.loop.call_later(self.clock.wall_s(max(0.0, delay_ms)), self._release, src, held, start)

    def _release(self, src: int, held: list[tuple[float, Message]], start: int) -> None:
        now = self.clock.now_ms()
        end = len(held)
        i = start
        while i < end and held[i][0] <= now:
            due, message = held[i]
            self._arrive(src, message, due)
            i += 1
        if i < end:
            self._hold(src, held, i)

    def _arrive(self, src: int, message: Message, due: float | None = None) -> None:
        now = self.clock.now_ms()
        if due is not None:
            self.delivery_lateness.append(now - due)
        if not self.stopped:
            self._run(self.driver.deliver, src, message, now)

    def requests(self, requests: list[ClientRequest]) -> None:
        for request in requests:
            if self.stopped:
                return
            self._run(self.driver.request, request, self.clock.now_ms())

    def _fire(self, name: str, token: int) -> None:
        self._handles.pop(token, None)
        if self.stopped:
            return
        now = self.clock.now_ms()
        timer = self.driver.timers.get(name)
        if (timer is not None and timer[0] == token and timer[1] <= now
                and not self.driver.paused and self.driver.node is not None):
            self.timer_slips.append(now - timer[1])  # due and about to fire: how late
        self._run(self.driver.fire, name, token, now)

    def _run(self, handler: Callable[..., Any], *args: Any) -> None:
        """Run one driver input; a raising core stops this host."""
        try:
            handler(*args)
        except Exception:
            self.error = f"node {self.id}:\n{traceback.format_exc()}"
            self.stopped = True

    # ------------------------------------------------------------ faults
    def start_partition(self, fault_id: int, partition: Partition) -> None:
        self.network.start_partition(fault_id, partition)

    def end_partition(self, fault_id: int) -> None:
        self.network.end_partition(fault_id)

    def crash(self) -> None:
        """Lose everything but storage (the driver); its timers' handles fire for nothing."""
        self.driver.crash()

    def restart(self) -> None:
        if not self.stopped:
            self._run(self.driver.restart, self.clock.now_ms())

    def pause(self) -> None:
        self.driver.pause()

    def resume(self) -> None:
        for item in self.driver.resume():  # in arrival order, now
            if self.driver.paused or self.stopped:
                break
            self._run(self.driver.replay, item, self.clock.now_ms())

    # ------------------------------------------------------------ queries
    def leader_status(self) -> tuple[bool, int | None]:
        if self.stopped:
            return False, None
        return self.driver.leader_status()

    def _sample_digest(self) -> None:
        if self.stopped:
            return
        self._record_digest(self.clock.now_ms())
        self._digest_handle = self.loop.call_later(
            self.clock.wall_s(self.digest_interval_ms), self._sample_digest)

    def _record_digest(self, now: float) -> None:
        try:
            self.driver.sample_digest(now)
        except Exception:
            self.error = f"node {self.id}: state_digest:\n{traceback.format_exc()}"
            self.stopped = True
