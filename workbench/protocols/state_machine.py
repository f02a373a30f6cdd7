"""The replicated key-value state machine shared by Raft and Multi-Paxos.

Registers (read / write / cas) and grow-only sets (add / read) live side by side:
a key becomes a set on its first `add`. A read returns None for a key never
written, the register's value, or a set's elements as a sorted tuple.

Duplicate detection (Raft thesis §6.3): each process's latest applied sequence
number and result are remembered, so a command retried by a forwarding node or
committed twice (e.g. re-proposed by a new leader) is applied once and answered
with the first result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from workbench.core.frozen import fast_init
from workbench.core.ops import ClientRequest


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    value: Any = None
    error: str | None = None


class KVStateMachine:
    __slots__ = ("registers", "sets", "_sessions")

    def __init__(self) -> None:
        self.registers: dict[str, Any] = {}
        self.sets: dict[str, set[Hashable]] = {}
        self._sessions: dict[int, tuple[int, Outcome]] = {}

    def apply(self, request: ClientRequest) -> Outcome:
        """Apply once; a repeat of a process's last applied seq returns the cached outcome."""
        return self.apply_fresh(request)[0]

    def apply_fresh(self, request: ClientRequest) -> tuple[Outcome, bool]:
        """`apply`, also telling whether this call changed anything (False for a repeat),
        so a replica can report each write once without a second session lookup."""
        last = self._sessions.get(request.process)
        if last is not None and last[0] >= request.seq:
            return (last[1] if last[0] == request.seq else Outcome(False, error="stale request")), False
        outcome = self._execute(request)
        self._sessions[request.process] = (request.seq, outcome)
        return outcome, True

    def is_duplicate(self, request: ClientRequest) -> bool:
        last = self._sessions.get(request.process)
        return last is not None and last[0] >= request.seq

    def read(self, key: str) -> Any:
        """A read that bypasses the log (read_index / lease / follower reads)."""
        if key in self.sets:
            return tuple(sorted(self.sets[key]))
        return self.registers.get(key)

    def _execute(self, request: ClientRequest) -> Outcome:
        key, f = request.key, request.f
        if f == "read":
            return Outcome(True, self.read(key))
        if f == "write":
            self.registers[key] = request.value
            return Outcome(True, request.value)
        if f == "cas":
            expected, new = request.value
            if self.registers.get(key) != expected:
                return Outcome(False, error="cas mismatch")
            self.registers[key] = new
            return Outcome(True, request.value)
        if f == "add":
            self.sets.setdefault(key, set()).add(request.value)
            return Outcome(True, request.value)
        return Outcome(False, error=f"unknown op {f!r}")

    def digest(self) -> int:
        """Stable across processes (no use of the salted built-in hash)."""
        text = repr(
            (
                sorted(self.registers.items()),
                sorted((k, sorted(v)) for k, v in self.sets.items()),
            )
        )
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    # Snapshots (Raft §7 log compaction, Paxos checkpoints): plain data, so they can
    # be stored durably and shipped in an InstallSnapshot message.
    def snapshot(self) -> tuple[Any, ...]:
        return (
            tuple(self.registers.items()),
            tuple((k, tuple(sorted(v))) for k, v in self.sets.items()),
            tuple((p, s, o) for p, (s, o) in self._sessions.items()),
        )

    @classmethod
    def restore(cls, data: tuple[Any, ...]) -> KVStateMachine:
        machine = cls()
        registers, sets, sessions = data
        machine.registers = dict(registers)
        machine.sets = {k: set(v) for k, v in sets}
        machine._sessions = {p: (s, o) for p, s, o in sessions}
        return machine
