"""Start one node of a Ray cluster for the workbench, in the foreground (docs/cluster.md).

    python -m workbench.runtime.ray_start head   --node-ip-address IP [--port 6379] [--num-cpus N]
    python -m workbench.runtime.ray_start worker --address HEAD_IP:6379 --node-ip-address IP [--num-cpus N]

Like `ray start --block`, with the workbench's defaults: token authentication on (the
token file is `RAY_AUTH_TOKEN_PATH`, else `~/.ray/auth_token`; `head --new-token`
writes a fresh one, mode 0600, if there is none), no dashboard, fixed agent ports (a
loaded machine does not abort the raylet's start, see `ray_session`). It runs until
Ctrl-C or SIGTERM, then ends the processes it started, by pid (never `ray stop`, which
ends every Ray of the user on the machine). Bad arguments: one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from workbench.errors import UserInputError
from workbench.runtime.ray_session import (
    AGENT_TIMEOUT_MS,
    LOOPBACK,
    WORKER_NICENESS,
    WORKER_REGISTER_TIMEOUT_S,
    default_token_path,
    join_token_env,
    set_env,
    start_local_raylet,
    stop_local_raylet,
    write_private_token,
)


def token_path() -> Path:
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(named).expanduser() if named else default_token_path()


def ensure_token(new_token: bool, where: str) -> None:
    path = token_path()
    if new_token and not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = write_private_token(path.parent)
        if written != path:
            written.rename(path)
        print(f"ray_start: wrote a new token to {path} (mode 600); copy it to every "
              "worker and driver machine", file=sys.stderr)
    changes = join_token_env(where)  # checks it exists and is private
    changes["RAY_agent_register_timeout_ms"] = str(AGENT_TIMEOUT_MS)
    changes["RAY_worker_register_timeout_seconds"] = str(WORKER_REGISTER_TIMEOUT_S)
    changes["RAY_worker_niceness"] = str(WORKER_NICENESS)
    if changes.get("RAY_AUTH_MODE") is None:
        raise UserInputError("ray_start: RAY_AUTH_MODE=disabled: the workbench starts no "
                             "cluster without authentication")
    set_env(changes)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m workbench.runtime.ray_start")
    parser.add_argument("role", choices=["head", "worker"])
    parser.add_argument("--node-ip-address", default=LOOPBACK,
                        help="this machine's address as the other nodes reach it")
    parser.add_argument("--port", type=int, default=6379, help="head: the GCS port")
    parser.add_argument("--address", help="worker: the head's IP:PORT")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--new-token", action="store_true",
                        help="head: write a fresh token file if there is none")
    args = parser.parse_args(argv)
    if args.role == "worker" and not args.address:
        parser.error("worker: --address HEAD_IP:PORT is required")
    if args.num_cpus < 1:
        parser.error(f"--num-cpus {args.num_cpus}: expected 1 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        ensure_token(args.new_token and args.role == "head",
                     f"{args.node_ip_address}:{args.port}" if args.role == "head" else args.address)
        node = start_local_raylet(args.num_cpus, gcs_address=None if args.role == "head" else args.address,
                                  node_ip=args.node_ip_address,
                                  gcs_port=args.port if args.role == "head" else None)
    except UserInputError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    # After the node is up: Ray's Node installs SIGTERM/SIGINT handlers that exit 1;
    # ours end the node's processes and exit 0.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    where = node.gcs_address if args.role == "head" else f"joined {args.address}"
    print(f"ray_start: {args.role} up ({where}, {args.num_cpus} CPUs, node "
          f"{node.node_id[:12]}); Ctrl-C ends it", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        stop_local_raylet(node)
    print(f"ray_start: {args.role} stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
