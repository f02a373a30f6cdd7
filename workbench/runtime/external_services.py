"""Maelstrom's key-value services inside the harness (jepsen-io/maelstrom doc/services.md).

Nodes reach them by sending RPCs to the node ids `lin-kv`, `seq-kv` and `lww-kv`; the
runtime carries those messages over the same link model as node-to-node traffic
(latency, loss, duplication, reordering). A service is a single harness object, not a
cluster member, so partition shapes (defined over the cluster's nodes) never cut it.

All three share the lin-kv API: `read` {key} -> `read_ok` {value} or error 20;
`write` {key, value} -> `write_ok`; `cas` {key, from, to, create_if_not_exists?} ->
`cas_ok`, error 20 (no such key) or 22 (from does not match).

- `lin-kv`: one map, each request applied atomically when it arrives: linearizable.
- `seq-kv`: sequentially consistent. Every update takes the next position in one
  total order; a read may observe any state from the last one its caller saw (or
  wrote) up to the newest. Each caller thus moves forward in one total order, but may
  read stale values: the relaxation doc/services.md describes.
- `lww-kv`: deliberately weak, as Maelstrom's: `replicas` independent copies, each
  request goes to a random copy, writes carry a timestamp (harness time plus a small
  random skew) and copies merge, highest timestamp winning, every `merge_ms`.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from typing import Any

SERVICE_NAMES = ("lin-kv", "seq-kv", "lww-kv")
KEY_DOES_NOT_EXIST, PRECONDITION_FAILED, NOT_SUPPORTED, MALFORMED = 20, 22, 10, 12
_MISSING = object()


def _key(body: dict[str, Any]) -> str:
    return json.dumps(body.get("key"), sort_keys=True)


def _error(code: int, text: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "text": text}


def _apply(current: Any, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """One request against the current value (`_MISSING` if none): (reply, new value)."""
    kind = body.get("type")
    if kind == "read":
        if current is _MISSING:
            return _error(KEY_DOES_NOT_EXIST, "key does not exist"), current
        return {"type": "read_ok", "value": current}, current
    if kind == "write":
        return {"type": "write_ok"}, body.get("value")
    if kind == "cas":
        if current is _MISSING:
            if body.get("create_if_not_exists"):
                return {"type": "cas_ok"}, body.get("to")
            return _error(KEY_DOES_NOT_EXIST, "key does not exist"), current
        if current != body.get("from"):
            return _error(PRECONDITION_FAILED, f"expected {body.get('from')!r}, had {current!r}"), current
        return {"type": "cas_ok"}, body.get("to")
    return _error(NOT_SUPPORTED, f"unknown request type {kind!r}"), current


class LinKV:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def handle(self, src: str, body: dict[str, Any], now_ms: float) -> dict[str, Any]:
        key = _key(body)
        reply, value = _apply(self.data.get(key, _MISSING), body)
        if value is not _MISSING:
            self.data[key] = value
        return reply


class SeqKV:
    def __init__(self, rng: random.Random, stale_probability: float = 0.5) -> None:
        self.rng = rng
        self.stale_probability = stale_probability
        self.position = 0  # of the newest state in the total order
        self.versions: dict[str, tuple[list[int], list[Any]]] = {}  # key -> (positions, values)
        self.seen: dict[str, int] = {}  # caller -> the last position it observed

    def _value_at(self, key: str, position: int) -> Any:
        positions, values = self.versions.get(key, ([], []))
        i = bisect_right(positions, position)
        return values[i - 1] if i else _MISSING

    def handle(self, src: str, body: dict[str, Any], now_ms: float) -> dict[str, Any]:
        key = _key(body)
        floor = self.seen.get(src, 0)
        if body.get("type") == "read":
            at = self.position
            if at > floor and self.rng.random() < self.stale_probability:
                at = self.rng.randint(floor, self.position)  # a past state, never before `floor`
            self.seen[src] = at
            return _apply(self._value_at(key, at), body)[0]
        reply, value = _apply(self._value_at(key, self.position), body)
        if reply["type"] != "error" and body.get("type") != "read":
            self.position += 1
            positions, values = self.versions.setdefault(key, ([], []))
            positions.append(self.position)
            values.append(value)
        self.seen[src] = self.position
        return reply


class LwwKV:
    def __init__(self, rng: random.Random, replicas: int = 5, merge_ms: float = 100.0,
                 skew_ms: float = 5.0) -> None:
        self.rng = rng
        self.copies: list[dict[str, tuple[float, Any]]] = [{} for _ in range(replicas)]
        self.merge_ms = merge_ms
        self.skew_ms = skew_ms
        self.last_merge = 0.0

    def _merge(self) -> None:
        merged: dict[str, tuple[float, Any]] = {}
        for copy in self.copies:
            for key, stamped in copy.items():
                if key not in merged or stamped[0] > merged[key][0]:
                    merged[key] = stamped
        self.copies = [dict(merged) for _ in self.copies]

    def handle(self, src: str, body: dict[str, Any], now_ms: float) -> dict[str, Any]:
        if now_ms - self.last_merge >= self.merge_ms:
            self._merge()
            self.last_merge = now_ms
        copy = self.copies[self.rng.randrange(len(self.copies))]
        key = _key(body)
        current = copy[key][1] if key in copy else _MISSING
        reply, value = _apply(current, body)
        if reply["type"] in ("write_ok", "cas_ok"):
            copy[key] = (now_ms + self.rng.uniform(-self.skew_ms, self.skew_ms), value)
        return reply


def make_services(rng_for: Any) -> dict[str, Any]:
    """name -> service; `rng_for(name)` gives each its own seeded rng."""
    return {"lin-kv": LinKV(), "seq-kv": SeqKV(rng_for("seq-kv")), "lww-kv": LwwKV(rng_for("lww-kv"))}
