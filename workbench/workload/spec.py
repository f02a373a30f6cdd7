"""The `workload:` section of an experiment file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OpMix(BaseModel):
    """Relative weights of register operations (normalised; need not sum to 1)."""

    model_config = ConfigDict(extra="forbid")
    read: float = Field(0.5, ge=0, description="weight of reads")
    write: float = Field(0.4, ge=0, description="weight of writes")
    cas: float = Field(0.1, ge=0, description="weight of compare-and-set")

    @model_validator(mode="after")
    def _some_weight(self) -> OpMix:
        if self.read + self.write + self.cas <= 0:
            raise ValueError("at least one of read/write/cas must have a positive weight")
        return self


class WorkloadConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["register", "set"] = Field(
        "register", description="register: read/write/cas per key; set: add/read per key")
    keys: int = Field(3, ge=1, description="number of keys (registers or sets)")
    key_dist: Literal["uniform", "zipf"] = Field(
        "uniform", description="how an op picks its key: uniform, or zipf (skewed to key 0)")
    zipf_s: float = Field(1.0, gt=0, description="zipf exponent: P(key k) ~ 1/(k+1)^s")
    mix: OpMix = OpMix()
    add_fraction: float = Field(
        0.8, ge=0, le=1, description="set workload: share of adds (the rest are reads)"
    )
    clients: int | None = Field(
        None, ge=1, description="client processes; default 2 per node. Process p sits beside node p mod n"
    )
    arrival: Literal["closed", "open"] = Field(
        "closed", description="closed: a client waits for each op, then think_ms; open: Poisson arrivals at rate")
    think_ms: float = Field(
        10.0, ge=0, description="closed loop: pause between an op's completion and the next invoke"
    )
    rate: float = Field(
        20.0, gt=0, description="open loop: Poisson arrivals per second per client"
    )
    timeout_ms: float = Field(
        500.0, gt=0, description="a client gives up after this and records `info`"
    )
    start_s: float = Field(0.5, ge=0, description="clients start after this (lets a leader emerge)")
    final_reads_s: float = Field(
        1.0, ge=0,
        description="the last seconds of the workload are reads only (Jepsen's final reads): "
        "what a store acknowledged must be visible once writes stop",
    )
