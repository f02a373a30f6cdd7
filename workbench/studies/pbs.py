"""PBS t-visibility reproduced: the simulator, the paper's Monte Carlo, the paper's numbers.

Bailis et al., "Probabilistically Bounded Staleness for Practical Partial Quorums"
(VLDB 2012) measure, for N = 3, the probability that a read is consistent t ms after a
write commits, under four production latency fits (`faults/wars.py`). Three columns:

- `sim`: the full quorum store (`protocols/quorum.py`) in the simulator under the
  WARS network mode, reads classified by `checkers/pbs.t_visibility`, with Wilson 95%
  intervals (`experiments/pbs.yaml`);
- `monte_carlo`: the paper's own method (§5.1, and the CACM version's pseudocode): per
  trial draw W, A, R, S for each replica; the write commits at the W-th smallest W+A;
  the read is consistent if any of its first R responders (by R+S) got the write
  first, i.e. w_t + R[i] + t >= W[i];
- `paper`: the numbers the paper's text states, where it states them (R = W = 1 only).
  Sources: the CACM research highlight (Bailis et al. 2014, "Quantifying eventual
  consistency with PBS", §"Staleness in Production"; pbailis/paper-repo-cacm-pbs-
  research-highlight, pbs-cacm.tex), whose text gives: LNKD-SSD 97.4% at t = 0 and over
  99.999% after 5 ms; LNKD-DISK 43.9% at t = 0 and 92.5% at 10 ms; YMMR 89.3% at t = 0
  (99.9% only at 1364 ms); WAN 33% at t = 0 (in a commented-out sentence of that text).
  The VLDB paper's Table of t-visibility percentiles could not be retrieved here, so no
  number is quoted from it. R = W = 2 is a strict quorum (R + W > N): always
  consistent, which the paper states as the strict-quorum baseline (§2).

    python -m workbench.studies.pbs                    # full size: a few minutes
    python -m workbench.studies.pbs --duration 10      # quicker, wider intervals
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.checkers.pbs import (
    PAPER_T_POINTS_MS,
    closed_form_miss,
    consistency_at,
    k_staleness,
    t_visibility,
)
from workbench.experiment.config import ExperimentConfig, load_config, validate_config
from workbench.faults.links import make_sampler
from workbench.faults.wars import PRESET_REMOTE_MS, PRESETS, WARS_KINDS
from workbench.history.frame import history_to_frame
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import simulate

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "pbs.yaml"
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
RW_HEADLINE: tuple[tuple[int, int], ...] = ((1, 1), (2, 2))

PAPER = pd.DataFrame([
    # preset, r, w, t_ms, p_consistent, how the text states it
    ("LNKD-SSD", 1, 1, 0.0, 0.974, "97.4%"),
    ("LNKD-SSD", 1, 1, 5.0, 0.99999, "> 99.999% after 5 ms"),
    ("LNKD-DISK", 1, 1, 0.0, 0.439, "43.9%"),
    ("LNKD-DISK", 1, 1, 10.0, 0.925, "92.5%"),
    ("YMMR", 1, 1, 0.0, 0.893, "89.3%"),
    ("WAN", 1, 1, 0.0, 0.33, "33% (commented-out text)"),
], columns=["preset", "r", "w", "t_ms", "paper", "paper_text"])


def simulate_tvis(preset: str, r: int, w: int, experiment: Path = EXPERIMENT,
                  seed: int | None = None, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """One simulator run of `experiment` under `preset` with R = r, W = w: per-read t-visibility."""
    extra = [f"network.wars.preset={preset}", f"quorum.r={r}", f"quorum.w={w}", *overrides]
    if seed is not None:
        extra.append(f"seed={seed}")
    config = load_config(experiment, extra)
    if config.duration_ms <= config.workload.timeout_ms + config.workload.start_s * 1000:
        raise ValueError(f"duration_s={config.duration_s}: clients stop timeout_ms before the end, "
                         "so the run needs more than workload.timeout_ms + start_s")
    result = simulate(config)
    tvis = t_visibility(history_to_frame(result.history), result.trace)
    return tvis.assign(preset=preset, r=r, w=w)


def wars_monte_carlo(preset: str, n: int, r: int, w: int, t_points: Iterable[float],
                     trials: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """The paper's Monte Carlo of WARS for one preset: P(consistent) at each t.

    As the authors' simulator does for WAN, one random replica is local to the write's
    coordinator and one to the read's; the others get the preset's remote delay.
    """
    rng = derive_rng(seed, "pbs-monte-carlo", preset, n, r, w)
    samplers = {kind: make_sampler(PRESETS[preset][kind]) for kind in WARS_KINDS}
    remote = PRESET_REMOTE_MS.get(preset, 0.0)
    draws = {kind: np.array([[samplers[kind](rng) for _ in range(n)] for _ in range(trials)])
             for kind in WARS_KINDS}
    if remote:
        draws = _add_remote(draws, rng, trials, n, remote)
    write, ack = draws["write_request"], draws["ack"]
    read, response = draws["read_request"], draws["response"]
    committed = np.sort(write + ack, axis=1)[:, w - 1]
    first = np.argsort(read + response, axis=1)[:, :r]  # the first R responders
    rows = np.arange(trials)[:, None]
    out = []
    for t in t_points:
        fresh = committed[:, None] + read[rows, first] + t >= write[rows, first]
        hits = int(fresh.any(axis=1).sum())
        out.append({"preset": preset, "r": r, "w": w, "t_ms": float(t), "monte_carlo": hits / trials})
    return pd.DataFrame(out)


def _add_remote(draws: dict[str, np.ndarray], rng: random.Random, trials: int, n: int,
                remote: float) -> dict[str, np.ndarray]:
    write_local = np.array([rng.randrange(n) for _ in range(trials)])
    read_local = np.array([rng.randrange(n) for _ in range(trials)])
    far_w = np.arange(n)[None, :] != write_local[:, None]
    far_r = np.arange(n)[None, :] != read_local[:, None]
    return {"write_request": draws["write_request"] + remote * far_w, "ack": draws["ack"] + remote * far_w,
            "read_request": draws["read_request"] + remote * far_r, "response": draws["response"] + remote * far_r}


def headline(tvis: pd.DataFrame, monte_carlo: pd.DataFrame,
             points: Sequence[float] = PAPER_T_POINTS_MS) -> pd.DataFrame:
    """P(consistent) at t = 0, 1, 5, 10, 50 ms: simulator [95% CI], Monte Carlo, paper."""
    sim = consistency_at(tvis, points, by=["preset", "r", "w"]).rename(
        columns={"p_consistent": "sim", "ci_low": "sim_ci_low", "ci_high": "sim_ci_high", "reads": "sim_reads"})
    table = (sim[["preset", "r", "w", "t_ms", "window_ms", "sim_reads", "sim", "sim_ci_low", "sim_ci_high"]]
             .merge(monte_carlo, on=["preset", "r", "w", "t_ms"], how="left")
             .merge(PAPER, on=["preset", "r", "w", "t_ms"], how="left"))
    return table.sort_values(["preset", "r", "w", "t_ms"], kind="stable").reset_index(drop=True)


def run(presets: Sequence[str] = PRESET_NAMES, rws: Sequence[tuple[int, int]] = RW_HEADLINE,
        experiment: Path = EXPERIMENT, overrides: Sequence[str] = (), trials: int = 20_000,
        seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-read t-visibility of every run, the headline table)."""
    tvis = pd.concat([simulate_tvis(p, r, w, experiment, seed, overrides) for p in presets for r, w in rws],
                     ignore_index=True)
    mc = pd.concat([wars_monte_carlo(p, 3, r, w, PAPER_T_POINTS_MS, trials) for p in presets for r, w in rws],
                   ignore_index=True)
    return tvis, headline(tvis, mc)


def k_staleness_config(r: int, w: int, fanout: str, seed: int = 1, duration_s: float = 12.0) -> ExperimentConfig:
    """N = 3, one client and one key, ops one after another (every read follows committed
    writes). `fanout: quorum` with no anti-entropy and no read repair is the closed
    form's setting (§3.2): a write reaches exactly a random W-subset, a read asks a
    random R-subset. `fanout: all` is normal propagation: writes go to all N replicas
    (commit after W acks) and anti-entropy runs."""
    return validate_config({
        "name": "pbs-k", "protocol": "quorum", "seed": seed, "nodes": 3, "duration_s": duration_s,
        "workload": {"keys": 1, "clients": 1, "mix": {"read": 0.5, "write": 0.5, "cas": 0},
                     "think_ms": 0, "timeout_ms": 500, "start_s": 0.1, "final_reads_s": 0},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "quorum": {"n": 3, "r": r, "w": w, "fanout": fanout, "read_repair": "none",
                   "anti_entropy_interval_ms": 0 if fanout == "quorum" else 1000},
        "check": {"linearizability": False},
    }, f"k_staleness_config(r={r}, w={w}, fanout={fanout!r}, seed={seed})")


def k_staleness_table(rws: Iterable[tuple[int, int]], fanout: str, ks: Sequence[int] = (1, 2),
                      duration_s: float = 12.0, seed: int = 1) -> pd.DataFrame:
    """Measured P(missing the latest k versions) with Wilson 95% bounds beside p^k."""
    frames = []
    for r, w in rws:
        result = simulate(k_staleness_config(r, w, fanout, seed, duration_s))
        table = k_staleness(t_visibility(history_to_frame(result.history), result.trace), ks=ks)
        frames.append(table.assign(r=r, w=w, fanout=fanout,
                                   closed_form=[closed_form_miss(3, r, w) ** k for k in table["k"]]))
    out = pd.concat(frames, ignore_index=True)
    out["within_ci"] = (out["ci_low"] <= out["closed_form"]) & (out["closed_form"] <= out["ci_high"])
    return out[["fanout", "r", "w", "k", "reads", "missed", "p_missed", "ci_low", "ci_high", "closed_form", "within_ci"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.studies.pbs", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, help="seconds per run (default: the experiment's)")
    parser.add_argument("--trials", type=int, default=20_000, help="Monte Carlo trials per point")
    parser.add_argument("--csv", type=Path, help="also write the headline table here")
    args = parser.parse_args(argv)
    overrides = [f"duration_s={args.duration}"] if args.duration else []
    _, table = run(overrides=overrides, trials=args.trials)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        tmp = args.csv.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(args.csv)


if __name__ == "__main__":
    main()
