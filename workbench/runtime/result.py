"""What a runtime hands back: the history, the trace and counters, in one schema for both runtimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    history: list[dict[str, Any]]
    """Events in DESIGN.md's format, in real-time order."""
    trace: list[dict[str, Any]]
    """Facts about the run that are not client ops: fault events (`partition_start`,
    `partition_end`, `crash`, `restart`, `pause`, `resume`), protocol observations
    (`apply`, `leader`, `step_down`, ...) and replica `digest` changes. Each has
    `time` (ms) and `kind`; most have `node`."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Counters: messages sent / delivered / dropped (total and per node), wall time."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files for the run folder, by relative path (the external runtime's
    `logs/n1.stderr.log`, ...)."""
