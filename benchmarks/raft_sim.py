"""Raft in the simulator, saturated: how many ops and messages per wall second.

A 5-node cluster, closed-loop clients with no think time (every client always has an
op outstanding), no faults, invariant checks off. Prints committed ops per wall
second, delivered messages per wall second, and messages per committed op — about
2(n-1) per op plus heartbeats without batching, fewer with it — for Raft's default
pipelining/batching and for max_batch=1 (one entry per AppendEntries).

In the same run, two baselines:

- happysim's Raft (PyPI `happysim`, pinned to 0.2.5) on the same scenario, for the
  ratio ours / happysim of delivered messages per wall second (target >= 10x), with its
  committed ops per wall second and messages per op. happysim needs Python >= 3.13 and
  this project runs 3.11, so it runs in a separate process: the script finds a Python
  >= 3.13 ($HAPPYSIM_PYTHON, then `uv python find '>=3.13'` without downloads, then
  python3.13 / python3.14 on PATH, then ~/.pyenv/versions/3.1[3-9]*), makes a venv
  with happysim in .cache/happysim/ (gitignored; reused by later runs), and runs
  benchmarks/baselines/happysim_raft.py there for the same simulated seconds; that file's
  docstring says how its scenario differs from ours (chiefly: its leader replicates
  only on its heartbeat tick and has no request forwarding, so it sends far fewer
  messages per op; compare the ops ratio too). Its tick is its replication cadence,
  so it runs at two ticks (1 ms = the one-way latency, and 0.25 ms, its fastest in
  messages per second here) and the verdict uses the faster. Without such a Python,
  or when the install fails, it says why in one line and goes on.
- a bare heapq event loop doing the same number of schedule/deliver steps as the
  default run delivers messages: the floor any Python simulator pays.

    .venv/bin/python benchmarks/raft_sim.py [--seconds 10] [--no-happysim]
        [--happysim-heartbeat-ms 1 0.25]

Against another tree of this project (a refactor must stay within 5% of the code
before it): `--against-tree /tmp/oldtree` runs the default scenario in child processes,
alternating this tree and that one (`--rounds` times each, the other tree imported
through PYTHONPATH), and prints the ratio new / old of the median delivered messages
per CPU second and per wall second. Alternating rounds spread a busy machine's noise
over both sides; CPU seconds leave out time spent waiting for a core.

    git worktree add /tmp/oldtree 530e83f
    .venv/bin/python benchmarks/raft_sim.py --against-tree /tmp/oldtree [--rounds 5] [--protocol paxos]

`--protocol paxos` runs the same scenario on Multi-Paxos (its defaults) instead.
"""

from __future__ import annotations

import argparse
import glob
import heapq
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

try:
    from workbench.experiment.config import validate_config
except ImportError:  # --against-tree a tree from before issue 16's experiment/ package
    from workbench.config import validate_config  # type: ignore[no-redef]
from workbench.runtime.sim import Simulation

TARGET_MSGS_PER_S = 150_000
TARGET_RATIO = 10.0  # ours / happysim, delivered messages per wall second
HAPPYSIM_VERSION = "0.2.5"
HAPPYSIM_RUNNER = Path(__file__).parent / "baselines" / "happysim_raft.py"
HAPPYSIM_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "happysim"


def config(seconds: float, nodes: int, clients: int, protocol: str = "raft", **raft: object) -> object:
    return validate_config({
        "name": f"bench-{protocol}", "protocol": protocol, "seed": 1, "nodes": nodes, "duration_s": seconds,
        "workload": {"kind": "register", "keys": 8, "clients": clients, "think_ms": 0,
                     "timeout_ms": 1000, "start_s": 0.5},
        "network": {"latency": {"dist": "constant", "ms": 1.0}},
        protocol: dict(raft),
        "sim": {"digest_interval_ms": 1000},
    })


def measure(seconds: float, nodes: int, clients: int, protocol: str = "raft",
            **raft: object) -> dict[str, float]:
    sim = Simulation(config(seconds, nodes, clients, protocol, **raft))  # type: ignore[arg-type]
    start, cpu = time.perf_counter(), time.process_time()
    result = sim.run()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    ok = sum(1 for e in result.history if e["type"] == "ok")
    completed = sum(1 for e in result.history if e["type"] in ("ok", "fail"))
    delivered = result.stats["messages_delivered"]
    return {"wall_s": wall, "cpu_s": cpu, "ok": ok, "completed": completed, "delivered": delivered,
            "ops_per_s": completed / wall, "msgs_per_s": delivered / wall,
            "msgs_per_cpu_s": delivered / cpu,
            "msgs_per_op": result.stats["messages_sent"] / max(completed, 1)}


def heapq_baseline(steps: int) -> float:
    """Events per wall second of a bare heapq loop: schedule one event per delivery,
    pop it, call a trivial handler — no protocol, no network model, no effects."""
    rng = random.Random(1)
    heap: list[tuple[float, int, int, object]] = []
    handled = [0]

    def handler(message: object) -> None:
        handled[0] += 1

    for seq in range(64):  # some events in flight, as in a real run
        heapq.heappush(heap, (rng.random(), seq, 0, None))
    now, seq = 0.0, 64
    start = time.perf_counter()
    for _ in range(steps):
        at, _, _, message = heapq.heappop(heap)
        now = at
        handler(message)
        seq += 1
        heapq.heappush(heap, (now + rng.uniform(0.5, 1.5), seq, 0, message))
    return steps / (time.perf_counter() - start)


def verified_python(candidate: str) -> str | None:
    """The interpreter's version if `candidate` runs and is >= 3.13, else None
    (a pyenv shim for a version that is not selected exists on PATH but fails)."""
    try:
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 13), sys.version.split()[0])"],
            capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    ok, _, found = probe.stdout.strip().partition(" ")
    return found if probe.returncode == 0 and ok == "True" else None


def find_python313() -> tuple[str, str] | str:
    """(path, version) of a Python >= 3.13 for happysim, or why there is none. Looks at
    $HAPPYSIM_PYTHON, then `uv python find '>=3.13'` (no downloads), then python3.13 /
    python3.14 on PATH, then ~/.pyenv/versions/3.1[3-9]*."""
    tried: list[str] = []
    env = os.environ.get("HAPPYSIM_PYTHON")
    if env:
        found = verified_python(env)
        if found:
            return env, found
        tried.append(f"HAPPYSIM_PYTHON={env} is not a working Python >= 3.13")
    uv = shutil.which("uv")
    if uv:
        try:
            out = subprocess.run([uv, "python", "find", ">=3.13"], capture_output=True, text=True,
                                 timeout=60, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
            path = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else ""
        except (OSError, subprocess.SubprocessError):
            path = ""
        found = verified_python(path) if path else None
        if path and found:
            return path, found
        tried.append("uv python find '>=3.13' found none")
    candidates = [p for name in ("python3.13", "python3.14") if (p := shutil.which(name))]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python")))
    for path in candidates:
        found = verified_python(path)
        if found:
            return path, found
    tried.append("no working python3.13/python3.14 on PATH or in ~/.pyenv/versions")
    return "no Python >= 3.13 found (happysim requires it): " + "; ".join(tried)


def happysim_venv(python: str, python_version: str) -> Path | str:
    """A venv with happysim==HAPPYSIM_VERSION for `python`, cached (gitignored) under
    .cache/ and reused across runs; rebuilt when it does not import happysim at that
    version (e.g. an interrupted build). Returns its interpreter, or why it could not
    be made."""
    home = HAPPYSIM_CACHE / f"py{python_version}-happysim-{HAPPYSIM_VERSION}"
    venv_python = home / "bin" / "python"
    check = ["-c", "import importlib.metadata as m, happysimulator; "
                   f"assert m.version('happysim') == '{HAPPYSIM_VERSION}'"]
    try:
        if venv_python.exists() and subprocess.run(
                [str(venv_python), *check], capture_output=True, timeout=300).returncode == 0:
            return venv_python
        shutil.rmtree(home, ignore_errors=True)
        home.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run([python, "-m", "venv", str(home)], capture_output=True, text=True,
                              timeout=300)
        if made.returncode != 0:
            return f"`{python} -m venv` failed: {last_line(made.stderr, made.returncode)}"
        # pip may warn about local index locations (find-links, file:// indexes): harmless
        pip = subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet",
                              f"happysim=={HAPPYSIM_VERSION}"],
                             capture_output=True, text=True, timeout=900)
        if pip.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            return (f"pip install happysim=={HAPPYSIM_VERSION} failed: "
                    f"{last_line(pip.stderr, pip.returncode)}")
        return venv_python
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not build its venv: {exc}"


def last_line(text: str, code: int) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {code}"


def run_happysim(seconds: float, nodes: int, clients: int, heartbeat_ms: float) -> dict | str:
    """Run benchmarks/baselines/happysim_raft.py under Python >= 3.13 with happysim installed;
    its JSON result, or why it could not run."""
    found = find_python313()
    if isinstance(found, str):
        return found
    python, python_version = found
    venv_python = happysim_venv(python, python_version)
    if isinstance(venv_python, str):
        return venv_python
    try:
        out = subprocess.run(
            [str(venv_python), str(HAPPYSIM_RUNNER), "--seconds", str(seconds), "--nodes",
             str(nodes), "--clients", str(clients), "--heartbeat-ms", str(heartbeat_ms)],
            capture_output=True, text=True, timeout=600 + 120 * seconds)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"its runner could not run: {exc}"
    if out.returncode != 0:
        return f"its runner failed: {last_line(out.stderr, out.returncode)}"
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"its runner printed no JSON: {out.stdout.strip()[-200:]!r}"
    result["interpreter"] = python
    return result


def report_happysim(hs: dict, results: dict[str, dict[str, float]]) -> None:
    hs_ops, hs_msgs = hs["ops"] / hs["wall_s"], hs["msgs"] / hs["wall_s"]
    print(f"  happysim {hs['happysim_version']} on Python {hs['python']} ({hs['interpreter']}), "
          f"leader tick {hs['heartbeat_ms']:g} ms:")
    print(f"    committed ops/wall s  {hs_ops:>10,.0f}   ({hs['ops']:,} ops in {hs['wall_s']:.2f} s)")
    print(f"    delivered msgs/wall s {hs_msgs:>10,.0f}   (per CPU s of its process: "
          f"{hs['msgs'] / hs['cpu_s']:,.0f})")
    print(f"    messages per op       {hs['sent'] / max(hs['ops'], 1):>10.2f}   (no forwarding; "
          f"AppendEntries only on the leader's tick, batching all unacked entries)")
    print(f"    engine events/wall s  {hs['events'] / hs['wall_s']:>10,.0f}   ({hs['events']:,} events: "
          f"about 3 per message — send, link delay, delivery — plus ticks and client resumes)")
    if hs["elections"] != 1 or not isinstance(hs["leader"], str):
        print(f"    WARNING: {hs['elections']} elections, leader(s) {hs['leader']}: "
              f"not a steady single-leader run")
    for label, r in results.items():
        print(f"  ours / happysim at this tick, {label}: delivered msgs/wall s "
              f"{r['msgs_per_s'] / hs_msgs:.1f}x (per CPU s "
              f"{r['msgs_per_cpu_s'] / (hs['msgs'] / hs['cpu_s']):.1f}x), "
              f"committed ops/wall s {r['ops_per_s'] / hs_ops:.1f}x")


def child_measure(seconds: float, nodes: int, clients: int, tree: str | None,
                  protocol: str = "raft") -> dict[str, float]:
    """`measure` in a fresh process, importing `workbench` from `tree` (None: this tree)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(tree).resolve()), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "--seconds", str(seconds),
         "--nodes", str(nodes), "--clients", str(clients), "--protocol", protocol],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent, check=False)
    if out.returncode != 0:
        raise SystemExit(f"raft_sim.py: the child for tree {tree or 'this'} failed: "
                         f"{last_line(out.stderr, out.returncode)}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_trees(old_tree: str, rounds: int, seconds: float, nodes: int, clients: int,
                  protocol: str = "raft") -> None:
    """Alternate this tree and `old_tree`, then print new / old of the medians."""
    if not (Path(old_tree) / "workbench" / "runtime" / "sim.py").is_file():
        raise SystemExit(f"raft_sim.py: --against-tree {old_tree}: no workbench/runtime/sim.py there")
    runs: dict[str, list[dict[str, float]]] = {"new": [], "old": []}
    for i in range(rounds):
        for side, tree in (("new", None), ("old", old_tree)) if i % 2 == 0 else (("old", old_tree), ("new", None)):
            r = child_measure(seconds, nodes, clients, tree, protocol)
            runs[side].append(r)
            print(f"  round {i + 1} {side}: {r['msgs_per_cpu_s']:,.0f} delivered msgs/CPU s, "
                  f"{r['msgs_per_s']:,.0f} per wall s ({int(r['delivered']):,} msgs)")
    if {r["delivered"] for r in runs["new"] + runs["old"]} != {runs["new"][0]["delivered"]}:
        print("  WARNING: the trees delivered different message counts: not the same run")
    for metric, unit in (("msgs_per_cpu_s", "CPU s"), ("msgs_per_s", "wall s")):
        new = statistics.median(r[metric] for r in runs["new"])
        old = statistics.median(r[metric] for r in runs["old"])
        verdict = "within" if new >= 0.95 * old else "OUTSIDE"
        print(f"result: new / old delivered msgs per {unit} = {new / old:.3f} "
              f"(medians of {rounds}: {new:,.0f} / {old:,.0f}) {verdict} 5% of the old code")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per run")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-happysim", action="store_true", help="skip the happysim baseline")
    parser.add_argument("--happysim-heartbeat-ms", type=float, nargs="+", default=[1.0, 0.25],
                        help="happysim leader ticks to run, its replication cadence (see "
                             "baselines/happysim_raft.py); the verdict uses the fastest")
    parser.add_argument("--against-tree", metavar="PATH", default=None,
                        help="compare with the workbench in PATH (e.g. a worktree of the old code)")
    parser.add_argument("--rounds", type=int, default=5, help="runs per tree with --against-tree")
    parser.add_argument("--protocol", choices=("raft", "paxos"), default="raft",
                        help="with --against-tree: the core to compare (paxos: the same scenario, "
                             "Multi-Paxos with its defaults)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement as JSON, for --against-tree
        print(json.dumps(measure(args.seconds, args.nodes, args.clients, args.protocol)))
        return
    if args.against_tree is not None:
        print(f"{args.protocol.capitalize()}, {args.nodes} nodes, {args.clients} clients, "
              f"{args.seconds:g} simulated s: this tree against {args.against_tree}, "
              f"{args.rounds} alternating rounds")
        compare_trees(args.against_tree, args.rounds, args.seconds, args.nodes, args.clients, args.protocol)
        return

    print(f"Raft, {args.nodes} nodes, {args.clients} closed-loop clients (think 0 ms), "
          f"{args.seconds:g} simulated s, one-way latency 1 ms (constant), invariants off")
    runs = {"pipelined + batched (defaults)": {},
            "max_batch=1, max_inflight=1000 (no batching)": {"max_batch": 1, "max_inflight": 1000}}
    results = {}
    for label, raft in runs.items():
        r = measure(args.seconds, args.nodes, args.clients, **raft)
        results[label] = r
        print(f"  {label}:")
        print(f"    committed ops/wall s  {r['ops_per_s']:>10,.0f}   ({r['completed']:,} ops in {r['wall_s']:.2f} s)")
        print(f"    delivered msgs/wall s {r['msgs_per_s']:>10,.0f}   (target >= {TARGET_MSGS_PER_S:,}; "
              f"per CPU s of this process: {r['msgs_per_cpu_s']:,.0f})")
        print(f"    messages per op       {r['msgs_per_op']:>10.2f}   (2(n-1) = {2 * (args.nodes - 1)} "
              f"+ forwarding + heartbeats, unbatched)")
    main_run = results["pipelined + batched (defaults)"]

    print("baseline: happysim's Raft, same scenario (benchmarks/baselines/happysim_raft.py docstring says "
          "where it differs)")
    measured: list[dict] = []
    for tick in ([] if args.no_happysim else args.happysim_heartbeat_ms):
        hs = run_happysim(args.seconds, args.nodes, args.clients, tick)
        if isinstance(hs, str):
            print(f"  happysim's Raft is not measured: {hs}")
            break
        report_happysim(hs, results)
        measured.append(hs)
    if args.no_happysim:
        print("  happysim's Raft is not measured: skipped (--no-happysim)")
    steps = int(main_run["delivered"])
    rate = heapq_baseline(steps)
    print(f"baseline: bare heapq event loop, {steps:,} schedule/deliver steps: {rate:,.0f} events/wall s")
    print(f"  Raft sim delivered msgs/s as a fraction of the bare loop: {main_run['msgs_per_s'] / rate:.2f}")
    if measured:
        # The conservative ratio: against happysim's fastest tick in this run.
        best = max(measured, key=lambda hs: hs["msgs"] / hs["wall_s"])
        ratio = main_run["msgs_per_s"] / (best["msgs"] / best["wall_s"])
        verdict = "meets" if ratio >= TARGET_RATIO else "is BELOW"
        print(f"result: ours / happysim delivered msgs per wall s = {ratio:.1f}x (pipelined + batched "
              f"defaults, against happysim's fastest tick, {best['heartbeat_ms']:g} ms) {verdict} "
              f"the {TARGET_RATIO:g}x target")
    for label, r in results.items():
        verdict = "meets" if r["msgs_per_s"] >= TARGET_MSGS_PER_S else "is BELOW"
        print(f"result: {label}: {r['msgs_per_s']:,.0f} delivered msgs/wall s {verdict} the "
              f"{TARGET_MSGS_PER_S:,} target")
    print("(wall-clock rates drop when other processes share the CPUs; the per-CPU-second "
          "rate is what an idle machine gets)")


if __name__ == "__main__":
    main()
