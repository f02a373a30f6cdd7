"""Bridge throughput: messages/s between two Maelstrom nodes through the workbench's
external runtime, beside a bare asyncio pipe relay between the same two programs,
measured in the same run and printed as a ratio.

Both sides run `examples/maelstrom/pingpong.py` (32 messages always in flight). The
bridge parses every line, checks the partition table, draws a delay from the link
model (constant 0 ms here) and schedules the delivery on the loop; the bare relay
copies lines from one process's stdout to the other's stdin and nothing else. Same
machine, same processes, same seconds: the ratio is the price of the network model.

    .venv/bin/python benchmarks/maelstrom_bridge.py [--seconds 5] [--ray]

`--ray` also measures the bridge with each node's process owned by a Ray node actor
(`runtime: ray`): every message then crosses two Ray calls (node's actor -> conductor
-> the other node's actor), batched by one call in flight per node and direction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.experiment.config import validate_config  # noqa: E402
from workbench.runtime.external import run_external  # noqa: E402

NODE = [sys.executable, str(ROOT / "examples" / "maelstrom" / "pingpong.py")]


def bridge_rate(seconds: float, runtime: str = "sim") -> float:
    config = validate_config({
        "name": "bridge-bench", "protocol": "external", "runtime": runtime, "nodes": 2,
        "duration_s": seconds,
        "external": {"command": NODE, "workload": "echo", "grace_s": 0.2},
        # The clients never start: only the two nodes' own messages cross the bridge.
        "workload": {"clients": 1, "start_s": seconds + 1},
        "network": {"latency": {"dist": "constant", "ms": 0}},
    })
    result = run_external(config)
    return result.stats["messages_delivered"] / seconds


async def _bare(seconds: float) -> float:
    procs = [await asyncio.create_subprocess_exec(*NODE, stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE)
             for _ in range(2)]
    names = ["n1", "n2"]
    for i, proc in enumerate(procs):
        init = json.dumps({"src": "c0", "dest": names[i], "body": {
            "type": "init", "msg_id": 1, "node_id": names[i], "node_ids": names}}) + "\n"
        proc.stdin.write(init.encode())
        await proc.stdout.readline()  # init_ok
    count = 0
    deadline = time.monotonic() + seconds

    async def relay(src: asyncio.subprocess.Process, dst: asyncio.subprocess.Process) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            line = await src.stdout.readline()
            if not line:
                return
            dst.stdin.write(line)
            count += 1

    await asyncio.wait([asyncio.create_task(relay(procs[0], procs[1])),
                        asyncio.create_task(relay(procs[1], procs[0]))], timeout=seconds + 1)
    for proc in procs:
        proc.kill()
        await proc.wait()
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ray", action="store_true", help="also through Ray node actors")
    args = parser.parse_args()
    bare = asyncio.run(_bare(args.seconds))
    bridge = bridge_rate(args.seconds)
    print(f"bare asyncio pipe relay : {bare:10,.0f} messages/s")
    print(f"workbench bridge        : {bridge:10,.0f} messages/s  (network model, seeded delays)")
    print(f"bridge / bare           : {bridge / bare:10.2f}")
    if args.ray:
        on_ray = bridge_rate(args.seconds, "ray")
        print(f"bridge, Ray node actors : {on_ray:10,.0f} messages/s  ({on_ray / bare:.2f} of bare)")


if __name__ == "__main__":
    main()
