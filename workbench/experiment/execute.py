"""Executing a sweep plan: serially in-process or as Ray tasks, into the result store.

Runs go out as Ray tasks (`workers=1` runs them serially in-process, without Ray; Ray
comes from the one `runtime.ray_session.ray_session()`); the driver alone writes the
store (`workbench.results.store`), so workers on a remote cluster need no shared
filesystem, and a killed sweep restarts where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import UserInputError
from workbench.experiment.config import ExperimentConfig
from workbench.experiment.plan import MAX_RUNS, RunSpec, SweepPlan, plan_sweep, uses_ray_runtime
from workbench.results.layout import ERROR_FILE, OK, POINT_FILE, error_files, point_bytes
from workbench.results.store import SweepStore, summary_frame, summary_row

if TYPE_CHECKING:  # pandas loads lazily: a bad sweep file is reported before it is imported
    import pandas as pd

# ---------------------------------------------------------------- one run
@dataclass
class RunOutcome:
    files: dict[str, bytes]
    summary: dict[str, Any] | None = None
    error: str | None = None


def execute_run(config: ExperimentConfig, keep_history: bool = False) -> RunOutcome:
    """Run one experiment and serialize its files; an exception becomes an error record.

    This runs inside a Ray worker, so it returns bytes instead of writing: only the
    driver writes the store (a remote worker may not share its disk).
    """
    from workbench.experiment.run import output_files, run_experiment, run_params

    try:
        output = run_experiment(config)
        return RunOutcome(output_files(output, keep_history=keep_history), summary=output.summary)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, not fatal
        message = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["error"])[0][:500]
        return RunOutcome(error_files(message, traceback.format_exc(), run_params(config)),
                          error=message)


# ---------------------------------------------------------------- executors
OnDone = Callable[[RunSpec, RunOutcome], None]


def run_serial(pending: Iterable[RunSpec], on_done: OnDone, keep_history: bool) -> None:
    for spec in pending:
        on_done(spec, execute_run(spec.config, keep_history))


def ray_slots(workers: int | None) -> int:
    import ray

    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_as_ray_tasks(pending: list[RunSpec], on_done: OnDone, *, keep_history: bool,
                     slots: int) -> None:
    """At most `slots` tasks in flight, so an interrupt abandons few and the progress
    bar counts real completions. Ctrl-C drops what is in flight and re-raises; nothing an
    abandoned task does reaches the store (only `on_done` writes, here in the driver).

    Nothing is `ray.cancel`led: cancelling races with the task's completion inside
    Ray's core worker and can abort the driver ("Tried to complete task that was not
    pending", ray-project/ray#54846; seen here in CI). A local Ray we started is shut
    down right after (`run_sweep`), which kills its workers; on a joined cluster the
    abandoned runs finish on their own and are not recorded."""
    import ray
    from ray.exceptions import RayError, RayTaskError, TaskCancelledError, WorkerCrashedError

    # max_retries: a run whose worker or raylet died is re-run once elsewhere; only
    # the attempt that returns reaches `on_done`, so each run is stored exactly once.
    remote = ray.remote(num_cpus=1, max_retries=1)(execute_run_on_node)
    queue = iter(pending)
    in_flight: dict[Any, RunSpec] = {}

    def fill() -> None:
        while len(in_flight) < slots and (spec := next(queue, None)) is not None:
            in_flight[remote.remote(spec.config, keep_history)] = spec

    fill()
    while in_flight:
        # A timeout keeps the driver responsive to Ctrl-C between Ray calls.
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
        for ref in ready:
            spec = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except TaskCancelledError:
                continue
            except RayTaskError as exc:
                if isinstance(exc.cause, KeyboardInterrupt):
                    continue  # a Ctrl-C that reached the worker: not a result
                outcome = _ray_failure(spec, exc)
            except (WorkerCrashedError, RayError) as exc:
                outcome = _ray_failure(spec, exc)
            on_done(spec, outcome)
        fill()


def execute_run_on_node(config: ExperimentConfig, keep_history: bool = False) -> RunOutcome:
    """`execute_run` inside a Ray task: the run's record names the raylet it ran on
    (`ray_node_id` in summary.json, or in error.json's params), so summary.parquet
    shows how a sweep spread over the cluster."""
    import ray

    outcome = execute_run(config, keep_history)
    return with_node_id(outcome, ray.get_runtime_context().get_node_id())


def with_node_id(outcome: RunOutcome, node_id: str) -> RunOutcome:
    files = dict(outcome.files)
    if "summary.json" in files:
        summary = {**json.loads(files["summary.json"]), "ray_node_id": node_id}
        files["summary.json"] = (json.dumps(summary, indent=2) + "\n").encode()
    elif ERROR_FILE in files:
        info = json.loads(files[ERROR_FILE])
        info["params"] = {**info.get("params", {}), "ray_node_id": node_id}
        files[ERROR_FILE] = (json.dumps(info, indent=2, default=str) + "\n").encode()
    summary = {**outcome.summary, "ray_node_id": node_id} if outcome.summary else outcome.summary
    return RunOutcome(files, summary=summary, error=outcome.error)


def _ray_failure(spec: RunSpec, exc: Exception) -> RunOutcome:
    """The worker died (out of memory, killed) rather than the run raising."""
    from workbench.experiment.run import run_params

    message = (f"{type(exc).__name__}: {exc}".splitlines() or ["error"])[0][:500]
    return RunOutcome(error_files(message, str(exc), run_params(spec.config)), error=message)


# ---------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    path: Path
    frame: pd.DataFrame
    total: int
    ran: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: bool = False
    seconds: float = 0.0


def default_sweep_dir(name: str) -> Path:
    return Path("data") / "sweeps" / name


def run_sweep(plan: SweepPlan, *, out: str | Path | None = None, workers: int | None = None,
              address: str | None = None, keep_history: bool = False, retry_errors: bool = True,
              progress: bool = True, keep_ray: bool = False, force: bool = False) -> SweepResult:
    """Run every run of the plan that has no result yet; Ctrl-C keeps what finished.

    `workers=None`: Ray with every core (or the cluster's CPUs); `workers=1`: serial,
    in-process, no Ray. Runs on the `ray` runtime start their own actors, so they run
    one at a time from the driver instead of inside tasks (which would starve them).
    Ray comes from `ray_session` (private local, or the cluster at `address`); one
    started here is shut down at the end unless `keep_ray` (the Python API keeps it for
    the next sweep of the session).
    """
    store = SweepStore(out or default_sweep_dir(plan.name))
    serial = workers == 1 or uses_ray_runtime(plan)
    # Check the folder and join Ray before creating anything: bad input leaves no trace.
    store.check(plan.config, plan.grid_paths, force)
    if serial:
        return _run_pending(plan, store, serial=True, workers=workers, keep_history=keep_history,
                            retry_errors=retry_errors, progress=progress, force=force)
    from workbench.runtime.ray_session import ray_session

    with ray_session(address, workers, keep=keep_ray):
        return _run_pending(plan, store, serial=False, workers=workers,
                            keep_history=keep_history, retry_errors=retry_errors,
                            progress=progress, force=force)


def _reusing_node_actors(plan: SweepPlan) -> contextlib.AbstractContextManager[None]:
    """External nodes on Ray: the runs share their node actors (`external_ray`) instead
    of starting five new Ray workers each."""
    if plan.config.get("protocol") == "external" and uses_ray_runtime(plan):
        from workbench.runtime.external_ray import reusing_node_actors

        return reusing_node_actors()
    return contextlib.nullcontext()


def _run_pending(plan: SweepPlan, store: SweepStore, *, serial: bool, workers: int | None,
                 keep_history: bool, retry_errors: bool, progress: bool,
                 force: bool) -> SweepResult:
    from tqdm import tqdm

    store.open(plan.config, plan.grid_paths, force)
    rows = stored_rows(plan, store)
    store.write_summary(_frame(plan, rows))
    done = {rid for rid, row in rows.items() if row["status"] == OK or not retry_errors}
    pending = [r for r in plan.runs if r.run_id not in done]
    result = SweepResult(store.root, _frame(plan, rows), len(plan.runs), skipped=len(done))
    bar = tqdm(total=len(plan.runs), initial=len(done), unit="run", desc=plan.name,
               disable=not progress, dynamic_ncols=True, smoothing=0.1)
    start = time.monotonic()

    def on_done(spec: RunSpec, outcome: RunOutcome) -> None:
        # point.json: the reader rebuilds a stale summary from the run folders alone.
        store.write_run(spec.run_id, {**outcome.files, POINT_FILE: point_bytes(spec.point)})
        rows[spec.run_id] = _row(plan, spec, store.read_record(spec.run_id) or {})
        store.write_summary(_frame(plan, rows))
        result.ran += 1
        result.failed += outcome.error is not None
        bar.set_postfix(failed=result.failed, refresh=False)
        bar.update(1)

    try:
        if serial:
            with _reusing_node_actors(plan):
                run_serial(pending, on_done, keep_history)
        else:
            run_as_ray_tasks(pending, on_done, keep_history=keep_history,
                             slots=ray_slots(workers))
    except KeyboardInterrupt:
        result.interrupted = True
        # Ctrl-C may land between a run's folder and the summary rewrite: re-read the
        # folders so summary.parquet lists exactly the runs that finished.
        rows = stored_rows(plan, store)
        store.write_summary(_frame(plan, rows))
    finally:
        bar.close()
    result.seconds = time.monotonic() - start
    result.frame = _frame(plan, rows)
    return result


def stored_rows(plan: SweepPlan, store: SweepStore) -> dict[str, dict[str, Any]]:
    """Summary rows of the plan's runs that have a folder in the store (the truth)."""
    records = store.read_records(r.run_id for r in plan.runs)
    return {r.run_id: _row(plan, r, records[r.run_id]) for r in plan.runs if r.run_id in records}


def _row(plan: SweepPlan, spec: RunSpec, record: dict[str, Any]) -> dict[str, Any]:
    return summary_row(spec.run_id, point=spec.point, record=record, grid_paths=plan.grid_paths)


def _frame(plan: SweepPlan, rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    return summary_frame([rows[r.run_id] for r in plan.runs if r.run_id in rows], plan.grid_paths)


def write_sweep_report(path: Path) -> str | None:
    """The sweep's report.html, if the report module is there; else a note why not."""
    try:
        from workbench.analysis.report import write_report
    except ImportError as exc:
        return f"report skipped ({exc})"
    write_report(path, path / "report.html")
    return None


# ---------------------------------------------------------------- the command
def sweep_command(experiment: Path, *, overrides: list[str], out: Path | None,
                  workers: int | None, address: str | None, report: bool, keep_history: bool,
                  retry_errors: bool, force: bool = False, dry_run: bool = False,
                  yes: bool = False) -> int:
    """`workbench sweep`: exit 0 all runs ok, 1 some runs failed, 130 interrupted.

    Bad input raises UserInputError before any folder exists (the CLI prints it, exit 2).
    """
    from workbench.experiment.config import apply_overrides, read_yaml

    if workers is not None and workers < 1:
        raise UserInputError(f"--workers {workers}: expected 1 or more")
    source = str(experiment)
    plan = plan_sweep(apply_overrides(read_yaml(experiment), overrides, source), source,
                      max_runs=None if (yes or dry_run) else MAX_RUNS)
    if dry_run:
        from workbench.dry_run import describe_sweep

        seeds = plan.config["sweep"]["seeds"]
        print(describe_sweep(plan.config, plan.runs, plan.grid_paths,
                             seeds=seeds if isinstance(seeds, int) else len(seeds),
                             workers=workers, serial=workers == 1 or uses_ray_runtime(plan),
                             out_dir=str(out or default_sweep_dir(plan.name))))
        return 0
    # The output folder is judged before anything is printed: a refusal is one line.
    SweepStore(out or default_sweep_dir(plan.name)).check(plan.config, plan.grid_paths, force)
    mode = ("serial, in-process" if workers == 1
            else f"Ray at {address}" if address else f"Ray, {workers or 'all'} workers")
    print(f"sweep {plan.name}: {len(plan.runs)} runs ({mode})", file=sys.stderr)
    result = run_sweep(plan, out=out, workers=workers, address=address,
                       keep_history=keep_history, retry_errors=retry_errors, force=force)
    ok = int((result.frame["status"] == OK).sum()) if len(result.frame) else 0
    failed = len(result.frame) - ok
    print(f"{result.path}: {ok} ok, {failed} failed, {result.total - ok - failed} not run "
          f"(this time: ran {result.ran} in {result.seconds:.1f} s, skipped {result.skipped} "
          "already done)", file=sys.stderr)
    if result.interrupted:
        print("interrupted: finished runs are kept; run the same command again to finish",
              file=sys.stderr)
        return 130
    if report and (note := write_sweep_report(result.path)):
        print(note, file=sys.stderr)
    if failed:
        print(f"{failed} runs failed; see the error column of {result.path / 'summary.parquet'}",
              file=sys.stderr)
    return 1 if failed else 0
