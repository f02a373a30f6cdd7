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


class RequestPolicy(BaseModel):
    """What happens to a client request that cannot be served now: one policy, the same
    defaults, for every protocol (issue 14 item 1; DESIGN.md, "One request policy").

    The node half (`no_leader`, `hold_ms`) is applied by the runtimes' node driver
    (`runtime/driver.py`), in front of the core, so Raft and Multi-Paxos answer a
    leaderless moment by the same rule; the leaderless stores (eventual, quorum) have no
    "no leader" state and never meet it. The client half (`retries`, backoff) is the
    client pool's (`workload/clients.py`)."""

    model_config = ConfigDict(extra="forbid")
    no_leader: Literal["fail", "hold"] = Field(
        "fail",
        description="what a node that knows no leader does with a request that needs one: "
        "fail (answer `fail` at once: it was handed to no one) or hold (keep it up to "
        "hold_ms, hand it on when a leader is known, else answer `fail`)")
    hold_ms: float = Field(
        250.0, gt=0,
        description="no_leader: hold: longest wait for a leader, in run time; must be under "
        "workload.timeout_ms so the definite `fail` reaches the client before it gives up")
    retries: int = Field(
        0, ge=0,
        description="extra attempts after an op answered `fail` for want of service (not a cas "
        "mismatch or an unsupported op); each attempt is its own op in the history")
    retry_timeouts: bool = Field(
        False,
        description="also retry an op that timed out (it stays `info`); the retry runs as the "
        "slot's fresh process and a write/add/cas gets a fresh value, since the timed-out one "
        "may still take effect")
    backoff_ms: float = Field(
        20.0, ge=0, description="wait before the first retry (instead of think_ms)")
    backoff_multiplier: float = Field(
        2.0, ge=1, description="each further retry waits this many times longer")
    backoff_max_ms: float = Field(
        1000.0, ge=0, description="cap on one retry's wait")

    @property
    def node_hold_ms(self) -> float | None:
        """What the node driver takes: None fails a leaderless request at once."""
        return self.hold_ms if self.no_leader == "hold" else None

    def backoff_for(self, retry: int) -> float:
        """Wait before retry number `retry` (1 = the first retry), capped exponential."""
        return min(self.backoff_ms * self.backoff_multiplier ** (retry - 1), self.backoff_max_ms)


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
        500.0, gt=0,
        description="per attempt: a client that has no answer this long after an op's invoke "
        "gives up on it and records `info` (retries and backoff are outside it)"
    )
    request_policy: RequestPolicy = Field(
        RequestPolicy(), description="leaderless nodes and client retries, the same for every protocol")
    start_s: float = Field(0.5, ge=0, description="clients start after this (lets a leader emerge)")
    final_reads_s: float = Field(
        1.0, ge=0,
        description="the last seconds of the workload are reads only (Jepsen's final reads): "
        "what a store acknowledged must be visible once writes stop",
    )

    @model_validator(mode="after")
    def _policy_fits(self) -> WorkloadConfig:
        policy = self.request_policy
        if policy.no_leader == "hold" and policy.hold_ms >= self.timeout_ms:
            raise ValueError(
                f"request_policy.hold_ms ({policy.hold_ms:g}) must be under timeout_ms "
                f"({self.timeout_ms:g}): a held request's `fail` would reach a client that "
                "already recorded `info`")
        if policy.retries and self.arrival == "open":
            raise ValueError(
                "request_policy: retries need arrival: closed (an open-loop client's next op "
                "comes at its Poisson arrival, not after a backoff)")
        return self
