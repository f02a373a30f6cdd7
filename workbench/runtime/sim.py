"""The deterministic simulator: every node, client and fault in one process, in virtual time.

A single heap of timed events drives everything. Same experiment + seed => the same
sequence of events => byte-identical history: all randomness comes from rngs derived
from the run seed (`seeds.derive_rng`), ties in time break by insertion order, and
nothing reads the wall clock except the `wall_s` statistic.

Faults follow DESIGN.md: a partition is checked when a message is sent and again when
it arrives (a message in flight when the cut starts is lost, as with iptables); a
crashed node loses everything but its `Storage` and is rebuilt from it on restart;
a paused node's inputs (messages, requests, timers) wait and are delivered on resume;
each node sees its own clock (offset + drift) as `now`.
"""

from __future__ import annotations

import gc
import heapq
import time
from collections.abc import Callable
from typing import Any

from workbench.config import ExperimentConfig
from workbench.core.effects import CancelTimer, Observe, Reply, Send, SetTimer
from workbench.core.storage import Storage
from workbench.faults import (
    FaultEvent,
    LinkModel,
    Network,
    build_schedule,
    clocks_for,
    resolve_node,
    resolve_partition,
)
from workbench.protocols import node_class
from workbench.protocols.base import Node
from workbench.runtime.result import RunResult
from workbench.runtime.seeds import derive_rng
from workbench.workload.clients import ClientPool

# Event kinds; small ints keep heap tuples cheap to compare.
DELIVER, TIMER, REQUEST, REPLY, CLIENT_NEXT, TIMEOUT, FAULT, SAMPLE = range(8)


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
        clocks = clocks_for(config.faults, self.n)
        self.clock_offset = [c.offset_ms for c in clocks]
        self.clock_rate = [1.0 + c.drift for c in clocks]

        self.storages = [Storage() for _ in self.members]
        self.nodes: list[Node | None] = [None] * self.n
        self.incarnation = [0] * self.n
        self.paused = [False] * self.n
        self.pending: list[list[tuple[Any, ...]]] = [[] for _ in self.members]
        # Per node: timer name -> [token, deadline, time of its pending heap event].
        self.timers: list[dict[str, list[Any]]] = [{} for _ in self.members]
        self.crashed_by_fault: dict[int, int] = {}
        self.paused_by_fault: dict[int, int] = {}

        workload = config.workload
        self.client_latency = config.sim.client_latency_ms
        self.timeout_ms = workload.timeout_ms
        self.clients = ClientPool(workload, self.n, config.clients,
                                  stop_ms=self.end_ms - workload.timeout_ms - 2 * self.client_latency,
                                  rng=derive_rng(self.seed, "clients"))
        self.closed_loop = workload.arrival == "closed"
        self._timeout_armed = [False] * config.clients  # a TIMEOUT event of the slot is queued

        self.trace: list[dict[str, Any]] = []
        self.sent = [0] * self.n
        self.delivered = [0] * self.n
        self.dropped = 0
        self._last_digest: list[int | None] = [None] * self.n
        self._heap: list[tuple[Any, ...]] = []
        self._seq = 0
        self.now = 0.0
        self.invariant_checker = (
            getattr(self.node_factory, "invariant_checker", lambda: None)()
            if config.sim.invariants else None
        )

    # ------------------------------------------------------------ scheduling
    def _push(self, at: float, kind: int, a: Any = None, b: Any = None, c: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, a, b, c))

    def local_time(self, node: int, at: float) -> float:
        return self.clock_offset[node] + at * self.clock_rate[node]

    # ------------------------------------------------------------ the run
    def run(self) -> RunResult:
        wall = time.perf_counter()
        for node in self.members:
            self._boot(node)
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
        stats = {
            "messages_sent": sum(self.sent),
            "messages_delivered": sum(self.delivered),
            "messages_dropped": self.dropped,
            "events_scheduled": self._seq,  # every heap push takes one sequence number
            "sent_per_node": list(self.sent),
            "delivered_per_node": list(self.delivered),
            "skipped_arrivals": self.clients.skipped_arrivals,
            "storage_writes": sum(s.writes for s in self.storages),
            "wall_s": time.perf_counter() - wall,
        }
        return RunResult(self.clients.history, self.trace, stats)

    def _loop(self) -> None:
        heap, end = self._heap, self.end_ms
        nodes, paused, cut = self.nodes, self.paused, self._cut
        delivered, offset, rate = self.delivered, self.clock_offset, self.clock_rate
        think_ms, closed_loop, complete = self.clients.config.think_ms, self.closed_loop, self.clients.complete
        pop = heapq.heappop
        while heap:
            event = pop(heap)
            at = event[0]
            if at > end:
                break
            self.now = at
            kind = event[2]
            if kind == DELIVER:
                dst = event[3]
                node = nodes[dst]
                if node is None:
                    continue
                if paused[dst]:
                    self.pending[dst].append(event)
                    continue
                src = event[4]
                if (src, dst) in cut:  # a cut that started while it was in flight
                    self.dropped += 1
                    continue
                delivered[dst] += 1
                node.on_message(src, event[5], offset[dst] + at * rate[dst])
                self._drain(dst, node)
            elif kind == REQUEST:  # (inlined: one per op, like REPLY)
                dst = event[3]
                node = nodes[dst]
                if node is None:
                    continue  # the client's node is down: the op will time out as info
                if paused[dst]:
                    self.pending[dst].append(event)
                    continue
                node.on_client_request(event[4], offset[dst] + at * rate[dst])
                self._drain(dst, node)
            elif kind == REPLY:
                slot = complete(event[3], at)
                if slot is not None and closed_loop:
                    if think_ms:
                        self._push(at + think_ms, CLIENT_NEXT, slot)
                    else:
                        self._client_next(slot)  # no think time: invoke now, no event needed
            elif kind == TIMER:
                self._fire_timer(event)
            elif kind == CLIENT_NEXT:
                self._client_next(event[3])
            elif kind == TIMEOUT:
                self._client_timeout(event[3])
            elif kind == FAULT:
                self._fault(event[3])
            elif kind == SAMPLE:
                self._sample_digests()
                gc.collect(1)  # young generations only: cheap, and never walks the history
                self._push(at + self.config.sim.digest_interval_ms, SAMPLE)

    # ------------------------------------------------------------ nodes
    def _boot(self, node_id: int) -> None:
        incarnation = self.incarnation[node_id]
        node = self.node_factory(node_id, self.members, self.options,
                                 derive_rng(self.seed, "node", node_id, incarnation),
                                 self.storages[node_id])
        self.nodes[node_id] = node
        node.start(self.local_time(node_id, self.now))
        self._drain(node_id, node)

    def _drain(self, node_id: int, node: Node) -> None:
        effects = node.take_effects()
        if not effects:
            return
        now = self.now
        heap, push = self._heap, heapq.heappush
        cut, link, sample, rng = self._cut, self._link, self._plain_sample, self.net_rng
        sent = 0
        stamp: float | None = None
        for effect in effects:
            cls = type(effect)
            if cls is Send:
                sent += 1
                dst = effect.to
                # The common case (link not cut, no loss/dup/reorder) inlined: one copy.
                if (node_id, dst) in cut:
                    self.dropped += 1
                    continue
                if sample is not None:
                    self._seq += 1
                    push(heap, (now + sample(rng), self._seq, DELIVER, dst, node_id, effect.message))
                    continue
                delays = link.delays(rng, effect.message, node_id != dst)
                if not delays:
                    self.dropped += 1
                for delay in delays:
                    self._seq += 1
                    push(heap, (now + delay, self._seq, DELIVER, dst, node_id, effect.message))
            elif cls is Reply:
                self._seq += 1
                push(heap, (now + self.client_latency, self._seq, REPLY, effect, None, None))
            elif cls is SetTimer:
                deadline = now + effect.delay_ms / self.clock_rate[node_id]
                timer = self.timers[node_id].get(effect.name)
                if timer is not None and timer[2] <= deadline:
                    # Re-armed later than its pending event (an election timer reset by
                    # every heartbeat): move the deadline, let the event re-arm itself.
                    timer[1] = deadline
                else:
                    self._seq += 1
                    token = self._seq
                    self.timers[node_id][effect.name] = [token, deadline, deadline]
                    push(heap, (deadline, token, TIMER, node_id, effect.name, token))
            elif cls is CancelTimer:
                self.timers[node_id].pop(effect.name, None)
            elif cls is Observe:
                if stamp is None:
                    stamp = round(now, 3)  # a follower applying a batch observes many at once
                self.trace.append({"time": stamp, "kind": effect.kind, "node": node_id, **effect.fields})
        if sent:
            self.sent[node_id] += sent
        if self.invariant_checker is not None:
            problem = self.invariant_checker.check(self.nodes, now)
            if problem:
                raise InvariantViolation(f"seed {self.seed}: at {now:.3f} ms: {problem}")

    def _fire_timer(self, event: tuple[Any, ...]) -> None:
        node_id, name, token = event[3], event[4], event[5]
        node = self.nodes[node_id]
        timer = self.timers[node_id].get(name)
        if node is None or timer is None or timer[0] != token:
            return  # cancelled, replaced, or the node crashed since
        if timer[1] > self.now:
            timer[2] = timer[1]
            heapq.heappush(self._heap, (timer[1], token, TIMER, node_id, name, token))
            return
        if self.paused[node_id]:
            self.pending[node_id].append(event)
            return
        del self.timers[node_id][name]
        node.on_timer(name, self.local_time(node_id, self.now))
        self._drain(node_id, node)

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
            self._push(self.now + self.clients.config.think_ms, CLIENT_NEXT, slot)

    # ------------------------------------------------------------ faults
    def current_leader(self) -> int | None:
        """The leader most live nodes believe in, among nodes that think they lead."""
        leaders = [i for i, node in enumerate(self.nodes) if node is not None and node.is_leader()]
        if not leaders:
            return None
        votes = {i: 0 for i in leaders}
        for node in self.nodes:
            if node is not None and node.leader() in votes:
                votes[node.leader()] += 1  # type: ignore[index]
        return max(leaders, key=lambda i: (votes[i], -i))

    def _fault(self, event: FaultEvent) -> None:
        record: dict[str, Any] = {"time": round(self.now, 3), "kind": event.kind, "fault_id": event.fault_id}
        if event.kind == "partition_start":
            partition = resolve_partition(event.spec, self.members, self.current_leader(), self.fault_rng)
            self.network.start_partition(event.fault_id, partition)
            record.update(shape=event.spec.shape, groups=[sorted(g) for g in partition.groups],
                          minority=sorted(partition.minority_nodes()))
        elif event.kind == "partition_end":
            self.network.end_partition(event.fault_id)
        elif event.kind == "crash":
            node = resolve_node(event.spec.node, self.members, self.current_leader(), self.fault_rng)
            self.crashed_by_fault[event.fault_id] = node
            self._crash(node)
            record["node"] = node
        elif event.kind == "restart":
            node = self.crashed_by_fault.pop(event.fault_id)
            if self.nodes[node] is None:
                self._boot(node)
            record["node"] = node
        elif event.kind == "pause":
            node = resolve_node(event.spec.node, self.members, self.current_leader(), self.fault_rng)
            self.paused_by_fault[event.fault_id] = node
            self.paused[node] = True
            record["node"] = node
        elif event.kind == "resume":
            node = self.paused_by_fault.pop(event.fault_id)
            self._resume(node)
            record["node"] = node
        self.trace.append(record)

    def _crash(self, node_id: int) -> None:
        """Lose everything but storage: the node object, its timers and queued inputs."""
        self.nodes[node_id] = None
        self.incarnation[node_id] += 1
        self.timers[node_id].clear()
        self.pending[node_id].clear()
        self.paused[node_id] = False
        self._last_digest[node_id] = None

    def _resume(self, node_id: int) -> None:
        self.paused[node_id] = False
        queued, self.pending[node_id] = self.pending[node_id], []
        for event in queued:  # in arrival order, now
            self._push(self.now, event[2], event[3], event[4], event[5])

    def _sample_digests(self) -> None:
        for node_id, node in enumerate(self.nodes):
            if node is None:
                continue
            digest = node.state_digest()
            if digest != self._last_digest[node_id]:
                self._last_digest[node_id] = digest
                self.trace.append({"time": round(self.now, 3), "kind": "digest", "node": node_id,
                                   "digest": digest})


def simulate(config: ExperimentConfig, node_factory: Callable[..., Node] | None = None) -> RunResult:
    return Simulation(config, node_factory).run()
