"""Randomized fault search: many seeded runs under random faults, each checked.

A protocol is correct when the linearizability checker finds no violation (and no
invariant trips) over many seeded fault schedules, not when a happy path passes.
Each seed derives a whole scenario — cluster size, link model, a Jepsen-style nemesis
drawing every partition shape plus crashes and pauses, a one-way cut, a workload —
so a failing seed printed by a test reproduces the failure exactly:

    .venv/bin/python -m workbench.fault_search raft 1234
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workbench.config import ExperimentConfig, validate_config
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import InvariantViolation, simulate

ALL_SHAPES = ["halves", "isolate", "bridge", "majorities-ring", "random-halves"]
LATENCIES: list[dict[str, Any]] = [
    {"dist": "uniform", "low_ms": 1, "high_ms": 5},
    {"dist": "exponential", "mean_ms": 4},
    {"dist": "lognormal", "median_ms": 3, "sigma": 0.8},
    {"dist": "pareto", "scale_ms": 1, "shape": 2.5},
    {"dist": "mixture", "components": [
        {"weight": 0.9, "latency": {"dist": "constant", "ms": 2}},
        {"weight": 0.1, "latency": {"dist": "uniform", "low_ms": 20, "high_ms": 80}},
    ]},
]


def scenario(protocol: str, seed: int, nodes: int | None = None, duration_s: float = 12.0,
             options: dict[str, Any] | None = None, workload: str = "register") -> ExperimentConfig:
    """The random scenario of one seed. Same arguments => same config."""
    rng = derive_rng(seed, "scenario")
    n = nodes if nodes is not None else rng.choice([3, 5, 5, 7])
    one_way_from = rng.randrange(n)
    one_way_to = sorted(rng.sample([i for i in range(n) if i != one_way_from], k=max(1, n // 2)))
    raw: dict[str, Any] = {
        "name": f"search-{protocol}",
        "protocol": protocol,
        "seed": seed,
        "nodes": n,
        "duration_s": duration_s,
        "workload": {"kind": workload, "keys": rng.choice([1, 2, 3]), "clients": rng.choice([n, 2 * n]),
                     "think_ms": rng.choice([0, 5, 20]), "timeout_ms": rng.choice([200, 500, 1000]),
                     "start_s": 0.3},
        "network": {"latency": rng.choice(LATENCIES), "loss": rng.choice([0, 0.01, 0.05]),
                    "duplicate": rng.choice([0, 0.02, 0.05]), "reorder": rng.choice([0, 0.05, 0.1])},
        "faults": {
            "nemesis": {"mean_interval": rng.choice([0.5, 1.0, 2.0]), "mean_duration": rng.choice([0.5, 1.0, 2.0]),
                        "shapes": ALL_SHAPES, "crash": True, "pause": True,
                        "stop": duration_s - 3},
            "partitions": [{"shape": "one-way", "from": [one_way_from], "to": one_way_to,
                            "at": rng.uniform(1, duration_s - 4), "duration": rng.uniform(0.5, 2)}],
        },
        "sim": {"invariants": True},
        "check": {"max_seconds": 20},
    }
    if options:
        raw[protocol] = dict(options)
    return validate_config(raw, f"scenario(seed={seed})")


@dataclass
class Finding:
    seed: int
    problem: str

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.problem}"


def check_seed(config: ExperimentConfig) -> Finding | None:
    """Run one scenario; a Finding if an invariant tripped or the history is not linearizable."""
    from workbench.checkers.linearizability import check_linearizability

    try:
        result = simulate(config)
    except InvariantViolation as exc:
        return Finding(config.seed, f"invariant: {exc}")
    model = "cas-register" if config.workload.kind == "register" else "set"
    verdict = check_linearizability(result.history, model=model, max_seconds=config.check.max_seconds)
    if verdict.verdict == "not linearizable":
        return Finding(config.seed, f"not linearizable ({len(result.history)} events)")
    if verdict.verdict == "unknown":
        # Not a finding, but not a proof either: say which seed went unchecked.
        UNCHECKED.append(config.seed)
        print(f"seed {config.seed}: linearizability unknown (checker budget "
              f"{config.check.max_seconds} s exhausted)", file=sys.stderr)
    return None


UNCHECKED: list[int] = []
"""Seeds whose history the checker could not decide within its budget, in this process."""


def search(protocol: str, seeds: Iterable[int], stop_at_first: bool = False, **scenario_args: Any) -> list[Finding]:
    findings = []
    for seed in seeds:
        finding = check_seed(scenario(protocol, seed, **scenario_args))
        if finding is not None:
            findings.append(finding)
            if stop_at_first:
                break
    return findings


if __name__ == "__main__":
    name, seed_text = sys.argv[1], sys.argv[2]
    found = check_seed(scenario(name, int(seed_text)))
    print(found or f"seed {seed_text}: ok")
