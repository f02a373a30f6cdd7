"""Run time on the real-time (Ray) runtime: one shared epoch, scaled wall time, in protocol milliseconds.

Every actor (and the conductor) computes run time from the same wall-clock epoch `t0`
that the conductor hands out at start, so history and trace times from different
processes line up. `time.time()` rather than a monotonic clock because monotonic
clocks are per machine; across machines the error is the hosts' NTP offset.

`scale` is `ray.time_scale`: protocol ms per wall ms. 2.0 runs the protocols (timers,
link latencies, the fault schedule, client think times) twice as fast as wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunClock:
    t0: float
    """Wall-clock time (`time.time()`, seconds) of run time 0."""
    scale: float = 1.0

    def now_ms(self) -> float:
        return (time.time() - self.t0) * 1000.0 * self.scale

    def wall_s(self, duration_ms: float) -> float:
        """Wall seconds that `duration_ms` of run time takes (for asyncio timers)."""
        return duration_ms / self.scale / 1000.0

    def wall_at(self, at_ms: float) -> float:
        """The `time.time()` at which run time reaches `at_ms`."""
        return self.t0 + at_ms / self.scale / 1000.0

    def until_s(self, at_ms: float) -> float:
        """Wall seconds from now until run time `at_ms` (0 if already past)."""
        return max(0.0, self.wall_at(at_ms) - time.time())
