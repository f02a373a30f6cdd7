"""The actor of the real-time runtime: hosts node i's replica, the client slots beside node i, or both.

A plain asyncio class with no Ray import (so the in-process tests run it without Ray);
`ray_cluster` makes it a Ray actor.

Everything here is plumbing between Ray calls and the two hosts (`NodeHost`,
`ClientHost`); the behaviour lives in them. All traffic between actors is batched per
flush interval (`Outbox`), one call per destination and channel:

- `deliver_batch(src, [(due, message), ...])`  node -> node
- `client_batch([request, ...])`                client host -> node
- `reply_batch([reply, ...])`                   node -> client host

Each batch travels as one `bytes` from `realtime_wire.encode` (the C pickler with cheap
reducers for messages), not as a list for Ray to pickle: 5-7x less CPU per message.

Traffic that stays inside one actor (a node talking to its own client slots when they
are co-hosted, a node sending to itself) skips Ray but still goes through the event
loop (`call_soon`), so a reply never re-enters the client that is still invoking.

The class is a plain async class; `ray_cluster` wraps it with `ray.remote`. Its
methods never await, so each runs to completion on the actor's one event loop and
no locking is needed. The conductor's fault calls return the run time (ms) at which
the fault took effect here, for the trace.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import socket
import time
import traceback
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.experiment.config import ExperimentConfig
from workbench.faults import Partition
from workbench.runtime.realtime_batching import Outbox
from workbench.runtime.realtime_clock import RunClock
from workbench.runtime.realtime_node import NodeHost
from workbench.runtime.realtime_wire import decode, encode

if TYPE_CHECKING:
    from workbench.runtime.realtime_clients import ClientHost

# Outbox channels.
PEER, REQUEST, REPLY = "messages", "requests", "replies"

SAMPLE_INTERVAL_S = 0.5
"""How often an actor notes (run ms, its process CPU s, Ray calls made so far): a
benchmark prices a steady window of a run from these, without its start and tail."""

PROFILE_ENV = "WORKBENCH_RAY_PROFILE"
"""A directory: each actor profiles its event loop (cProfile) and writes
`actor<index>-<pid>.prof` there at `finish` (benchmarks/ray_runtime.py --profile).
Ray's worker processes inherit the environment of the `ray.init` that started them."""


GC_THRESHOLDS = (100_000, 50, 100)
"""The actor process's garbage-collector thresholds (Python's default: 700, 10, 10). A
node actor keeps a growing log, history and client state alive, allocates a few
objects per message, and makes almost no reference cycles; at the defaults the
collector re-scanned that heap so often that it took a third of the actors' CPU (5
nodes in one process, 2,000 requests in flight: 0.85 of 2.31 CPU s, 129 us per
committed op; at these thresholds 0.06 s and 75 us; issue 17 item 5). It changes when
unreachable cycles are freed, nothing else."""


def client_host_of(process: int, clients: int, nodes: int) -> int:
    """The host of a process's client slot: slot = process mod clients, beside node slot mod n."""
    return (process % clients) % nodes


class HostActor:
    def __init__(self, config: ExperimentConfig, index: int, hosts_node: bool,
                 client_slots: list[int], node_factory: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.node_factory = node_factory
        self.index = index
        self.hosts_node = hosts_node
        self.client_slots = client_slots
        self.node: NodeHost | None = None
        self.clients: ClientHost | None = None
        self.outbox: Outbox | None = None
        self._nodes: list[Any] = []
        self._client_hosts: list[Any] = []
        self.error: str | None = None
        self._local_requests: list[ClientRequest] = []
        self._local_replies: list[Reply] = []
        self._local_armed = False
        self._cpu_start = 0.0
        self._clock = RunClock(0.0)
        self._samples: list[tuple[float, float, int]] = []
        self._sampler: asyncio.TimerHandle | None = None
        self._profile: cProfile.Profile | None = None
        if client_slots:
            # Imported here, while the conductor waits for `ready`, not in `start`, where
            # seconds of import would make the run begin late. Only actors with client
            # slots pay for it: the workload modules pull in pandas (via workbench.history).
            from workbench.runtime import realtime_clients

            self._client_host_class = realtime_clients.ClientHost

    async def ready(self) -> str:
        """Where this actor runs (host:pid); awaiting it means the actor is up.

        Ray calls it once in the actor's own worker process (in-process tests never
        do), so the process-wide GC setting (`GC_THRESHOLDS`) is made here."""
        gc.set_threshold(*GC_THRESHOLDS)
        return f"{socket.gethostname()}:{os.getpid()}"

    async def start(self, t0: float, nodes: list[Any], client_hosts: list[Any]) -> None:
        """Wire up the handles of every node actor and client host, and start at run time 0 (`t0`)."""
        loop = asyncio.get_running_loop()
        # Timer and call_soon callbacks raise into the loop, not to a caller: record it.
        loop.set_exception_handler(self._loop_error)
        # CPU of this whole process (every thread: Ray's serialisation too) from here to
        # `finish`: what a run costs, which the machine's load does not change much.
        self._cpu_start = time.process_time()
        if os.environ.get(PROFILE_ENV):
            self._profile = cProfile.Profile()
            self._profile.enable()
        clock = self._clock = RunClock(t0, self.config.ray.time_scale)
        self._nodes, self._client_hosts = nodes, client_hosts
        self.outbox = Outbox(loop, self.config.ray.flush_interval_ms / 1000.0, self._flush)
        if self.hosts_node:
            self.node = NodeHost(self.config, self.index, loop, clock, self._send_peer,
                                 self._send_reply, self.node_factory)
            self.node.start()
        if self.client_slots:
            self.clients = self._client_host_class(self.config, self.index, self.client_slots,
                                                   loop, clock, self._send_request)
            self.clients.start()
        self._sample()

    def _sample(self) -> None:
        self._note_sample()
        self._sampler = asyncio.get_running_loop().call_later(SAMPLE_INTERVAL_S, self._sample)

    def _note_sample(self) -> None:
        calls = sum(self.outbox.calls.values()) if self.outbox is not None else 0
        self._samples.append((self._clock.now_ms(), time.process_time(), calls))

    # ------------------------------------------------------------ routing
    def _send_peer(self, dst: int, due: float, message: Message) -> None:
        if dst == self.index:
            asyncio.get_running_loop().call_soon(self._local_deliver, [(due, message)])
        else:
            self.outbox.add((PEER, dst), (due, message))  # type: ignore[union-attr]

    def _local_deliver(self, items: list[tuple[float, Message]]) -> None:
        if self.node is not None:
            self.node.deliver(self.index, items)

    def _send_reply(self, reply: Reply) -> None:
        host = client_host_of(reply.process, self.config.clients, self.config.nodes)
        if host == self.index and self.clients is not None:
            self._local(self._local_replies, reply)
        else:
            self.outbox.add((REPLY, host), reply)  # type: ignore[union-attr]

    def _send_request(self, node: int, request: ClientRequest) -> None:
        if node == self.index and self.node is not None:
            self._local(self._local_requests, request)
        else:
            self.outbox.add((REQUEST, node), request)  # type: ignore[union-attr]

    def _local(self, queue: list[Any], item: Any) -> None:
        # Requests and replies between a node and its own client slots: one loop turn
        # later (never re-entering the sender), all of one turn's in one callback.
        queue.append(item)
        if not self._local_armed:
            self._local_armed = True
            asyncio.get_running_loop().call_soon(self._local_flush)

    def _local_flush(self) -> None:
        self._local_armed = False
        requests, self._local_requests = self._local_requests, []
        replies, self._local_replies = self._local_replies, []
        if requests and self.node is not None:
            self.node.requests(requests)
        if replies and self.clients is not None:
            self.clients.replies(replies)

    def _flush(self, key: Hashable, items: list[Any]) -> None:
        channel, dst = key  # type: ignore[misc]
        payload = encode(items)
        if channel == PEER:
            self._nodes[dst].deliver_batch.remote(self.index, payload)
        elif channel == REQUEST:
            self._nodes[dst].client_batch.remote(payload)
        else:
            self._client_hosts[dst].reply_batch.remote(payload)

    # ------------------------------------------------------------ inbound traffic
    async def deliver_batch(self, src: int, payload: bytes) -> None:
        """`[(due, message), ...]` from node `src`, encoded."""
        if self.node is not None:
            self._guard(lambda: self.node.deliver(src, decode(payload)))  # type: ignore[union-attr]

    async def client_batch(self, payload: bytes) -> None:
        """`[ClientRequest, ...]`, encoded."""
        if self.node is not None:
            self._guard(lambda: self.node.requests(decode(payload)))  # type: ignore[union-attr]

    async def reply_batch(self, payload: bytes) -> None:
        """`[Reply, ...]`, encoded."""
        if self.clients is not None:
            self._guard(lambda: self.clients.replies(decode(payload)))  # type: ignore[union-attr]

    def _guard(self, handler: Any, *args: Any) -> None:
        # Fire-and-forget calls have nobody to raise to; keep the error for `health`.
        try:
            handler(*args)
        except Exception:
            self.error = self.error or f"actor {self.index}:\n{traceback.format_exc()}"

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        detail = "".join(traceback.format_exception(exc)) if exc else context.get("message", "")
        self.error = self.error or f"actor {self.index}:\n{detail}"

    # ------------------------------------------------------------ conductor
    def _now(self) -> float:
        assert self.node is not None
        return self.node.clock.now_ms()

    async def leader_status(self) -> tuple[bool, int | None]:
        return self.node.leader_status() if self.node is not None else (False, None)

    async def start_partition(self, fault_id: int, partition: Partition) -> float:
        self.node.start_partition(fault_id, partition)  # type: ignore[union-attr]
        return self._now()

    async def end_partition(self, fault_id: int) -> float:
        self.node.end_partition(fault_id)  # type: ignore[union-attr]
        return self._now()

    async def crash(self) -> float:
        self.node.crash()  # type: ignore[union-attr]
        return self._now()

    async def restart(self) -> float:
        self._guard(self.node.restart)  # type: ignore[union-attr]
        return self._now()

    async def pause(self) -> float:
        self.node.pause()  # type: ignore[union-attr]
        return self._now()

    async def resume(self) -> float:
        self._guard(self.node.resume)  # type: ignore[union-attr]
        return self._now()

    async def health(self) -> str | None:
        """The first error seen here (a core or client raised), or None."""
        return self.error or (self.node.error if self.node is not None else None)

    async def finish(self, end_ms: float) -> dict[str, Any]:
        """Stop everything and hand back history, trace and counters."""
        report: dict[str, Any] = {"index": self.index, "history": [], "trace": [],
                                  "skipped_arrivals": 0,
                                  "cpu_s": time.process_time() - self._cpu_start}
        if self._sampler is not None:
            self._sampler.cancel()
            self._note_sample()
        report["samples"] = self._samples
        if self._profile is not None:
            self._profile.disable()
            self._profile.dump_stats(os.path.join(os.environ[PROFILE_ENV],
                                                  f"actor{self.index}-{os.getpid()}.prof"))
            self._profile = None
        if self.clients is not None:
            report["history"], report["skipped_arrivals"] = self.clients.finish(end_ms)
            report["requests_sent"] = self.clients.requests_sent
        node = self.node
        if node is not None:
            node.finish()
            report.update(trace=node.trace, sent=node.sent, delivered=node.delivered,
                          dropped=node.dropped, storage_writes=node.storage.writes,
                          timer_slips=node.timer_slips, delivery_lateness=node.delivery_lateness)
        if self.outbox is not None:
            self.outbox.discard()
            report["calls"] = dict(self.outbox.calls)
            report["items"] = dict(self.outbox.items)
        report["error"] = await self.health()
        return report
