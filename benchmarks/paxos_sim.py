"""Multi-Paxos vs single-decree Paxos vs Raft in the simulator, on one scenario.

For each protocol: committed (ok) client ops per wall second of simulation,
messages per committed op, simulator messages delivered per wall second, and the
mean op latency in virtual time. Single-decree mode runs phase 1 for every slot:
the difference to Multi-Paxos is the round trip that Paxos Made Simple §3 saves.
Raft runs on the same scenario when `workbench.protocols.raft.RaftNode` exists.

Run: .venv/bin/python benchmarks/paxos_sim.py [--seconds 10] [--nodes 5] [--clients 20]
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from workbench.experiment.config import validate_config
from workbench.runtime.sim import simulate


def scenario(protocol: str, options: dict[str, Any], seconds: float, nodes: int,
             clients: int) -> Any:
    raw: dict[str, Any] = {
        "name": "paxos-bench", "protocol": protocol, "seed": 7, "nodes": nodes,
        "duration_s": seconds,
        "workload": {"kind": "register", "keys": 3, "clients": clients, "think_ms": 0,
                     "timeout_ms": 500, "mix": {"read": 0.5, "write": 0.5, "cas": 0}},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "check": {"linearizability": False},
    }
    if options:
        raw[protocol] = options
    return validate_config(raw)


def measure(label: str, protocol: str, options: dict[str, Any], args: argparse.Namespace) -> None:
    result = simulate(scenario(protocol, options, args.seconds, args.nodes, args.clients))
    stats = result.stats
    types = Counter(e["type"] for e in result.history)
    committed = types["ok"]
    wall = stats["wall_s"]
    latencies: list[float] = []
    pending: dict[int, float] = {}
    for event in result.history:
        if event["type"] == "invoke":
            pending[event["process"]] = event["time"]
        elif event["type"] == "ok" and event["process"] in pending:
            latencies.append(event["time"] - pending.pop(event["process"]))
    mean_latency = sum(latencies) / len(latencies) if latencies else float("nan")
    print(f"{label:<24} {committed / wall:>12,.0f} {stats['messages_sent'] / max(committed, 1):>12.2f}"
          f" {stats['messages_delivered'] / wall:>14,.0f} {mean_latency:>10.2f}"
          f" {committed:>10,} {types['info']:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="virtual seconds per run")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    print(f"scenario: {args.nodes} nodes, {args.clients} closed-loop clients (no think time), "
          f"50% reads / 50% writes, 1-3 ms links, {args.seconds:g} s virtual, no faults")
    print(f"{'protocol':<24} {'ok ops/s':>12} {'msgs/ok op':>12} {'sim msgs/s':>14}"
          f" {'lat ms':>10} {'ok ops':>10} {'info':>6}")
    measure("multi-paxos", "paxos", {}, args)
    measure("multi-paxos + leases", "paxos", {"leases": True}, args)
    measure("single-decree paxos", "paxos", {"single_decree": True}, args)
    measure("raft", "raft", {}, args)
    print("ops/s and sim msgs/s are per wall second of simulation; latency is virtual time")


if __name__ == "__main__":
    main()
