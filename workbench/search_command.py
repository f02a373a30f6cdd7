"""`workbench search`: many seeded fault scenarios, each run and checked, stop at the first finding.

    workbench search raft --seeds 1000 -o read_mode=lease
    workbench search paxos --seeds 200 --mutant paxos:accept_below_promise --workers 1

Each seed is a whole scenario (`fault_search.composed_scenario` by default, the old
one-fault-at-a-time `scenario` with `--generator generic`). Seeds fan out as Ray tasks
the way sweeps do (`runtime.ray_session.ray_session`), or run in this process with `--workers 1`.
The first finding — an invariant trip, a non-linearizable history, or for the
eventual store a lost acknowledged add or no convergence — stops the search, and its
config, fault schedule, history and trace go to a new folder; `workbench run
FOLDER/config.yaml` replays it exactly (the config holds the seed and, for the
composed nemesis, every fault as data).

Exit codes: 0 no finding, 1 a finding, 3 no finding but some seeds undecided (the
linearizability checker ran out of budget), 2 bad arguments.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from workbench.errors import ConfigError, UserInputError
from workbench.outputs import fresh_path

if TYPE_CHECKING:
    from workbench.experiment.config import ExperimentConfig

PROTOCOLS = ("raft", "paxos", "eventual")
MIN_DURATION_S = 4.0  # both generators: faults from ~1 s, then a quiet tail of 2.5-3 s (fault_search.py)


def parse_options(texts: list[str]) -> dict[str, Any]:
    """`-o key=value` pairs; values are YAML scalars (1, 0.5, true, lease)."""
    options: dict[str, Any] = {}
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"-o {text}: expected KEY=VALUE")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


def check_one(config: ExperimentConfig) -> tuple[int, str | None, bool]:
    """(seed, finding or None, undecided) for one scenario; runs in a Ray task or here."""
    from workbench.fault_search import UNCHECKED, check_seed

    before = len(UNCHECKED)
    finding = check_seed(config)
    return config.seed, (finding.problem if finding else None), len(UNCHECKED) > before


def _schedule(config: ExperimentConfig) -> list[dict[str, Any]]:
    """The run's fault events as the simulator expands them (same rng as the run)."""
    from workbench.faults import build_schedule
    from workbench.runtime.seeds import derive_rng

    events = build_schedule(config.faults, config.duration_ms, derive_rng(config.seed, "faults"))
    out = []
    for e in events:
        spec = e.spec.model_dump(by_alias=True, exclude_none=True) if hasattr(e.spec, "model_dump") else e.spec
        out.append({"time_ms": e.time_ms, "kind": e.kind, "fault_id": e.fault_id, "spec": spec})
    return out


def write_finding(config: ExperimentConfig, problem: str, folder: Path) -> None:
    """config.yaml, schedule.json, history.jsonl, trace.jsonl and finding.txt, written to a
    temporary folder beside `folder` and renamed into place (nothing half-written)."""
    from workbench.history.events import dumps_event
    from workbench.runtime.sim import InvariantViolation, Simulation

    sim = Simulation(config)
    try:
        result = sim.run()
        history, trace = result.history, result.trace
    except InvariantViolation:  # the run stops at the trip: keep what it did until then
        history, trace = sim.clients.history, sim.trace
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        raw = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        (tmp / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        (tmp / "schedule.json").write_text(json.dumps(_schedule(config), indent=1) + "\n", encoding="utf-8")
        (tmp / "history.jsonl").write_text("".join(dumps_event(e) + "\n" for e in history), encoding="utf-8")
        (tmp / "trace.jsonl").write_text("".join(json.dumps(r, default=str) + "\n" for r in trace),
                                         encoding="utf-8")
        (tmp / "finding.txt").write_text(
            f"seed {config.seed}: {problem}\nreplay: workbench run {folder / 'config.yaml'}\n", encoding="utf-8")
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _Progress:
    """Counts checked seeds (tqdm's own count stops when its bar is disabled off a terminal)."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.n = bar, 0

    def update(self, k: int) -> None:
        self.n += k
        self.bar.update(k)


def _serial(configs: list[ExperimentConfig], progress: _Progress) -> tuple[tuple[int, str] | None, list[int]]:
    undecided: list[int] = []
    for config in configs:
        seed, problem, unknown = check_one(config)
        progress.update(1)
        if unknown:
            undecided.append(seed)
        if problem is not None:
            return (seed, problem), undecided
    return None, undecided


def _on_ray(configs: list[ExperimentConfig], workers: int | None, address: str | None,
            progress: _Progress) -> tuple[tuple[int, str] | None, list[int]]:
    """At most two seeds per slot in flight, in seed order; the first finding stops submission.
    In-flight tasks are abandoned, not cancelled (see `experiment.execute.run_as_ray_tasks`
    on why). Ray comes from the one `ray_session` (a private local Ray, or `address`)."""
    import ray

    from workbench.experiment.execute import ray_slots
    from workbench.runtime.ray_session import ray_session

    with ray_session(address, workers):
        # Two seeds per slot in flight: a worker that finishes finds its next seed
        # queued instead of idling for the driver's round trip (a seed is ~0.1 s).
        slots = 2 * ray_slots(workers)
        remote = ray.remote(num_cpus=1, max_retries=1)(check_one)
        pending = iter(configs)
        in_flight: dict[Any, int] = {}
        undecided: list[int] = []

        def fill() -> None:
            while len(in_flight) < slots:
                config = next(pending, None)
                if config is None:
                    return
                in_flight[remote.remote(config)] = config.seed

        fill()
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                del in_flight[ref]
                seed, problem, unknown = ray.get(ref)
                progress.update(1)
                if unknown:
                    undecided.append(seed)
                if problem is not None:
                    return (seed, problem), undecided
            fill()
        return None, undecided


def run_search(protocol: str, *, seeds: int, start: int, options: dict[str, Any], mutant: str | None,
               generator: str | None, nodes: int | None, duration: float | None, workers: int | None,
               address: str | None, out: Path | None, echo: Any = print) -> int:
    """The command's body; returns the exit code. Raises UserInputError for bad arguments."""
    # Imported here: `workbench --help` should not pay for the simulator and checkers.
    from workbench.fault_search import GENERATORS
    from workbench.mutants import mutant_option

    if protocol not in PROTOCOLS:
        raise UserInputError(f"PROTOCOL: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if seeds < 1:
        raise UserInputError("--seeds: must be at least 1")
    if workers is not None and workers < 1:
        raise UserInputError("--workers: must be at least 1")
    gen_name, size, length = generator or "composed", nodes, duration
    if generator is not None and generator not in GENERATORS:
        raise UserInputError(f"--generator: {generator!r} is not one of {', '.join(GENERATORS)}")
    planted = None
    if mutant is not None:
        # The mutant's own scenario (its generator, nemesis mix, disk model and workload,
        # `Mutant.config`), so a seed here is the seed `make test` and docs/mutants.md name.
        found = mutant_option(mutant, protocol)
        gen_name = generator or found.generator
        size = nodes if nodes is not None else found.nodes
        length = duration if duration is not None else found.duration_s
        planted = replace(found, options={**found.options, **options}, nodes=size, duration_s=length)
    if length is not None and length < MIN_DURATION_S:
        # Faults start about 1 s in and end 2.5-3 s before the run does (the quiet tail the
        # final reads need): a shorter run leaves no window for faults.
        raise UserInputError(f"--duration: {length:g} s is too short; a search run needs at least "
                             f"{MIN_DURATION_S:g} s (faults from ~1 s, then a 2.5-3 s quiet tail)")
    if out is not None and out.exists():
        raise UserInputError(f"--out {out}: already exists (a search never overwrites a folder)")
    try:
        if planted is not None:
            configs = [planted.config(seed, generator) for seed in range(start, start + seeds)]
        else:
            make = GENERATORS[gen_name]
            kwargs: dict[str, Any] = {"nodes": size, "options": options or None}
            if length is not None:
                kwargs["duration_s"] = length
            configs = [make(protocol, seed, **kwargs) for seed in range(start, start + seeds)]
    except ConfigError as exc:
        raise UserInputError(str(exc).replace("scenario(seed=", "-o (seed=", 1)) from None

    from tqdm import tqdm

    what = f"{protocol} {gen_name}" + (f" mutant {mutant}" if mutant else "") + (f" {options}" if options else "")
    echo(f"search: {what}, seeds {start}..{start + seeds - 1}")
    began = time.perf_counter()
    with tqdm(total=seeds, unit="seed", file=sys.stderr, disable=None) as bar:
        progress = _Progress(bar)
        if workers == 1:
            found, undecided = _serial(configs, progress)
        else:
            found, undecided = _on_ray(configs, workers, address, progress)
        done = progress.n
    minutes = (time.perf_counter() - began) / 60.0
    echo(f"checked {done} seeds in {minutes * 60:.1f} s ({done / minutes if minutes else 0:.1f} seeds/minute)")
    if found is not None:
        seed, problem = found
        config = next(c for c in configs if c.seed == seed)
        label = (mutant or "search").split(":")[-1]
        folder = out or fresh_path(Path("data") / "search" / f"{protocol}-{label}-seed{seed}")
        write_finding(config, problem, folder)
        echo(f"FINDING seed {seed}: {problem}")
        echo(f"written to {folder}; replay: workbench run {folder / 'config.yaml'}")
        return 1
    if undecided:
        echo(f"no finding, but {len(undecided)} seeds undecided (checker budget): {sorted(undecided)[:20]}")
        return 3
    echo("no finding")
    return 0


def search(
    protocol: Annotated[str, typer.Argument(metavar="PROTOCOL", help="raft, paxos or eventual")],
    *, seeds: Annotated[int, typer.Option(metavar="N", help="how many seeds")] = 100,
    start: Annotated[int, typer.Option(metavar="SEED", help="first seed")] = 0,
    option: Annotated[list[str] | None, typer.Option("-o", "--option", metavar="KEY=VALUE", help="protocol option (repeats)")] = None,
    mutant: Annotated[str | None, typer.Option(metavar="NAME", help="a planted bug from workbench.mutants (e.g. raft:long_lease)")] = None,
    generator: Annotated[str | None, typer.Option(metavar="NAME", help="composed (default) or generic")] = None,
    nodes: Annotated[int | None, typer.Option(metavar="N", help="cluster size (default: drawn per seed)")] = None,
    duration: Annotated[float | None, typer.Option(metavar="S", help="seconds per run (default 6)")] = None,
    workers: Annotated[int | None, typer.Option(metavar="N", help="parallel seeds on Ray (default: all cores); 1 = serial, no Ray")] = None,
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="join this Ray cluster (default RAY_ADDRESS, else a local Ray)")] = None,
    out: Annotated[Path | None, typer.Option(metavar="FOLDER", help="folder for a finding (default data/search/...)")] = None,
) -> None:
    """Search seeded fault scenarios for a violation. Exit 0 none, 1 a finding, 3 undecided seeds."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    code = run_search(protocol, seeds=seeds, start=start, options=parse_options(option or []),
                      mutant=mutant, generator=generator, nodes=nodes, duration=duration,
                      workers=workers, address=address, out=out, echo=typer.echo)
    if code:
        sys.exit(code)  # (see cli.sweep: typer.Exit codes are lost without standalone mode)
