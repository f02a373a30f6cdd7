"""PBS metrics, the WARS latency mode and its presets, and k-staleness against the closed form."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from workbench.checkers.pbs import (
    closed_form_miss,
    consistency_at,
    consistency_vs_t,
    k_staleness,
    t_visibility,
    wilson_interval,
)
from workbench.experiment.config import ExperimentConfig
from workbench.faults.links import LinkModel, make_sampler
from workbench.faults.spec import ConstantLatency, LinkSpec, WarsSpec
from workbench.faults.wars import PRESETS, WARS_KINDS
from workbench.history.frame import history_to_frame
from workbench.protocols.quorum import Get, GetReply, Put, PutAck
from workbench.runtime.sim import simulate
from workbench.studies.pbs import PAPER, k_staleness_config, wars_monte_carlo


# ---------------------------------------------------------------- WARS
def test_wars_mode_picks_the_distribution_by_message_kind() -> None:
    spec = LinkSpec(latency=ConstantLatency(ms=99), wars=WarsSpec(
        write_request=ConstantLatency(ms=1), ack=ConstantLatency(ms=2),
        read_request=ConstantLatency(ms=3), response=ConstantLatency(ms=4), remote_ms=10))
    link = LinkModel(spec)
    rng = random.Random(0)
    assert not link.plain
    put, ack = Put((0, 0), "k", ()), PutAck((0, 0))
    get, reply = Get((0, 0), "k"), GetReply((0, 0), ())
    assert [link.delays(rng, m, remote=False)[0] for m in (put, ack, get, reply)] == [1, 2, 3, 4]
    assert [link.delays(rng, m)[0] for m in (put, ack, get, reply)] == [11, 12, 13, 14]
    assert link.delays(rng, object(), remote=False) == [99]  # untagged: the link's latency


def test_without_wars_the_draws_are_unchanged() -> None:
    spec = LinkSpec()
    a, b = random.Random(7), random.Random(7)
    sampler = make_sampler(spec.latency)
    assert [LinkModel(spec).delays(a, Put((0, 0), "k", ()))[0] for _ in range(50)] == \
        [sampler(b) for _ in range(50)]


def test_presets_follow_the_papers_fits() -> None:
    ssd = PRESETS["LNKD-SSD"]["write_request"]
    assert ssd.components[0].weight == pytest.approx(0.9122)  # type: ignore[union-attr]
    assert ssd.components[0].latency.scale_ms == 0.235 and ssd.components[0].latency.shape == 10  # type: ignore[union-attr]
    assert PRESETS["LNKD-DISK"]["ack"] == ssd
    assert set(PRESETS) == {"LNKD-SSD", "LNKD-DISK", "YMMR", "WAN"}
    assert all(set(kinds) == set(WARS_KINDS) for kinds in PRESETS.values())
    # LNKD-SSD's fitted one-way latency: median about a quarter of a ms (Pareto xm 0.235).
    rng = random.Random(1)
    sample = make_sampler(ssd)
    draws = sorted(sample(rng) for _ in range(20_000))
    assert 0.23 < draws[10_000] < 0.3


def test_a_wan_preset_adds_the_datacenter_hop() -> None:
    link = LinkModel(LinkSpec(wars=WarsSpec(preset="WAN")))
    rng = random.Random(3)
    assert min(link.delays(rng, Put((0, 0), "k", ()))[0] for _ in range(200)) >= 75.0
    assert min(link.delays(rng, Put((0, 0), "k", ()), remote=False)[0] for _ in range(200)) < 75.0


# ---------------------------------------------------------------- metrics on a hand-built history
def _history(events: list[tuple[int, str, str, Any, float]]) -> list[dict[str, Any]]:
    return [{"process": p, "type": t, "f": f, "key": "k", "value": v, "time": time}
            for p, t, f, v, time in events]


def test_t_visibility_and_k_staleness_per_read() -> None:
    history = _history([
        (0, "invoke", "write", 1, 0.0), (0, "ok", "write", 1, 5.0),
        (0, "invoke", "write", 2, 6.0), (0, "ok", "write", 2, 10.0),
        (1, "invoke", "read", None, 12.0), (1, "ok", "read", 1, 13.0),  # 2 ms after, 1 behind
        (1, "invoke", "read", None, 15.0), (1, "ok", "read", 2, 16.0),  # 5 ms after, current
        (1, "invoke", "read", None, 17.0), (1, "ok", "read", None, 18.0),  # 2 behind
    ])
    tvis = t_visibility(history_to_frame(history))
    assert tvis["t_ms"].tolist() == [2.0, 5.0, 7.0]
    assert tvis["consistent"].tolist() == [False, True, False]
    assert tvis["k_stale"].tolist() == [1, 0, 2]
    curve = consistency_vs_t(tvis, edges=[0, 4, 8])
    assert curve["reads"].tolist() == [1, 2] and curve["p_consistent"].tolist() == [0.0, 0.5]
    at = consistency_at(tvis, points=[5.0], min_width_ms=1.0)
    assert at["reads"].tolist() == [1] and at["p_consistent"].tolist() == [1.0]


def test_wilson_interval_brackets_the_estimate() -> None:
    low, high = wilson_interval(np.array([0, 50, 100]), np.array([100, 100, 100]))
    assert (low <= np.array([0, 0.5, 1]) + 1e-12).all() and (high >= np.array([0, 0.5, 1]) - 1e-12).all()
    assert high[0] > 0 and low[2] < 1  # never a zero-width band at the edges


# ---------------------------------------------------------------- k-staleness vs the closed form
def pbs_k_config(r: int, w: int, fanout: str, seed: int = 1, duration_s: float = 12.0) -> ExperimentConfig:
    return k_staleness_config(r, w, fanout, seed, duration_s)


def measured_k_staleness(config: ExperimentConfig) -> Any:
    result = simulate(config)
    return k_staleness(t_visibility(history_to_frame(result.history), result.trace), ks=(1, 2))


@pytest.mark.parametrize(("r", "w"), [(r, w) for r in (1, 2, 3) for w in (1, 2, 3)])
def test_k_staleness_matches_the_closed_form(r: int, w: int) -> None:
    """PBS §3.2: P(a read misses the latest k versions) = p^k, p = C(N-W,R)/C(N,R), when
    writes reach exactly a random W-subset and reads ask a random R-subset."""
    config = pbs_k_config(r, w, "quorum")
    table = measured_k_staleness(config)
    p = closed_form_miss(3, r, w)
    for row in table.itertuples():
        expected = p ** row.k
        assert row.reads > 500
        if expected == 0:  # strict quorums: never, not just rarely
            assert row.missed == 0, (config.name, row)
        else:
            assert row.ci_low <= expected <= row.ci_high, (
                f"seed {config.seed}, R={r} W={w} k={row.k}: measured {row.p_missed:.4f} "
                f"[{row.ci_low:.4f}, {row.ci_high:.4f}], closed form {expected:.4f}")


def test_normal_propagation_is_far_fresher_than_the_closed_form() -> None:
    """Writes sent to all N (commit after W acks) keep spreading while the client moves
    on — PBS's expanding quorums (§4) — so with 1-3 ms links a sequential client's reads
    almost never miss, where the closed form says 2/3 for R = W = 1."""
    table = measured_k_staleness(pbs_k_config(1, 1, "all"))
    first = table[table["k"] == 1].iloc[0]
    assert first["reads"] > 500 and first["ci_high"] < closed_form_miss(3, 1, 1) / 4


# ---------------------------------------------------------------- the paper's Monte Carlo
def test_the_monte_carlo_reproduces_the_papers_t0_numbers() -> None:
    """The paper's method on our presets gives the paper's own R = W = 1 numbers (text of
    the CACM version): a check that the presets are the paper's fits."""
    for row in PAPER.itertuples():
        mc = wars_monte_carlo(row.preset, 3, row.r, row.w, [row.t_ms], trials=20_000, seed=5)
        assert abs(mc["monte_carlo"].iloc[0] - row.paper) < 0.015, (row.preset, row.t_ms, mc)


def test_strict_quorums_are_always_consistent_in_the_monte_carlo() -> None:
    mc = wars_monte_carlo("YMMR", 3, 2, 2, [0.0], trials=5000)
    assert mc["monte_carlo"].iloc[0] == 1.0
