"""Client processes and the history they record; shared by both runtimes.

The pool holds the logic of Jepsen-style clients, not their timing: a runtime calls
`invoke` when a client slot should start its next op, `complete` when a reply
arrives, and `time_out` when the op's timeout fires, each with the time, and
schedules the follow-ups the pool asks for. The simulator and the Ray runtime thus
record histories by the same rules:

- a slot runs one op at a time (a Jepsen process is single-threaded);
- process p sits beside node p mod n and only ever talks to that node;
- a timeout records `info` (outcome unknown), and the slot continues as a fresh
  process, because the old one might still take effect (Jepsen does the same; it
  keeps every process single-threaded for the checkers). The fresh id is
  p + lcm(clients, n), so it keeps both the slot (p mod clients) and the node
  (p mod n): like a Jepsen worker, slot s talks to node s mod n for the whole run.
  (p + clients, used before, moved a slot to another node after every timeout
  whenever n does not divide clients: with 7 clients on 5 nodes under a one-way cut
  the minority's clients drifted to the majority; issue 19 item 2);
- new ops start only until `stop_ms`, so every op completes or times out in the run;
  the last `final_reads_s` before it are reads only (Jepsen's final reads);
- retries (`workload.request_policy`, issue 14): an op answered `fail` for want of
  service (not a cas mismatch or an unsupported op: another attempt gets the same
  answer) is tried again, up to `retries` times, after a capped exponential backoff
  instead of `think_ms`. Each attempt is its own invoke/completion in the history, so
  the history stays Jepsen-correct: a `fail` definitely did not happen, so the retry
  runs under the same process with the same value; with `retry_timeouts` a timed-out
  attempt stays `info` (it may still take effect) and the retry runs as the slot's
  fresh process with a fresh value, keeping written values unique per attempt that
  may take effect (the checkers attribute a read to one write). `timeout_ms` is per
  attempt. In the final-reads phase a pending retry of a write is dropped.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from workbench.core.effects import Reply
from workbench.core.ops import ClientRequest
from workbench.history.events import make_event
from workbench.workload.generator import OpGenerator
from workbench.workload.spec import WorkloadConfig


@dataclass(slots=True)
class _Outstanding:
    request: ClientRequest
    invoke_ms: float


class ClientPool:
    def __init__(self, config: WorkloadConfig, nodes: int, clients: int, stop_ms: float,
                 rng: random.Random, value_start: int = 1, value_step: int = 1) -> None:
        """`value_start` / `value_step` go to the `OpGenerator`: pools of one run that
        write disjoint values (the Ray runtime's client hosts)."""
        self.config = config
        self.nodes = nodes
        self.clients = clients
        self.stop_ms = stop_ms
        self._final_reads_from_ms = stop_ms - config.final_reads_s * 1000.0
        self.rng = rng
        self.generator = OpGenerator(config, rng, value_start, value_step)
        self.history: list[dict[str, Any]] = []
        self.process_of_slot = list(range(clients))
        self.process_step = math.lcm(clients, nodes)
        """What a slot's process id grows by after a timeout: keeps p mod clients and p mod n."""
        self._seq = [0] * clients
        self._outstanding: list[_Outstanding | None] = [None] * clients
        self.skipped_arrivals = 0
        self.policy = config.request_policy
        self._retry: list[tuple[str, str, Any] | None] = [None] * clients
        """The op each slot re-issues at its next invoke, if its last attempt is to be retried."""
        self._retries_used = [0] * clients  # retries of the slot's current op so far
        self.retries = 0  # attempts that were retries, over the run

    # ------------------------------------------------------------ timing help
    def first_invoke_ms(self, slot: int) -> float:
        """Stagger the clients' first ops over one think time so they do not move in lockstep."""
        spread = self.config.think_ms if self.config.arrival == "closed" else 0.0
        return self.config.start_s * 1000.0 + self.rng.random() * spread + slot * 1e-3

    def next_arrival_gap_ms(self) -> float:
        """Open loop: exponential gaps give a Poisson process of `rate` ops/s per client."""
        return self.rng.expovariate(self.config.rate) * 1000.0

    def node_of(self, slot: int) -> int:
        return self.process_of_slot[slot] % self.nodes

    def next_delay_ms(self, slot: int) -> float:
        """Closed loop: how long after a completion or timeout the slot invokes again."""
        if self._retry[slot] is not None:
            return self.policy.backoff_for(self._retries_used[slot])
        return self.config.think_ms

    def outstanding(self, slot: int) -> tuple[ClientRequest, float] | None:
        """The slot's op in flight and when it was invoked (ms), if any."""
        pending = self._outstanding[slot]
        return None if pending is None else (pending.request, pending.invoke_ms)

    # ------------------------------------------------------------ transitions
    def invoke(self, slot: int, now: float) -> ClientRequest | None:
        """Start the slot's next op; None when the slot is busy or the workload has stopped."""
        if now >= self.stop_ms:
            return None
        if self._outstanding[slot] is not None:
            self.skipped_arrivals += 1
            return None
        process = self.process_of_slot[slot]
        final = now >= self._final_reads_from_ms
        retry = self._retry[slot]
        if retry is not None and not (final and retry[0] != "read"):
            self._retry[slot] = None
            self.retries += 1
            f, key, value = retry
        else:
            self._retry[slot] = None
            self._retries_used[slot] = 0
            f, key, value = self.generator.next_op(process, slot, final)
        seq = self._seq[slot]
        self._seq[slot] = seq + 1
        request = ClientRequest(process, seq, f, key, value)  # type: ignore[arg-type]
        self._outstanding[slot] = _Outstanding(request, now)
        self.history.append(make_event(process, "invoke", f, key, value, now))
        return request

    def slot_of(self, process: int) -> int:
        return process % self.clients

    def complete(self, reply: Reply, now: float) -> int | None:
        """Record a reply; returns the slot freed, or None for a late or stray reply."""
        slot = self.slot_of(reply.process)
        pending = self._outstanding[slot]
        if pending is None or pending.request.process != reply.process or pending.request.seq != reply.seq:
            return None  # the op already timed out: its outcome stays unknown (info)
        self._outstanding[slot] = None
        request = pending.request
        value = _jsonable(reply.value) if reply.type == "ok" else request.value
        self.history.append(make_event(reply.process, reply.type, request.f, request.key, value, now))
        self.generator.observe(slot, request.f, request.key, reply.type == "ok", request.value, value)
        if reply.type == "fail" and not definite_answer(reply.error) and self._may_retry(slot):
            self._retry[slot] = (request.f, request.key, request.value)
        return slot

    def _may_retry(self, slot: int) -> bool:
        """Take one retry from the slot's budget for its current op, if any is left."""
        if self._retries_used[slot] >= self.policy.retries:
            return False
        self._retries_used[slot] += 1
        return True

    def time_out(self, process: int, seq: int, now: float) -> int | None:
        """The op's timeout fired; returns the slot if the op was still outstanding."""
        slot = self.slot_of(process)
        pending = self._outstanding[slot]
        if pending is None or pending.request.process != process or pending.request.seq != seq:
            return None
        self._outstanding[slot] = None
        request = pending.request
        self.history.append(make_event(process, "info", request.f, request.key, request.value, now))
        self.process_of_slot[slot] = process + self.process_step
        self._seq[slot] = 0
        if self.policy.retry_timeouts and self._may_retry(slot):
            self._retry[slot] = (request.f, request.key, self.generator.fresh_value(request.f, request.value))
        return slot

    def finish(self, now: float) -> None:
        """Ops still outstanding when the run ends have unknown outcomes."""
        for slot, pending in enumerate(self._outstanding):
            if pending is not None:
                request = pending.request
                self.history.append(
                    make_event(request.process, "info", request.f, request.key, request.value, now)
                )
                self._outstanding[slot] = None
        self._retry = [None] * self.clients


# Fails that are the store's answer about the data, not a want of service: a retry gets
# the same answer, so none is made. Ours, and Maelstrom's definite error codes 10
# (not supported), 12 (malformed), 20-22 (key missing / exists, precondition failed).
_DEFINITE_ERRORS = ("cas mismatch", "not supported", "unknown op")
_DEFINITE_MAELSTROM_CODES = ("10", "12", "20", "21", "22")


def definite_answer(error: str | None) -> bool:
    """Whether a `fail` reply's error says another attempt would fail the same way."""
    if error is None:
        return False
    if any(text in error for text in _DEFINITE_ERRORS):
        return True
    return error.split(" ", 1)[0] in _DEFINITE_MAELSTROM_CODES


def _jsonable(value: Any) -> Any:
    """Set reads come back as tuples; histories are JSON, so lists."""
    return list(value) if isinstance(value, tuple) else value
