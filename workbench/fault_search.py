"""Randomized fault search: many seeded runs under random faults, each checked.

A protocol is correct when the linearizability checker finds no violation (and no
invariant trips) over many seeded fault schedules, not when a happy path passes.
Each seed derives a whole scenario — cluster size, link model, a Jepsen-style nemesis
drawing every partition shape plus crashes and pauses, a one-way cut, a workload —
so a failing seed printed by a test reproduces the failure exactly:

    .venv/bin/python -m workbench.fault_search raft 1234
    .venv/bin/python -m workbench.fault_search raft 1234 --nodes 5 --duration 6 -o read_mode=follower
    .venv/bin/python -m workbench.fault_search raft 18 --figure8 -o bug=commit_old_term -o max_batch=1 -o max_inflight=1

`figure8_scenario` is a second, narrower generator: chains of overlapping leader
faults aimed at Raft's Figure 8 (§5.4.2), where the generic scenario rarely lands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.faults.composed import NemesisMix, composed_faults
from workbench.runtime.result import RunResult
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


def scenario(protocol: str, seed: int, *, nodes: int | None = None, duration_s: float = 12.0,
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


def figure8_scenario(seed: int, *, nodes: int = 3, options: dict[str, Any] | None = None,
                     duration_s: float = 5.0) -> ExperimentConfig:
    """A Raft scenario aimed at Figure 8 (§5.4.2): chains of overlapping leader faults.

    Figure 8 needs a leader whose entry sits on a minority to go away (a), a leader of
    a later term with a different entry at that index to go away before its entry
    spreads (b), the first one to come back, win, and replicate its old entry to a
    majority (c), and then to go away again before an entry of its own term spreads,
    while the second one comes back and wins (d). Correct Raft never counts replicas of
    the old entry in (c); a leader that does has committed an entry that (d) erases.

    So each seed draws chains of 4-8 faults, each on whichever node leads when it
    starts, each a crash or an isolation: fault i+1 starts after the node of fault
    i-1 came back plus an election timeout and up to 150 ms (time to win and to
    replicate part of its log: the window in (c)), and the node of fault i comes back
    2-40 ms after fault i+1 starts (the hand-over of (b)->(c) and (c)->(d)). Who leads,
    and so who is hit, is decided by the run. On top: short election timeouts, the
    generic scenario's workload with 2-3 closed-loop clients per node (a busy leader
    runs ahead of its followers, more so with `max_batch: 1, max_inflight: 1`), and
    in a third of the seeds lossy, duplicating, reordering links. The last 1.5 s are
    quiet. Measured (commit_old_term, max_batch 1, max_inflight 1) on 3 nodes; with 5,
    three nodes must lack each entry at once and it rarely lines up.
    """
    raw = scenario("raft", seed, nodes=nodes, options=options,
                   duration_s=duration_s).model_dump(by_alias=True, exclude_none=True)
    rng = derive_rng(seed, "figure8")
    low = rng.choice([30, 50])
    high = low * rng.choice([1.1, 1.5])
    raw["raft"].update(election_timeout_min_ms=low, election_timeout_max_ms=high, heartbeat_ms=low / 3)
    network: dict[str, Any] = {"latency": rng.choice([{"dist": "exponential", "mean_ms": 5},
                                                      {"dist": "uniform", "low_ms": 1, "high_ms": 15}])}
    if rng.random() < 1 / 3:
        network.update(loss=rng.choice([0, 0.02]), duplicate=rng.choice([0, 0.05]),
                       reorder=rng.choice([0, 0.1]))
    raw["network"] = network
    raw["workload"].update(clients=rng.choice([2, 3]) * raw["nodes"], think_ms=rng.choice([0, 5]),
                           timeout_ms=500)
    stop = duration_s - 1.5
    crashes: list[dict[str, Any]] = []
    isolations: list[dict[str, Any]] = []
    t = 0.5
    while True:
        starts, backs = [t], []
        back = t  # when the node hit two faults earlier came back
        for _ in range(rng.randint(4, 8) - 1):
            starts.append(back + rng.uniform(low, high + 150) / 1000)
            back = starts[-1] + rng.uniform(0.002, 0.04)
            backs.append(back)
        backs.append(starts[-1] + rng.uniform(0.05, 0.3))
        if backs[-1] >= stop:
            break
        for at, end in zip(starts, backs, strict=True):
            fault = {"node": "leader", "at": round(at, 4), "duration": round(end - at, 4)}
            if rng.random() < 0.5:
                crashes.append({"kind": "crash", **fault})
            else:
                isolations.append({"shape": "isolate", **fault})
        t = backs[-1] + rng.uniform(0.05, 0.2)
    raw["faults"] = {"nodes": crashes, "partitions": isolations}
    return validate_config(raw, f"figure8_scenario(seed={seed})")


def default_mix(protocol: str, options: dict[str, Any] | None) -> NemesisMix:
    """The composed nemesis' default for a protocol and its options: clocks beyond
    `max_clock_drift` (drift up to 10x, steps) only where safety does not rest on
    clocks (not Raft `read_mode: lease`, not Paxos `leases: true`: thesis §6.4.1);
    the eventual store gets offsets of up to +-30 s (its HLC must cope)."""
    opts = options or {}
    if protocol == "eventual":
        return NemesisMix(clocks_beyond_bound=True, max_offset_ms=30_000.0)
    on_clocks = opts.get("read_mode") == "lease" if protocol == "raft" else bool(opts.get("leases"))
    return NemesisMix(clocks_beyond_bound=not on_clocks)


def composed_scenario(protocol: str, seed: int, *, nodes: int | None = None, duration_s: float = 6.0,
                      options: dict[str, Any] | None = None, workload: str | None = None,
                      mix: NemesisMix | None = None, quiet_tail_s: float = 2.5) -> ExperimentConfig:
    """`scenario`'s cluster, links and workload under the composed nemesis
    (`faults.composed`): overlapping faults from independent processes, aimed at the
    leader half the time, with clock faults, long-delay and duplication windows and
    holding partitions. The faults end `quiet_tail_s` before the run does. The eventual
    store runs the set workload (its property: no acknowledged add lost, convergence)
    and reads only through that quiet tail."""
    kind = workload or ("set" if protocol == "eventual" else "register")
    raw = scenario(protocol, seed, nodes=nodes, duration_s=duration_s, options=options,
                   workload=kind).model_dump(by_alias=True, exclude_none=True)
    config_opts = raw.get(protocol, {})
    election_ms = float(config_opts.get("election_timeout_min_ms", 150.0))
    drift = float(config_opts.get("max_clock_drift", 0.01))
    rng = derive_rng(seed, "composed")
    raw["faults"] = composed_faults(rng, raw["nodes"], duration_s=duration_s,
                                    election_timeout_ms=election_ms, max_clock_drift=drift,
                                    mix=mix or default_mix(protocol, options), quiet_tail_s=quiet_tail_s)
    if protocol == "eventual":
        # Every op is answered locally at once: with no think time a closed loop makes
        # hundreds of thousands of ops (and set reads grow with them).
        raw["workload"]["think_ms"] = max(raw["workload"]["think_ms"], 20)
        # Set-full calls an add lost when the last reads that could show it miss it, so
        # the final reads must outlast anti-entropy's stragglers after the last heal, as
        # Jepsen's come after a quiet wait. 1 s was too short: seed 100073 (random peer
        # every 0.25-0.75 s on clocks 9% slow) read 13 adds as "lost" that every replica
        # held 2.5 s after the heal. The faults end `quiet_tail_s` before the run, so
        # the whole quiet tail is read (a disk model needs a longer one: see
        # tests/test_disk.py `disk_scenario`, seed 82210).
        raw["workload"]["final_reads_s"] = quiet_tail_s
    raw["name"] = f"composed-{protocol}"
    return validate_config(raw, f"composed_scenario(seed={seed})")


GENERATORS = {"generic": scenario, "composed": composed_scenario}
"""Scenario generators by name: the old one-fault-at-a-time nemesis and the composed one."""


@dataclass
class Finding:
    seed: int
    problem: str

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.problem}"


def check_seed(config: ExperimentConfig) -> Finding | None:
    """Run one scenario; a Finding if an invariant tripped or the history is not
    linearizable (the eventual store: an acknowledged add lost, or no convergence)."""
    from workbench.checkers.linearizability import check_linearizability

    try:
        result = simulate(config)
    except InvariantViolation as exc:
        return Finding(config.seed, f"invariant: {exc}")
    if config.protocol == "eventual":
        return _check_eventual(config, result)
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


def _check_eventual(config: ExperimentConfig, result: RunResult) -> Finding | None:
    """The AP store's own properties (it is not linearizable, by design): no
    acknowledged set add lost (Jepsen set-full `lost`), and every live replica
    converged after the final heal, before the run ended."""
    from workbench.checkers.convergence import convergence_ms
    from workbench.checkers.sets import set_report
    from workbench.history.frame import history_to_frame

    if config.workload.kind == "set":
        lost = set_report(history_to_frame(result.history)).lost_adds
        if lost:
            return Finding(config.seed, f"{lost} acknowledged set adds lost")
    if convergence_ms(result.trace, nodes=config.nodes, end_ms=config.duration_ms) is None and any(
            r["kind"] in ("partition_end", "restart", "resume") for r in result.trace):
        return Finding(config.seed, "replicas did not converge after the final heal")
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


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)  # 1, 0.5, true, null
    except json.JSONDecodeError:
        return key, value  # a bare string: follower, commit_old_term


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.fault_search",
                                     description="Run and check the scenario of one seed.")
    parser.add_argument("protocol")
    parser.add_argument("seed", type=int)
    parser.add_argument("--nodes", type=int, help="cluster size (default: drawn from the seed; 3 with --figure8)")
    parser.add_argument("--duration", type=float, help="seconds (default 12; 5 with --figure8)")
    parser.add_argument("-o", "--option", type=_option, action="append", default=[],
                        help="protocol option KEY=VALUE, repeatable (bug=commit_old_term)")
    parser.add_argument("--figure8", action="store_true", help="raft only: figure8_scenario")
    args = parser.parse_args(argv)
    options = dict(args.option) or None
    if args.figure8 and args.protocol != "raft":
        parser.error("--figure8 is a raft scenario")
    try:
        if args.figure8:
            config = figure8_scenario(args.seed, nodes=args.nodes or 3, options=options,
                                      duration_s=args.duration or 5.0)
        else:
            config = scenario(args.protocol, args.seed, nodes=args.nodes, options=options,
                              duration_s=args.duration or 12.0)
    except ConfigError as exc:  # a misspelled option or value: one line, no traceback
        parser.exit(2, f"error: {exc}\n")
    found = check_seed(config)
    print(found or f"seed {args.seed}: ok")


if __name__ == "__main__":
    main()
