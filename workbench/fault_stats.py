"""How hostile a scenario generator is: per-run counts of the events that find bugs.

Issue 11 compares the old one-fault-at-a-time generator with the composed nemesis by
the median per run of: elections won, crashes, faults that start while another is
active, snapshot installs (Raft InstallSnapshot / a Paxos checkpoint install), and
messages delivered more than one (minimum) election timeout after they were sent —
the late old-term messages that break vote and lease rules.

Send times are recorded by wrapping each node's `take_effects` (keyed by the message
object, so a message object sent again counts from its latest send: a slight
undercount), and compared on delivery in the node's `on_message`; the simulator's hot
path is untouched. Run it: `.venv/bin/python -m workbench.fault_stats raft --seeds 40`.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from typing import Any

from workbench.core.effects import Send
from workbench.experiment.config import ExperimentConfig
from workbench.fault_search import GENERATORS
from workbench.faults import build_schedule
from workbench.faults.composed import overlapping_faults
from workbench.protocols import node_class
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import InvariantViolation, Simulation

METRICS = ("elections", "crashes", "overlapping_faults", "snapshot_installs", "late_messages")


def run_stats(config: ExperimentConfig) -> dict[str, int]:
    """Run one config in the simulator and count what `METRICS` names."""
    base = node_class(config.protocol)
    options = config.protocol_options()
    late_ms = float(getattr(options, "election_timeout_min_ms", 150.0))
    sent_at: dict[int, float] = {}
    late = [0]
    sim: Simulation

    def factory(*args: Any) -> Any:
        node = base(*args)
        take, deliver = node.take_effects, node.on_message

        def take_effects() -> list[Any]:
            effects = take()
            for effect in effects:
                if type(effect) is Send:
                    sent_at[id(effect.message)] = sim.now
            return effects

        def on_message(src: int, message: Any, now: float) -> None:
            if sim.now - sent_at.get(id(message), sim.now) > late_ms:
                late[0] += 1
            deliver(src, message, now)

        node.take_effects, node.on_message = take_effects, on_message
        return node

    sim = Simulation(config.model_copy(update={"sim": config.sim.model_copy(update={"invariants": False})}),
                     node_factory=factory)
    try:
        result = sim.run()
        trace = result.trace
    except InvariantViolation:  # (cannot happen: invariants are off) keep the counts so far
        trace = sim.trace
    kinds = [r["kind"] for r in trace]
    events = build_schedule(config.faults, config.duration_ms, derive_rng(config.seed, "faults"))
    return {"elections": kinds.count("leader"), "crashes": kinds.count("crash"),
            "overlapping_faults": overlapping_faults(events), "snapshot_installs": kinds.count("install"),
            "late_messages": late[0]}


def median_stats(make: Callable[[int], ExperimentConfig], seeds: range) -> dict[str, float]:
    runs = [run_stats(make(seed)) for seed in seeds]
    return {m: statistics.median(r[m] for r in runs) for m in METRICS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.fault_stats", description=__doc__.split("\n")[0])
    parser.add_argument("protocol")
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--snapshot-threshold", type=int, default=None,
                        help="protocol snapshot_threshold for both generators (default: the protocol's)")
    args = parser.parse_args(argv)
    options = {"snapshot_threshold": args.snapshot_threshold} if args.snapshot_threshold else None
    print(f"{args.protocol}, {args.seeds} seeds of {args.duration} s, options {options or {}}: median per run")
    print(f"{'generator':10} " + " ".join(f"{m:>18}" for m in METRICS))
    for name, generator in GENERATORS.items():
        medians = median_stats(lambda seed, g=generator: g(args.protocol, seed, duration_s=args.duration,
                                                           options=options), range(args.seeds))
        print(f"{name:10} " + " ".join(f"{medians[m]:>18g}" for m in METRICS))


if __name__ == "__main__":
    main()
