"""`workbench explore PROTOCOL`: exhaustive breadth-first model checking of a core at small scope.

    workbench explore raft --nodes 3 --clients 2 --ops 2 --faults crash=1,cut=1 -o read_mode=lease
    workbench explore raft --mutant lease_vote_by_term --max-depth 20 --budget-s 120

A violation (an invariant trip or a non-linearizable history) is written as a scripted
scenario, `OUT/counterexample.txt`, which `python -m workbench.scenario` replays.
Exit codes: 0 no violation, 1 a violation, 2 bad arguments.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workbench.errors import UserInputError

if TYPE_CHECKING:
    from workbench.explore.bfs import Result

FAULT_NAMES = ("crash", "cut", "drop", "pause")


def parse_faults(text: str | None) -> dict[str, int]:
    """`crash=1,cut=1,drop=2` -> budgets; one clear error line otherwise."""
    budgets = dict.fromkeys(FAULT_NAMES, 0)
    for word in (text or "").split(","):
        if not word.strip():
            continue
        name, _, count = word.partition("=")
        name = name.strip()
        if name not in budgets or not count.strip().isdigit():
            raise UserInputError(f"--faults: expected NAME=COUNT with NAME in {', '.join(FAULT_NAMES)}, got {word!r}")
        budgets[name] = int(count)
    return budgets


def parse_crash_points(text: str | None) -> tuple[str, ...]:
    """`after_persist,mid_persist` -> points; one clear error line otherwise."""
    from workbench.scenario.crash_points import POINTS

    points = tuple(word.strip() for word in (text or "").split(",") if word.strip())
    for point in points:
        if point not in POINTS:
            raise UserInputError(f"--crash-points: expected names from {', '.join(POINTS)}, got {point!r}")
    return points


def explore_command(
    protocol: Annotated[str, typer.Argument(help="raft or paxos")],
    *, nodes: Annotated[int, typer.Option(help="cluster size")] = 3,
    clients: Annotated[int, typer.Option(help="client processes (process p sits at node p)")] = 2,
    ops: Annotated[int, typer.Option(help="ops per client (write, read, write, ...)")] = 2,
    max_depth: Annotated[int, typer.Option(help="transitions from the initial state")] = 20,
    faults: Annotated[str | None, typer.Option(help="fault budgets, e.g. crash=1,cut=1,drop=1,pause=1")] = None,
    crash_points: Annotated[str | None, typer.Option(
        help="crash points a crash may be armed at (from the crash budget), e.g. after_persist,mid_persist")] = None,
    option: Annotated[list[str] | None, typer.Option("-o", "--option", help="protocol option KEY=VALUE")] = None,
    mutant: Annotated[str | None, typer.Option(help="a planted bug from workbench.mutants")] = None,
    max_latency: Annotated[float, typer.Option(help="latest delivery of a message, ms after its send")] = 10.0,
    lease_check: Annotated[bool, typer.Option(
        help="raft read_mode=lease: flag a leader of a higher term while an older leader's lease runs")] = False,
    fifo: Annotated[bool, typer.Option(help="links deliver in send order (--no-fifo: any order)")] = True,
    seed: Annotated[int, typer.Option(help="seed of the cores' rngs (their timeouts)")] = 0,
    horizon_ms: Annotated[float | None, typer.Option(help="time may not pass this instant (closes the state space)")] = None,
    budget_s: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    sleep_sets: Annotated[bool, typer.Option(
        help="skip the second order of commuting deliveries (same states, fewer transitions)")] = True,
    bounded: Annotated[int | None, typer.Option(help="schedule-bounded mode: at most K deviations from the default order")] = None,
    runs: Annotated[int, typer.Option(help="bounded mode: enumerate this many runs, then sample")] = 2000,
    clients_last: Annotated[bool, typer.Option(help="bounded mode: client ops only as deviations (late reads)")] = False,
    prefix: Annotated[Path | None, typer.Option(help="a scenario file whose opening runs before exploring")] = None,
    prefix_steps: Annotated[int | None, typer.Option(help="how many of the prefix's directives to run")] = None,
    out: Annotated[Path, typer.Option(help="folder for a counterexample")] = Path("data/explore"),
) -> None:
    """Explore every schedule of a small scope breadth-first; exit 1 with a counterexample on a violation."""
    from tqdm import tqdm

    from workbench.explore.bfs import explore
    from workbench.explore.model import Scope
    from workbench.mutants import mutant_option

    try:
        if protocol not in ("raft", "paxos"):
            raise UserInputError(f"protocol: expected raft or paxos, got {protocol!r}")
        budgets = parse_faults(faults)
        points = parse_crash_points(crash_points)
        options: dict[str, str] = {}
        if mutant:
            found = mutant_option(mutant, protocol)
            options.update({k: str(v) for k, v in found.options.items()})
        for word in option or []:
            key, sep, value = word.partition("=")
            if not sep or not key:
                raise UserInputError(f"-o: expected KEY=VALUE, got {word!r}")
            options[key] = value
        for name, value in (("--nodes", nodes), ("--clients", clients), ("--ops", ops), ("--max-depth", max_depth)):
            if value < (0 if name == "--ops" else 1):
                raise UserInputError(f"{name}: must be positive, got {value}")
        if clients > nodes:
            raise UserInputError(f"--clients: at most one client per node ({nodes}), got {clients}")
        opening: tuple[tuple[str, tuple[str, ...]], ...] = ()
        if prefix is not None:
            from workbench.explore.model import prefix_from_script
            from workbench.scenario.script import parse_script

            try:
                opening = prefix_from_script(parse_script(prefix).directives, prefix_steps)
            except UserInputError as exc:
                raise UserInputError(f"--prefix {prefix}: {exc}") from None
        scope = Scope(protocol, nodes=nodes, clients=clients, ops=ops, options=options,
                      crashes=budgets["crash"], cuts=budgets["cut"], drops=budgets["drop"], pauses=budgets["pause"],
                      crash_points=points,
                      max_latency_ms=max_latency, seed=seed, fifo=fifo, prefix=opening,
                      horizon_ms=horizon_ms, lease_check=lease_check)
        from workbench.explore.model import initial_state

        initial_state(scope)  # a bad option fails here, as one line
    except UserInputError as exc:
        typer.echo(f"workbench: error: {exc}", err=True)
        sys.exit(2)

    if bounded is not None:
        from workbench.explore.bounded import explore_bounded

        found = explore_bounded(scope, k=bounded, max_steps=max_depth, budget_runs=runs,
                                sample_runs=10**9, seed=seed, budget_s=budget_s or 60.0,
                                clients_last=clients_last)
        typer.echo(found.summary())
        if found.violation:
            _write(found, out)  # type: ignore[arg-type]
            sys.exit(1)
        return

    bar = tqdm(unit=" states", file=sys.stderr, mininterval=0.5)

    def progress(result: object, frontier: int) -> None:
        bar.n = result.distinct  # type: ignore[attr-defined]
        bar.set_postfix(frontier=frontier, depth=result.max_depth, refresh=False)  # type: ignore[attr-defined]
        bar.refresh()

    result = explore(scope, max_depth=max_depth, budget_s=budget_s, progress=progress, sleep_sets=sleep_sets)
    bar.close()
    typer.echo(result.summary())
    if result.violation:
        _write(result, out)
        sys.exit(1)


def _write(result: Result, out: Path) -> None:
    from workbench.explore.counterexample import write_counterexample
    from workbench.outputs import fresh_path

    path = fresh_path(out / "counterexample.txt", siblings=(".png",))  # never overwrite a user's file
    write_counterexample(result, path)
    typer.echo(f"counterexample: {path} (replay: python -m workbench.scenario {path})")
