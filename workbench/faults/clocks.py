"""Per-node clocks with a fixed offset and a constant drift.

The runtime keeps true (virtual or wall) time; a node is handed `now` on its own
clock and asks for timers in its own clock's units. A clock that runs fast (drift > 0)
fires its timers early in true time, which is what breaks lease-based reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import ConfigError
from workbench.faults.spec import FaultsConfig


@dataclass(frozen=True, slots=True)
class Clock:
    offset_ms: float = 0.0
    drift: float = 0.0
    """0.01: the clock advances 1.01 ms per true ms. Must be > -1."""

    def local(self, true_ms: float) -> float:
        """The node's reading at true time `true_ms`."""
        return self.offset_ms + true_ms * (1.0 + self.drift)

    def true_delay(self, local_delay_ms: float) -> float:
        """True time until the node's clock has advanced `local_delay_ms` (a timer)."""
        return local_delay_ms / (1.0 + self.drift)


def clocks_for(cfg: FaultsConfig, n: int) -> list[Clock]:
    """One clock per node 0..n-1; nodes not named in `cfg.clocks` keep perfect time."""
    clocks = [Clock() for _ in range(n)]
    for i, c in enumerate(cfg.clocks):
        if not 0 <= c.node < n:
            raise ConfigError(
                f"faults.clocks[{i}].node: node {c.node} does not exist (nodes are 0..{n - 1})"
            )
        clocks[c.node] = Clock(offset_ms=c.offset_ms, drift=c.drift)
    return clocks
