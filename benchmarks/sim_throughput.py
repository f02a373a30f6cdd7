"""Simulator throughput: delivered messages per wall second with the eventual store at saturation.

Printed beside a bare heapq event loop doing the same number of schedule/deliver
steps in the same run; the ratio is the simulator's overhead (protocol work, fault
model, effects, tracing). Run: .venv/bin/python benchmarks/sim_throughput.py
"""

from __future__ import annotations

import heapq
import random
import time

from workbench.experiment.config import validate_config
from workbench.runtime.sim import simulate


def saturated_eventual(seed: int = 1):
    return validate_config({
        "name": "bench", "protocol": "eventual", "seed": seed, "nodes": 5, "duration_s": 3,
        "workload": {"clients": 50, "think_ms": 0, "keys": 10, "timeout_ms": 500,
                     "start_s": 0, "final_reads_s": 0},
        "eventual": {"anti_entropy_interval_ms": 200},
        "check": {"linearizability": False},
    })


def bare_heapq_loop(steps: int) -> float:
    """Schedule and pop `steps` events with random delays: the floor for any discrete-event sim."""
    rng = random.Random(1)
    heap: list[tuple[float, int, int]] = []
    now, seq = 0.0, 0
    start = time.perf_counter()
    for _ in range(64):
        seq += 1
        heapq.heappush(heap, (rng.random(), seq, 0))
    for _ in range(steps):
        now, _, payload = heapq.heappop(heap)
        seq += 1
        heapq.heappush(heap, (now + rng.random(), seq, payload))
    return time.perf_counter() - start


def main() -> None:
    result = simulate(saturated_eventual())
    delivered = result.stats["messages_delivered"]
    wall = result.stats["wall_s"]
    sim_rate = delivered / wall
    bare_wall = bare_heapq_loop(delivered)
    bare_rate = delivered / bare_wall
    print(f"simulator (eventual store, 5 nodes, 50 clients): {delivered:,} messages delivered "
          f"in {wall:.2f} s wall = {sim_rate:,.0f} msg/s; {len(result.history) // 2:,} client ops")
    print(f"bare heapq loop, same {delivered:,} schedule/deliver steps: {bare_wall:.2f} s = {bare_rate:,.0f} steps/s")
    print(f"ratio bare/simulator = {bare_rate / sim_rate:.1f}x (the simulator's overhead per message)")
    events = result.stats["events_scheduled"]
    event_rate = events / wall
    bare_events = bare_heapq_loop(events)
    print(f"all simulator events (messages, timers, client requests/replies/timeouts): {events:,} "
          f"= {event_rate:,.0f} events/s; bare loop {events / bare_events:,.0f} steps/s; "
          f"ratio {events / bare_events / event_rate:.1f}x")


if __name__ == "__main__":
    main()
