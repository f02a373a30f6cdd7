"""Link latency distributions as data (`network.latency`, `links[].latency`, the
mixture components): pydantic models, one per `dist`, in MILLISECONDS. Split out of
`faults.spec` (one job per module); `faults.spec` re-exports every name.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

# populate_by_name + serialize_by_alias: code may write `from_=`/`mean=`, dumps round-trip as YAML keys.
_STRICT = ConfigDict(
    extra="forbid", allow_inf_nan=False, populate_by_name=True, serialize_by_alias=True
)

# --------------------------------------------------------------------------- latency


class _Latency(BaseModel):
    model_config = _STRICT

    def mean_ms(self) -> float:
        """The distribution's theoretical mean, in ms."""
        raise NotImplementedError


class ConstantLatency(_Latency):
    dist: Literal["constant"] = "constant"
    ms: float = Field(ge=0.0, description="one-way delay of every message")

    def mean_ms(self) -> float:
        return self.ms


class UniformLatency(_Latency):
    dist: Literal["uniform"] = "uniform"
    low_ms: float = Field(ge=0.0, description="shortest one-way delay")
    high_ms: float = Field(ge=0.0, description="longest one-way delay")

    @model_validator(mode="after")
    def _ordered(self) -> UniformLatency:
        if self.high_ms < self.low_ms:
            raise ValueError(f"high_ms ({self.high_ms}) must be >= low_ms ({self.low_ms})")
        return self

    def mean_ms(self) -> float:
        return (self.low_ms + self.high_ms) / 2.0


class ExponentialLatency(_Latency):
    dist: Literal["exponential"] = "exponential"
    mean: float = Field(gt=0.0, alias="mean_ms", description="mean one-way delay")

    def mean_ms(self) -> float:
        return self.mean


class LognormalLatency(_Latency):
    """Latency = median * exp(sigma * N(0,1)); a common fit for datacenter RTTs."""

    dist: Literal["lognormal"] = "lognormal"
    median_ms: float = Field(gt=0.0, description="median one-way delay")
    sigma: float = Field(ge=0.0, description="spread: standard deviation of the log of the delay")

    def mean_ms(self) -> float:
        return self.median_ms * math.exp(self.sigma**2 / 2.0)


class ParetoLatency(_Latency):
    """Heavy tail: P(X > x) = (scale/x)^shape for x >= scale."""

    dist: Literal["pareto"] = "pareto"
    scale_ms: float = Field(gt=0.0, description="shortest delay (the scale of the Pareto tail)")
    # shape <= 1 has an infinite mean: runs would not be comparable by their averages.
    shape: float = Field(gt=1.0, description="tail index, > 1; smaller is a heavier tail")

    def mean_ms(self) -> float:
        return self.shape * self.scale_ms / (self.shape - 1.0)


class MixtureComponent(BaseModel):
    model_config = _STRICT

    weight: float = Field(gt=0.0, description="relative probability of this component")
    latency: LatencySpec


class MixtureLatency(_Latency):
    """Pick a component with probability weight/sum(weights), then sample it.

    E.g. 95% fast local links plus 5% slow cross-region ones.
    """

    dist: Literal["mixture"] = "mixture"
    components: list[MixtureComponent] = Field(min_length=1, description="the distributions mixed, with their weights")

    def mean_ms(self) -> float:
        total = sum(c.weight for c in self.components)
        return sum(c.weight * c.latency.mean_ms() for c in self.components) / total


LatencySpec: TypeAlias = Annotated[
    ConstantLatency
    | UniformLatency
    | ExponentialLatency
    | LognormalLatency
    | ParetoLatency
    | MixtureLatency,
    Field(discriminator="dist"),
]
"""A latency distribution, chosen by its `dist` field."""

MixtureComponent.model_rebuild()
MixtureLatency.model_rebuild()

LATENCY_ADAPTER: TypeAdapter[LatencySpec] = TypeAdapter(LatencySpec)
"""Parse a bare latency mapping: `LATENCY_ADAPTER.validate_python({"dist": "constant", "ms": 2})`."""


def _default_latency() -> UniformLatency:
    return UniformLatency(low_ms=1.0, high_ms=3.0)
