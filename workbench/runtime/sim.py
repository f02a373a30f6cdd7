"""The deterministic simulator: every node, client and fault in one process, in virtual time.

A single heap of timed events drives everything. Same experiment + seed => the same
sequence of events => byte-identical history: all randomness comes from rngs derived
from the run seed (`seeds.derive_rng`), ties in time break by insertion order, and
nothing reads the wall clock except the `wall_s` statistic.

Faults follow DESIGN.md: a partition is checked when a message is sent and again when
it arrives (a message in flight when the cut starts is lost, as with iptables); a
crashed node loses everything but its `Storage` and is rebuilt from it on restart;
a paused node's inputs (messages, requests, timers) wait and are delivered on resume;
each node sees its own clock (offset + drift) as `now`. Those node rules live in
`driver.NodeDriver`, one per node; this module is its transport (`send`, `reply`,
`schedule`, `now` over one event heap) plus the clients and the fault schedule.
"""

from __future__ import annotations

import gc
import heapq
import time
from collections.abc import Callable
from typing import Any

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.storage import Storage
from workbench.experiment.config import ExperimentConfig
from workbench.faults import (
    FaultEvent,
    LinkModel,
    Network,
    build_schedule,
    clocks_for,
    resolve_node,
    resolve_partition,
)
from workbench.faults.disk import make_disk
from workbench.faults.sides import node_sides
from workbench.protocols import node_class
from workbench.protocols.base import Node
from workbench.runtime.driver import NodeDriver, current_leader, seeded_rngs
from workbench.runtime.result import RunResult
from workbench.runtime.seeds import derive_rng
from workbench.workload.clients import ClientPool

# Event kinds; small ints keep heap tuples cheap to compare. HELD replays an input a
# paused node held (it takes the place the input's own kind had before the driver).
DELIVER, TIMER, REQUEST, REPLY, CLIENT_NEXT, TIMEOUT, FAULT, SAMPLE, HELD = range(9)


class InvariantViolation(AssertionError):
    """A protocol invariant failed; the message names the seed that reproduces it."""


class Simulation:
    def __init__(self, config: ExperimentConfig, node_factory: Callable[..., Node] | None = None) -> None:
        self.config = config
        self.seed = config.seed
        self.n = config.nodes
        self.end_ms = config.duration_ms
        self.node_factory = node_factory or node_class(config.protocol)
        self.options = config.protocol_options()
        self.members = list(range(self.n))

        self.net_rng = derive_rng(self.seed, "network")
        self.fault_rng = derive_rng(self.seed, "faults")
        self.network = Network(self.n, LinkModel(config.network))
        self._cut = self.network.cut_links
        self._link = self.network.link
        # The link model's own sampler when a send is always one copy (`LinkModel.plain`).
        self._plain_sample = self._link.sample if self._link.plain else None

        self._heap: list[tuple[Any, ...]] = []
        self._seq = 0
        self.now = 0.0
        self.dropped = 0  # at the sender; the drivers count drops on arrival
        # Issue 11's composed nemesis (all empty, so untouched, otherwise): bad-link
        # windows by fault id, the merged view the send path reads, and partitions
        # that hold cut messages until they heal (TCP-like).
        self._link_faults: dict[int, tuple[Any, frozenset[tuple[int, int]]]] = {}
        self._slow_links: dict[tuple[int, int], list[Any]] = {}
        self._holding: dict[int, frozenset[tuple[int, int]]] = {}
        self._held: dict[int, list[tuple[int, int, Any]]] = {}
        self._link_fault_rng = derive_rng(self.seed, "link_faults")
        self.send = self._sender()

        self.trace: list[dict[str, Any]] = []
        self.invariant_checker = (
            getattr(self.node_factory, "invariant_checker", lambda: None)()
            if config.sim.invariants else None
        )
        check = self._check_invariants if self.invariant_checker is not None else None
        self.drivers = [
            NodeDriver(i, members=self.members, factory=self.node_factory, options=self.options,
                       transport=self, rng_for=seeded_rngs(self.seed, i), clock_offset_ms=clock.offset_ms,
                       clock_drift=clock.drift, cut=self._cut, trace=self.trace, check=check,
                       storage=(storage := Storage()),
                       disk=make_disk(config.faults.disk, storage, derive_rng(self.seed, "disk", i)),
                       hold_ms=config.workload.request_policy.node_hold_ms)
            for i, clock in enumerate(clocks_for(config.faults, self.n))
        ]
        self.crashed_by_fault: dict[int, int] = {}
        self._landed: set[int] = set()  # crash points that landed, until their restart
        self._crash_point_rng: Any = None  # derived on first use: other streams untouched
        self.paused_by_fault: dict[int, int] = {}

        workload = config.workload
        self.client_latency = config.sim.client_latency_ms
        self.timeout_ms = workload.timeout_ms
        self.clients = ClientPool(workload, self.n, config.clients,
                                  stop_ms=self.end_ms - workload.timeout_ms - 2 * self.client_latency,
                                  rng=derive_rng(self.seed, "clients"))
        self.closed_loop = workload.arrival == "closed"
        self._timeout_armed = [False] * config.clients  # a TIMEOUT event of the slot is queued

    # ------------------------------------------------------------ views of the nodes
    @property
    def nodes(self) -> list[Node | None]:
        return [d.node for d in self.drivers]

    @property
    def storages(self) -> list[Storage]:
        return [d.storage for d in self.drivers]

    @property
    def delivered(self) -> list[int]:
        return [d.delivered for d in self.drivers]

    @property
    def sent(self) -> list[int]:
        return [d.sent for d in self.drivers]

    def local_time(self, node: int, at: float) -> float:
        return self.drivers[node].local(at)

    # ------------------------------------------------------------ the transport
    def now_ms(self) -> float:
        return self.now

    def _sender(self) -> Callable[[int, int, Message], None]:
        """`send`, as a closure over the heap and the network: the hottest call in a run."""
        heap, push, cut, link, rng = self._heap, heapq.heappush, self._cut, self._link, self.net_rng
        sample = self._plain_sample
        slow, holding = self._slow_links, self._holding

        def send(src: int, dst: int, message: Message) -> None:
            # The common case (link not cut, no loss/dup/reorder) first: one copy.
            if (src, dst) in cut:
                if not (holding and self._hold(src, dst, message)):
                    self.dropped += 1
                return
            if slow and (src, dst) in slow:
                self._send_slow(src, dst, message)
                return
            if sample is not None:
                self._seq = seq = self._seq + 1
                push(heap, (self.now + sample(rng), seq, DELIVER, dst, src, message))
                return
            delays = link.delays(rng, message, src != dst)
            if not delays:
                self.dropped += 1
            now = self.now
            for delay in delays:
                self._seq = seq = self._seq + 1
                push(heap, (now + delay, seq, DELIVER, dst, src, message))

        return send

    def reply(self, src: int, effect: Reply) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (self.now + self.client_latency, self._seq, REPLY, effect, None, None))

    def schedule(self, at: float, node: int, name: str, token: int | None) -> int:
        # A timer's token is the sequence number of its first heap event, and a lazy
        # re-arm reuses it: ties in time break as they did when it was first armed.
        if token is None:
            self._seq += 1
            token = self._seq
        heapq.heappush(self._heap, (at, token, TIMER, node, name, token))
        return token

    # ------------------------------------------------------------ scheduling
    def _push(self, at: float, kind: int, a: Any = None, b: Any = None, c: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b, c))

    # ------------------------------------------------------------ the run
    def run(self) -> RunResult:
        wall = time.perf_counter()
        for driver in self.drivers:
            driver.boot(self.now)
        for slot in range(self.clients.clients):
            if self.closed_loop:
                self._push(self.clients.first_invoke_ms(slot), CLIENT_NEXT, slot)
            else:
                self._push(self.clients.first_invoke_ms(slot) + self.clients.next_arrival_gap_ms(),
                           CLIENT_NEXT, slot)
        for event in build_schedule(self.config.faults, self.end_ms, self.fault_rng):
            self._push(event.time_ms, FAULT, event)
        self._push(0.0, SAMPLE)
        # The history and trace grow to millions of long-lived objects, and every
        # automatic full collection walks them all (~10% of a saturated run). The loop
        # makes little cyclic garbage, so automatic collection is off while it runs
        # and young objects are swept at each digest sample instead.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._loop()
        finally:
            if collecting:
                gc.enable()
        self.now = self.end_ms
        self.clients.finish(self.end_ms)
        self._sample_digests()
        drivers = self.drivers
        stats = {
            "messages_sent": sum(d.sent for d in drivers),
            "messages_delivered": sum(d.delivered for d in drivers),
            "messages_dropped": self.dropped + sum(d.dropped for d in drivers),
            "events_scheduled": self._seq,  # every heap push takes one sequence number
            "sent_per_node": [d.sent for d in drivers],
            "delivered_per_node": [d.delivered for d in drivers],
            "skipped_arrivals": self.clients.skipped_arrivals,
            "storage_writes": sum(d.storage.writes for d in drivers),
            "wall_s": time.perf_counter() - wall,
        }
        return RunResult(self.clients.history, self.trace, stats)

    def _loop(self) -> None:
        heap, end = self._heap, self.end_ms
        drivers = self.drivers
        # Bound methods per node, looked up once: one call per delivered message.
        deliver = [d.deliver for d in drivers]
        request = [d.request for d in drivers]
        fire = [d.fire for d in drivers]
        think_ms, closed_loop, complete = self.clients.config.think_ms, self.closed_loop, self.clients.complete
        # With retries on, the pool says how long a slot waits (think time or a backoff).
        next_delay = self.clients.next_delay_ms if self.clients.policy.retries else None
        pop = heapq.heappop
        cut, holding = self._cut, self._holding
        while heap:
            event = pop(heap)
            at = event[0]
            if at > end:
                break
            self.now = at
            kind = event[2]
            if kind == DELIVER:
                # A holding partition keeps what it cuts in flight for its heal.
                if holding and (event[4], event[3]) in cut and self._hold(event[4], event[3], event[5]):
                    continue
                deliver[event[3]](event[4], event[5], at)
            elif kind == REQUEST:
                request[event[3]](event[4], at)
            elif kind == REPLY:
                slot = complete(event[3], at)
                if slot is not None and closed_loop:
                    delay = think_ms if next_delay is None else next_delay(slot)
                    if delay:
                        self._push(at + delay, CLIENT_NEXT, slot)
                    else:
                        self._client_next(slot)  # no think time: invoke now, no event needed
            elif kind == TIMER:
                fire[event[3]](event[4], event[5], at)
            elif kind == CLIENT_NEXT:
                self._client_next(event[3])
            elif kind == TIMEOUT:
                self._client_timeout(event[3])
            elif kind == FAULT:
                self._fault(event[3])
            elif kind == HELD:
                drivers[event[3]].replay(event[4], at)
            elif kind == SAMPLE:
                self._sample_digests()
                gc.collect(1)  # young generations only: cheap, and never walks the history
                self._push(at + self.config.sim.digest_interval_ms, SAMPLE)

    def _check_invariants(self, now: float) -> None:
        problem = self.invariant_checker.check(self.nodes, now)  # type: ignore[union-attr]
        if problem:
            raise InvariantViolation(f"seed {self.seed}: at {now:.3f} ms: {problem}")

    # ------------------------------------------------------------ clients
    def _client_next(self, slot: int) -> None:
        now = self.now
        if not self.closed_loop:
            self._push(now + self.clients.next_arrival_gap_ms(), CLIENT_NEXT, slot)
        request = self.clients.invoke(slot, now)
        if request is None:
            return
        self._push(now + self.client_latency, REQUEST, request.process % self.n, request)
        # One pending timeout event per slot, re-armed lazily (as node timers are): an op
        # that completes in time costs no heap event of its own.
        if not self._timeout_armed[slot]:
            self._timeout_armed[slot] = True
            self._push(now + self.timeout_ms, TIMEOUT, slot)

    def _client_timeout(self, slot: int) -> None:
        """The slot's timeout event: fire for the op outstanding now, or re-arm for it."""
        self._timeout_armed[slot] = False
        outstanding = self.clients.outstanding(slot)
        if outstanding is None:
            return
        request, invoked_ms = outstanding
        deadline = invoked_ms + self.timeout_ms
        if deadline > self.now:
            self._timeout_armed[slot] = True
            self._push(deadline, TIMEOUT, slot)
            return
        if self.clients.time_out(request.process, request.seq, self.now) is not None and self.closed_loop:
            self._push(self.now + self.clients.next_delay_ms(slot), CLIENT_NEXT, slot)

    # ------------------------------------------------------------ faults
    def current_leader(self) -> int | None:
        """The leader most live nodes believe in, among nodes that think they lead."""
        return current_leader([d.leader_status() for d in self.drivers])

    def _fault(self, event: FaultEvent) -> None:
        """Apply one scheduled fault and trace it; one method per fault kind below."""
        record: dict[str, Any] = {"time": round(self.now, 3), "kind": event.kind, "fault_id": event.fault_id}
        apply: Callable[[FaultEvent, dict[str, Any]], None] = getattr(self, f"_fault_{event.kind}")
        apply(event, record)
        # Sides under the combined cut of every active partition, down nodes excluded
        # (faults/sides.py): what the analysis labels ops by. Trace only; no rng drawn.
        down = [d.id for d in self.drivers if d.node is None or d.paused]
        record["sides"] = node_sides(self.members, self.network.cut_links, down)
        self.trace.append(record)

    def _fault_partition_start(self, event: FaultEvent, record: dict[str, Any]) -> None:
        partition = resolve_partition(event.spec, self.members, leader=self.current_leader(),  # type: ignore[arg-type]
                                      rng=self.fault_rng)
        self.network.start_partition(event.fault_id, partition)
        record.update(shape=event.spec.shape, groups=[sorted(g) for g in partition.groups],  # type: ignore[attr-defined]
                      minority=sorted(partition.minority_nodes()))
        if event.spec.hold:  # type: ignore[attr-defined]
            self._holding[event.fault_id] = partition.blocked
            self._held[event.fault_id] = []

    def _fault_partition_end(self, event: FaultEvent, record: dict[str, Any]) -> None:
        self.network.end_partition(event.fault_id)
        if event.fault_id in self._holding:
            record["released"] = self._release_held(event.fault_id)

    def _fault_target(self, event: FaultEvent, record: dict[str, Any], by_fault: dict[int, int]) -> int:
        """The node a crash or pause hits (`leader` is resolved now), remembered for its end."""
        node = resolve_node(event.spec.node, self.members, leader=self.current_leader(),  # type: ignore[attr-defined]
                            rng=self.fault_rng)
        by_fault[event.fault_id] = record["node"] = node
        return node

    def _fault_crash(self, event: FaultEvent, record: dict[str, Any]) -> None:
        driver = self.drivers[self._fault_target(event, record, self.crashed_by_fault)]
        point = getattr(event.spec, "point", None)
        if point is None:
            if driver.crash() and hasattr(self.invariant_checker, "lost_writes"):
                self.invariant_checker.lost_writes(driver.id)  # type: ignore[union-attr]
            return
        # A crash point (issue 12): armed now, it lands inside the node's next step that
        # has the point, and is traced as a `crash` then (`_crash_landed`).
        record["kind"], record["point"] = "crash_armed", point
        if self._crash_point_rng is None:
            self._crash_point_rng = derive_rng(self.seed, "crash_points")
        driver.arm_crash(point, fault_id=event.fault_id, rng=self._crash_point_rng,
                         landed=self._crash_landed, record=getattr(event.spec, "record", None))

    def _crash_landed(self, fault_id: int, point: str, records_kept: int) -> None:
        node = self.crashed_by_fault[fault_id]
        self._landed.add(fault_id)
        if point == "after_send" and hasattr(self.invariant_checker, "lost_writes"):
            # It falls before the step's fsync: its writes are lost, as a plain crash's.
            self.invariant_checker.lost_writes(node)  # type: ignore[union-attr]
        down = [d.id for d in self.drivers if d.node is None or d.paused or d.id == node]
        self.trace.append({"time": round(self.now, 3), "kind": "crash", "fault_id": fault_id, "node": node,
                           "point": point, "records_kept": records_kept,
                           "sides": node_sides(self.members, self.network.cut_links, down)})

    def _fault_restart(self, event: FaultEvent, record: dict[str, Any]) -> None:
        node = record["node"] = self.crashed_by_fault.pop(event.fault_id)
        if getattr(event.spec, "point", None) is not None and event.fault_id not in self._landed:
            # Its window closed with no step at the point (or a plain crash took it).
            self.drivers[node].disarm_crash(event.fault_id)
            record["kind"] = "crash_disarmed"
            return
        self._landed.discard(event.fault_id)
        self.drivers[node].restart(self.now)

    def _fault_pause(self, event: FaultEvent, record: dict[str, Any]) -> None:
        self.drivers[self._fault_target(event, record, self.paused_by_fault)].pause()

    def _fault_resume(self, event: FaultEvent, record: dict[str, Any]) -> None:
        node = record["node"] = self.paused_by_fault.pop(event.fault_id)
        for item in self.drivers[node].resume():  # in arrival order, behind what is due now
            self._push(self.now, HELD, node, item)

    def _fault_link_start(self, event: FaultEvent, record: dict[str, Any]) -> None:
        spec = event.spec
        wanted = set(spec.nodes) if spec.nodes else set(self.members)  # type: ignore[attr-defined]
        links = frozenset((a, b) for a in self.members for b in self.members
                          if a != b and (a in wanted or b in wanted))
        self._link_faults[event.fault_id] = (spec, links)
        self._index_slow_links()

    def _fault_link_end(self, event: FaultEvent, record: dict[str, Any]) -> None:
        self._link_faults.pop(event.fault_id, None)
        self._index_slow_links()

    def _fault_clock(self, event: FaultEvent, record: dict[str, Any]) -> None:
        """Jump the node's clock and/or change its drift, continuous apart from the jump.
        Timers already set keep their true-time deadlines."""
        spec = event.spec
        driver = self.drivers[spec.node]  # type: ignore[attr-defined]
        local_now = driver.local(self.now)
        if spec.drift is not None:  # type: ignore[attr-defined]
            driver.rate = 1.0 + spec.drift  # type: ignore[attr-defined]
        driver.offset = local_now + spec.jump_ms - self.now * driver.rate  # type: ignore[attr-defined]
        record["node"] = spec.node  # type: ignore[attr-defined]

    # ------------------------------------------------------------ composed-nemesis links
    def _hold(self, src: int, dst: int, message: Any) -> bool:
        """Keep a message a holding partition cuts, for delivery at its heal (TCP-like)."""
        for fault_id, links in self._holding.items():
            if (src, dst) in links:
                self._held[fault_id].append((src, dst, message))
                return True
        return False

    def _release_held(self, fault_id: int) -> int:
        """At the heal, everything held goes out in order, each with a fresh latency."""
        del self._holding[fault_id]
        held = self._held.pop(fault_id)
        for src, dst, message in held:
            self._push(self.now + self._link.sample(self._link_fault_rng), DELIVER, dst, src, message)
        return len(held)

    def _index_slow_links(self) -> None:
        self._slow_links.clear()  # in place: the send closure holds a reference
        for spec, links in self._link_faults.values():
            for link in links:
                self._slow_links.setdefault(link, []).append(spec)

    def _send_slow(self, src: int, dst: int, message: Any) -> None:
        """A send on a link inside bad-link windows: the link's own delays, then each
        window's extra delay (some copies only, so later sends overtake) and duplicate."""
        rng = self._link_fault_rng
        delays = self._link.delays(self.net_rng, message, src != dst)
        if not delays:
            self.dropped += 1
        for spec in self._slow_links[(src, dst)]:
            if delays and spec.duplicate and rng.random() < spec.duplicate:
                delays.append(self._link.sample(rng))
            if spec.delay_high_ms > 0:
                delays = [d + rng.uniform(spec.delay_low_ms, spec.delay_high_ms)
                          if rng.random() < spec.delay_p else d for d in delays]
        for delay in delays:
            self._push(self.now + delay, DELIVER, dst, src, message)

    def _sample_digests(self) -> None:
        for driver in self.drivers:
            driver.sample_digest(self.now)


def simulate(config: ExperimentConfig, node_factory: Callable[..., Node] | None = None) -> RunResult:
    return Simulation(config, node_factory).run()
