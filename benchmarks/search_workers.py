"""`workbench search` throughput: the same seeds serially and on Ray, in one run.

Run: `.venv/bin/python benchmarks/search_workers.py [--seeds 200] [--workers 2]`

Prints seeds per minute for `--workers 1` (in process, no Ray) and `--workers K` (Ray
tasks), and their ratio, twice for Ray: with its start-up (as a user of a one-off
`workbench search` sees it) and warm (Ray started before the clock, as in a long
search, where start-up is amortised). Both search `raft` (default options, composed
nemesis) over the same seeds, which all pass. The load average is printed beside
the numbers: on a shared machine they mean little without it.
"""

from __future__ import annotations

import argparse
import os
import time

from workbench.search_command import run_search


def timed(seeds: int, workers: int) -> float:
    """Minutes to search `seeds` seeds with `workers` (1 = serial, else Ray)."""
    began = time.perf_counter()
    code = run_search("raft", seeds, 0, {}, None, None, None, None, workers, None, None, echo=lambda *_: None)
    elapsed = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"workers {workers}: exit {code} (a finding or undecided seeds)")
    return elapsed / 60.0


def main() -> None:
    from workbench.runtime.ray_session import end_session, start_session

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    serial = args.seeds / timed(args.seeds, 1)
    print(f"workers 1: {serial:.1f} seeds/minute", flush=True)
    cold = args.seeds / timed(args.seeds, args.workers)
    print(f"workers {args.workers}: {cold:.1f} seeds/minute (Ray start-up included); ratio {cold / serial:.2f}",
          flush=True)
    began = time.perf_counter()
    start_session(None, args.workers)
    startup = time.perf_counter() - began
    try:
        warm = args.seeds / timed(args.seeds, args.workers)
    finally:
        end_session()
    print(f"workers {args.workers}: {warm:.1f} seeds/minute (Ray warm; its start-up took {startup:.1f} s); "
          f"ratio {warm / serial:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
