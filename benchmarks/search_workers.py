"""`workbench search` throughput: the same seeds serially and on Ray, in one run.

Run: `.venv/bin/python benchmarks/search_workers.py [--seeds 200] [--workers 2]`

Prints seeds per minute for `--workers 1` (in process, no Ray) and `--workers K`
(Ray tasks, Ray start-up included, as a user sees it), and their ratio. Both search
`raft` (default options, composed nemesis) over the same seeds, which all pass.
"""

from __future__ import annotations

import argparse
import time

from workbench.search_command import run_search


def timed(seeds: int, workers: int) -> float:
    began = time.perf_counter()
    code = run_search("raft", seeds, 0, {}, None, None, None, None, workers, None, None, echo=lambda *_: None)
    elapsed = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"workers {workers}: exit {code} (a finding or undecided seeds)")
    return seeds / (elapsed / 60.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serial = timed(args.seeds, 1)
    print(f"workers 1: {serial:.1f} seeds/minute", flush=True)
    parallel = timed(args.seeds, args.workers)
    print(f"workers {args.workers}: {parallel:.1f} seeds/minute (Ray start-up included)")
    print(f"ratio {parallel / serial:.2f}")


if __name__ == "__main__":
    main()
