"""Sweep plans: expand a grid of config paths into runs, validated before anything runs.

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
validated before anything runs or any folder is made (DESIGN.md house rule 7). Paths are
walked by `experiment.dotted`, the same code as `--set` overrides. `experiment.execute`
runs a plan.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workbench.errors import ConfigError
from workbench.experiment import dotted
from workbench.experiment.config import ExperimentConfig, validate_config

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
            dotted.set_raw(candidate, resolved, parts, value=value)
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
            dotted.set_raw(run_raw, self._resolved, path.split("."), value=value)
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
