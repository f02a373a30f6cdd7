"""Hashes of simulator histories and traces, per protocol, for the byte-identity check.

A refactor of the runtimes must not change a single event: this prints one SHA-256 per
scenario over the history bytes (as written to disk), the trace records and the
message counters. tests/test_sim_regression.py holds the hashes the code before the
node driver (commit 530e83f) produced; run this against any tree to compare:

    .venv/bin/python benchmarks/history_hashes.py [--slow] [--json]
    PYTHONPATH=/tmp/oldtree .venv/bin/python benchmarks/history_hashes.py --slow

The scenarios: the seeds of tests/test_sim.py (cap_partition, 8 s, a partition from 2 s
to 5 s; seeds 7, 8 and 3 with a nemesis of partitions, crashes and pauses over a lossy,
duplicating, reordering network), one with a drifting, offset clock, and (with
--slow) the `make demo` seed: cap_partition as written, 40 s, seed 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

PROTOCOLS = ("raft", "paxos", "eventual")
_SHORT = ["duration_s=8", "faults.partitions.0.at=2", "faults.partitions.0.duration=3"]
_NEMESIS = "faults.nemesis={mean_interval: 0.5, mean_duration: 0.5, crash: true, pause: true}"
_NETWORK = ("network={latency: {dist: lognormal, median_ms: 3, sigma: 1}, loss: 0.05, "
            "duplicate: 0.05, reorder: 0.1}")
_CLOCKS = "faults.clocks=[{node: 0, offset_ms: 40, drift: 0.05}, {node: 3, drift: -0.03}]"

SCENARIOS: dict[str, list[str]] = {
    "seed7": [*_SHORT, "seed=7"],
    "seed8": [*_SHORT, "seed=8"],
    "seed3-nemesis": [*_SHORT, "seed=3", _NEMESIS, _NETWORK],
    "seed5-clocks": [*_SHORT, "seed=5", _CLOCKS, _NEMESIS],
}
SLOW_SCENARIOS: dict[str, list[str]] = {"demo-seed1": ["seed=1"]}

# Counters that depend only on the event sequence (not `wall_s`).
_STATS = ("messages_sent", "messages_delivered", "messages_dropped", "events_scheduled",
          "sent_per_node", "delivered_per_node", "skipped_arrivals", "storage_writes")


def run_hash(protocol: str, overrides: list[str]) -> str:
    from workbench.experiment.config import load_config
    from workbench.history.events import dumps_event
    from workbench.runtime.sim import simulate

    experiment = Path(__file__).resolve().parent.parent / "experiments" / "cap_partition.yaml"
    result = simulate(load_config(experiment, [f"protocol={protocol}", *overrides]))
    digest = hashlib.sha256()
    for event in result.history:
        digest.update(dumps_event(event).encode() + b"\n")
    for record in result.trace:
        digest.update(json.dumps(record, sort_keys=True, default=repr).encode() + b"\n")
    digest.update(json.dumps({k: result.stats.get(k) for k in _STATS}, sort_keys=True).encode())
    return digest.hexdigest()


def all_hashes(slow: bool = False) -> dict[str, str]:
    scenarios = {**SCENARIOS, **(SLOW_SCENARIOS if slow else {})}
    return {f"{protocol}/{name}": run_hash(protocol, overrides)
            for protocol in PROTOCOLS for name, overrides in scenarios.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also the 40 s demo seed")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    hashes = all_hashes(args.slow)
    if args.json:
        json.dump(hashes, sys.stdout, indent=1, sort_keys=True)
        print()
    else:
        for key, value in hashes.items():
            print(f"{key:28s} {value}")


if __name__ == "__main__":
    main()
