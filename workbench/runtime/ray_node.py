"""One replica in real time: the unchanged sans-IO core plus the fault model at its node.

`NodeHost` does for one node what `sim.Simulation` does for all of them, with asyncio
timers instead of a virtual-time heap, and with the same rules (see sim.py):

- sends go through this node's copy of the `Network` (the conductor pushes every
  partition start/end to every node): a cut or lost message is dropped at the sender,
  the others are stamped with their due time (send time + sampled delay; duplicates
  give two copies, reordering a later due time) and handed to `send`;
- an arriving message is held until its due time, then checked against the partitions
  again (a message in flight when a cut starts is lost, as with iptables);
- a crash loses the core object, its timers and its queued inputs; the `Storage`
  survives and the core is rebuilt from it on restart (with a fresh rng stream);
- a pause holds every input (messages, client requests, timer firings) until resume;
- the core's `now` is its own clock: offset + run time * (1 + drift); timer delays are
  in the node's clock and run that much faster or slower in true time.

The host never blocks and never awaits: each input runs the core to completion and
drains its effects, so one asyncio loop serialises everything a node does. A core that
raises stops the host and records the traceback; the conductor polls `error` and fails
the run, as the simulator would by raising.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from typing import Any

from workbench.config import ExperimentConfig
from workbench.core.effects import CancelTimer, Observe, Reply, Send, SetTimer
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.faults import LinkModel, Network, Partition, clocks_for
from workbench.protocols import node_class
from workbench.protocols.base import Node
from workbench.runtime.ray_clock import RunClock
from workbench.runtime.seeds import derive_rng

# Kinds of input held while paused.
_MESSAGE, _REQUEST, _TIMER = range(3)


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
        self.members = list(range(config.nodes))
        self.seed = config.seed
        self.factory = node_factory or node_class(config.protocol)
        self.options = config.protocol_options()
        self.loop, self.clock = loop, clock
        self._send, self._reply = send, reply
        self.storage = Storage()
        self.network = Network(config.nodes, LinkModel(config.network))
        # The sender samples its links, so each node draws from its own stream.
        self.net_rng = derive_rng(config.seed, "network", node_id)
        self.node_clock = clocks_for(config.faults, config.nodes)[node_id]
        # The simulator's sampling interval, so convergence times of both runtimes compare.
        self.digest_interval_ms = config.sim.digest_interval_ms

        self.node: Node | None = None
        self.incarnation = 0
        self.paused = False
        self.pending: list[tuple[Any, ...]] = []
        # name -> [token, deadline (run ms), run ms its asyncio handle fires, handle]
        self.timers: dict[str, list[Any]] = {}
        self._token = 0
        self._digest_handle: asyncio.TimerHandle | None = None
        self._last_digest: int | None = None
        self.stopped = False
        self.error: str | None = None

        self.trace: list[dict[str, Any]] = []
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        # Timing health (runtime/ray_timing.py): run ms late against deadline / due time.
        self.timer_slips: list[float] = []
        self.delivery_lateness: list[float] = []

    # ------------------------------------------------------------ lifecycle
    def local_now(self, run_ms: float) -> float:
        return self.node_clock.local(run_ms)

    def boot(self) -> None:
        node = self.factory(self.id, self.members, self.options,
                            derive_rng(self.seed, "node", self.id, self.incarnation), self.storage)
        self.node = node
        self._run(node.start, self.local_now(self.clock.now_ms()))

    def start(self) -> None:
        """Boot at run time 0 and start sampling state digests (for convergence)."""
        self.loop.call_later(self.clock.until_s(0.0), self.boot)
        self._digest_handle = self.loop.call_later(self.clock.until_s(0.0), self._sample_digest)

    def finish(self) -> None:
        """The run is over: record the final digest, then ignore every further input."""
        if not self.stopped:
            self._record_digest(self.clock.now_ms())
        self.stopped = True
        for timer in self.timers.values():
            timer[3].cancel()
        self.timers.clear()
        if self._digest_handle is not None:
            self._digest_handle.cancel()

    # ------------------------------------------------------------ inputs
    def deliver(self, src: int, items: list[tuple[float, Message]]) -> None:
        """A batch from `src`: (due run ms, message) pairs. Hold each until it is due."""
        now = self.clock.now_ms()
        for due, message in items:
            if due > now:
                self.loop.call_later(self.clock.wall_s(due - now), self._arrive, src, message, due)
            else:
                self._arrive(src, message, due)

    def _arrive(self, src: int, message: Message, due: float | None = None) -> None:
        if due is not None:
            self.delivery_lateness.append(self.clock.now_ms() - due)
        node = self.node
        if node is None or self.stopped:
            return  # lost with the crashed node, as in the simulator
        if self.paused:
            self.pending.append((_MESSAGE, src, message))
            return
        if not self.network.allows(src, self.id):
            self.dropped += 1
            return
        self.delivered += 1
        self._run(node.on_message, src, message, self.local_now(self.clock.now_ms()))

    def requests(self, requests: list[ClientRequest]) -> None:
        for request in requests:
            self._request(request)

    def _request(self, request: ClientRequest) -> None:
        node = self.node
        if node is None or self.stopped:
            return  # the client's node is down: the op will time out as info
        if self.paused:
            self.pending.append((_REQUEST, request))
            return
        self._run(node.on_client_request, request, self.local_now(self.clock.now_ms()))

    def _fire(self, name: str, token: int) -> None:
        timer = self.timers.get(name)
        node = self.node
        if node is None or self.stopped or timer is None or timer[0] != token:
            return  # cancelled, replaced, or the node crashed since
        now = self.clock.now_ms()
        if timer[1] > now:
            # Re-armed to a later deadline since this handle was set (lazy re-arm:
            # a heartbeat resets an election timer without an asyncio cancel + add).
            timer[2] = timer[1]
            timer[3] = self.loop.call_later(self.clock.wall_s(timer[1] - now), self._fire, name, token)
            return
        if self.paused:
            self.pending.append((_TIMER, name, token))
            return
        self.timer_slips.append(now - timer[1])
        del self.timers[name]
        self._run(node.on_timer, name, self.local_now(now))

    # ------------------------------------------------------------ effects
    def _run(self, handler: Callable[..., None], *args: Any) -> None:
        """Run one core input and carry out its effects; a raising core stops this host."""
        try:
            handler(*args)
            self._drain()
        except Exception:
            self.error = f"node {self.id}:\n{traceback.format_exc()}"
            self.stopped = True

    def _drain(self) -> None:
        node = self.node
        assert node is not None
        effects = node.take_effects()
        if not effects:
            return
        now = self.clock.now_ms()
        for effect in effects:
            cls = type(effect)
            if cls is Send:
                self.sent += 1
                delays = self.network.deliveries(self.id, effect.to, self.net_rng)
                if not delays:
                    self.dropped += 1
                for delay in delays:
                    self._send(effect.to, now + delay, effect.message)
            elif cls is Reply:
                self._reply(effect)
            elif cls is SetTimer:
                self._set_timer(effect.name, now + self.node_clock.true_delay(effect.delay_ms), now)
            elif cls is CancelTimer:
                timer = self.timers.pop(effect.name, None)
                if timer is not None:
                    timer[3].cancel()
            elif cls is Observe:
                self.trace.append({"time": round(now, 3), "kind": effect.kind, "node": self.id,
                                   **effect.fields})

    def _set_timer(self, name: str, deadline: float, now: float) -> None:
        timer = self.timers.get(name)
        if timer is not None and timer[2] <= deadline:
            timer[1] = deadline  # the pending handle fires first and re-arms itself
            return
        if timer is not None:
            timer[3].cancel()
        self._token += 1
        handle = self.loop.call_later(self.clock.wall_s(deadline - now), self._fire, name, self._token)
        self.timers[name] = [self._token, deadline, deadline, handle]

    # ------------------------------------------------------------ faults
    def start_partition(self, fault_id: int, partition: Partition) -> None:
        self.network.start_partition(fault_id, partition)

    def end_partition(self, fault_id: int) -> None:
        self.network.end_partition(fault_id)

    def crash(self) -> None:
        """Lose everything but storage: the core object, its timers and queued inputs."""
        self.node = None
        self.incarnation += 1
        for timer in self.timers.values():
            timer[3].cancel()
        self.timers.clear()
        self.pending.clear()
        self.paused = False
        self._last_digest = None

    def restart(self) -> None:
        if self.node is None and not self.stopped:
            self.boot()

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        queued, self.pending = self.pending, []
        for item in queued:  # in arrival order, now
            if self.paused or self.stopped:
                break
            kind = item[0]
            if kind == _MESSAGE:
                self._arrive(item[1], item[2])
            elif kind == _REQUEST:
                self._request(item[1])
            else:
                self._fire(item[1], item[2])

    # ------------------------------------------------------------ queries
    def leader_status(self) -> tuple[bool, int | None]:
        node = self.node
        if node is None or self.stopped:
            return False, None
        return node.is_leader(), node.leader()

    def _sample_digest(self) -> None:
        if self.stopped:
            return
        now = self.clock.now_ms()
        self._record_digest(now)
        self._digest_handle = self.loop.call_later(
            self.clock.wall_s(self.digest_interval_ms), self._sample_digest)

    def _record_digest(self, now: float) -> None:
        node = self.node
        if node is None:
            return
        try:
            digest = node.state_digest()
        except Exception:
            self.error = f"node {self.id}: state_digest:\n{traceback.format_exc()}"
            self.stopped = True
            return
        if digest != self._last_digest:
            self._last_digest = digest
            self.trace.append({"time": round(now, 3), "kind": "digest", "node": self.id,
                               "digest": digest})
