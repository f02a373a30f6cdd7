"""A transport whose caller decides when things happen: for unit-test harnesses and explorers.

The simulator lets a heap decide the order of events; a unit test (tests/test_raft.py,
tests/test_paxos.py) or a model-checking explorer wants to decide it itself: deliver
this message now, let time pass to the next timer, fire that timer early. Subclasses
say what `send` and `reply` do (typically: queue the message, keep the reply);
this base keeps the run time (`now`, moved only by the caller) and the timers the
drivers scheduled, by token, and fires them in time order on request.
"""

from __future__ import annotations

from typing import Any

from workbench.core.effects import Reply
from workbench.core.messages import Message
from workbench.protocols.base import Node
from workbench.runtime.driver import NodeDriver


class SteppedTransport:
    def __init__(self) -> None:
        self.now = 0.0
        self.drivers: list[NodeDriver] = []
        self.due: dict[int, tuple[float, int, str]] = {}  # timer token -> (at, node, name)
        self._tokens = 0

    # ------------------------------------------------------------ the transport
    def send(self, src: int, dst: int, message: Message) -> None:
        raise NotImplementedError

    def reply(self, src: int, effect: Reply) -> None:
        raise NotImplementedError

    def schedule(self, at: float, node: int, name: str, token: int | None) -> int:
        if token is None:
            self._tokens += 1
            token = self._tokens
        self.due[token] = (at, node, name)
        return token

    def now_ms(self) -> float:
        return self.now

    # ------------------------------------------------------------ stepping
    @property
    def nodes(self) -> list[Any]:
        """Each node's core, None while it is down (what invariant checkers take)."""
        return [d.node for d in self.drivers]

    def live(self, i: int) -> Node:
        node = self.drivers[i].node
        assert node is not None, f"node {i} is down"
        return node

    def fire_next(self, end: float) -> bool:
        """Fire the earliest timer of a live node due by `end` (ties: lowest node, then
        name), moving `now` to it; False when none is due. A schedule the driver no
        longer wants (cancelled, replaced, pushed back) fires for nothing or re-arms."""
        due = [(at, i, name, token) for token, (at, i, name) in self.due.items()
               if at <= end and self.drivers[i].node is not None]
        if not due:
            return False
        at, i, name, token = min(due)
        del self.due[token]
        self.now = max(self.now, at)
        self.drivers[i].fire(name, token, self.now)
        return True
