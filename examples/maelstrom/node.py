"""A minimal Maelstrom node library: the standard library only, one file, no threads.

Maelstrom's protocol (jepsen-io/maelstrom doc/protocol.md): a node reads one JSON
message per line on stdin, `{"src", "dest", "body"}`, and writes its own messages the
same way on stdout; stderr is its log. Bodies of RPCs carry `type`, `msg_id` and, in a
reply, `in_reply_to`. The first message is `init` (`node_id`, `node_ids`), answered
with `init_ok`.

    from node import Node

    node = Node()

    @node.handler("echo")
    def echo(msg):
        node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})

    node.run()

`rpc(dest, body, callback)` sends a request and calls `callback(reply)` when the
answer arrives; `every(seconds, fn)` runs a periodic task (gossip, retries) between
messages. Everything runs on the main thread, so handlers need no locks.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
Handler = Callable[[Message], None]

# Maelstrom's error codes (doc/protocol.md "Errors").
TIMEOUT, NODE_NOT_FOUND, NOT_SUPPORTED, TEMPORARILY_UNAVAILABLE = 0, 1, 10, 11
MALFORMED_REQUEST, CRASH, ABORT = 12, 13, 14
KEY_DOES_NOT_EXIST, KEY_ALREADY_EXISTS, PRECONDITION_FAILED = 20, 21, 22


class RPCError(Exception):
    """Raise inside a handler to answer the request with an `error` body."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text)
        self.code, self.text = code, text


class Node:
    def __init__(self) -> None:
        self.node_id = ""
        self.node_ids: list[str] = []
        self._msg_ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {}
        self._callbacks: dict[int, Callable[[Message], None]] = {}
        self._timers: list[tuple[float, int, float, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._init_hooks: list[Callable[[], None]] = []

    # ------------------------------------------------------------ set-up
    def handler(self, type_: str) -> Callable[[Handler], Handler]:
        """Decorator: handle bodies of `type_`."""

        def register(fn: Handler) -> Handler:
            self._handlers[type_] = fn
            return fn

        return register

    def on_init(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Decorator: run once `node_id` and `node_ids` are known."""
        self._init_hooks.append(fn)
        return fn

    def every(self, seconds: float, fn: Callable[[], None]) -> None:
        """Call `fn` every `seconds`, between messages."""
        heapq.heappush(self._timers, (time.monotonic() + seconds, next(self._timer_ids), seconds, fn))

    # ------------------------------------------------------------ output
    def log(self, *parts: Any) -> None:
        print(*parts, file=sys.stderr, flush=True)

    def send(self, dest: str, body: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps({"src": self.node_id, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()

    def reply(self, request: Message, body: dict[str, Any]) -> None:
        body = {**body, "in_reply_to": request["body"]["msg_id"]}
        self.send(request["src"], body)

    def rpc(self, dest: str, body: dict[str, Any], callback: Callable[[Message], None]) -> int:
        """Send a request; `callback(reply_message)` runs when its reply arrives."""
        msg_id = next(self._msg_ids)
        self._callbacks[msg_id] = callback
        self.send(dest, {**body, "msg_id": msg_id})
        return msg_id

    # ------------------------------------------------------------ the loop
    def run(self) -> None:
        stdin = sys.stdin.buffer
        buffered = b""
        while True:
            timeout = self._run_due_timers()
            ready, _, _ = select.select([stdin], [], [], timeout)
            if not ready:
                continue
            chunk = _read_available(stdin)
            if not chunk:
                return  # stdin closed: the harness is done with us
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                if line.strip():
                    self._dispatch(json.loads(line))

    def _run_due_timers(self) -> float | None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, tid, period, fn = heapq.heappop(self._timers)
            fn()
            heapq.heappush(self._timers, (now + period, tid, period, fn))
        return max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None

    def _dispatch(self, message: Message) -> None:
        body = message["body"]
        reply_to = body.get("in_reply_to")
        if reply_to is not None:
            callback = self._callbacks.pop(reply_to, None)
            if callback is not None:
                callback(message)
            return
        if body["type"] == "init":
            self.node_id, self.node_ids = body["node_id"], list(body["node_ids"])
            for hook in self._init_hooks:
                hook()
            self.reply(message, {"type": "init_ok"})
            return
        handler = self._handlers.get(body["type"])
        try:
            if handler is None:
                raise RPCError(NOT_SUPPORTED, f"no handler for {body['type']!r}")
            handler(message)
        except RPCError as exc:
            if "msg_id" in body:
                self.reply(message, {"type": "error", "code": exc.code, "text": exc.text})


def _read_available(stream: Any) -> bytes:
    """Whatever stdin has now (at least one byte unless it is closed)."""
    return os.read(stream.fileno(), 1 << 16)
