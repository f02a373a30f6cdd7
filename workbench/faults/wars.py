"""The WARS latency model and the PBS paper's production latency fits as named presets.

Bailis et al., "Probabilistically Bounded Staleness for Practical Partial Quorums"
(VLDB 2012), §4.2 model a Dynamo-style store by four one-way message delays: the write
request to a replica (W), its acknowledgement (A), the read request (R) and the read
response (S). §5 fits them to production latency statistics from LinkedIn (Voldemort
on SSDs and on spinning disks) and Yammer (Riak), as mixtures of a Pareto and an
exponential distribution. The parameters below are the ones the authors' own Monte
Carlo simulator uses (pbailis/pbs-vldb-historical-paper-material,
`nrw_solver/src/Simulator.java`: `LinkedSSDDelay`, `LinkedDiskDelay`,
`YammerDelayModel`, and its `WAN` case), in ms:

- LNKD-SSD:  W = A = R = S = 91.22% Pareto(xm 0.235, alpha 10) + 8.78% Exp(lambda 1.66);
- LNKD-DISK: W = 38% Pareto(xm 1.05, alpha 1.51) + 62% Exp(lambda 0.183);
             A = R = S = LNKD-SSD;
- YMMR:      W = 93.9% Pareto(xm 3, alpha 3.5) + 6.1% Exp(lambda 0.0028);
             A = R = S = 98.2% Pareto(xm 1.5, alpha 3.8) + 1.8% Exp(lambda 0.0217);
- WAN:       LNKD-DISK plus 75 ms one way to every replica but one local one.

The simulator draws Pareto as xm / U^(1/alpha), exactly `ParetoLatency`, and the
exponential with rate lambda per ms, i.e. `ExponentialLatency(mean_ms=1/lambda)`.
"""

from __future__ import annotations

from typing import Final

from workbench.faults.spec import (
    ExponentialLatency,
    LatencySpec,
    MixtureComponent,
    MixtureLatency,
    ParetoLatency,
    WarsSpec,
)

WARS_KINDS: Final = ("write_request", "ack", "read_request", "response")
"""The four message kinds of WARS, as a message class's `wars_kind` names them."""


def _pareto_exp(pareto_weight: float, xm: float, alpha: float, rate: float) -> MixtureLatency:
    return MixtureLatency(components=[
        MixtureComponent(weight=pareto_weight, latency=ParetoLatency(scale_ms=xm, shape=alpha)),
        MixtureComponent(weight=1.0 - pareto_weight, latency=ExponentialLatency(mean_ms=1.0 / rate)),
    ])


_LNKD_SSD = _pareto_exp(0.9122, 0.235, 10.0, 1.66)
_LNKD_DISK_WRITE = _pareto_exp(0.38, 1.05, 1.51, 0.183)
_YMMR_WRITE = _pareto_exp(0.939, 3.0, 3.5, 0.0028)
_YMMR_OTHER = _pareto_exp(0.982, 1.5, 3.8, 0.0217)

PRESETS: Final[dict[str, dict[str, LatencySpec]]] = {
    "LNKD-SSD": dict.fromkeys(WARS_KINDS, _LNKD_SSD),
    "LNKD-DISK": {"write_request": _LNKD_DISK_WRITE, "ack": _LNKD_SSD,
                  "read_request": _LNKD_SSD, "response": _LNKD_SSD},
    "YMMR": {"write_request": _YMMR_WRITE, "ack": _YMMR_OTHER,
             "read_request": _YMMR_OTHER, "response": _YMMR_OTHER},
    "WAN": {"write_request": _LNKD_DISK_WRITE, "ack": _LNKD_SSD,
            "read_request": _LNKD_SSD, "response": _LNKD_SSD},
}
"""Preset name -> WARS kind -> latency distribution."""

PRESET_REMOTE_MS: Final[dict[str, float]] = {"WAN": 75.0}
"""Extra one-way delay between different nodes a preset implies (the WAN datacenter hop)."""


def resolve_wars(spec: WarsSpec, default: LatencySpec) -> tuple[dict[str, LatencySpec], float]:
    """Each WARS kind's distribution (explicit field, else preset, else `default`) and the
    remote extra delay (explicit, else the preset's, else 0)."""
    preset = PRESETS.get(spec.preset or "", {})
    kinds = {kind: getattr(spec, kind) or preset.get(kind, default) for kind in WARS_KINDS}
    remote = spec.remote_ms if spec.remote_ms is not None else PRESET_REMOTE_MS.get(spec.preset or "", 0.0)
    return kinds, remote
