"""Figure 16 of the Raft paper, reproduced in the simulator.

Ongaro & Ousterhout (ATC 2014, §9.3; thesis §9.4) crashed the leader of a 5-server
cluster many times and measured how long the others took to learn of a new leader,
for several election-timeout ranges. Their setup (data/reference/raft-fig16/README.md):
broadcast time about 15 ms, heartbeat = half the minimum timeout, the leader's last
heartbeat reset every follower's timer and the leader crashed at a uniformly random
moment of its heartbeat interval, and 2 of the 4 survivors had shorter logs, so they
could not win. Their Raft had neither PreVote nor CheckQuorum; the experiment file
turns both off to match.

One trial is one short run of the ordinary simulator (`workbench.runtime.sim`):
- node 0 is the old leader of term 1. It exists only to send its last heartbeat at
  t = 0 (through the simulated network, so each follower hears it after its own
  link delay) and is then crashed by a fault at a uniform moment of [0, heartbeat);
- nodes 1-4 are ordinary `RaftNode`s booted from durable state prepared in their
  Storage: term 1, and a log of 2 entries (nodes 1, 2) or 1 entry (nodes 3, 4);
- the trial ends when every survivor follows the same new leader (watched through
  the simulator's per-step invariant hook); time = that moment - the crash, as the
  thesis measured it ("until the other servers received the new leader's first
  heartbeat", §9.4).

Per-trial times go to an output folder (default `data/runs/fig16/`, git-ignored; the
committed `data/fig16/` is never written): `trials.parquet` (columns `range`,
`time_ms`, ...), `comparison.csv` and `cdf.png`, the CDFs beside the paper's. `summary`
compares each range with the paper's trials (median, p99, max and the two-sample
Kolmogorov-Smirnov distance).

A trial that elects no leader within the run's cap (`duration_s`) is right-censored:
its time is "more than the cap", not unknown. It stays in every statistic as +inf
(dropping it, as before, reported a max of 572 s for 150-150 while one trial ran past
600 s; issue 19 item 7): the KS distance compares the full samples (an infinite value
sorts last, which is where it belongs), and any quantile it reaches prints "> cap".

Whole-millisecond election timeouts (`TIMEOUT_GRAIN_MS`). The paper's numbers come
from LogCabin (thesis §9.4), whose `setElectionTimer()` waits
`std::chrono::milliseconds(Core::Random::randomRange(min, max))` and `randomRange` is
`lround(uniform(min, max))`: a timeout is a whole number of ms. For wide ranges that
is invisible; for 150-151 it is a coin flip between 150 and 151 ms, whose standard
deviation (0.5 ms) is that of a continuous range of sqrt(3) = 1.73 ms, not 1 ms
(0.29 ms). In a split vote what decides the next term is how far the survivors'
timers have drifted apart relative to the 2-4 ms message delay, and they drift by
the difference of two draws per term: 0.71 ms with whole ms, 0.41 ms with
continuous draws. Measured over 1000 trials per setting (seed 16), 150-151:

                success (%) in term 1..8                 mean terms  median   p99  KS D
    paper       2.6  4.0  5.9  8.9 11.1 12.3 12.3 12.4       10.4    1198   5982    -
    continuous  0.5  0.7  1.2  3.2  1.9  2.4  2.5  2.8       28.8    3145  18369  0.46
    whole ms    2.3  4.7  6.2 10.0  9.7 10.0  9.2  8.1       12.4    1329   7535  0.10

(a term = an election timeout's worth, ~150 ms; continuous draws from 150-151.73,
which have the same 0.5 ms deviation, give a median of 1357 ms on 400 trials, so it
is the spread of the draws that matters). The other ranges move within noise
(150-155 KS 0.12 -> 0.11, 25-50 0.09 -> 0.07, the rest +-0.01) and 150-150 cannot
change (no randomness to round). Ruled out as causes of the 150-151 gap: clock drift
(0 vs +-50 ppm: same within noise), and a LogCabin-like disk write under the
consensus lock with a LAN latency (0.1-0.2 ms one way, a 2-9 ms write before a vote
or a RequestVote leaves; thesis §10.1.1): medians of 2.5-9 s for 150-151 and worse
fits elsewhere. The study stays sensitive to the one-way latency distribution (with
continuous draws, 150-151 takes a median 0.6 s at uniform 1-5 ms, 4.4 s at a
constant 3 ms); the 2-4 ms in the experiment file is unchanged. What remains: 150-151
succeeds in ~10% of later terms against the paper's ~12% (median +11%), and 150-150
is slower than the paper's 100 trials (median 49.8 s, inside the 95% interval of the
paper's median, 36-50 s; KS 0.17).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.core.storage import Storage
from workbench.errors import ConfigError, UserInputError
from workbench.experiment.config import ExperimentConfig, load_config
from workbench.faults.spec import FaultsConfig
from workbench.protocols.base import Node
from workbench.protocols.raft import AppendEntries, RaftNode
from workbench.results.store import atomic_write_bytes, atomic_write_parquet
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import Simulation

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "raft_election_fig16.yaml"
REFERENCE = ROOT / "data" / "reference" / "raft-fig16" / "ongaro_fig16.csv"
OUTPUT = Path("data") / "runs" / "fig16"
"""Default output folder (git-ignored). The committed `data/fig16/` is never written."""
COMMITTED = ROOT / "data" / "fig16"

PAPER_RANGES = ("150-150", "150-151", "150-155", "150-175", "150-200", "150-300",
                "12-24", "25-50", "50-100", "100-200")
"""The paper's timeout ranges (ms), top graph then bottom graph of Figure 16."""

OLD_LEADER = 0
SURVIVORS = (1, 2, 3, 4)
LONG_LOGS = (1, 2)  # the other two survivors hold one entry fewer: they cannot win (§5.4.1)
CLOCK_DRIFT = 50e-6
"""Each survivor's clock runs fast or slow by up to this (uniform): real quartz clocks
differ by tens of ppm. The simulator's timers are otherwise exact, and without some
drift identical timeouts (150-150) would stay in lockstep forever."""
TIMEOUT_GRAIN_MS = 1.0
"""Election timeouts are drawn in whole milliseconds, as LogCabin (the paper's Raft,
thesis §9.4) draws them: `setElectionTimer()` takes
`ms = Core::Random::randomRange(min, max)`, which is `lround(uniform(min, max))`, and
waits `std::chrono::milliseconds(ms)` (LogCabin's Server/RaftConsensus.cc and
Core/Random.cc, 2012 to 2015). So 150-151 is a coin flip between exactly 150 and
151 ms, and 150-155 takes the six values 150..155 (the two ends half as often). For
the narrow ranges this matters a lot: see the module docstring. 0 = continuous."""


def parse_range(text: str) -> tuple[float, float]:
    low, sep, high = text.strip().partition("-")
    try:
        lo, hi = float(low), float(high if sep else low)
    except ValueError:
        raise ValueError(f"range {text!r}: expected MIN-MAX in ms, e.g. 150-300") from None
    if not 0 < lo <= hi:
        raise ValueError(f"range {text!r}: need 0 < MIN <= MAX")
    return lo, hi


# ------------------------------------------------------------------ one trial
class _OldLeader(Node):
    """The crashed leader: its last act is the heartbeat that starts the trial."""

    name = "fig16-old-leader"

    def start(self, now: float) -> None:
        # Term 1, matching the long logs' last entry (index 2); commit index 1.
        self.broadcast(AppendEntries(1, 2, 1, (), 1, 1))

    def on_message(self, src: int, message: Message, now: float) -> None:
        pass

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        pass

    def on_timer(self, name: str, now: float) -> None:
        pass

    def state_digest(self) -> int:
        return 0


class _Elected(Exception):
    def __init__(self, at: float, leader: int, term: int) -> None:
        super().__init__(at, leader, term)
        self.at, self.leader, self.term = at, leader, term


class _Watcher:
    """Ends the run (by raising) once all survivors follow one new, acting leader."""

    def check(self, nodes: list[Any], now: float) -> str | None:
        leader = None
        for i in SURVIVORS:
            node = nodes[i]
            if node is None:
                return None
            believed = node.leader_id
            if believed is None or believed == OLD_LEADER or (leader is not None and believed != leader):
                return None
            leader = believed
        assert leader is not None
        if nodes[leader].is_leader():
            raise _Elected(now, leader, nodes[leader].term)
        return None


class _WholeMsRandom(random.Random):
    """A survivor's rng, continuing `rng`'s stream, whose `random()` is rounded so that
    `min + random() * (max - min)` lands on a multiple of `grain_ms` past `min`, the
    way LogCabin rounds (`lround`, the two ends of the range half as likely).
    `RaftNode` uses its rng for nothing but election timeouts: the full timeout of a
    candidate, `min + random() * spread`, and a follower's remainder past `min`,
    `random() * spread` (tests/test_raft_scenarios.py checks both are whole ms)."""

    def __init__(self, rng: random.Random, spread_ms: float, grain_ms: float) -> None:
        super().__init__()
        self.setstate(rng.getstate())
        self._steps = spread_ms / grain_ms

    def random(self) -> float:
        u = super().random()
        steps = self._steps
        return min(1.0, math.floor(u * steps + 0.5) / steps)


class _TrialNodes:
    """The node factory of a trial (and, through the invariant hook, its watcher)."""

    def __init__(self, timeout_grain_ms: float = TIMEOUT_GRAIN_MS) -> None:
        self.timeout_grain_ms = timeout_grain_ms

    def __call__(self, node_id: int, peers: Sequence[int], options: Any, rng: random.Random,
                 storage: Storage) -> Node:
        if node_id == OLD_LEADER:
            return _OldLeader(node_id, peers, options, rng, storage)
        spread = options.election_timeout_max_ms - options.election_timeout_min_ms
        if self.timeout_grain_ms > 0 and spread > 0:
            rng = _WholeMsRandom(rng, spread, self.timeout_grain_ms)
        return RaftNode(node_id, peers, options, rng, storage)

    def invariant_checker(self) -> _Watcher:
        return _Watcher()


def _prepare(storage: Storage, entries: int) -> None:
    """Durable state as the old leader left it: term 1, its vote, `entries` entries of term 1."""
    storage.put("term", 1)
    storage.put("vote", OLD_LEADER)
    storage.put("log", [(1, None)] * entries)
    storage.put("log_base", 0)


def trial_config(base: ExperimentConfig, low: float, high: float, trial: int,
                 clock_drift: float = CLOCK_DRIFT) -> tuple[ExperimentConfig, float]:
    """The run of one trial and its crash time (ms). Deterministic in (base.seed, range, trial)."""
    rng = derive_rng(base.seed, "fig16", f"{low:g}-{high:g}", trial)
    heartbeat = low / 2.0
    crash_ms = rng.uniform(0.0, heartbeat)
    options = replace(base.raft, election_timeout_min_ms=low, election_timeout_max_ms=high,
                      heartbeat_ms=heartbeat)
    clocks = [{"node": i, "drift": rng.uniform(-clock_drift, clock_drift)} for i in SURVIVORS]
    faults = FaultsConfig.model_validate(
        {"nodes": [{"kind": "crash", "node": OLD_LEADER, "at": crash_ms / 1000.0}],
         "clocks": clocks})
    sim = base.sim.model_copy(update={"invariants": True})
    config = base.model_copy(update={"seed": rng.getrandbits(48), "raft": options,
                                     "faults": faults, "sim": sim})
    return config, crash_ms


def run_trial(base: ExperimentConfig, low: float, high: float, trial: int,
              clock_drift: float = CLOCK_DRIFT, timeout_grain_ms: float = TIMEOUT_GRAIN_MS) -> dict[str, Any]:
    config, crash_ms = trial_config(base, low, high, trial, clock_drift)
    sim = Simulation(config, _TrialNodes(timeout_grain_ms))
    for node in SURVIVORS:
        _prepare(sim.storages[node], 2 if node in LONG_LOGS else 1)
    _prepare(sim.storages[OLD_LEADER], 2)
    record: dict[str, Any] = {"range": f"{low:g}-{high:g}", "timeout_min_ms": low,
                              "timeout_max_ms": high, "trial": trial, "seed": config.seed,
                              "crash_ms": crash_ms}
    try:
        sim.run()
    except _Elected as done:
        record.update(time_ms=done.at - crash_ms, elected=True, leader=done.leader, term=done.term)
    else:  # no leader within the run's cap (duration_s): censored, "more than cap_ms"
        record.update(time_ms=math.nan, elected=False, leader=-1, term=-1)
    record["cap_ms"] = config.duration_ms - crash_ms
    record["messages"] = sum(sim.delivered)
    return record


def _run_chunk(base: ExperimentConfig, low: float, high: float, trials: list[int],
               timeout_grain_ms: float = TIMEOUT_GRAIN_MS) -> list[dict[str, Any]]:
    return [run_trial(base, low, high, t, timeout_grain_ms=timeout_grain_ms) for t in trials]


# ------------------------------------------------------------------ the study
def run_study(base: ExperimentConfig, ranges: Iterable[str] = PAPER_RANGES, trials: int = 1000,
              workers: int | None = None, chunk: int = 25,
              timeout_grain_ms: float = TIMEOUT_GRAIN_MS) -> pd.DataFrame:
    """All trials of all ranges as one frame (one row per trial), in range/trial order."""
    parsed = [parse_range(r) for r in ranges]
    tasks = [(lo, hi, list(range(start, min(start + chunk, trials))), timeout_grain_ms)
             for lo, hi in parsed for start in range(0, trials, chunk)]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    rows: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            rows.extend(_run_chunk(base, *task))
    else:
        # Long chunks first (150-150 can take a thousand times longer) to balance the pool.
        order = sorted(range(len(tasks)), key=lambda i: tasks[i][1] - tasks[i][0])
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {i: pool.submit(_run_chunk, base, *tasks[i]) for i in order}
            for i in range(len(tasks)):
                rows.extend(futures[i].result())
    return pd.DataFrame(rows)


def read_reference(path: str | Path = REFERENCE) -> pd.DataFrame:
    """The paper's per-trial times: columns `range`, `time_ms`."""
    raw = pd.read_csv(path, skipinitialspace=True)
    return pd.DataFrame({"range": raw["Follower Timeouts"].astype(str).str.strip(),
                         "time_ms": raw["Time to elect Leader"].astype(float)})


def censored_times(group: pd.DataFrame) -> pd.Series:
    """Election times with never-elected trials as +inf (they took longer than the cap)."""
    elected = group["elected"].astype(bool) if "elected" in group.columns else group["time_ms"].notna()
    return group["time_ms"].where(elected, math.inf).astype(float)


def summary(trials: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per range: median / p99 / max, ours beside the paper's, and the KS distance.

    Never-elected trials count as +inf (module docstring); `censored` counts them and
    `cap_ms` is the shortest time one of them was watched for (a quantile of +inf means
    "more than cap_ms").
    """
    from scipy.stats import ks_2samp

    reference = read_reference() if reference is None else reference
    rows = []
    for name, group in trials.groupby("range", sort=False):
        ours = censored_times(group)
        censored = ~pd.Series(ours).apply(math.isfinite)
        cap = _cap_ms(group[censored.to_numpy()])
        paper = reference.loc[reference["range"].eq(name), "time_ms"]
        row: dict[str, Any] = {"range": name, "trials": len(group), "elected": int((~censored).sum()),
                               "censored": int(censored.sum()), "cap_ms": cap,
                               "median_ms": ours.median(), "p99_ms": ours.quantile(0.99),
                               "max_ms": ours.max()}
        if len(paper) and len(ours):
            ks = ks_2samp(ours.to_numpy(), paper.to_numpy())
            row.update(paper_trials=len(paper), paper_median_ms=paper.median(),
                       paper_p99_ms=paper.quantile(0.99), paper_max_ms=paper.max(),
                       ks_distance=float(ks.statistic), ks_pvalue=float(ks.pvalue))
        rows.append(row)
    return pd.DataFrame(rows)


def _cap_ms(censored: pd.DataFrame) -> float:
    """How long the shortest-watched censored trial ran after its crash (nan if none)."""
    if censored.empty:
        return math.nan
    if "cap_ms" in censored.columns:
        return float(censored["cap_ms"].min())
    return math.nan


def format_summary(table: pd.DataFrame) -> str:
    lines = [f"{'range':>8} {'n':>5} {'>cap':>4} | {'median':>8} {'p99':>8} {'max':>9} | "
             f"{'paper med':>9} {'p99':>8} {'max':>9} | {'KS D':>5} {'p':>8}"]

    def ms(value: Any, cap: Any = math.nan) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if math.isinf(value):
            return "> cap" if cap is None or math.isnan(cap) else f"> {cap:.0f}"
        return f"{value:.0f}"

    for row in table.to_dict("records"):
        cap = row.get("cap_ms", math.nan)
        lines.append(
            f"{row['range']:>8} {row['trials']:>5} {row.get('censored', 0):>4} | "
            f"{ms(row['median_ms'], cap):>8} {ms(row['p99_ms'], cap):>8} "
            f"{ms(row['max_ms'], cap):>9} | {ms(row.get('paper_median_ms')):>9} {ms(row.get('paper_p99_ms')):>8} "
            f"{ms(row.get('paper_max_ms')):>9} | {row.get('ks_distance', math.nan):>5.2f} "
            f"{row.get('ks_pvalue', math.nan):>8.2g}")
    return "\n".join(lines)


def write_parquet(frame: pd.DataFrame, path: str | Path = OUTPUT) -> Path:
    """Atomic: write beside the target, then rename (`results.store.atomic_write_parquet`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_parquet(path, frame)
    return path


def write_figure(trials: pd.DataFrame, path: str | Path) -> Path:
    """The CDFs of our trials beside the paper's (`plots.election_cdf`), as a PNG."""
    from workbench.analysis.plots import election_cdf, to_png

    path = Path(path)
    atomic_write_bytes(path, to_png(election_cdf(trials, REFERENCE)))
    return path


def output_paths(out: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """(folder, trials file) for `out`; refuses a file as the folder, and the committed
    data unless `force` (refreshing the reference result is a deliberate act).

    `out` is a folder; a path ending in .parquet (the older form) names the trials file
    itself, and the table and figure go beside it.
    """
    out = Path(out)
    folder, trials = (out.parent, out) if out.suffix == ".parquet" else (out, out / "trials.parquet")
    if folder.is_file():
        raise UserInputError(f"{folder}: --out must be a folder (trials.parquet, comparison.csv and "
                             "cdf.png go inside it)")
    if folder.resolve() == COMMITTED.resolve() and not force:
        raise UserInputError(f"{folder}: that is the committed reference run; write elsewhere "
                             f"(default {OUTPUT}), or pass --force to refresh it")
    return folder, trials


def main(experiment: str | Path = EXPERIMENT, ranges: Iterable[str] = PAPER_RANGES, trials: int = 1000,
         out: str | Path = OUTPUT, workers: int | None = None, echo: Any = print,
         force: bool = False) -> pd.DataFrame:
    base = load_config(experiment)
    if base.protocol != "raft" or base.nodes != 5:
        raise ConfigError(f"{experiment}: the Figure 16 study needs protocol: raft and nodes: 5")
    folder, trials_path = output_paths(out, force=force)
    started = time.perf_counter()
    frame = run_study(base, ranges, trials, workers)
    elapsed = time.perf_counter() - started
    path = write_parquet(frame, trials_path)
    table = summary(frame)
    # Beside the trials: the table the closing notes and data/fig16/README.md quote, and the figure.
    comparison = folder / "comparison.csv"
    atomic_write_bytes(comparison, table.to_csv(index=False).encode())
    figure = write_figure(frame, folder / "cdf.png")
    echo(f"Raft Figure 16: {trials} trials per range, 5 servers, one-way latency "
         f"{base.network.latency.model_dump(exclude_none=True)}, pre_vote={base.raft.pre_vote}, "
         f"check_quorum={base.raft.check_quorum} (the paper's Raft had neither), election timeouts "
         f"in steps of {TIMEOUT_GRAIN_MS:g} ms (LogCabin)")
    echo("time from the leader's crash until all survivors follow the new leader (ms); "
         "a trial with no leader within the cap counts as +inf ('> cap'); "
         "KS = two-sample Kolmogorov-Smirnov vs the paper's trials")
    echo(format_summary(table))
    echo(f"trials: {path}  ({len(frame)} trials, {frame['messages'].sum():,} messages, "
         f"{elapsed:.1f} s wall); table: {comparison}; figure: {figure}")
    return table
