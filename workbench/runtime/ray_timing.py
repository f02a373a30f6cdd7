"""Timing health of a Ray run: is it measuring the protocol, or the machine?

On the Ray runtime timers and message deliveries are asyncio callbacks. On a busy
machine they run late, and a Raft follower whose election timer fires 200 ms late, or
a heartbeat that arrives 200 ms after its link latency, sees a different protocol
than the configuration describes: a run at load 10-14 measured availability 0.235
where a quiet run gets over 0.5 (issue 17). So each node actor measures

- **timer slip**: how late each timer fired against its deadline (protocol ms), and
- **delivery lateness**: how long after its due time (send time + the link latency
  the network model sampled) each message reached the core,

and the run's summary carries their p50/p99. A run whose p99 timer slip exceeds
`SLIP_WARN_FRACTION` of the election timeout gets a warning: its CAP figures describe
the machine's load more than the protocol. A quarter, because Raft's randomized
timeouts spread over [min, 2 min] (§5.2): a slip of a quarter of the minimum already
reorders which node times out first often enough to change who wins elections.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

SLIP_WARN_FRACTION = 0.25
NO_ELECTION_TIMEOUT_WARN_MS = 50.0
"""The eventual store has no election timeout; its timers (anti-entropy, digests) are
judged against this fixed bound instead."""


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def election_timeout_ms(config: Any) -> float | None:
    options = config.protocol_options()
    value = getattr(options, "election_timeout_min_ms", None)
    return float(value) if value is not None else None


def timing_health(config: Any, timer_slips: Iterable[float],
                  delivery_lateness: Iterable[float]) -> tuple[dict[str, Any], list[str]]:
    """Summary fields (`timer_slip_p50_ms`, ...) and the warnings they call for."""
    slips = sorted(timer_slips)
    late = sorted(delivery_lateness)
    fields: dict[str, Any] = {
        "timer_slip_p50_ms": percentile(slips, 50), "timer_slip_p99_ms": percentile(slips, 99),
        "timer_slip_max_ms": slips[-1] if slips else None, "timers_fired": len(slips),
        "delivery_late_p50_ms": percentile(late, 50), "delivery_late_p99_ms": percentile(late, 99),
        "deliveries_timed": len(late),
    }
    election = election_timeout_ms(config)
    limit = election * SLIP_WARN_FRACTION if election else NO_ELECTION_TIMEOUT_WARN_MS
    fields["timer_slip_limit_ms"] = limit
    warnings = []
    p99 = fields["timer_slip_p99_ms"]
    if p99 is not None and p99 > limit:
        against = (f"{SLIP_WARN_FRACTION:g} of the election timeout ({election:g} ms)"
                   if election else "the fixed bound for protocols without elections")
        warnings.append(
            f"timing: p99 timer slip {p99:.0f} ms exceeds {limit:.0f} ms ({against}): "
            "the machine was too busy for real-time results; these CAP figures measure "
            "its load as much as the protocol (run on a quieter machine, or with a "
            "smaller ray.time_scale, which gives timers more wall-clock slack)")
    return fields, warnings
