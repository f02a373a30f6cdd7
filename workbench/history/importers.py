"""Read histories written by other tools into this project's events (DESIGN.md).

Formats (detected from the content, or forced with `format=`):
- `jsonl`: this project's JSON Lines (`events.read_jsonl`).
- `jepsen-log`: Jepsen's `jepsen.util` op log lines, as in porcupine's etcd data:
  `INFO  jepsen.util - 3<TAB>:invoke<TAB>:read<TAB>nil`. Fields are separated by tabs or
  runs of spaces; there are no timestamps, so the line number is the time (file order
  is real-time order). `:nemesis` lines are skipped.
- `edn`: EDN op maps, either one map per line (porcupine's kv logs) or a Jepsen
  `history.edn` vector of maps (multi-line, `;` comments, `#jepsen.history.Op` tags).
  `:nemesis` ops are skipped; `:time` (ns) becomes ms, else the line number is the time.

A bad line raises `HistoryFormatError` naming file and line.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any

from workbench.errors import HistoryFormatError
from workbench.history import edn
from workbench.history.events import read_jsonl, validate_event
from workbench.history.limits import short_repr

FORMATS = ("jsonl", "jepsen-log", "edn")
# What follows "jepsen.util": " - " in porcupine's copies, ": " in raw Jepsen logs.
_LOG_SEPARATOR = re.compile(r"^\s*[-:]?\s*")
_ALIASES = {
    "json": "jsonl", "jsonlines": "jsonl",
    "jepsen": "jepsen-log", "etcd": "jepsen-log", "etcd-log": "jepsen-log",
    "jepsen-etcd-log": "jepsen-log",
    "kv": "edn", "kv-edn": "edn", "kv-edn-line": "edn", "edn-lines": "edn", "jepsen-edn": "edn",
    "history.edn": "edn",
}  # fmt: skip


def normalize_format(name: str) -> str:
    key = name.strip().lower()
    if key in FORMATS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown history format {name!r} (known: {', '.join(FORMATS)})")


def load_history(path: str | Path, format: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Events of a history file and the model it suggests checking it against."""
    name = str(path)
    try:
        fmt = None if format is None else normalize_format(format)
    except ValueError as exc:
        raise HistoryFormatError(name, None, str(exc)) from None
    if fmt == "jsonl":
        events = read_jsonl(path)
        return events, suggest_model(events)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryFormatError(name, None, f"cannot read file ({exc.__class__.__name__}: {exc})") from exc
    fmt = fmt or detect_format(text, name)
    if fmt == "jsonl":
        events = read_jsonl(path)
    elif fmt == "jepsen-log":
        return parse_jepsen_log(text, name), "cas-register"
    else:
        events = parse_edn_history(text, name)
    return events, suggest_model(events)


def detect_format(text: str, name: str = "") -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if "jepsen.util" in stripped:
            return "jepsen-log"
        if stripped.startswith("{"):
            rest = stripped[1:].lstrip()
            return "jsonl" if rest.startswith('"') or rest.startswith("}") else "edn"
        if stripped[0] in "[(#":
            return "edn"
        raise HistoryFormatError(
            name, text[: text.find(line)].count("\n") + 1,
            "cannot tell the history format (expected JSON Lines, a Jepsen log or EDN); "
            "force one with --format")
    # An empty history: its extension says what it was meant to be.
    suffix = Path(name).suffix.lower()
    return {".log": "jepsen-log", ".edn": "edn", ".txt": "edn"}.get(suffix, "jsonl")


def suggest_model(events: list[dict[str, Any]]) -> str:
    fs = {e["f"] for e in events}
    if "cas" in fs:
        return "cas-register"
    if "add" in fs:
        return "set"
    if fs & {"get", "put", "append"}:
        return "kv"
    return "register"


def parse_jepsen_log(text: str, name: str = "<text>") -> list[dict[str, Any]]:
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        _, marker, rest = line.partition("jepsen.util")
        fields = _LOG_SEPARATOR.sub("", rest, count=1).split(None, 3)
        if not marker or len(fields) < 3:
            raise HistoryFormatError(
                name, number, "not a Jepsen op line ('... jepsen.util - PROCESS TYPE F VALUE')")
        process = fields[0]
        if process == ":nemesis":
            continue
        if not process.isdigit():
            raise HistoryFormatError(name, number, f"process {short_repr(process)} is not a number")
        try:
            value = edn.loads(fields[3]) if len(fields) > 3 else None
        except edn.EdnError as exc:
            raise HistoryFormatError(name, number, f"bad value {short_repr(fields[3])} ({exc})") from None
        kind = fields[1].lstrip(":")
        if isinstance(value, edn.Keyword) and kind != "invoke":
            value = None  # `:timed-out` and similar: an error, not a result
        raw = {"process": int(process), "type": kind, "f": fields[2].lstrip(":"),
               "key": None, "value": _plain(value), "time": float(number)}
        events.append(validate_event(raw, name, number))
    return events


def parse_edn_history(text: str, name: str = "<text>") -> list[dict[str, Any]]:
    newlines = [match.start() for match in re.finditer("\n", text)]

    def line_of(offset: int) -> int:
        return bisect.bisect_left(newlines, offset) + 1

    first = text.lstrip(" \t\r\n,")
    while first.startswith(";"):
        first = first.partition("\n")[2].lstrip(" \t\r\n,")
    nested = first.startswith("[") or first.startswith("(")
    try:
        forms = edn.read_forms(text, depth=1 if nested else 0)
    except edn.EdnError as exc:
        raise HistoryFormatError(name, line_of(exc.offset), f"bad EDN ({exc})") from None
    parsed: list[tuple[int, dict[str, Any]]] = []
    for offset, form in forms:
        number = line_of(offset)
        if not isinstance(form, dict):
            raise HistoryFormatError(name, number, f"expected an op map, found {short_repr(form)}")
        process = form.get("process")
        if isinstance(process, edn.Keyword):
            continue  # :nemesis and other non-client processes
        raw = {"process": process, "type": _plain(form.get("type")), "f": _plain(form.get("f")),
               "key": _plain(form.get("key")), "value": _plain(form.get("value"))}
        for field in ("process", "type", "f"):
            if form.get(field) is None:
                raise HistoryFormatError(name, number, f"missing field :{field}")
        stamp = form.get("time")
        if stamp is not None and (not isinstance(stamp, int | float) or isinstance(stamp, bool)):
            raise HistoryFormatError(name, number, f"field :time is {short_repr(stamp)}, expected a number")
        raw["time"] = stamp
        parsed.append((number, raw))
    # Jepsen's :time is ns since the test started; without it on every op, fall back to
    # line numbers (file order is real-time order) rather than mix the two clocks.
    timed = bool(parsed) and all(raw["time"] is not None for _, raw in parsed)
    events = []
    for number, raw in parsed:
        raw["time"] = raw["time"] / 1e6 if timed else float(number)
        events.append(validate_event(raw, name, number))
    return events


def _plain(value: Any) -> Any:
    """EDN values as JSON-like ones: keywords and symbols as plain str, sets as lists."""
    if isinstance(value, edn.Keyword | edn.Symbol):
        return str.__str__(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {_plain(k) if not isinstance(k, tuple) else str(k): _plain(v) for k, v in value.items()}
    return value
