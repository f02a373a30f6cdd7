"""The `workbench` command: run, check, sweep, report.

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

from workbench.errors import UserInputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Run and measure CAP experiments.")

SUMMARY_ROWS = ["protocol", "runtime", "seed", "ops", "ok", "fail", "info", "availability",
                "availability_partitioned", "availability_minority", "availability_majority", "latency_p50_ms",
                "latency_p99_ms", "messages_per_op", "stale_read_fraction", "linearizable",
                "convergence_ms", "visibility_p50_ms", "visibility_p99_ms", "lost_adds",
                # external (Maelstrom) runs only: the workload's own verdict, misbehaving nodes
                "workload", "final_valid", "malformed_lines", "node_exits"]


def _print_summary(summary: dict) -> None:
    width = max(len(k) for k in SUMMARY_ROWS)
    for key in SUMMARY_ROWS:
        if key in summary:
            value = summary[key]
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            typer.echo(f"  {key:<{width}}  {text}")


def default_out_dir(config_name: str, protocol: str, seed: int) -> Path:
    return Path("data") / "runs" / f"{config_name}-{protocol}-seed{seed}"


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(help="experiment file (YAML)")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key.path=value")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="result folder")] = None,
    report: Annotated[bool, typer.Option(help="write report.html")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print summary.json")] = False,
    address: Annotated[str | None, typer.Option(
        "--address", help="runtime ray: join this Ray cluster (default: RAY_ADDRESS, else local)")] = None,
) -> None:
    """Run one experiment and write its result folder."""
    from workbench.config import load_config
    from workbench.runner import run_experiment, write_run

    config = load_config(experiment, set_ or [])
    if address:
        config = config.model_copy(update={"ray": config.ray.model_copy(update={"address": address})})
    out_dir = out or default_out_dir(config.name, config.protocol, config.seed)
    output = run_experiment(config)
    write_run(output, out_dir, report=report)
    if as_json:
        typer.echo(json.dumps(output.summary))
        return
    typer.echo(f"{config.name}: {config.protocol} on {output.summary['runtime']}, {config.nodes} nodes, "
               f"{config.duration_s:g} s, seed {config.seed}")
    _print_summary(output.summary)
    typer.echo(f"results: {out_dir}" + (f"  (report: {out_dir / 'report.html'})" if report else ""))


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="history files")],
    model: Annotated[str | None, typer.Option(help="register, cas-register, kv or set")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, etcd-log, kv-edn, jepsen-edn")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file")] = False,
    max_seconds: Annotated[float | None, typer.Option(help="search budget per file")] = None,
) -> None:
    """Check histories for linearizability. Exit 0 all linearizable, 1 a violation, 3 unknown."""
    from workbench.checkers.check_command import check_files

    raise typer.Exit(check_files([str(f) for f in files], model, fmt, as_json, max_seconds))


@app.command()
def sweep(
    experiment: Annotated[Path, typer.Argument(help="experiment file (YAML) with a sweep: section")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key.path=value")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="sweep folder (default data/sweeps/NAME)")] = None,
    workers: Annotated[int | None, typer.Option(help="parallel runs (default: all cores); 1 = serial, no Ray")] = None,
    address: Annotated[str | None, typer.Option(help="join this Ray cluster ('auto': the one `ray start` made here); default RAY_ADDRESS, else a new local Ray")] = None,
    report: Annotated[bool, typer.Option(help="write report.html")] = True,
    history: Annotated[bool, typer.Option(help="also keep each run's history.jsonl and trace.jsonl")] = False,
    retry_errors: Annotated[bool, typer.Option(help="re-run runs that failed last time")] = True,
) -> None:
    """Run a grid of experiments; re-run to resume. Exit 0 all ok, 1 some runs failed."""
    from workbench.sweep import sweep_command

    # sys.exit, not typer.Exit: with standalone_mode=False typer returns Exit codes from app()
    # instead of raising them, and main() ignores that return value.
    code = sweep_command(experiment, set_ or [], out, workers, address, report, history,
                         retry_errors)
    if code:
        sys.exit(code)


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="a run folder or a sweep folder")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default FOLDER/report.html)")] = None,
) -> None:
    """Write one self-contained HTML report (summary, plots, checker verdicts) of a result folder."""
    from workbench.analysis.report import write_report

    typer.echo(f"report: {write_report(folder, out)}")


@app.command()
def fig16(
    experiment: Annotated[Path, typer.Argument(help="base setup of a trial (YAML)")] = Path(
        "experiments/raft_election_fig16.yaml"),
    trials: Annotated[int, typer.Option(help="trials per election-timeout range")] = 1000,
    ranges: Annotated[str | None, typer.Option(help="MIN-MAX ms ranges, comma-separated (default: the paper's ten)")] = None,
    out: Annotated[Path, typer.Option(help="per-trial results (Parquet)")] = Path("data/fig16/trials.parquet"),
    workers: Annotated[int | None, typer.Option(help="processes (default: up to 2)")] = None,
) -> None:
    """Reproduce Figure 16 of the Raft paper: time to elect a leader after a crash."""
    from workbench.studies.fig16 import PAPER_RANGES, parse_range
    from workbench.studies.fig16 import main as run_fig16

    chosen = [r.strip() for r in ranges.split(",") if r.strip()] if ranges else list(PAPER_RANGES)
    try:
        for text in chosen:
            parse_range(text)
    except ValueError as exc:
        raise UserInputError(f"--ranges: {exc}") from None
    if trials < 1:
        raise UserInputError("--trials: must be at least 1")
    run_fig16(experiment, chosen, trials, out, workers, echo=typer.echo)


def main() -> None:
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserInputError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ClickException as exc:
        # Typer vendors click; its usage errors would print a multi-line box otherwise.
        print(f"workbench: error: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("workbench: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
