"""The history event log: JSON Lines, one event per line, Jepsen semantics (DESIGN.md).

An event is a plain dict with exactly the keys of `EVENT_KEYS` (dicts, not objects,
because histories reach millions of events and every checker walks them)::

    {"process": 3, "type": "invoke", "f": "write", "key": "k1", "value": 7, "time": 12.5}

`type` is invoke / ok / fail / info; `time` is ms since the run started. The writer
emits keys in that fixed order with fixed separators, so the same run gives the same
bytes (the simulator's determinism test compares them).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from workbench.errors import HistoryFormatError
from workbench.history.limits import MAX_DEPTH, short_repr, too_deep

EVENT_KEYS = ("process", "type", "f", "key", "value", "time")
EVENT_TYPES = frozenset({"invoke", "ok", "fail", "info"})
OP_NAMES = frozenset({"read", "write", "cas", "add", "get", "put", "append"})


def make_event(
    process: int, type: str, *, f: str, key: str | None, value: Any, time: float
) -> dict[str, Any]:
    # Times are rounded to the microsecond so float noise never reaches the file.
    return {"process": process, "type": type, "f": f, "key": key, "value": value,
            "time": round(time, 3)}


def dumps_event(event: dict[str, Any]) -> str:
    return json.dumps({k: event[k] for k in EVENT_KEYS}, separators=(", ", ": "))


def write_jsonl(events: Iterable[dict[str, Any]], path: str | Path) -> None:
    """Write atomically: a temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for event in events:
                out.write(dumps_event(event))
                out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def validate_event(raw: Any, path: str, line: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise HistoryFormatError(path, line, "expected a JSON object")
    missing = [k for k in ("process", "type", "f") if k not in raw]
    if missing:
        raise HistoryFormatError(path, line, f"missing field {missing[0]!r}")
    if not isinstance(raw["type"], str) or raw["type"] not in EVENT_TYPES:
        raise HistoryFormatError(
            path, line, f"field 'type' is {short_repr(raw['type'])}, expected one of invoke/ok/fail/info"
        )
    if not isinstance(raw["process"], int) or isinstance(raw["process"], bool):
        raise HistoryFormatError(path, line, f"field 'process' is {short_repr(raw['process'])}, expected an integer")
    if not isinstance(raw["f"], str) or raw["f"] not in OP_NAMES:
        raise HistoryFormatError(path, line, f"field 'f' is {short_repr(raw['f'])}, not a known operation")
    time = raw.get("time", float(line))
    if not isinstance(time, int | float) or isinstance(time, bool):
        raise HistoryFormatError(path, line, f"field 'time' is {short_repr(time)}, expected a number")
    key = raw.get("key")
    if key is not None and not isinstance(key, str | int | float):
        raise HistoryFormatError(path, line, f"field 'key' is {short_repr(key)}, expected a string or number")
    for field in ("key", "value"):
        if too_deep(raw.get(field)):
            raise HistoryFormatError(path, line, f"field {field!r} is nested deeper than {MAX_DEPTH} levels")
    return {"process": raw["process"], "type": raw["type"], "f": raw["f"],
            "key": raw.get("key"), "value": raw.get("value"), "time": float(time)}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate; a bad line raises HistoryFormatError naming file and line."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(name, None, f"cannot read file ({exc.__class__.__name__}: {exc})") from exc
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(name, number, f"not valid JSON ({exc.msg})") from exc
        except RecursionError:  # the C decoder recurses once per bracket
            raise HistoryFormatError(name, number, f"nested deeper than {MAX_DEPTH} levels") from None
        events.append(validate_event(raw, name, number))
    return events
