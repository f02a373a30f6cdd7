"""The atomic result store: staged writes, and the sweep folder (layout: `results.layout`).

Why a sweep folder survives any kill (DESIGN.md "Result store"): every file is written
to a temporary name in the same directory and `os.replace`d into place, and a run folder
is staged whole and renamed, so a reader sees a run either complete or not at all. A run
is finished exactly when `runs/<run_id>/` exists; `summary.parquet` is a cache of those
folders, so a kill between the two leaves it one run behind, never wrong: the next start
rewrites it, and the reader (`results.load`) rebuilds it from the run folders whenever
it is older than they are. Leftover staging names (dot-prefixed) are ignored and swept away.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from workbench.errors import ConfigError, OutputPathError
from workbench.outputs import MARKER_FILE, check_writable, guard_output_dir, write_marker
from workbench.results.layout import (
    CONFIG_FILE,
    ERROR,
    ERROR_FILE,
    OK,
    POINT_FILE,
    RUNS_DIR,
    SUMMARY_FILE,
    SWEEP_SUMMARY_FILE,
)

if TYPE_CHECKING:  # pandas loads lazily: a bad sweep file is reported before it is imported
    import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries; results should read like any file.
_UMASK = _umask()
FILE_MODE, DIR_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


# ---------------------------------------------------------------- atomic writes
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename over it.

    No fsync: the guarantee wanted is "no torn file after a killed process", which
    rename alone gives; surviving a power cut is not worth an fsync per run.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `target` in one rename.

    An existing target (a failed run being retried, or a result replaced with `--force`
    after `outputs.guard_output_dir` allowed it) is first moved aside: a kill between the
    two renames loses only that old record, which is then simply run again. On any error
    nothing is left behind: not the stage, not the moved-aside folder (it is moved back),
    not the parent folders this call created.
    """
    created = _make_parents(target.parent)
    stage: Path | None = None
    try:
        stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.stage-"))
        os.chmod(stage, DIR_MODE)
        yield stage
        if target.exists():
            _swap_in(stage, target)
        else:
            os.replace(stage, target)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        for folder in created:  # deepest first; only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it made, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    made: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            made.append(folder)
    except BaseException:
        for folder in reversed(made):
            folder.rmdir()
        raise
    return missing


def _swap_in(stage: Path, target: Path) -> None:
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
    try:
        os.replace(target, old / target.name)
    except BaseException:
        old.rmdir()
        raise
    try:
        os.replace(stage, target)
    except BaseException:
        os.replace(old / target.name, target)  # put the old result back
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


def _discard(folder: Path) -> None:
    """Rename a replaced result aside in one step, then delete it: a kill leaves only
    dot-prefixed debris, never half of the old folder under its own name."""
    old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
    os.replace(folder, old / folder.name)
    shutil.rmtree(old, ignore_errors=True)


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write `results.layout.run_files` output into a (staging) folder."""
    for name, data in files.items():
        if "/" in name:  # e.g. an external run's logs/n1.stderr.log
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def write_folder(target: Path, files: Mapping[str, bytes]) -> None:
    with staged_dir(target) as stage:
        write_files(stage, files)


def _remove_leftovers(folder: Path) -> None:
    """Staging folders and temp files of a killed writer: dot-prefixed, never read."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(".") and (".stage-" in entry.name or ".old-" in entry.name
                                           or ".tmp-" in entry.name):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


# ---------------------------------------------------------------- the sweep folder
class SweepStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / RUNS_DIR
        self.config_path = self.root / CONFIG_FILE
        self.summary_path = self.root / SWEEP_SUMMARY_FILE

    # -- opening
    def is_sweep(self) -> bool:
        return self.config_path.is_file() and self.runs_dir.is_dir()

    def _foreign(self) -> bool:
        """Holds something other than a sweep or the debris of one killed while starting
        (dot-prefixed temp names, an empty runs/)."""
        return any(not p.name.startswith(".")
                   and not (p == self.runs_dir and p.is_dir() and not any(p.iterdir()))
                   for p in self.root.iterdir())

    def stored_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8"))

    def check(self, config: dict[str, Any], grid_paths: list[str], force: bool = False) -> bool:
        """Refuse a folder that holds something else; reads only, so bad input leaves no trace.

        The base config must match exactly and the grid must sweep the same paths:
        otherwise run ids would name different experiments. Grid values and seeds may
        change, so a sweep can be extended with more seeds or values. With `force`, a
        sweep folder of another experiment is replaced instead (True is returned), but
        only one the workbench made (`outputs.guard_output_dir`). The folder must be writable.
        """
        where = f"--out {self.root}"
        if self.root.is_symlink() or (self.root.exists() and not self.root.is_dir()):
            raise OutputPathError(f"{where}: is a file, not a folder; choose a new folder path")
        if self.root.exists() and not self.is_sweep() and self._foreign():
            if force:
                return guard_output_dir(self.root, force=True, kind="sweep")
            raise ConfigError(f"{self.root}: exists and is not a sweep folder; "
                              "choose another --out")
        if self.is_sweep():
            stored = self.stored_config()
            base_old = {k: v for k, v in stored.items() if k != "sweep"}
            base_new = {k: v for k, v in config.items() if k != "sweep"}
            where_diff = first_difference(base_old, base_new)
            old_sweep = stored.get("sweep") or {}
            old_grid = old_sweep.get("grid") or {}
            # Paths the stored `cases` set count as swept paths too (see sweep.plan_sweep).
            old_paths = [*dict.fromkeys(p for case in old_sweep.get("cases") or [] for p in case
                                        if p not in old_grid), *old_grid]
            problem = (f"holds a sweep of a different experiment ({where_diff or 'config'} differs)"
                       if where_diff is not None else
                       f"holds a sweep over other grid paths ({', '.join(old_paths) or 'none'})"
                       if sorted(old_paths) != sorted(grid_paths) else None)
            if problem is not None:
                if force:
                    return guard_output_dir(self.root, force=True, kind="sweep")
                raise ConfigError(f"{self.root}: {problem}; use --out, or --force to replace it")
        if self.root.is_dir():
            check_writable(self.root, where)
            if self.runs_dir.is_dir():
                check_writable(self.runs_dir, where)
        check_writable(self.root.parent, where)
        return False

    def open(self, config: dict[str, Any], grid_paths: list[str], force: bool = False) -> None:
        """Create the folder, or reopen one that holds the same experiment."""
        if self.check(config, grid_paths, force):
            _discard(self.root)
        # runs/ then config.yaml: the pair marks a sweep (is_sweep), the rest is debris.
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(self.root)
        _remove_leftovers(self.runs_dir)
        atomic_write_bytes(self.config_path,
                           yaml.safe_dump(config, sort_keys=False).encode("utf-8"))
        if not (self.root / MARKER_FILE).is_file():
            write_marker(self.root, "sweep")

    # -- runs
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def finished_ids(self) -> set[str]:
        if not self.runs_dir.is_dir():
            return set()
        return {p.name for p in self.runs_dir.iterdir()
                if p.is_dir() and not p.name.startswith(".")}

    def read_record(self, run_id: str) -> dict[str, Any] | None:
        """`{"status", "error", **summary-or-params}` of a finished run, else None."""
        folder = self.run_dir(run_id)
        summary, error = folder / SUMMARY_FILE, folder / ERROR_FILE
        if summary.is_file():
            return {"status": OK, "error": None,
                    **json.loads(summary.read_text(encoding="utf-8"))}
        if error.is_file():
            info = json.loads(error.read_text(encoding="utf-8"))
            return {"status": ERROR, "error": info["error"], **info.get("params", {})}
        return None

    def read_records(self, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        finished = self.finished_ids()
        records = {}
        for run_id in run_ids:
            if run_id in finished and (record := self.read_record(run_id)) is not None:
                records[run_id] = record
        return records

    def write_run(self, run_id: str, files: Mapping[str, bytes]) -> None:
        write_folder(self.run_dir(run_id), files)

    def read_point(self, run_id: str) -> dict[str, Any]:
        """The run's grid point (`point.json`); {} for a folder written before it existed."""
        path = self.run_dir(run_id) / POINT_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    # -- the summary
    def write_summary(self, frame: pd.DataFrame) -> None:
        atomic_write_parquet(self.summary_path, frame)

    def summary_is_stale(self) -> bool:
        """Whether summary.parquet may be behind the run folders: missing, lacking a
        finished run, or not newer than the last run folder renamed into runs/ (a retried
        run keeps its id but changes its record). An equal mtime counts as stale: a
        coarse clock cannot order the two writes, and a rebuild is only slower."""
        if not self.summary_path.is_file():
            return True
        if not self.runs_dir.is_dir():
            return False
        return self.summary_path.stat().st_mtime_ns <= self.runs_dir.stat().st_mtime_ns

    def rebuilt_summary(self, grid_paths: list[str], order: Iterable[str] = ()) -> pd.DataFrame:
        """The summary frame from the run folders alone (the truth): the run ids in
        `order` first (the cached summary's), then the rest by name."""
        finished, order = self.finished_ids(), list(order)
        ids = [*dict.fromkeys(r for r in order if r in finished),
               *sorted(finished.difference(order))]
        records = self.read_records(ids)
        rows = [summary_row(run_id, point=self.read_point(run_id), record=records[run_id],
                            grid_paths=grid_paths)
                for run_id in ids if run_id in records]
        return summary_frame(rows, grid_paths)


# ---------------------------------------------------------------- the summary frame
def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def grid_column(values: list[Any]) -> list[Any]:
    """Grid values as one Parquet-friendly column: scalars of one kind stay as they are;
    lists, mappings or mixed kinds (5 and "x") become their JSON text."""
    kinds = {("num" if isinstance(v, int | float) and not isinstance(v, bool) else type(v))
             for v in values if v is not None}
    if all(_scalar(v) for v in values) and len(kinds) <= 1:
        return values
    return [json.dumps(v, sort_keys=True) for v in values]


def summary_row(run_id: str, *, point: Mapping[str, Any], record: Mapping[str, Any],
                grid_paths: list[str]) -> dict[str, Any]:
    """One run's summary row: its record, its id and its grid point. A case sets only its
    own paths (raft has no `quorum.r`): the others are None."""
    return {**dict.fromkeys(grid_paths), **record, "run_id": run_id, **point}


def summary_frame(rows: list[dict[str, Any]], grid_paths: list[str]) -> pd.DataFrame:
    """Rows are `{"run_id", <grid paths>, "status", "error", **summary}`, in plan order."""
    import pandas as pd

    leading = ["run_id", *grid_paths, "status", "error"]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=leading)
    for path in grid_paths:
        frame[path] = grid_column(frame[path].tolist())
    if "warnings" in frame.columns:
        # One text cell per run (a list column would not group, dedupe or compare in pandas).
        frame["warnings"] = [("; ".join(w) if isinstance(w, list) else w) for w in frame["warnings"]]
    rest = [c for c in frame.columns if c not in leading]
    return frame[leading + rest]


def first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    """The first config path where two dumps hold different values ("" for the root), or None.

    A field only one side has is skipped: it was added to (or dropped from) the config
    models between the two runs, and its default is what the older code did anyway.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [k for k in a if k in b]:
            where = first_difference(a[key], b[key], f"{prefix}{key}.")
            if where is not None:
                return where
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            where = first_difference(x, y, f"{prefix}{i}.")
            if where is not None:
                return where
        return None
    return None if a == b else prefix.rstrip(".")
