"""Sweeps: expand a grid of config paths into runs, fan them out, keep a resumable store.

An experiment file's `sweep:` section:

```yaml
sweep:
  grid:
    protocol: [raft, paxos, eventual]
    faults.partitions.0.duration: [5, 10, 20]   # list indices allowed in paths
  seeds: 3        # replicates seed, seed+1, seed+2 (or an explicit list [1, 7, 9])
  cases:          # optional: points that are not a product, each crossed with the grid
    - {protocol: raft}
    - {protocol: quorum, quorum.r: 1, quorum.w: 1}
```

becomes the cartesian product of the cases, the grid and the seeds. Every path and value is
validated before anything runs or any folder is made (DESIGN.md house rule 7). Runs go
out as Ray tasks (`workers=1` runs them serially in-process, without Ray); the driver
alone writes the store (`workbench.store`), so workers on a remote cluster need no
shared filesystem, and a killed sweep restarts where it stopped.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import itertools
import json
import math
import re
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench import dotted
from workbench.config import ExperimentConfig, validate_config
from workbench.errors import ConfigError, UserInputError
from workbench.store import BULK_TRACE_KINDS, ERROR_FILE, OK, SweepStore, error_files, summary_frame

if TYPE_CHECKING:  # pandas loads lazily: a bad sweep file is reported before it is imported
    import pandas as pd

RESERVED_PATHS = {"seed": "use sweep.seeds for replicates", "sweep": "a sweep cannot sweep itself"}


# ---------------------------------------------------------------- the sweep section
class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: int | list[int] = Field(1, description="replicates: a count, or explicit seeds")
    cases: list[dict[str, Any]] = Field(
        default_factory=list,
        description="points given whole (path -> value), each crossed with the grid; "
        "for spectra a product would duplicate (raft x quorum sizes)")


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    point: dict[str, Any]
    """grid path -> value"""
    seed: int
    config: ExperimentConfig


@dataclass(frozen=True)
class SweepPlan:
    name: str
    config: dict[str, Any]
    """resolved base config + normalized sweep section: what `config.yaml` holds"""
    grid_paths: list[str]
    runs: Sequence[RunSpec]
    """A list, or for a grid above MAX_RUNS a `PlannedRuns` that builds each run on demand."""


def _sweep_error(source: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {message}" if source else message)


def parse_spec(section: Any, source: str) -> SweepSpec:
    if section is None:
        raise _sweep_error(source, "sweep: missing; add a sweep: section with grid: and/or seeds:")
    try:
        spec = SweepSpec.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        # A grid entry that is not a list: name the path, not pydantic's union branches.
        if loc[:1] == ["grid"] and len(loc) >= 2:
            where, message = f"grid.{loc[1]}", "expected a list of values"
        else:
            where = ".".join(str(p) for p in loc if not str(p).startswith(("int", "list[")))
            message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise _sweep_error(source, f"sweep.{where}: {message}") from None
    if isinstance(spec.seeds, list) and (not spec.seeds or len(set(spec.seeds)) != len(spec.seeds)):
        raise _sweep_error(source, "sweep.seeds: expected a count >= 1 or a list of distinct seeds")
    if isinstance(spec.seeds, int) and spec.seeds < 1:
        raise _sweep_error(source, "sweep.seeds: expected a count >= 1 or a list of distinct seeds")
    return spec


# ---------------------------------------------------------------- config paths
# ---------------------------------------------------------------- run ids
def _slug(value: Any) -> str:
    if isinstance(value, bool | int | float | str):
        return re.sub(r"[^A-Za-z0-9.+]", "", str(value))[:16]
    return ""


def run_id(point: dict[str, Any], seed: int) -> str:
    """Readable and stable: `raft_10-3fa2b1c0-s2` = scalar values, a hash of the whole
    grid point (so ids never collide and never depend on dict order), and the seed."""
    digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:8]
    slug = "_".join(s for s in (_slug(v) for v in point.values()) if s)[:40]
    return f"{slug}-{digest}-s{seed}" if slug else f"{digest}-s{seed}"


# ---------------------------------------------------------------- expansion
def _value_error(source: str, path: str, value: Any, exc: ConfigError) -> ConfigError:
    message = str(exc)
    message = message.removeprefix(f"{path}: ")
    return _sweep_error(source, f"sweep.grid.{path}: value {value!r}: {message}")


MAX_RUNS = 10_000
"""A sweep with more runs is refused unless asked for (`--yes`, `max_runs=None`)."""


def plan_sweep(raw: dict[str, Any], source: str = "", *, max_runs: int | None = MAX_RUNS) -> SweepPlan:
    """Validate the sweep section, every grid path and value, and (up to `MAX_RUNS` runs)
    every run's config. The runs are counted before any is built: a grid above `max_runs`
    is refused at once, whatever its size."""
    spec = parse_spec(raw.get("sweep"), source)
    base_raw = {k: v for k, v in raw.items() if k != "sweep"}
    base = validate_config(base_raw, source)
    resolved = base.model_dump(mode="json", by_alias=True)
    seeds = spec.seeds if isinstance(spec.seeds, list) else [base.seed + i for i in range(spec.seeds)]

    paths = list(spec.grid)
    case_paths = [p for case in spec.cases for p in case if p not in spec.grid]
    for path in dict.fromkeys(case_paths):
        parts = path.split(".")
        if parts[0] in RESERVED_PATHS:
            raise _sweep_error(source, f"sweep.cases: {path}: {RESERVED_PATHS[parts[0]]}")
        if problem := dotted.problem(resolved, parts):
            raise _sweep_error(source, f"sweep.cases: {path}: {problem}")
    for path in paths:
        parts = path.split(".")
        if parts[0] in RESERVED_PATHS:
            raise _sweep_error(source, f"sweep.grid.{path}: {RESERVED_PATHS[parts[0]]}")
        if problem := dotted.problem(resolved, parts):
            raise _sweep_error(source, f"sweep.grid.{path}: {problem}")
        values = spec.grid[path]
        if not values:
            raise _sweep_error(source, f"sweep.grid.{path}: expected at least one value")
        seen: set[str] = set()
        for value in values:
            key = json.dumps(value, sort_keys=True, default=str)
            if key in seen:
                raise _sweep_error(source, f"sweep.grid.{path}: value {value!r} is listed twice")
            seen.add(key)
            candidate = copy.deepcopy(base_raw)
            dotted.set_raw(candidate, resolved, parts, value)
            try:
                validate_config(candidate)
            except ConfigError as exc:
                raise _value_error(source, path, value, exc) from None

    n_cases = len(spec.cases) or 1
    total = n_cases * math.prod(len(spec.grid[p]) for p in paths) * len(seeds)
    if max_runs is not None and total > max_runs:
        shape = " x ".join([*([f"{n_cases} cases"] if spec.cases else []),
                            *(str(len(spec.grid[p])) for p in paths), f"{len(seeds)} seeds"])
        raise _sweep_error(source, f"sweep: {total:,} runs ({shape}) is more than {max_runs:,}; "
                           "narrow sweep.grid, or pass --yes to run them all")
    runs: Sequence[RunSpec] = PlannedRuns(base_raw, resolved, paths, [spec.grid[p] for p in paths],
                                          seeds, source, cases=spec.cases)
    if total <= MAX_RUNS:
        runs = list(runs)  # small enough: validate every run's config before anything runs

    sweep_section: dict[str, Any] = {"grid": spec.grid, "seeds": spec.seeds}
    if spec.cases:
        sweep_section["cases"] = spec.cases
    stored = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    stored.pop("sweep", None)
    return SweepPlan(base.name, {**stored, "sweep": sweep_section}, [*dict.fromkeys(case_paths), *paths], runs)


class PlannedRuns(Sequence[RunSpec]):
    """The cases times the grid times the seeds, built one run at a time (run i by its
    mixed-radix digits): a grid of a billion runs costs nothing until runs are taken from it."""

    def __init__(self, base_raw: dict[str, Any], resolved: dict[str, Any], paths: list[str],
                 values: list[list[Any]], seeds: list[int], source: str, *,
                 cases: list[dict[str, Any]] | None = None) -> None:
        self._base_raw, self._resolved, self._paths = base_raw, resolved, paths
        self._values, self._seeds, self._source = values, seeds, source
        self._cases = cases or [{}]
        self._total = len(self._cases) * math.prod(len(v) for v in values) * len(seeds)

    def __len__(self) -> int:
        return self._total

    @overload
    def __getitem__(self, index: int) -> RunSpec: ...

    @overload
    def __getitem__(self, index: slice) -> list[RunSpec]: ...

    def __getitem__(self, index: int | slice) -> RunSpec | list[RunSpec]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._total))]
        if index < 0:
            index += self._total
        if not 0 <= index < self._total:
            raise IndexError(index)
        # Seeds vary fastest, then the last grid path: itertools.product order.
        index, seed_index = divmod(index, len(self._seeds))
        combo = []
        for values in reversed(self._values):
            index, digit = divmod(index, len(values))
            combo.append(values[digit])
        point = {**self._cases[index], **dict(zip(self._paths, reversed(combo), strict=True))}
        return self._build(point, self._seeds[seed_index])

    def __iter__(self) -> Iterator[RunSpec]:
        for case, combo in itertools.product(self._cases, itertools.product(*self._values)):
            point = {**case, **dict(zip(self._paths, combo, strict=True))}
            for seed in self._seeds:
                yield self._build(point, seed)

    def _build(self, point: dict[str, Any], seed: int) -> RunSpec:
        run_raw = copy.deepcopy(self._base_raw)
        for path, value in point.items():
            dotted.set_raw(run_raw, self._resolved, path.split("."), value)
        run_raw["seed"] = seed
        rid = run_id(point, seed)
        try:
            config = validate_config(run_raw)
        except ConfigError as exc:
            raise _sweep_error(self._source, f"sweep: run {rid} ({point}): {exc}") from None
        return RunSpec(rid, point, seed, config)


def uses_ray_runtime(plan: SweepPlan) -> bool:
    """Whether some run is on the `ray` runtime, read from the base config and the grid
    (not by building every run)."""
    sweep = plan.config.get("sweep") or {}
    grid = sweep.get("grid") or {}
    return (plan.config.get("runtime") == "ray" or "ray" in grid.get("runtime", [])
            or any(case.get("runtime") == "ray" for case in sweep.get("cases") or []))


def _reusing_node_actors(plan: SweepPlan) -> contextlib.AbstractContextManager[None]:
    """External nodes on Ray: the runs share their node actors (`external_ray`) instead
    of starting five new Ray workers each."""
    if plan.config.get("protocol") == "external" and uses_ray_runtime(plan):
        from workbench.runtime.external_ray import reusing_node_actors

        return reusing_node_actors()
    return contextlib.nullcontext()


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
    from workbench.runner import run_params

    try:
        from workbench.runner import run_experiment

        output = run_experiment(config)
        return RunOutcome(_run_files(output, keep_history), summary=output.summary)
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, not fatal
        message = (f"{type(exc).__name__}: {exc}".strip().splitlines() or ["error"])[0][:500]
        return RunOutcome(error_files(message, traceback.format_exc(), run_params(config)),
                          error=message)


def _run_files(output: Any, keep_history: bool) -> dict[str, bytes]:
    from workbench.history.events import dumps_event
    from workbench.history.frame import to_parquet_frame

    config_dump = output.config.model_dump(mode="json", by_alias=True, exclude_none=True)
    buffer = io.BytesIO()
    to_parquet_frame(output.ops).to_parquet(buffer, index=False)
    files = {
        "config.yaml": yaml.safe_dump(config_dump, sort_keys=False).encode(),
        "ops.parquet": buffer.getvalue(),
        "summary.json": (json.dumps(output.summary, indent=2) + "\n").encode(),
    }
    if keep_history:
        files["history.jsonl"] = "".join(dumps_event(e) + "\n"
                                         for e in output.result.history).encode()
        files["trace.jsonl"] = "".join(json.dumps(r) + "\n" for r in output.result.trace).encode()
    else:
        # The trace without its bulk (one apply per replica per write, digest samples):
        # partitions, crashes, leaders — a few dozen lines, enough for a run's report to
        # shade partitions and show leadership.
        files["events.jsonl"] = "".join(json.dumps(r) + "\n" for r in output.result.trace
                                        if r["kind"] not in BULK_TRACE_KINDS).encode()
    files.update(output.result.files)  # an external run's node logs (each capped at 1 MiB)
    return files



# ---------------------------------------------------------------- executors
OnDone = Callable[[RunSpec, RunOutcome], None]


def run_serial(pending: Iterable[RunSpec], on_done: OnDone, keep_history: bool) -> None:
    for spec in pending:
        on_done(spec, execute_run(spec.config, keep_history))


def ensure_ray(address: str | None, workers: int | None) -> bool:
    """Start or join Ray unless this process already has it; True if we started it.

    The one Ray starter (`ray_cluster.start_session`): a private local Ray of `workers`
    cores (default all), or the cluster at `address`/`RAY_ADDRESS` with its token."""
    from workbench.runtime.ray_session import start_session

    return start_session(address, workers)


def stop_ray() -> None:
    from workbench.runtime.ray_session import end_session

    end_session()


def ray_slots(workers: int | None) -> int:
    import ray

    return workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_on_ray(pending: list[RunSpec], on_done: OnDone, keep_history: bool, slots: int) -> None:
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
    from workbench.runner import run_params

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


def run_sweep(
    plan: SweepPlan,
    out: str | Path | None = None,
    workers: int | None = None,
    address: str | None = None,
    keep_history: bool = False,
    retry_errors: bool = True,
    progress: bool = True,
    keep_ray: bool = False,
    force: bool = False,
) -> SweepResult:
    """Run every run of the plan that has no result yet; Ctrl-C keeps what finished.

    `workers=None`: Ray with every core (or the cluster's CPUs); `workers=1`: serial,
    in-process, no Ray. Runs on the `ray` runtime start their own actors, so they run
    one at a time from the driver instead of inside tasks (which would starve them).
    A local Ray started here is shut down at the end unless `keep_ray` (the Python API
    keeps it for the next sweep of the session).
    """
    from tqdm import tqdm

    store = SweepStore(out or default_sweep_dir(plan.name))
    serial = workers == 1 or uses_ray_runtime(plan)
    # Check the folder and join Ray before creating anything: bad input leaves no trace.
    store.check(plan.config, plan.grid_paths, force)
    started_ray = False if serial else ensure_ray(address, workers)
    try:
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
            store.write_run(spec.run_id, outcome.files)
            rows[spec.run_id] = _row(spec, store.read_record(spec.run_id) or {})
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
                run_on_ray(pending, on_done, keep_history, ray_slots(workers))
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
    finally:
        if started_ray and not keep_ray:
            stop_ray()


def stored_rows(plan: SweepPlan, store: SweepStore) -> dict[str, dict[str, Any]]:
    """Summary rows of the plan's runs that have a folder in the store (the truth)."""
    records = store.read_records(r.run_id for r in plan.runs)
    return {r.run_id: _row(r, records[r.run_id]) for r in plan.runs if r.run_id in records}


def summary_rows(plan: SweepPlan, store: SweepStore) -> pd.DataFrame:
    """The summary frame rebuilt from the run folders."""
    return _frame(plan, stored_rows(plan, store))


def _row(spec: RunSpec, record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "run_id": spec.run_id, **spec.point}


def _all_paths(row: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """A case sets only its own paths (raft has no `quorum.r`): the others are None."""
    return {**dict.fromkeys(paths), **row}


def _frame(plan: SweepPlan, rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    ordered = [_all_paths(rows[r.run_id], plan.grid_paths) for r in plan.runs if r.run_id in rows]
    return summary_frame(ordered, plan.grid_paths)


def write_sweep_report(path: Path) -> str | None:
    """The sweep's report.html, if the report module is there; else a note why not."""
    try:
        from workbench.analysis.report import write_report
    except ImportError as exc:
        return f"report skipped ({exc})"
    write_report(path, path / "report.html")
    return None


# ---------------------------------------------------------------- the command
def sweep_command(experiment: Path, overrides: list[str], out: Path | None, workers: int | None,
                  address: str | None, report: bool, keep_history: bool,
                  retry_errors: bool, force: bool = False, dry_run: bool = False,
                  yes: bool = False) -> int:
    """`workbench sweep`: exit 0 all runs ok, 1 some runs failed, 130 interrupted.

    Bad input raises UserInputError before any folder exists (the CLI prints it, exit 2).
    """
    from workbench.config import apply_overrides, read_yaml

    if workers is not None and workers < 1:
        raise UserInputError(f"--workers {workers}: expected 1 or more")
    source = str(experiment)
    plan = plan_sweep(apply_overrides(read_yaml(experiment), overrides, source), source,
                      max_runs=None if (yes or dry_run) else MAX_RUNS)
    if dry_run:
        from workbench.dry_run import describe_sweep

        seeds = plan.config["sweep"]["seeds"]
        print(describe_sweep(plan.config, plan.runs, plan.grid_paths,
                             seeds if isinstance(seeds, int) else len(seeds), workers,
                             workers == 1 or uses_ray_runtime(plan),
                             str(out or default_sweep_dir(plan.name))))
        return 0
    # The output folder is judged before anything is printed: a refusal is one line.
    SweepStore(out or default_sweep_dir(plan.name)).check(plan.config, plan.grid_paths, force)
    mode = ("serial, in-process" if workers == 1
            else f"Ray at {address}" if address else f"Ray, {workers or 'all'} workers")
    print(f"sweep {plan.name}: {len(plan.runs)} runs ({mode})", file=sys.stderr)
    result = run_sweep(plan, out, workers, address, keep_history, retry_errors, force=force)
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


# ---------------------------------------------------------------- `workbench.sweep(...)`
class _CallableModule(types.ModuleType):
    """`workbench.sweep(...)` is the notebook API (`workbench.api.sweep`), but once this
    module is imported the package attribute `workbench.sweep` *is* this module and the
    package's lazy `__getattr__` no longer runs. Calling the module calls the API."""

    def __call__(self, *args: Any, **kwargs: Any) -> pd.DataFrame:
        from workbench.api import sweep

        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
