"""Op generation: what the next invocation of a client process is.

Written values are unique per run (a global counter), which is what makes stale
reads and lost writes attributable to a single write (Jepsen's register workload
does the same). A cas expects the value this process last saw for the key — the
usual read-modify-write pattern — so cas ops succeed often enough to matter.
"""

from __future__ import annotations

import bisect
import itertools
import random
from typing import Any

from workbench.workload.spec import WorkloadConfig


class OpGenerator:
    def __init__(self, config: WorkloadConfig, rng: random.Random,
                 value_start: int = 1, value_step: int = 1) -> None:
        """`value_start`/`value_step` let several generators of one run (the Ray runtime
        has one per client host) draw disjoint values: host h of H uses (h + 1, H)."""
        self.config = config
        self.rng = rng
        self.key_names = [self._key_name(i) for i in range(config.keys)]
        self._values = itertools.count(value_start, value_step)
        self._last_seen: dict[tuple[int, str], Any] = {}
        if config.key_dist == "zipf":
            weights = [1.0 / (k + 1) ** config.zipf_s for k in range(config.keys)]
        else:
            weights = [1.0] * config.keys
        self._key_cdf = list(itertools.accumulate(weights))
        mix = config.mix
        self._op_cdf = list(itertools.accumulate([mix.read, mix.write, mix.cas]))

    def _key_name(self, index: int) -> str:
        return f"s{index}" if self.config.kind == "set" else f"k{index}"

    def _pick(self, cdf: list[float]) -> int:
        return bisect.bisect_right(cdf, self.rng.random() * cdf[-1])

    def next_op(self, process: int, slot: int, final: bool = False) -> tuple[str, str, Any]:
        """(f, key, value) for the next invoke of `process` (which holds client slot `slot`).

        `final`: the run is in its final-reads phase, so only reads are issued.
        """
        key = self.key_names[min(self._pick(self._key_cdf), len(self.key_names) - 1)]
        if final:
            return "read", key, None
        if self.config.kind == "set":
            if self.rng.random() < self.config.add_fraction:
                return "add", key, next(self._values)
            return "read", key, None
        f = ("read", "write", "cas")[min(self._pick(self._op_cdf), 2)]
        if f == "read":
            return "read", key, None
        if f == "write":
            return "write", key, next(self._values)
        return "cas", key, [self._last_seen.get((slot, key)), next(self._values)]

    def fresh_value(self, f: str, value: Any) -> Any:
        """`value` with its written part replaced by a new unique value (a retry after a
        timeout: the timed-out attempt may still write the old one)."""
        if f in ("write", "add"):
            return next(self._values)
        if f == "cas":
            return [value[0], next(self._values)]
        return value

    def observe(self, slot: int, f: str, key: str, ok: bool, invoke_value: Any, result: Any) -> None:
        """Remember what a client saw, for its next cas."""
        if not ok:
            return
        if f == "read" and self.config.kind == "register":
            self._last_seen[(slot, key)] = result
        elif f == "write":
            self._last_seen[(slot, key)] = invoke_value
        elif f == "cas":
            self._last_seen[(slot, key)] = invoke_value[1]
