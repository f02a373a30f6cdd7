"""Linearizability checker benchmark: porcupine's histories and a sweep-sized one.

Run: `.venv/bin/python benchmarks/checker.py [--repeat N]`

Prints, for the 102 etcd histories (total and the slowest files), kv c50-ok, and a
generated 100,000-op cas-register history over 100 keys: the best of N timings of the
check alone (parsing excluded, as porcupine times `CheckEvents`), the target of the
checker issue, and porcupine's median from tests/data/porcupine/verdicts.csv (Go,
GOMAXPROCS=1, 2-core EPYC) with our time as a ratio of it.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.checkers.linearizability import check_linearizability  # noqa: E402
from workbench.history.importers import load_history  # noqa: E402

DATA = ROOT / "tests" / "data" / "porcupine"
TARGET_ETCD_S = 1.6
TARGET_C50_OK_S = 0.6
TARGET_100K_S = 10.0


def best_time(events: list[dict[str, Any]], model: str, repeat: int) -> tuple[float, str]:
    best, verdict = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        verdict = check_linearizability(events, model).verdict
        best = min(best, time.perf_counter() - start)
    return best, verdict


def simulated_register_history(ops: int = 100_000, keys: int = 100, processes: int = 50,
                               seed: int = 7, p_info: float = 0.01) -> list[dict[str, Any]]:
    """A linearizable cas-register history: every op takes effect at one instant inside
    its interval; clients overlap. Writes use unique values, reads return what the
    register held, a cas fails when its compare does not match, and 1 % of ops time out
    (info) and take effect or not. Seeded, so every run checks the same history."""
    rng = random.Random(seed)
    free_at = [0.0] * processes
    timeline: list[tuple[float, int, int, tuple[Any, ...]]] = []
    for i in range(ops):
        p = rng.randrange(processes)
        start = free_at[p] + rng.expovariate(1.0)
        point = start + rng.expovariate(0.5)
        end = point + rng.expovariate(0.5)
        key = f"k{rng.randrange(keys)}"
        r = rng.random()
        f, value = ("read", None) if r < 0.5 else ("write", i) if r < 0.9 else (
            "cas", [rng.choice([None, i - 1, i - 2]), i])
        info = rng.random() < p_info
        timeline.append((start, 0, i, (p, f, key, value)))
        if not info or rng.random() < 0.5:
            timeline.append((point + (rng.random() * 50 if info else 0), 1, i, (f, key, value)))
        timeline.append((end + (60 if info else 0), 2, i, (p, f, key, value, info)))
        free_at[p] = end + (60 if info else 0)
    timeline.sort()
    state: dict[str, Any] = {}
    outcome: dict[int, tuple[str, Any]] = {}
    events = []
    for t, kind, i, payload in timeline:
        if kind == 0:
            p, f, key, value = payload
            events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                           "time": t})
        elif kind == 1:
            f, key, value = payload
            now = state.get(key)
            if f == "read":
                outcome[i] = ("ok", now)
            elif f == "write":
                outcome[i] = ("ok", value)
                state[key] = value
            elif now == value[0]:
                outcome[i] = ("ok", value)
                state[key] = value[1]
            else:
                outcome[i] = ("fail", value)
        else:
            p, f, key, value, info = payload
            kind_, result = ("info", None) if info else outcome[i]
            events.append({"process": p, "type": kind_, "f": f, "key": key, "value": result,
                           "time": t})
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timings per history (best is kept)")
    parser.add_argument("--slowest", type=int, default=8, help="slowest etcd files to list")
    args = parser.parse_args()

    rows = list(csv.DictReader((DATA / "verdicts.csv").open()))
    porcupine = {r["file"]: float(r["porcupine_median_ms"]) for r in rows if r["porcupine_median_ms"]}
    etcd: list[tuple[float, str, str]] = []
    for row in rows:
        if row["format"] != "jepsen-etcd-log" or row["expected"].startswith("none"):
            continue
        events, model = load_history(DATA / row["file"])
        seconds, verdict = best_time(events, model, args.repeat)
        if verdict != row["expected"]:
            print(f"WRONG VERDICT {row['file']}: {verdict} (expected {row['expected']})")
        etcd.append((seconds, row["file"], verdict))

    total = sum(s for s, _, _ in etcd)
    porcupine_total = sum(porcupine[f] for _, f, _ in etcd) / 1000
    print(f"{'history':<24} {'ms':>9} {'target ms':>10} {'porcupine ms':>13} {'ratio':>7}")
    print(f"{'etcd, 102 files':<24} {total * 1000:>9.1f} {TARGET_ETCD_S * 1000:>10.0f} "
          f"{porcupine_total * 1000:>13.1f} {total / porcupine_total:>7.2f}")
    hard = {f"jepsen/etcd_{n}.log" for n in ("002", "007", "057", "099")}  # porcupine's slowest
    listed = sorted(etcd, reverse=True)[: args.slowest]
    listed += sorted(e for e in etcd if e[1] in hard and e not in listed)
    for seconds, name, verdict in listed:
        ref = porcupine[name]
        print(f"  {Path(name).stem:<22} {seconds * 1000:>9.2f} {'':>10} {ref:>13.2f} "
              f"{seconds * 1000 / ref:>7.2f}  {verdict}")

    for name in ("kv/c50-ok.txt", "kv/c50-bad.txt"):
        events, model = load_history(DATA / name)
        seconds, verdict = best_time(events, model, args.repeat)
        target = f"{TARGET_C50_OK_S * 1000:.0f}" if name.endswith("ok.txt") else "-"
        print(f"{name:<24} {seconds * 1000:>9.1f} {target:>10} {porcupine[name]:>13.1f} "
              f"{seconds * 1000 / porcupine[name]:>7.2f}  {verdict}")

    start = time.perf_counter()
    events = simulated_register_history()
    made = time.perf_counter() - start
    seconds, verdict = best_time(events, "cas-register", max(1, min(args.repeat, 2)))
    print(f"{'100k ops, 100 keys':<24} {seconds * 1000:>9.1f} {TARGET_100K_S * 1000:>10.0f} "
          f"{'-':>13} {'-':>7}  {verdict} ({len(events)} events, generated in {made:.1f} s)")


if __name__ == "__main__":
    main()
