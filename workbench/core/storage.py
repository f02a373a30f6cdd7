"""Durable storage: the only state that survives a crash.

The runtime owns one `Storage` per node and passes it to the node's constructor on
boot and again on every restart. A core writes what must survive (Raft: term, vote,
log — Raft §5.1 "persistent state on all servers"; Paxos: promised ballot and
accepted values) explicitly with `put`, and reads it back in its constructor.
Everything else in the node object is volatile and is lost on crash.

Values are stored as given (no copy), so a core must not mutate a value after
storing it unless that mutation is itself meant to be durable (e.g. appending to a
stored log list is a durable append).
"""

from typing import Any


class Storage:
    __slots__ = ("_data", "writes")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.writes = 0  # counts explicit durable writes, e.g. to price fsyncs

    def put(self, name: str, value: Any) -> None:
        self._data[name] = value
        self.writes += 1

    def get(self, name: str, default: Any = None) -> Any:
        return self._data.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def snapshot(self) -> dict[str, Any]:
        """A shallow copy, e.g. to ship to a Ray actor that restarts elsewhere."""
        return dict(self._data)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> "Storage":
        storage = cls()
        storage._data = dict(data)
        return storage
