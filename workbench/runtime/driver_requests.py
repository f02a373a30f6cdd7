"""The node driver's request policy (issue 14 item 1, DESIGN.md "One request policy").
A mixin of `runtime.driver.NodeDriver`: same object, no extra hop on the hot path.

One request policy for every protocol (issue 14 item 1, DESIGN.md "One request
policy"), here and only here: a request the core says needs a leader
(`Node.needs_leader`) that reaches a node knowing none (`Node.leader()` is None) is
answered `fail` at once, "no leader" (`hold_ms=None`), or held up to `hold_ms` of run
time and handed to the core as soon as it learns a leader, else answered `fail` then.
Both answers are true `fail`s: the request was never handed to the core, so it went
nowhere (and depends on nothing written, so it does not wait for an fsync). A crash
loses held requests with the rest (their clients time out: `info`).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from workbench.core.effects import Reply
from workbench.core.ops import ClientRequest
from workbench.protocols.base import Node

if TYPE_CHECKING:
    from workbench.runtime.driver import NodeDriver

HOLD_TIMER = "driver:hold"
"""The driver's own timer (held requests' deadlines); no core names a timer so."""
NO_LEADER = "no leader"


class RequestHold:
    __slots__ = ()

    def _no_leader(self: NodeDriver, request: ClientRequest, now: float) -> None:
        """The request policy for a node that knows no leader (module docstring)."""
        if self.hold_ms is None:
            self._reply(self.id, Reply(request.process, request.seq, "fail", None, NO_LEADER))
            return
        deadline = now + self.hold_ms
        self.held_requests.append((request, deadline))
        if self._hold_token is None:
            self._hold_token = self._schedule(deadline, self.id, HOLD_TIMER, None)

    def _release_held(self: NodeDriver, node: Node, now: float) -> None:
        """The core knows a leader now: hand it the held requests, oldest first."""
        # Taken out first, so the drains below (which end here again) see none held.
        held, self.held_requests = self.held_requests, deque()
        while held:
            if self.node is not node:
                return  # crashed meanwhile: held requests are lost with it
            if node.leader() is None:
                held.extend(self.held_requests)  # lost the leader again: keep waiting
                self.held_requests = held
                return
            request, _ = held.popleft()
            node.on_client_request(request, self.offset + now * self.rate)
            self._drain(node, now)

    def _hold_expired(self: NodeDriver, token: int, now: float) -> None:
        """HOLD_TIMER came due: fail the requests held past their deadline, re-arm for the rest."""
        if token != self._hold_token:
            return  # a schedule from before a crash
        self._hold_token = None
        held = self.held_requests
        while held and held[0][1] <= now:
            request, _ = held.popleft()
            self._reply(self.id, Reply(request.process, request.seq, "fail", None, NO_LEADER))
        if held:
            self._hold_token = self._schedule(held[0][1], self.id, HOLD_TIMER, None)
