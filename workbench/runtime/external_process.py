"""One external node: an OS process speaking Maelstrom's protocol over pipes.

Nothing listens on a socket: the harness talks to each node over its stdin/stdout
pipes only, and the node's stderr goes straight to a log file. Each process starts in
a session (and process group) of its own, so crash (`kill -9`), pause (`SIGSTOP`) and
the final clean-up reach any children it forked too, and none is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

WRITE_BUFFER_LIMIT = 8 << 20
"""Bytes queued for a node's stdin before further messages to it are dropped (a node
that stops reading must not grow the harness without bound)."""

YIELD_EVERY = 64
"""Lines read from one node before its reader yields to the loop, so a node that
floods stdout cannot starve timers, clients and the other nodes."""


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # resolved once, not in the child
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL it if the harness itself dies, so even
    a harness killed with -9 leaves no node behind (prctl PR_SET_PDEATHSIG = 1). The
    function is looked up before any fork: the child only makes the one call."""
    _PRCTL(1, signal.SIGKILL)  # type: ignore[misc]


_PREEXEC = _die_with_parent if _PRCTL is not None else None


class NodeTransport(Protocol):
    """What `ExternalRuntime` needs of one node: `NodeProcess` here, or
    `external_ray.RemoteNode`, the stand-in for a process a Ray node actor owns."""

    name: str
    dropped_writes: int

    @property
    def exit_code(self) -> int | None: ...
    async def start(self) -> None: ...
    def write(self, data: bytes) -> bool: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    async def wait_exit(self) -> None: ...
    async def sync_log(self) -> None: ...
    async def stop(self, grace_s: float) -> None: ...


NodeFactory = Callable[..., NodeTransport]
"""Called like `NodeProcess(name, argv, log_path, max_line_bytes, on_line, on_malformed, on_exit)`."""


class NodeProcess:
    def __init__(self, name: str, argv: list[str], log_path: Path, max_line_bytes: int,
                 on_line: Callable[[NodeProcess, bytes], None],
                 on_malformed: Callable[[NodeProcess, str], None],
                 on_exit: Callable[[NodeProcess, int], None]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.max_line_bytes = max_line_bytes
        self._on_line, self._on_malformed, self._on_exit = on_line, on_malformed, on_exit
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.incarnation = 0
        self.paused = False
        self.dropped_writes = 0

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def exit_code(self) -> int | None:
        """The current incarnation's exit code; None while it runs (or before the first start)."""
        return self.proc.returncode if self.proc is not None else None

    async def wait_exit(self) -> None:
        if self.proc is not None:
            await self.proc.wait()

    async def sync_log(self) -> None:
        """The stderr log is already at `log_path` (a remote owner copies it there)."""

    async def start(self) -> None:
        """Spawn (again): a restart is a fresh process with empty memory, as in Maelstrom."""
        self.incarnation += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- {self.name} incarnation {self.incarnation}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log, start_new_session=True, limit=self.max_line_bytes,
                preexec_fn=_PREEXEC)
        self.paused = False
        self.reader = asyncio.get_running_loop().create_task(self._read(self.proc))

    def write(self, data: bytes) -> bool:
        """Queue one line for the node's stdin; False if it is gone or not reading."""
        proc = self.proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            return False
        transport = proc.stdin.transport
        if transport.is_closing():
            return False
        if transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            self.dropped_writes += 1
            return False
        proc.stdin.write(data)
        return True

    def signal(self, signum: int) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        """kill -9 of the node's whole process group."""
        self.signal(signal.SIGKILL)
        self.paused = False

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def close_stdin(self) -> None:
        if self.proc is not None and self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def stop(self, grace_s: float) -> None:
        """End of run: EOF on stdin, up to `grace_s` to exit, then kill -9; always reaped."""
        proc = self.proc
        if proc is None:
            return
        if self.paused:
            self.resume()
        self.close_stdin()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout=grace_s)
        self.kill()  # also reaches children that outlived their parent
        await proc.wait()
        if self.reader is not None:
            try:
                await asyncio.wait_for(self.reader, timeout=1.0)
            except (TimeoutError, asyncio.CancelledError):
                self.reader.cancel()

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        stdout = proc.stdout
        count = 0
        while True:
            try:
                line = await stdout.readline()
            except ValueError:  # longer than max_line_bytes: asyncio has discarded it
                self._on_malformed(self, f"line longer than {self.max_line_bytes} bytes")
                continue
            except (ConnectionError, OSError):
                break
            if not line:
                break
            if line.strip():
                self._on_line(self, line)
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        code = await proc.wait()
        if proc is self.proc:
            self._on_exit(self, code)
