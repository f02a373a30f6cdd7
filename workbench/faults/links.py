"""Link behaviour: latency sampling, loss, duplication, reordering.

`LinkModel.delays` runs once per message in the simulator, so everything a spec says
is turned into plain floats and one sampler closure up front; the hot path touches no
pydantic attributes.

Random draws happen in a fixed order (loss, latency, reorder, duplicate, copy latency,
copy reorder) and a draw is skipped when its probability is 0, so a run with the same
spec and seed draws the same numbers.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate

from workbench.faults.spec import (
    ConstantLatency,
    ExponentialLatency,
    LatencySpec,
    LinkSpec,
    LognormalLatency,
    MixtureLatency,
    ParetoLatency,
    UniformLatency,
)
from workbench.faults.wars import resolve_wars

Sampler = Callable[[random.Random], float]


def make_sampler(spec: LatencySpec) -> Sampler:
    """A function rng -> latency in ms (>= 0) for `spec`, with its parameters bound."""
    if isinstance(spec, ConstantLatency):
        ms = spec.ms
        return lambda rng: ms
    if isinstance(spec, UniformLatency):
        low, high = spec.low_ms, spec.high_ms
        return lambda rng: rng.uniform(low, high)
    if isinstance(spec, ExponentialLatency):
        rate = 1.0 / spec.mean
        return lambda rng: rng.expovariate(rate)
    if isinstance(spec, LognormalLatency):
        mu, sigma = math.log(spec.median_ms), spec.sigma
        return lambda rng: rng.lognormvariate(mu, sigma)
    if isinstance(spec, ParetoLatency):
        scale, shape = spec.scale_ms, spec.shape
        # paretovariate(a) has support [1, inf): scaling gives support [scale, inf).
        return lambda rng: scale * rng.paretovariate(shape)
    if isinstance(spec, MixtureLatency):
        samplers = [make_sampler(c.latency) for c in spec.components]
        cumulative = list(accumulate(c.weight for c in spec.components))
        total = cumulative[-1]
        last = len(samplers) - 1

        def mixture(rng: random.Random) -> float:
            # min() guards the float edge where random()*total lands on the last bound.
            i = min(bisect_right(cumulative, rng.random() * total), last)
            return samplers[i](rng)

        return mixture
    raise TypeError(f"not a latency spec: {spec!r}")


def sample_latency(spec: LatencySpec, rng: random.Random) -> float:
    """One latency in ms drawn from `spec`. Prefer `make_sampler` in loops."""
    return make_sampler(spec)(rng)


class LinkModel:
    """What the network does to one message on a link that no partition cuts."""

    __slots__ = ("spec", "sample", "plain", "_loss", "_duplicate", "_reorder", "_reorder_delay",
                 "_wars", "_remote_ms", "_by_class")

    def __init__(self, spec: LinkSpec) -> None:
        self.spec = spec
        self.sample = make_sampler(spec.latency)
        """Draws one latency in ms."""
        self._loss = float(spec.loss)
        self._duplicate = float(spec.duplicate)
        self._reorder = float(spec.reorder)
        self._reorder_delay = float(spec.reorder_delay_ms)
        # WARS mode (PBS §4.2): a sampler per message kind, chosen by the message's class.
        self._wars: dict[str, Sampler] | None = None
        self._remote_ms = 0.0
        self._by_class: dict[type, Sampler] = {}
        if spec.wars is not None:
            kinds, self._remote_ms = resolve_wars(spec.wars, spec.latency)
            self._wars = {kind: make_sampler(latency) for kind, latency in kinds.items()}
        self.plain = self._wars is None and not (self._loss or self._duplicate or self._reorder)
        """No loss, duplication, reordering or WARS: every send is one copy after `sample(rng)`
        ms, exactly what `delays` would return, so a hot loop may call `sample` itself."""

    def _sampler_for(self, message: object) -> Sampler:
        cls = type(message)
        sampler = self._by_class.get(cls)
        if sampler is None:
            kind = getattr(cls, "wars_kind", None)
            sampler = self._wars.get(kind, self.sample) if self._wars is not None and kind else self.sample
            self._by_class[cls] = sampler
        return sampler

    def delays(self, rng: random.Random, message: object = None, remote: bool = True) -> list[float]:
        """Delivery delays in ms for one send: [] if lost, two entries if duplicated.

        A reordered copy is held back `reorder_delay_ms` extra, so messages sent after
        it overtake it. A duplicate gets its own latency and its own reorder draw.
        In WARS mode `message` picks the distribution and `remote` (sender is not the
        receiver) adds `remote_ms`; otherwise both are ignored and the draws are the same.
        """
        sample = self.sample if self._wars is None or message is None else self._sampler_for(message)
        extra = self._remote_ms if remote else 0.0
        if self._loss and rng.random() < self._loss:
            return []
        delay = sample(rng) + extra
        if self._reorder and rng.random() < self._reorder:
            delay += self._reorder_delay
        if self._duplicate and rng.random() < self._duplicate:
            copy = sample(rng) + extra
            if self._reorder and rng.random() < self._reorder:
                copy += self._reorder_delay
            return [delay, copy]
        return [delay]
