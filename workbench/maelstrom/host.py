"""Our sans-IO cores as a Maelstrom node: stdin/stdout JSON lines, real time, one asyncio loop.

`MaelstromHost` is the one class that feeds a core its inputs and carries out its
effects (the seam a shared node driver can take over):
- `init` builds the core (node `n3` of `node_ids` is member 2) and answers `init_ok`;
- lin-kv requests (`read` {key}, `write` {key, value}, `cas` {key, from, to}) become
  `ClientRequest`s: process = the client's number (`c12` -> 12), seq = its `msg_id`
  (Maelstrom clients are single-threaded and number their messages upwards, which is
  what the cores' duplicate detection assumes; Raft thesis §6.3);
- peer bodies of type `workbench` carry our messages (`codec`);
- `SetTimer` / `CancelTimer` become `loop.call_later` handles; `now` is the loop's
  monotonic clock in ms;
- `Reply` goes back to the client: ok read of a never-written key -> error 20
  (key-does-not-exist, as Maelstrom's lin-kv expects), other oks -> `read_ok` /
  `write_ok` / `cas_ok`; a failed cas -> 22 (precondition-failed); any other failure is
  definite in our cores ("no leader": nothing was proposed) -> 11
  (temporarily-unavailable). A request a core never answers times out at the client:
  indefinite, as it must be.

Storage is the process's memory: Maelstrom's crash is kill -9 and loses it, so a
crashed Raft node comes back empty (durable state does not survive, unlike our
simulator's crash). Use partitions, not crashes, to test safety through this host.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import stat
import sys
import threading
from typing import Any, BinaryIO

from workbench.core.effects import CancelTimer, Observe, Reply, Send, SetTimer
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.maelstrom.codec import BODY_TYPE, decode, encode, registry_of
from workbench.protocols import node_class, options_class, protocol_module
from workbench.runtime.driver import apply_persist

KEY_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE, PRECONDITION_FAILED = 20, 11, 22
NOT_SUPPORTED, MALFORMED_REQUEST = 10, 12


class MaelstromHost:
    def __init__(self, protocol: str, options: Any = None, seed: int = 0,
                 out: BinaryIO | None = None, log: Any = None) -> None:
        self.protocol = protocol
        self.options = options if options is not None else options_class(protocol)()
        self.seed = seed
        self.out = out or sys.stdout.buffer
        self.log = log or sys.stderr
        self.classes = registry_of(protocol_module(protocol), importlib.import_module("workbench.protocols.state_machine"))
        self.name = ""
        self.names: list[str] = []
        self.core: Any = None
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.clients: dict[tuple[int, int], tuple[str, int, str]] = {}  # (process, seq) -> (src, msg_id, f)
        self._msg_ids = 0

    # ------------------------------------------------------------ clock and output
    def now(self) -> float:
        return self.loop.time() * 1000.0

    def _write(self, dest: str, body: dict[str, Any]) -> None:
        self._msg_ids += 1
        body.setdefault("msg_id", self._msg_ids)
        line = json.dumps({"src": self.name, "dest": dest, "body": body}, separators=(",", ":"))
        self.out.write(line.encode() + b"\n")

    def _reply(self, message: dict[str, Any], body: dict[str, Any]) -> None:
        body["in_reply_to"] = message["body"].get("msg_id")
        self._write(message["src"], body)

    # ------------------------------------------------------------ the loop
    async def serve(self, stdin: asyncio.StreamReader) -> None:
        self.loop = asyncio.get_running_loop()
        while True:
            line = await stdin.readline()
            if not line:
                return  # EOF: Maelstrom is done with us
            if not line.strip():
                continue
            try:
                message = json.loads(line)
                self.handle(message)
            except Exception as exc:  # noqa: BLE001 - one bad line must not end the node
                print(f"{self.name}: cannot handle {line[:200]!r}: {type(exc).__name__}: {exc}",
                      file=self.log, flush=True)
            self.out.flush()

    def handle(self, message: dict[str, Any]) -> None:
        body = message["body"]
        kind = body.get("type")
        if kind == "init":
            self._init(message)
        elif kind == BODY_TYPE:
            if self.core is not None and message["src"] in self.names:
                self.core.on_message(self.names.index(message["src"]),
                                     decode(body["m"], self.classes), self.now())
                self._drain()
        elif kind in ("read", "write", "cas"):
            self._request(message)
        elif "in_reply_to" not in body:
            self._reply(message, {"type": "error", "code": NOT_SUPPORTED, "text": f"no {kind!r} here"})

    def _init(self, message: dict[str, Any]) -> None:
        body = message["body"]
        self.name, self.names = body["node_id"], list(body["node_ids"])
        me = self.names.index(self.name)
        members = list(range(len(self.names)))
        rng = random.Random(f"{self.seed}/{self.name}")
        self.core = node_class(self.protocol)(me, members, self.options, rng, Storage())
        self.core.start(self.now())
        self._reply(message, {"type": "init_ok"})
        self._drain()

    def _request(self, message: dict[str, Any]) -> None:
        body = message["body"]
        if self.core is None:
            self._reply(message, {"type": "error", "code": TEMPORARILY_UNAVAILABLE, "text": "not initialised"})
            return
        f = body["type"]
        try:
            key = json.dumps(body["key"], sort_keys=True)
            value = [body["from"], body["to"]] if f == "cas" else body.get("value")
        except KeyError as exc:
            self._reply(message, {"type": "error", "code": MALFORMED_REQUEST, "text": f"missing {exc}"})
            return
        src = message["src"]
        process = int(src[1:]) if src[1:].isdigit() else abs(hash(src)) % (1 << 30)
        seq = int(body.get("msg_id", 0))
        self.clients[(process, seq)] = (src, seq, f)
        self.core.on_client_request(ClientRequest(process, seq, f, key, value), self.now())
        self._drain()

    # ------------------------------------------------------------ effects
    def _drain(self) -> None:
        for effect in self.core.take_effects():
            if apply_persist(self.core.storage, effect):
                continue  # durable at once: a Maelstrom crash is kill -9, memory and all
            cls = type(effect)
            if cls is Send:
                self._write(self.names[effect.to], {"type": BODY_TYPE, "m": encode(effect.message)})
            elif cls is Reply:
                self._answer(effect)
            elif cls is SetTimer:
                self._set_timer(effect.name, effect.delay_ms)
            elif cls is CancelTimer:
                handle = self.timers.pop(effect.name, None)
                if handle is not None:
                    handle.cancel()
            elif cls is Observe and effect.kind in ("leader", "step_down"):
                print(f"{self.now():.0f} {self.name} {effect.kind} {effect.fields}", file=self.log, flush=True)

    def _set_timer(self, name: str, delay_ms: float) -> None:
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        self.timers[name] = self.loop.call_later(delay_ms / 1000.0, self._fire, name)

    def _fire(self, name: str) -> None:
        self.timers.pop(name, None)
        self.core.on_timer(name, self.now())
        self._drain()
        self.out.flush()

    def _answer(self, reply: Reply) -> None:
        waiting = self.clients.pop((reply.process, reply.seq), None)
        if waiting is None:
            return
        src, msg_id, f = waiting
        body: dict[str, Any]
        if reply.type == "ok":
            if f == "read" and reply.value is None:
                body = {"type": "error", "code": KEY_DOES_NOT_EXIST, "text": "key does not exist"}
            elif f == "read":
                body = {"type": "read_ok", "value": reply.value}
            else:
                body = {"type": f"{f}_ok"}
        elif f == "cas" and reply.error == "cas mismatch":
            body = {"type": "error", "code": PRECONDITION_FAILED, "text": reply.error}
        else:
            body = {"type": "error", "code": TEMPORARILY_UNAVAILABLE, "text": reply.error or "failed"}
        body["in_reply_to"] = msg_id
        self._write(src, body)


async def serve_stdio(host: MaelstromHost) -> None:
    """Serve until stdin closes. A pipe or socket (as Maelstrom gives) is read by the
    loop itself; anything else (a file, /dev/null, a terminal epoll refuses) by a thread."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    else:
        threading.Thread(target=_pump, args=(loop, reader), daemon=True).start()
    await host.serve(reader)


def _pump(loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader) -> None:
    for line in sys.stdin.buffer:
        loop.call_soon_threadsafe(reader.feed_data, line)
    loop.call_soon_threadsafe(reader.feed_eof)
