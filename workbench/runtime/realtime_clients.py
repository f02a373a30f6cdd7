"""Client processes in real time: the simulator's `ClientPool` logic driven by asyncio timers.

A `ClientHost` runs some of the run's client slots — on the Ray runtime, the slots that
sit beside one node (slot s starts as process s, beside node s mod n). It asks its
`ClientPool` what to do exactly as the simulator does (`invoke`, `complete`,
`time_out`, `finish`), so both runtimes record histories by the same rules; only the
timing differs: think times, open-loop arrival gaps and timeouts are asyncio timers in
run time, and requests go to `send(node, request)` (batched by the caller).

Each host has its own pool, so two things the simulator gets from one shared pool are
arranged here: every host draws from its own rng stream, and written values stay
unique across the run because host h writes h+1, h+1+H, h+1+2H, ... (H hosts).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from workbench.core.effects import Reply
from workbench.core.ops import ClientRequest
from workbench.experiment.config import ExperimentConfig
from workbench.runtime.realtime_clock import RunClock
from workbench.runtime.seeds import derive_rng
from workbench.workload.clients import ClientPool


def stop_ms(config: ExperimentConfig) -> float:
    """Last invoke time: every op must complete or time out before the run ends.

    The simulator leaves two client hops; here a hop is up to one flush interval of
    batching plus a Ray call, so leave two flush intervals and 20 ms of slack each way.
    """
    hop_ms = (config.ray.flush_interval_ms + 20.0) * config.ray.time_scale
    return config.duration_ms - config.workload.timeout_ms - 2 * hop_ms


class ClientHost:
    def __init__(
        self,
        config: ExperimentConfig,
        host: int,
        slots: list[int],
        loop: asyncio.AbstractEventLoop,
        clock: RunClock,
        send: Callable[[int, ClientRequest], None],
    ) -> None:
        workload = config.workload
        self.n = config.nodes
        self.slots = slots
        self.loop, self.clock = loop, clock
        self._send = send
        self.closed_loop = workload.arrival == "closed"
        self.think_ms = workload.think_ms
        self.timeout_ms = workload.timeout_ms
        # Unique written values across hosts (host h of n writes h + 1, h + 1 + n, ...):
        # they make a stale read attributable to one write.
        self.pool = ClientPool(workload, self.n, config.clients, stop_ms=stop_ms(config),
                               rng=derive_rng(config.seed, "clients", host),
                               value_start=host + 1, value_step=self.n)
        self._next_handles: dict[int, asyncio.Handle] = {}
        # Timeouts: every op gets the same timeout and ops are invoked in time order,
        # so deadlines come due first in, first out. One timer for the earliest open
        # deadline instead of a timer per op (armed and cancelled thousands of times a
        # second at thousands of requests in flight); a reply just closes its key.
        self._deadlines: deque[tuple[float, tuple[int, int]]] = deque()
        self._open: set[tuple[int, int]] = set()
        self._timeout_handle: asyncio.TimerHandle | None = None
        # Slots with no think time, invoked together one loop turn later (one callback
        # for all that one batch of replies freed, not an event-loop handle each).
        self._ready: list[int] = []
        self.stopped = False
        self.requests_sent = 0

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for slot in self.slots:
            at = self.pool.first_invoke_ms(slot)
            if not self.closed_loop:
                at += self.pool.next_arrival_gap_ms()
            self._next_handles[slot] = self.loop.call_later(self.clock.until_s(at), self._next, slot)

    def finish(self, end_ms: float) -> tuple[list[dict[str, Any]], int]:
        """Stop; ops still outstanding get `info` at `end_ms`. Returns (history, skipped arrivals)."""
        if not self.stopped:
            self.stopped = True
            for handle in itertools.chain(self._next_handles.values(), [self._timeout_handle]):
                if handle is not None:
                    handle.cancel()
            self.pool.finish(end_ms)
        return self.pool.history, self.pool.skipped_arrivals

    # ------------------------------------------------------------ transitions
    def _after(self, delay_ms: float, slot: int) -> None:
        if delay_ms <= 0.0:
            # No think time: next loop turn, without a timer in the loop's heap (whose
            # Python-level comparisons grow with thousands of clients per host), and
            # in one callback with every other slot freed in this turn, in order.
            ready = self._ready
            ready.append(slot)
            if len(ready) == 1:
                self.loop.call_soon(self._next_ready)
        else:
            self._next_handles[slot] = self.loop.call_later(self.clock.wall_s(delay_ms), self._next, slot)

    def _next_ready(self) -> None:
        ready, self._ready = self._ready, []
        for slot in ready:
            self._next(slot)

    def _next(self, slot: int) -> None:
        if self.stopped:
            return
        now = self.clock.now_ms()
        if not self.closed_loop:
            self._after(self.pool.next_arrival_gap_ms(), slot)
        request = self.pool.invoke(slot, now)
        if request is None:
            return
        self.requests_sent += 1
        key = (request.process, request.seq)
        self._open.add(key)
        self._deadlines.append((now + self.timeout_ms, key))
        if self._timeout_handle is None:
            self._arm_timeout()
        self._send(request.process % self.n, request)

    def replies(self, replies: list[Reply]) -> None:
        if self.stopped:
            return
        now = self.clock.now_ms()
        for reply in replies:
            self._open.discard((reply.process, reply.seq))
            slot = self.pool.complete(reply, now)
            if slot is not None and self.closed_loop:
                self._after(self.pool.next_delay_ms(slot), slot)

    def _arm_timeout(self) -> None:
        """One timer at the earliest deadline still open (closed ones are dropped here)."""
        deadlines, open_keys = self._deadlines, self._open
        while deadlines and deadlines[0][1] not in open_keys:
            deadlines.popleft()
        self._timeout_handle = None
        if deadlines:
            delay_ms = max(0.0, deadlines[0][0] - self.clock.now_ms())
            self._timeout_handle = self.loop.call_later(self.clock.wall_s(delay_ms), self._time_outs)

    def _time_outs(self) -> None:
        self._timeout_handle = None
        if self.stopped:
            return
        now = self.clock.now_ms()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, key = deadlines.popleft()
            if key in self._open:
                self._time_out(key, now)
        self._arm_timeout()

    def _time_out(self, key: tuple[int, int], now: float) -> None:
        self._open.discard(key)
        slot = self.pool.time_out(key[0], key[1], now)
        if slot is not None and self.closed_loop:
            self._after(self.pool.next_delay_ms(slot), slot)
