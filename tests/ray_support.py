"""Helpers for the Ray tests: which sockets Ray's processes listen on, and a private
multi-raylet cluster on this machine."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil


@dataclass(frozen=True)
class Listener:
    pid: int
    process: str
    ip: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.ip)


def is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # "::ffff:127.0.0.1": an IPv4 loopback socket
    return address.is_loopback


def process_name(proc: psutil.Process) -> str:
    """`gcs_server`, `raylet`, `ray::DashboardAgent`, `ray::HostActor`, `python (driver)`..."""
    with contextlib.suppress(psutil.Error):
        cmd = proc.cmdline()
        if cmd and cmd[0].startswith("ray::"):
            return cmd[0].split()[0]
        if cmd and "/" in cmd[0] and not cmd[0].endswith(("python", "python3", "python3.11")):
            return Path(cmd[0]).name
        for part in cmd[1:3]:
            if part.endswith(".py"):
                return Path(part).name
        return proc.name()
    return "?"


def descendants(root: psutil.Process | None = None) -> list[psutil.Process]:
    root = root or psutil.Process()
    return [root, *root.children(recursive=True)]


def listeners(procs: list[psutil.Process]) -> list[Listener]:
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            name = process_name(proc)
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append(Listener(proc.pid, name, conn.laddr.ip, conn.laddr.port))
    return found


def token_of_session() -> str:
    import os

    return Path(os.environ["RAY_AUTH_TOKEN_PATH"]).read_text().strip()


@dataclass
class MultiRaylet:
    """A head and workers of 1 CPU each, started from this process, private like
    `ray_session`'s local Ray (loopback, token in a 0600 file)."""

    head: Any
    workers: list[Any]

    @property
    def address(self) -> str:
        return str(self.head.gcs_address)

    def kill(self, node: Any) -> None:
        """End a worker raylet's processes (by pid) without warning, as a lost machine."""
        from workbench.runtime.ray_session import stop_local_raylet

        node.kill_all_processes(check_alive=False, allow_graceful=False, wait=True)
        stop_local_raylet(node)


@contextlib.contextmanager
def multi_raylet(raylets: int = 3) -> Iterator[MultiRaylet]:
    """`raylets` raylets of 1 CPU each; the driver joins the head through `start_session`
    (as a user's `--address` would, with the cluster's token). Every process is ended by
    pid at the end, never by name (`ray_session.local_cluster`)."""
    from workbench.runtime.ray_session import local_cluster

    with local_cluster(raylets, 1) as nodes:
        yield MultiRaylet(nodes[0], nodes[1:])


def free_port_for_test() -> int:
    from workbench.runtime.ray_session import free_port

    return free_port()
