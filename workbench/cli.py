"""The `workbench` command: run, check, sweep, report, fig16, config.

Errors a user can cause print one line on stderr (`workbench: error: ...`, naming the
field, file or line) and exit with code 2; nothing half-written is left behind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperArgument

from workbench.errors import UserInputError
from workbench.history.importers import FORMATS as HISTORY_FORMATS


def _plain_usage_name(self: TyperArgument) -> str:
    """`EXPERIMENT` and `FILE...` in usage lines, as in most Unix tools, instead of this
    typer's `{EXPERIMENT}`; an optional argument keeps its brackets."""
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


# Arguments get readable metavars below; their `<path>` / `<list[Path]>` type labels
# only repeat them, so help shows the metavar alone (typer has no per-argument switch).
TyperArgument._usage_display_name = _plain_usage_name  # type: ignore[method-assign]
TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign,assignment]

EXIT_CODES = ("Exit codes: 0 ok; 1 a violation or failed runs; 2 bad input (config, history, "
              "argument, output path); 3 check verdict unknown; 130 interrupted.")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Run and measure CAP experiments.\n\n" + EXIT_CODES)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"workbench {version('cap-workbench')}")
        except PackageNotFoundError:
            typer.echo("workbench (version unknown: not installed as a package)")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="on an error, show the traceback too")] = False,
    show_version: Annotated[bool | None, typer.Option(
        "--version", callback=_show_version, is_eager=True, help="print the version and exit")] = None,
) -> None:
    # --debug is read by main() from argv (it must work even when parsing fails).
    del debug, show_version


SetOption = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY.PATH=VALUE", help="override one config field, e.g. raft.read_mode=lease; "
    "repeat --set for more (paths as in `workbench config --schema`)")]


def default_out_dir(config_name: str, protocol: str, seed: int) -> Path:
    return Path("data") / "runs" / f"{config_name}-{protocol}-seed{seed}"


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(metavar="EXPERIMENT", help="experiment file (YAML)")],
    *, set_: SetOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="result folder (default data/runs/NAME-PROTOCOL-seedSEED)")] = None,
    report: Annotated[bool, typer.Option(help="write report.html")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print summary.json")] = False,
    address: Annotated[str | None, typer.Option(
        "--address", metavar="ADDRESS",
        help="runtime ray: join this Ray cluster (default: RAY_ADDRESS, else local)")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace the result folder if the workbench wrote it (never a folder of yours)")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print the resolved config and an estimated time; run nothing")] = False,
) -> None:
    """Run one experiment and write its result folder.

    Exit codes: 0 done (warnings, if any, on stderr); 2 bad input (config, argument,
    output path); 130 interrupted.
    """
    from workbench.experiment.config import load_config
    from workbench.experiment.run import run_experiment, write_run
    from workbench.outputs import guard_output_dir

    config = load_config(experiment, set_ or [])
    if address:
        config = config.model_copy(update={"ray": config.ray.model_copy(update={"address": address})})
    out_dir = out or default_out_dir(config.name, config.protocol, config.seed)
    if dry_run:
        from workbench.dry_run import describe_run

        typer.echo(describe_run(config, str(out_dir)))
        return
    guard_output_dir(out_dir, force=force)  # before the run: a bad --out costs nothing
    output = run_experiment(config)
    write_run(output, out_dir, report=report, force=force)
    for warning in output.summary.get("warnings", []):
        typer.echo(f"workbench: warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(output.summary))
        return
    typer.echo(f"{config.name}: {config.protocol} on {output.summary['runtime']}, {config.nodes} nodes, "
               f"{config.duration_s:g} s, seed {config.seed}")
    from workbench.analysis.summary_text import summary_text

    typer.echo(summary_text(output.summary))
    written = report and (out_dir / "report.html").is_file()
    typer.echo(f"results: {out_dir}" + (f"  (report: {out_dir / 'report.html'})" if written else ""))


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="history files, one or more")],
    *, model: Annotated[str | None, typer.Option(
        metavar="MODEL", help="register, cas-register, kv or set (default: from the ops)")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", metavar="FORMAT",
        help=f"{', '.join(HISTORY_FORMATS)} (default: detected from the content)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file")] = False,
    max_seconds: Annotated[float | None, typer.Option(metavar="SECONDS", help="search budget per file")] = None,
) -> None:
    """Check histories for linearizability.

    Exit codes: 0 all linearizable; 1 a violation; 2 bad input (file, format, model);
    3 undecided (the search budget ran out, or a history has no operations).
    """
    from workbench.checkers.check_command import check_files

    raise typer.Exit(check_files([str(f) for f in files], model=model, fmt=fmt, as_json=as_json,
                                 max_seconds=max_seconds))


@app.command()
def sweep(
    experiment: Annotated[Path, typer.Argument(metavar="EXPERIMENT",
                                               help="experiment file (YAML) with a sweep: section")],
    *, set_: SetOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="sweep folder (default data/sweeps/NAME)")] = None,
    workers: Annotated[int | None, typer.Option(
        metavar="N", help="parallel runs (default: all cores); 1 = serial, no Ray")] = None,
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="join this Ray cluster ('auto': the one `ray start` made here); default RAY_ADDRESS, else a new local Ray")] = None,
    report: Annotated[bool, typer.Option(help="write report.html")] = True,
    history: Annotated[bool, typer.Option(help="also keep each run's history.jsonl and trace.jsonl")] = False,
    retry_errors: Annotated[bool, typer.Option(help="re-run runs that failed last time")] = True,
    force: Annotated[bool, typer.Option(
        "--force", help="replace a sweep folder of another experiment if the workbench wrote it")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print the resolved config, the number of runs and an estimated time; run nothing")] = False,
    yes: Annotated[bool, typer.Option(
        "--yes", help="run a sweep of more than 10,000 runs (refused without it)")] = False,
) -> None:
    """Run a grid of experiments; re-run to resume.

    Exit codes: 0 all runs ok; 1 some runs failed; 2 bad input (config, grid, argument,
    output folder, more than 10,000 runs without --yes); 130 interrupted (finished runs kept).
    """
    from workbench.experiment.execute import sweep_command

    # sys.exit, not typer.Exit: with standalone_mode=False typer returns Exit codes from app()
    # instead of raising them, and main() ignores that return value.
    code = sweep_command(experiment, overrides=set_ or [], out=out, workers=workers,
                         address=address, report=report, keep_history=history,
                         retry_errors=retry_errors, force=force, dry_run=dry_run, yes=yes)
    if code:
        sys.exit(code)


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="a run folder or a sweep folder")],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", help="HTML file (default FOLDER/report.html)")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace an existing --out file if it is a workbench report")] = False,
) -> None:
    """Write one self-contained HTML report (summary, plots, checker verdicts) of a result folder.

    Exit codes: 0 written; 2 bad input (not a result folder, output path).
    """
    from workbench.analysis.report import write_report
    from workbench.outputs import REPORT_GENERATOR, guard_output_file
    from workbench.results.load import Run, load

    results = load(folder)  # a folder without results is named before anything is written
    if isinstance(results, Run) and results.summary.get("ops") == 0:
        raise UserInputError(f"{folder}: the run has no operations, so there is nothing to report")
    target = out or folder / "report.html"
    # FOLDER/report.html belongs to the result folder and is rewritten freely.
    guard_output_file(target, force=force, magic=REPORT_GENERATOR,
                      allowed_without_force=out is None or target.resolve() == (folder / "report.html").resolve())
    typer.echo(f"report: {write_report(folder, target)}")


@app.command()
def fig16(
    experiment: Annotated[Path, typer.Argument(metavar="EXPERIMENT", help="base setup of a trial (YAML)")] = Path(
        "experiments/raft_election_fig16.yaml"),
    *, trials: Annotated[int, typer.Option(metavar="N", help="trials per election-timeout range")] = 1000,
    ranges: Annotated[str | None, typer.Option(
        metavar="MIN-MAX,...", help="ms ranges, comma-separated (default: the paper's ten)")] = None,
    # Not data/fig16/: that is the committed reference result (refresh it on purpose
    # with --out data/fig16 --force).
    out: Annotated[Path, typer.Option(
        metavar="FOLDER", help="output folder: trials.parquet, comparison.csv, cdf.png")] = Path(
        "data/runs/fig16"),
    workers: Annotated[int | None, typer.Option(metavar="N", help="processes (default: up to 2)")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace the files of an earlier fig16 run in --out")] = False,
) -> None:
    """Reproduce Figure 16 of the Raft paper: time to elect a leader after a crash.

    Exit codes: 0 done; 2 bad input (config, --ranges, --trials, output path).
    """
    from workbench.studies.fig16 import PAPER_RANGES, main as run_fig16, parse_range

    chosen = [r.strip() for r in ranges.split(",") if r.strip()] if ranges else list(PAPER_RANGES)
    try:
        for text in chosen:
            parse_range(text)
    except ValueError as exc:
        raise UserInputError(f"--ranges: {exc}") from None
    if trials < 1:
        raise UserInputError("--trials: must be at least 1")
    from workbench.outputs import guard_output_file
    from workbench.studies.fig16 import output_paths

    folder, trials_path = output_paths(out, force=force)
    guard_output_file(trials_path, force=force, magic=b"PAR1", option="--out (its trials.parquet)")
    guard_output_file(folder / "comparison.csv", force=force, option="--out (its comparison.csv)")
    guard_output_file(folder / "cdf.png", force=force, magic=b"\x89PNG", option="--out (its cdf.png)")
    run_fig16(experiment, ranges=chosen, trials=trials, out=out, workers=workers, echo=typer.echo, force=force)


from workbench.search_command import search as _search  # noqa: E402  (issue 11)

app.command("search")(_search)

from workbench.explore.command import explore_command as _explore  # noqa: E402  (issue 13)

app.command("explore")(_explore)


@app.command("config")
def config_command(
    schema: Annotated[bool, typer.Option("--schema", help="print every field of an experiment file")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="as the Markdown table of docs/config.md")] = False,
) -> None:
    """The experiment-file reference: every field with type, default, unit and meaning.

    Exit codes: 0 printed; 2 bad argument.
    """
    from workbench.schema import render_markdown, render_text

    if not schema:
        raise UserInputError("config: nothing to do; try `workbench config --schema`")
    typer.echo(render_markdown() if markdown else render_text(), nl=not markdown)


def main() -> None:
    # Read before parsing: an error inside click's own parsing must honour it too.
    debug = "--debug" in sys.argv[1:]
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        # --debug is accepted anywhere on the line, not only before the command.
        args = [a for a in sys.argv[1:] if a != "--debug"]
        code = app(args=args, prog_name="workbench", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserInputError as exc:
        _fail(str(exc), debug)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        # Typer vendors click; its usage errors would print a multi-line box otherwise.
        _fail(exc.format_message(), debug)
    except (typer.Abort, KeyboardInterrupt):
        print("workbench: interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # a disk that filled up or went read-only mid-run
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", debug)
    except RecursionError:
        _fail("input nested too deeply to process", debug)
    except MemoryError:
        _fail("out of memory", debug)
    except Exception as exc:  # noqa: BLE001 - the catch-all: one line, the traceback with --debug
        _fail(f"internal error: {type(exc).__name__}: {_first_line(exc)} "
              "(run again with --debug for the traceback)", debug)


def _first_line(exc: BaseException) -> str:
    # str() of an exception can itself be huge or recurse (a deeply nested value in it).
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    return (text.strip().splitlines() or [""])[0][:300]


def _fail(message: str, debug: bool) -> None:
    """One line on stderr, exit 2; with --debug, the traceback first."""
    if debug:
        import traceback

        traceback.print_exc()
    line = " ".join(message.split()) if len(message) < 10_000 else message[:300]
    print(f"workbench: error: {line}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
