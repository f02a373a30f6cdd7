"""The owner of one external node's process, inside a Ray node actor.

`ExternalNodeOwner` is a plain asyncio class with no Ray import (the unit tests run it
in-process); `external_ray` makes it a Ray actor, one per node, placed like the Ray
runtime's node actors. It is only the process owner: it spawns the node (a
`NodeProcess`, so a child of the actor's worker process), writes what the conductor
sends, signals it (kill -9, SIGSTOP, SIGCONT) and hands back what the node printed.
Routing, the network model, clients and services stay in the conductor's
`ExternalRuntime` (DESIGN.md "External nodes").

Two calls carry the traffic, each with one call in flight at a time per node, so
batches form by themselves under load and keep their order:

- `apply([line | "kill" | "pause" | "resume", ...])`   conductor -> node, in order;
- `poll(run) -> [("line", bytes) | ("malformed", text) | ("exit", code), ...]`
  node -> conductor; waits for the first event; None once the run's node has stopped.

The node's stderr log is written here (on the actor's machine) and its tail handed
back by `log_tail` and `stop`: the conductor may run on another machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from workbench.runtime.external_process import NodeProcess

LOG_TAIL_BYTES = 1 << 20
"""The part of the stderr log handed back (as the local runtime keeps: its last MiB)."""

SIGNALS = ("kill", "pause", "resume")


class ExternalNodeOwner:
    """Owns one node for one run at a time (`begin` ... `stop`); a sweep may hand the same
    actor the next run's node (`external_ray.reusing_node_actors`)."""

    def __init__(self, name: str, argv: list[str], max_line_bytes: int) -> None:
        self.run = 0
        self._wake: asyncio.Event | None = None  # made on the actor's loop, on first use
        self._setup(name, argv, max_line_bytes)

    def _setup(self, name: str, argv: list[str], max_line_bytes: int) -> None:
        self.name = name
        # Removed by `stop`; an actor killed mid-run leaves it behind, named by its pid.
        self.dir = Path(tempfile.mkdtemp(prefix=f"workbench-external-{name}-{os.getpid()}-"))
        self.log_path = self.dir / f"{name}.stderr.log"
        self.node = NodeProcess(name, argv, self.log_path, max_line_bytes,
                                self._on_line, self._on_malformed, self._on_exit)
        self.events: list[tuple[str, Any]] = []
        self.closed = False
        self.run += 1

    async def begin(self, name: str, argv: list[str], max_line_bytes: int) -> int:
        """Take on the next run's node (after `stop`): a fresh log, no events; its run number."""
        if self.node.alive:
            raise RuntimeError(f"{self.name}: the previous run's process is still running")
        self._setup(name, argv, max_line_bytes)
        self._event().set()  # a poll left over from the last run returns (None) at once
        return self.run

    def _event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def _push(self, kind: str, value: Any) -> None:
        self.events.append((kind, value))
        self._event().set()

    def _on_line(self, _: NodeProcess, line: bytes) -> None:
        self._push("line", line)

    def _on_malformed(self, _: NodeProcess, problem: str) -> None:
        self._push("malformed", problem)

    def _on_exit(self, _: NodeProcess, code: int) -> None:
        self._push("exit", code)

    # ------------------------------------------------------------ the conductor's calls
    async def ready(self) -> str:
        """Where the actor runs (host:pid): the parent of every process it spawns."""
        return f"{socket.gethostname()}:{os.getpid()}"

    async def start(self) -> dict[str, Any]:
        """Spawn (again): {"pid", "parent"}, or {"error", "errno"} if the program cannot start."""
        try:
            await self.node.start()
        except OSError as exc:
            return {"error": exc.strerror or str(exc), "errno": exc.errno or 0}
        assert self.node.proc is not None
        return {"pid": self.node.proc.pid, "parent": os.getpid()}

    async def apply(self, commands: list[bytes | str]) -> None:
        for command in commands:
            if isinstance(command, bytes):
                self.node.write(command)
            elif command in SIGNALS:
                getattr(self.node, command)()
            else:
                raise ValueError(f"unknown command {command!r}")

    async def poll(self, run: int) -> list[tuple[str, Any]] | None:
        """The events of run `run` so far (waits for one); None once that run is over."""
        wake = self._event()
        while run == self.run and not self.events and not self.closed:
            wake.clear()
            await wake.wait()
        if run != self.run:
            return None
        events, self.events = self.events, []
        return events or None

    async def log_tail(self) -> bytes:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, os.fstat(log.fileno()).st_size - LOG_TAIL_BYTES))
                return log.read()
        except OSError:
            return b""

    async def stop(self, grace_s: float) -> dict[str, Any]:
        """End of run: the node gets EOF, `grace_s` to exit, then kill -9; always reaped.
        Returns the log's tail and the writes dropped because the node stopped reading."""
        try:
            await self.node.stop(grace_s)
            return {"log": await self.log_tail(), "dropped_writes": self.node.dropped_writes}
        finally:
            self.closed = True
            self._event().set()
            shutil.rmtree(self.dir, ignore_errors=True)
