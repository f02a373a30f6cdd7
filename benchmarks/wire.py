"""The real-time runtime's wire encoding against plain pickle, CPU per batch (issue 17 item 5).

    .venv/bin/python benchmarks/wire.py [--batch 200] [--rounds 5]

A batch of Forward messages (what followers send the leader at saturation) is encoded and
decoded by `runtime.realtime_wire` and by `pickle.dumps` at the highest protocol, in the
same run, alternating. Prints CPU ms per round trip of each (best of `--rounds`) and the
ratio wire / pickle. Measured on 2 busy cores: about 0.2. Timings only print; no test
asserts them (house rule: no timed assertion in a test).
"""

from __future__ import annotations

import argparse
import pickle
import time
from collections.abc import Callable
from typing import Any

from workbench.core.ops import ClientRequest
from workbench.protocols.raft.messages import Forward
from workbench.runtime.realtime_wire import decode, encode


def best_cpu_ms(round_trip: Callable[[], Any], rounds: int, repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            round_trip()
        best = min(best, (time.process_time() - start) / repeat)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    batch = [(1.0, Forward(ClientRequest(i, 1, "write", f"k{i % 50}", i), 1, 0)) for i in range(args.batch)]
    assert decode(encode(batch)) == batch
    wire = best_cpu_ms(lambda: decode(encode(batch)), args.rounds)
    plain = best_cpu_ms(lambda: pickle.loads(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)), args.rounds)
    print(f"batch of {args.batch} Forward: wire {wire:.3f} ms, pickle {plain:.3f} ms per round trip; "
          f"ratio wire/pickle {wire / plain:.2f}")


if __name__ == "__main__":
    main()
