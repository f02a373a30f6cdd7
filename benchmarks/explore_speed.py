"""Exhaustive exploration speed: distinct states per CPU second and the share of state hashing.

Breadth-first exploration (`workbench.explore.bfs.explore`) of one scope — by default
correct Raft (read_mode log) at 3 nodes, 2 clients x 2 ops, one crash and one cut, the
issue-13 scope — bounded by a number of distinct states (the same work on any machine),
in a fresh process. It prints distinct states, transitions, CPU seconds, distinct
states per CPU second and the CPU seconds spent building and hashing canonical state
keys (`Result.hash_seconds`: node fingerprints, the checker's memory, flight, timers,
history and the 64-bit hash; not successor copies, protocol steps or checks).

CPU seconds (time.process_time of the exploring process) leave out time spent waiting
for a core, so a loaded machine inflates them far less than wall seconds; say the load
average next to any number you quote.

    .venv/bin/python benchmarks/explore_speed.py [--protocol raft] [--read-mode log] [--states 10000]

Against another tree of this project: `--against-tree PATH` alternates child runs of
this tree and that one (`--rounds` each, the other tree imported through PYTHONPATH),
and prints new / old of the median distinct states per CPU second, measured in the
same run. Both trees must explore the same distinct states (a warning says otherwise);
the old tree's hashing seconds may be wall-clock (before this script, they were).

    git archive 442a940 | tar -x -C /tmp/oldtree    # or: git worktree add /tmp/oldtree REV
    .venv/bin/python benchmarks/explore_speed.py --against-tree /tmp/oldtree [--rounds 3]

Sleep sets (partial-order reduction, explore/sleep.py): `--sleep-sets-ab` alternates
child runs of this tree with sleep sets off and on, and prints off / on CPU seconds.
Run it on a search that finishes (`--max-depth` small enough, `--states` large), so
both visit the same distinct states (the script says if they did not). `--scope
stateright` explores `recipes.STATERIGHT_PAXOS` (single-decree Paxos, unordered links,
many messages in flight) instead of the issue-13 scope.

    .venv/bin/python benchmarks/explore_speed.py --sleep-sets-ab --max-depth 9 --states 10000000
    .venv/bin/python benchmarks/explore_speed.py --sleep-sets-ab --scope stateright --max-depth 14 --states 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(protocol: str, read_mode: str, states: int, max_depth: int,
            scope_name: str = "issue", sleep_sets: bool | None = None) -> dict[str, float]:
    """One exploration in this process: counts, CPU seconds and hashing seconds."""
    from workbench.explore.bfs import explore
    from workbench.explore.model import Scope

    options = {"read_mode": read_mode} if protocol == "raft" else {}
    scope = Scope(protocol, nodes=3, clients=2, ops=2, options=options, crashes=1, cuts=1)
    if scope_name == "stateright":
        from workbench.explore.recipes import STATERIGHT_PAXOS
        scope = STATERIGHT_PAXOS
    # An older tree's `explore` may not take `sleep_sets`: pass it only when asked.
    extra = {} if sleep_sets is None else {"sleep_sets": sleep_sets}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = explore(scope, max_depth=max_depth, max_states=states, **extra)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"distinct": result.distinct, "transitions": result.states, "max_depth": result.max_depth,
            "finished": result.finished, "cpu_s": cpu, "wall_s": wall, "hash_s": result.hash_seconds,
            "states_per_cpu_s": result.distinct / cpu, "hash_share": result.hash_seconds / cpu}


def child_measure(args: argparse.Namespace, tree: str | None, sleep_sets: bool | None = None) -> dict[str, float]:
    """`measure` in a fresh process, importing `workbench` from `tree` (None: this tree)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(tree).resolve()), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--protocol", args.protocol,
         "--read-mode", args.read_mode, "--states", str(args.states), "--max-depth", str(args.max_depth),
         "--scope", args.scope, *([] if sleep_sets is None else ["--sleep-sets", "on" if sleep_sets else "off"])],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent, check=False)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        raise SystemExit(f"explore_speed.py: the child for tree {tree or 'this'} failed: {tail}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def show(label: str, r: dict[str, float]) -> None:
    print(f"  {label}: {int(r['distinct']):,} distinct states, {int(r['transitions']):,} transitions, "
          f"depth {int(r['max_depth'])}, {r['cpu_s']:.1f} CPU s ({r['wall_s']:.1f} wall s): "
          f"{r['states_per_cpu_s']:,.0f} states/CPU s; hashing {r['hash_s']:.1f} s = {r['hash_share']:.0%}")


def compare_trees(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {"new": [], "old": []}
    for i in range(args.rounds):
        order = (("new", None), ("old", args.against_tree))
        for side, tree in order if i % 2 == 0 else order[::-1]:
            r = child_measure(args, tree)
            runs[side].append(r)
            show(f"round {i + 1} {side}", r)
    if {(r["distinct"], r["transitions"]) for r in runs["new"]} != {(r["distinct"], r["transitions"])
                                                                    for r in runs["old"]}:
        print("  note: the trees explored different transitions or states (a reduction, or not the same search)")
    new = statistics.median(r["states_per_cpu_s"] for r in runs["new"])
    old = statistics.median(r["states_per_cpu_s"] for r in runs["old"])
    share = statistics.median(r["hash_share"] for r in runs["new"])
    print(f"result: new / old distinct states per CPU s = {new / old:.2f} (medians of {args.rounds}: "
          f"{new:,.0f} / {old:,.0f}); new hashing share {share:.0%}")


def compare_sleep_sets(args: argparse.Namespace) -> None:
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for i in range(args.rounds):
        for on in (False, True) if i % 2 == 0 else (True, False):
            r = child_measure(args, None, sleep_sets=on)
            runs[on].append(r)
            show(f"round {i + 1} sleep sets {'on' if on else 'off'}", r)
    if {r["distinct"] for r in runs[False]} != {r["distinct"] for r in runs[True]}:
        print("  note: the two explored different numbers of distinct states")
    if not all(r["finished"] for side in runs.values() for r in side):
        print("  note: a search was cut off by --states; only finished searches visit the same states")
    off = statistics.median(r["cpu_s"] for r in runs[False])
    on = statistics.median(r["cpu_s"] for r in runs[True])
    transitions_off = statistics.median(r["transitions"] for r in runs[False])
    transitions_on = statistics.median(r["transitions"] for r in runs[True])
    print(f"result: off / on CPU seconds = {off / on:.2f} (medians of {args.rounds}: {off:.1f} / {on:.1f}); "
          f"transitions {transitions_off:,.0f} -> {transitions_on:,.0f} ({transitions_on / transitions_off:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=("raft", "paxos"), default="raft")
    parser.add_argument("--read-mode", default="log", help="raft only: log, read_index or lease")
    parser.add_argument("--states", type=int, default=10_000, help="stop at this many distinct states")
    parser.add_argument("--max-depth", type=int, default=40)
    parser.add_argument("--against-tree", metavar="PATH", default=None,
                        help="also run another tree of this project, alternating, and print new / old")
    parser.add_argument("--rounds", type=int, default=3, help="runs per tree with --against-tree")
    parser.add_argument("--scope", choices=("issue", "stateright"), default="issue",
                        help="issue: the issue-13 scope (--protocol, --read-mode); stateright: recipes.STATERIGHT_PAXOS")
    parser.add_argument("--sleep-sets-ab", action="store_true",
                        help="alternate runs with sleep sets off and on, and print off / on CPU seconds")
    parser.add_argument("--sleep-sets", choices=("on", "off"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.states < 1 or args.rounds < 1:
        parser.error("--states and --rounds must be positive")
    if args.child:
        sleep_sets = None if args.sleep_sets is None else args.sleep_sets == "on"
        print(json.dumps(measure(args.protocol, args.read_mode, args.states, args.max_depth, args.scope, sleep_sets)))
        return
    what = ("recipes.STATERIGHT_PAXOS" if args.scope == "stateright" else
            f"{args.protocol}" + (f" read_mode={args.read_mode}" if args.protocol == "raft" else "")
            + ", 3 nodes, 2 clients x 2 ops, crash=1, cut=1")
    print(f"explore {what}; at most {args.states:,} distinct states, depth {args.max_depth}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.sleep_sets_ab:
        compare_sleep_sets(args)
    elif args.against_tree is not None:
        if not (Path(args.against_tree) / "workbench" / "explore" / "bfs.py").is_file():
            raise SystemExit(f"explore_speed.py: --against-tree {args.against_tree}: no workbench/explore/bfs.py there")
        compare_trees(args)
    else:
        show("this tree", child_measure(args, None))


if __name__ == "__main__":
    main()
