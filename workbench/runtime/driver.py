"""One node driver: hosts a sans-IO core and interprets its effects over a `Transport`.

Every runtime needs the same things around a core — its durable `Storage`, named
timers, crash and restart, pause and resume, a clock of its own, digest sampling, an
invariant-check hook — and each used to write them itself (the simulator, the Ray
node host and two test harnesses). `NodeDriver` is that code, once. What differs
between runtimes is only how a message travels, how a client hears its reply and how
time passes; that is the `Transport`:

- `send(src, dst, message)`: put a message on the network (the transport applies the
  link model and the partitions seen at the sender, and counts what it drops);
- `reply(src, effect)`: hand node `src`'s `Reply` to the client process it names
  (`src` for transports that address replies by sender, as Maelstrom does);
- `schedule(at, node, name, token) -> token`: call `driver.fire(name, token, now)` at
  run time `at`. `token=None` asks for a new timer and returns its fresh token; a
  token given back re-arms that same timer later (the lazy re-arm below);
- `now_ms()`: run time in ms (true time, not the node's clock).

Inputs arrive through `deliver`, `request` and `fire`, each given the run time `now`
by the transport (hot paths pass it rather than call back for it). The rules, as the
simulator always had them (DESIGN.md, Runtimes):

- a crash loses the core object, its timers and its held inputs; the `Storage`
  survives, the incarnation goes up and the rebuilt core gets a fresh rng stream;
- a paused node holds every input (message, request, timer firing) in arrival order;
  `resume()` hands them back and the transport replays them (`replay`) when it likes:
  the simulator re-queues them at the resume instant, so inputs already due at that
  instant stay ahead of them;
- the core's `now` is its own clock: offset + run time * (1 + drift); a timer of
  `delay` node-ms is due after delay / (1 + drift) ms of run time;
- an arriving message is checked against `cut` (the directed links cut as this node
  sees them) after the pause check: a message in flight when a cut starts is lost, as
  with iptables, and one held by a pause is checked again when it is replayed.

Lazy timer re-arm, here and only here: a core that re-arms a timer to a *later*
deadline (an election timer pushed back by every heartbeat, Raft §5.2) only moves the
deadline; the pending schedule fires at its old time, sees the later deadline and
schedules itself again with the same token. A steady leader thus costs one schedule
per election timeout per follower instead of one per heartbeat. An earlier deadline
takes a new token; the old schedule then fires for nothing.

Durability (`Persist`) and crash points inside a step: `driver_disk.py`.
One request policy for every protocol (a node that knows no leader): `driver_requests.py`.

Hot paths are kept flat (locals, bound methods, no per-effect allocation beyond the
transport's own): the simulator runs ~150k delivered messages per second through here.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from workbench.core.effects import CancelTimer, Observe, Persist, Reply, Send, SetTimer
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Disk, Extend, Storage
from workbench.protocols.base import Node
from workbench.runtime.driver_disk import DISK_TIMER, DiskSteps
from workbench.runtime.driver_requests import HOLD_TIMER, RequestHold
from workbench.runtime.seeds import derive_rng

# Kinds of input held while paused: (kind, a, b).
HELD_MESSAGE, HELD_REQUEST, HELD_TIMER = range(3)

NO_CUT: frozenset[tuple[int, int]] = frozenset()



class Transport(Protocol):
    """What a runtime gives a `NodeDriver`: the network, the clients, time."""

    def send(self, src: int, dst: int, message: Message) -> None: ...

    def reply(self, src: int, effect: Reply) -> None: ...

    def schedule(self, at: float, node: int, name: str, token: int | None) -> int: ...

    def now_ms(self) -> float: ...


def seeded_rngs(seed: int, node_id: int) -> Callable[[int], random.Random]:
    """The core rng of each incarnation of a node, derived from the run seed (house rule 4)."""
    return lambda incarnation: derive_rng(seed, "node", node_id, incarnation)


def current_leader(statuses: Sequence[tuple[bool, int | None]]) -> int | None:
    """The leader most nodes believe in, among nodes that think they lead.

    `statuses[i]` is node i's `(is_leader, leader it believes in)`; a down node is
    `(False, None)`. Ties go to the lowest id. Used to aim `isolate: leader` and
    node faults at `leader`, by every runtime.
    """
    leaders = [i for i, (is_leader, _) in enumerate(statuses) if is_leader]
    if not leaders:
        return None
    votes = dict.fromkeys(leaders, 0)
    for _, believed in statuses:
        if believed in votes:
            votes[believed] += 1  # type: ignore[index]
    return max(leaders, key=lambda i: (votes[i], -i))


def apply_persist(storage: Storage, effect: Any) -> bool:
    """Apply `effect` to `storage` at once if it is a durable write; True if it was one.

    The one place outside `NodeDriver` that carries out `Persist` (and the lone-`Extend`
    shorthand): the scenario runner's World (and so the explorer), the Maelstrom host and
    the test harnesses step cores without a driver and without a disk model, so a write
    is durable the moment it is drained — exactly what `NodeDriver._drain` does with
    `disk=None`.
    """
    cls = type(effect)
    if cls is Persist:
        storage.apply(effect.records)
        return True
    if cls is Extend:
        storage.extend(effect)
        return True
    return False


class NodeDriver(DiskSteps, RequestHold):
    __slots__ = (
        "id", "members", "factory", "options", "storage", "rng_for", "transport",
        "_send", "_reply", "_schedule", "offset", "rate", "cut", "trace", "check",
        "node", "incarnation", "paused", "pending", "timers", "last_digest",
        "sent", "delivered", "dropped", "disk", "held", "hold_until", "release_at",
        "hold_ms", "held_requests", "_hold_token",
        "crash_point", "crash_fault", "crash_rng", "crash_landed", "crash_record",
    )

    def __init__(
        self,
        node_id: int,
        *,
        members: Sequence[int],
        factory: Callable[..., Node],
        options: Any,
        transport: Transport,
        rng_for: Callable[[int], random.Random],
        storage: Storage | None = None,
        clock_offset_ms: float = 0.0,
        clock_drift: float = 0.0,
        cut: Any = NO_CUT,
        trace: list[dict[str, Any]] | None = None,
        check: Callable[[float], None] | None = None,
        disk: Disk | None = None,
        hold_ms: float | None = None,
    ) -> None:
        self.id = node_id
        self.members = list(members)
        self.factory = factory
        self.options = options
        self.storage = storage if storage is not None else Storage()
        self.rng_for = rng_for
        self.transport = transport
        self._send = transport.send
        self._reply = transport.reply
        self._schedule = transport.schedule
        self.offset = clock_offset_ms
        self.rate = 1.0 + clock_drift
        # Directed links cut as this node sees them: a set the owner mutates in place
        # (`Network.cut_links`), tested on arrival.
        self.cut = cut
        self.trace: list[dict[str, Any]] = trace if trace is not None else []
        # Called after every input whose core produced effects (the invariant checker).
        self.check = check

        self.node: Node | None = None
        self.incarnation = 0
        self.paused = False
        self.pending: list[tuple[int, Any, Any]] = []
        # timer name -> [token, deadline, run time its pending schedule fires]
        self.timers: dict[str, list[Any]] = {}
        self.last_digest: int | None = None
        self.sent = 0
        self.delivered = 0
        self.dropped = 0  # at arrival (cut while in flight); the transport counts sender drops
        # The disk model (None: persists are durable at once) and, with it, the sends and
        # replies waiting for an fsync: (release time, effect) in emission order.
        self.disk = disk
        self.held: list[tuple[float, Send | Reply]] = []
        self.hold_until = -1.0
        self.release_at: float | None = None
        # The request policy (workload.request_policy): None fails a leaderless request at
        # once; a number holds it that many ms. Held: (request, run-time deadline), FIFO.
        self.hold_ms = hold_ms
        self.held_requests: deque[tuple[ClientRequest, float]] = deque()
        self._hold_token: int | None = None  # the pending HOLD_TIMER schedule, if any
        # A crash point armed by a fault (`arm_crash`): where in which step the node dies.
        self.crash_point: str | None = None
        self.crash_fault: int | None = None
        self.crash_rng: random.Random | None = None
        self.crash_landed: Callable[[int, str, int], None] | None = None
        self.crash_record: str | None = None  # mid_persist: a record the step must write

    # ------------------------------------------------------------ time
    def local(self, now: float) -> float:
        """This node's clock reading at run time `now`."""
        return self.offset + now * self.rate

    # ------------------------------------------------------------ lifecycle
    def boot(self, now: float) -> Node:
        """Build the core from its storage (first boot or restart) and start it."""
        node = self.factory(self.id, self.members, self.options,
                            self.rng_for(self.incarnation), self.storage)
        self.node = node
        node.start(self.offset + now * self.rate)
        self._drain(node, now)
        return node

    def restart(self, now: float) -> None:
        if self.node is None:
            self.boot(now)

    def crash(self) -> int:
        """Lose everything but storage: the core object, its timers and held inputs.
        Returns how many records the disk model lost (writes not yet durable)."""
        self.node = None
        self.crash_point = self.crash_fault = self.crash_rng = self.crash_landed = None
        self.incarnation += 1
        self.timers.clear()
        self.pending.clear()
        self.held_requests.clear()
        self._hold_token = None
        self.paused = False
        self.last_digest = None
        lost = 0
        if self.disk is not None:
            lost = self.disk.crash(self.transport.now_ms())
            self.held.clear()
            self.hold_until = -1.0
            self.release_at = None
        return lost

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> list[tuple[int, Any, Any]]:
        """Stop holding inputs; returns the held ones, in arrival order, for `replay`."""
        self.paused = False
        held, self.pending = self.pending, []
        return held

    def replay(self, item: tuple[int, Any, Any], now: float) -> None:
        kind, a, b = item
        if kind == HELD_MESSAGE:
            self.deliver(a, b, now)
        elif kind == HELD_REQUEST:
            self.request(a, now)
        else:
            self.fire(a, b, now)

    # ------------------------------------------------------------ inputs
    def deliver(self, src: int, message: Message, now: float) -> None:
        node = self.node
        if node is None:
            return  # lost with the crashed node
        if self.paused:
            self.pending.append((HELD_MESSAGE, src, message))
            return
        if (src, self.id) in self.cut:  # a cut that started while it was in flight
            self.dropped += 1
            return
        self.delivered += 1
        node.on_message(src, message, self.offset + now * self.rate)
        self._drain(node, now)

    def request(self, request: ClientRequest, now: float) -> None:
        node = self.node
        if node is None:
            return  # the client's node is down: the op will time out as info
        if self.paused:
            self.pending.append((HELD_REQUEST, request, None))
            return
        if node.leader() is None and node.needs_leader(request):
            self._no_leader(request, now)
            return
        node.on_client_request(request, self.offset + now * self.rate)
        self._drain(node, now)

    def fire(self, name: str, token: int, now: float) -> None:
        """A timer's schedule came due: fire it, re-arm it lazily, or ignore a stale one."""
        timer = self.timers.get(name)
        node = self.node
        if node is None or timer is None or timer[0] != token:
            if name == DISK_TIMER and node is not None:
                if self.paused:
                    self.pending.append((HELD_TIMER, name, token))
                else:
                    self._release(now)
            elif name == HOLD_TIMER and node is not None:  # never in `timers`: cores do not own it
                if self.paused:
                    self.pending.append((HELD_TIMER, name, token))
                else:
                    self._hold_expired(token, now)
            return  # cancelled, replaced, or the node crashed since
        if timer[1] > now:
            timer[2] = timer[1]  # pushed back since it was scheduled: schedule again
            self._schedule(timer[1], self.id, name, token)
            return
        if self.paused:
            self.pending.append((HELD_TIMER, name, token))
            return
        del self.timers[name]
        node.on_timer(name, self.offset + now * self.rate)
        self._drain(node, now)

    def fire_now(self, name: str, now: float) -> None:
        """Fire timer `name` now, whatever its deadline (tests and explorers pick the order)."""
        node = self.node
        assert node is not None, f"node {self.id} is down"
        self.timers.pop(name, None)
        node.on_timer(name, self.offset + now * self.rate)
        self._drain(node, now)

    # ------------------------------------------------------------ effects
    def drain(self, now: float) -> bool:
        """Carry out the effects of a core that was called directly; False when it had none."""
        node = self.node
        return node is not None and self._drain(node, now)

    def _drain(self, node: Node, now: float) -> bool:
        effects = node.take_effects()
        if not effects:
            return False
        if self.crash_point is not None and self._crash_inside(effects, now):
            return True
        if self.disk is not None:
            self._drain_disk(effects, now)
            if self.held_requests and node.leader() is not None:
                self._release_held(node, now)
            return True
        send, me = self._send, self.id
        sent = 0
        stamp: float | None = None
        for effect in effects:
            cls = type(effect)
            if cls is Send:
                sent += 1
                send(me, effect.to, effect.message)
            elif cls is Reply:
                self._reply(me, effect)
            elif cls is SetTimer:
                deadline = now + effect.delay_ms / self.rate
                timer = self.timers.get(effect.name)
                if timer is not None and timer[2] <= deadline:
                    timer[1] = deadline  # its pending schedule fires first and re-arms
                else:
                    token = self._schedule(deadline, me, effect.name, None)
                    self.timers[effect.name] = [token, deadline, deadline]
            elif cls is Extend:
                self.storage.extend(effect)
            elif cls is Persist:
                self.storage.apply(effect.records)
            elif cls is CancelTimer:
                self.timers.pop(effect.name, None)
            elif cls is Observe:
                if stamp is None:
                    stamp = round(now, 3)  # a follower applying a batch observes many at once
                self.trace.append({"time": stamp, "kind": effect.kind, "node": me, **effect.fields})
        if sent:
            self.sent += sent
        if self.check is not None:
            self.check(now)
        if self.held_requests and node.leader() is not None:
            self._release_held(node, now)
        return True

    # ------------------------------------------------------------ queries
    def leader_status(self) -> tuple[bool, int | None]:
        node = self.node
        if node is None:
            return False, None
        return node.is_leader(), node.leader()

    def sample_digest(self, now: float) -> None:
        """Record the replica's state digest in the trace when it changed (convergence)."""
        node = self.node
        if node is None:
            return
        digest = node.state_digest()
        if digest != self.last_digest:
            self.last_digest = digest
            self.trace.append({"time": round(now, 3), "kind": "digest", "node": self.id,
                               "digest": digest})
