"""Maelstrom workloads as the harness's clients see them: request bodies and reply outcomes.

Message shapes follow jepsen-io/maelstrom doc/workloads.md exactly. Client ops come
from the workbench's own `ClientPool` (so histories have the usual schema) and are
translated here:

| workload  | history op             | request body                         | ok reply (value read)   |
|-----------|------------------------|--------------------------------------|-------------------------|
| echo      | add v (key `s0`)       | `echo` {echo: v}                     | `echo_ok` (echo)        |
| lin-kv    | read / write / cas     | `read` {key}, `write` {key, value},  | `read_ok` (value),      |
|           | (key `kI`)             | `cas` {key, from, to}                | `write_ok`, `cas_ok`    |
| broadcast | add v / read (`s0`)    | `broadcast` {message}, `read` {}     | `read_ok` (messages)    |
| g-set     | add v / read (`s0`)    | `add` {element}, `read` {}           | `read_ok` (value)       |
| g-counter | add d / read (`s0`)    | `add` {delta}, `read` {}             | `read_ok` (value)       |

lin-kv keys go to the node as integers (`k2` -> 2), as Maelstrom's independent keys
are. An echo is recorded as an `add` of a unique payload whose ok value is what came
back, so a wrong echo is visible in the history.

Errors (doc/protocol.md "Errors"): definite codes become `fail`, indefinite ones (0
timeout, 13 crash, and any code Maelstrom does not define as definite) become `info`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from workbench.core.ops import ClientRequest
from workbench.runtime.external_spec import ExternalWorkload
from workbench.workload.spec import WorkloadConfig

DEFINITE_ERROR_CODES = frozenset({1, 10, 11, 12, 14, 20, 21, 22})
"""node-not-found, not-supported, temporarily-unavailable, malformed-request, abort,
key-does-not-exist, key-already-exists, precondition-failed: the op did not happen."""

Outcome = tuple[Literal["ok", "fail", "info"], Any]

_READ_FIELD = {"lin-kv": "value", "broadcast": "messages", "g-set": "value", "g-counter": "value"}
_ADD_TYPE = {"echo": "echo", "broadcast": "broadcast", "g-set": "add", "g-counter": "add"}
_ADD_FIELD = {"echo": "echo", "broadcast": "message", "g-set": "element", "g-counter": "delta"}


def pool_workload(config: WorkloadConfig, workload: ExternalWorkload) -> WorkloadConfig:
    """The client pool's settings for `workload`: a register for lin-kv, else one set."""
    if workload == "lin-kv":
        return config.model_copy(update={"kind": "register"})
    update: dict[str, Any] = {"kind": "set", "keys": 1}
    if workload == "echo":
        update.update(add_fraction=1.0, final_reads_s=0.0)
    return config.model_copy(update=update)


def key_number(key: str) -> int:
    """`k2` -> 2: lin-kv keys as Maelstrom sends them."""
    return int(key[1:])


def request_body(workload: ExternalWorkload, request: ClientRequest) -> dict[str, Any]:
    f, value = request.f, request.value
    if workload == "lin-kv":
        key = key_number(request.key)
        if f == "read":
            return {"type": "read", "key": key}
        if f == "write":
            return {"type": "write", "key": key, "value": value}
        return {"type": "cas", "key": key, "from": value[0], "to": value[1]}
    if f == "read":
        return {"type": "read"}
    return {"type": _ADD_TYPE[workload], _ADD_FIELD[workload]: value}


def expected_reply_type(workload: ExternalWorkload, f: str) -> str:
    if workload == "echo":
        return "echo_ok"
    if workload == "broadcast" and f == "add":
        return "broadcast_ok"
    return f"{f}_ok"


def reply_outcome(workload: ExternalWorkload, request: ClientRequest, body: dict[str, Any]) -> Outcome:
    """What a reply body means for the history: (type, value-or-error)."""
    kind = body.get("type")
    if kind == "error":
        code = body.get("code")
        error = f"{code} {body.get('text', '')}".strip()
        return ("fail" if code in DEFINITE_ERROR_CODES else "info"), error
    if kind != expected_reply_type(workload, request.f):
        # A reply of the wrong type answers nothing we asked: the op's outcome is unknown.
        return "info", f"unexpected reply type {kind!r}"
    if workload == "echo":
        return "ok", body.get("echo")
    if request.f == "read":
        value = body.get(_READ_FIELD[workload])
        if workload in ("broadcast", "g-set"):
            return "ok", _sorted(value)
        return "ok", value
    return "ok", request.value  # writes, cas and adds: ok with what was written, as our cores reply


def _sorted(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    try:
        return sorted(value)
    except TypeError:  # mixed element types: keep the node's order
        return value


def topology(names: list[str], shape: str) -> dict[str, list[str]]:
    """Maelstrom's `topology` message content: node -> neighbours (default shape: grid)."""
    n = len(names)
    if shape == "total":
        return {a: [b for b in names if b != a] for a in names}
    if shape == "line":
        return {a: [names[j] for j in (i - 1, i + 1) if 0 <= j < n] for i, a in enumerate(names)}
    width = max(1, math.ceil(math.sqrt(n)))
    out: dict[str, list[str]] = {}
    for i, a in enumerate(names):
        row, col = divmod(i, width)
        around = [(row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)]
        out[a] = [names[r * width + c] for r, c in around
                  if 0 <= c < width and 0 <= r * width + c < n]
    return out
