"""Where a command may write: never over a user's file (DESIGN.md "Never lose a user's file").

Every command that writes (`run`, `sweep`, `report`, `fig16`, `workbench.run(out=...)`,
`workbench.sweep(out=...)`) calls a guard here *before* any work starts, so bad output
paths cost nothing and leave the filesystem as it was:

- a file where a folder is wanted (or the reverse) is an error;
- an existing non-empty folder is refused unless `force`; and `force` replaces only a
  folder the workbench made, recognised by its marker file (`.workbench-output`), and
  only when it holds nothing but names the workbench wrote there (a `notes.txt` the user
  dropped inside is never deleted);
- the place is checked writable by creating and removing a probe folder, which catches
  read-only mounts (EROFS) even for root, whom permission bits do not stop.

Commands that write a finding into a default place (`search`'s folder, `explore`'s
counterexample file) never replace anything there: `fresh_path` picks the next free name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from workbench.errors import OutputPathError

MARKER_FILE = ".workbench-output"
"""Written into every result folder the workbench makes: {"kind": ..., "files": [...]}."""
Kind = Literal["run", "sweep"]
ALWAYS_OURS = frozenset({MARKER_FILE, "report.html", "explorer.html"})
"""Names the workbench may add to its folder later (`workbench report FOLDER`)."""
REPORT_GENERATOR = b'<meta name="generator" content="workbench report">'


def write_marker(folder: Path, kind: Kind) -> None:
    """Record that the workbench made `folder` and which top-level names it wrote."""
    names = sorted(p.name for p in folder.iterdir() if p.name != MARKER_FILE)
    (folder / MARKER_FILE).write_text(json.dumps({"kind": kind, "files": names}) + "\n",
                                      encoding="utf-8")


def _marker_names(folder: Path) -> set[str] | None:
    """The names the marker lists, or None if `folder` has no readable marker."""
    try:
        info = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
        return set(info["files"]) | ALWAYS_OURS
    except (OSError, ValueError, KeyError, TypeError):
        return None


def foreign_entries(folder: Path, kind: Kind) -> list[str] | None:
    """Entries of a workbench folder the workbench did not write; None if it is not one.

    A sweep grows after its marker is written (runs/, summary.parquet), so its known
    names are fixed rather than recorded. Dot-prefixed staging debris is ours too.
    """
    known = _marker_names(folder)
    if known is None:
        return None
    if kind == "sweep":
        known |= {"config.yaml", "runs", "summary.parquet"}
    return sorted(p.name for p in folder.iterdir()
                  if p.name not in known and not _staging_debris(p.name))


def _staging_debris(name: str) -> bool:
    return name.startswith(".") and any(tag in name for tag in (".stage-", ".old-", ".tmp-"))


def guard_output_dir(target: str | Path, *, force: bool, kind: Kind = "run",
                     option: str = "--out") -> bool:
    """Refuse a target folder that may not be written; True if an old result will be replaced.

    Raises OutputPathError (one line, exit 2) and touches nothing.
    """
    target = Path(target)
    where = f"{option} {target}"
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise OutputPathError(f"{where}: is a file, not a folder; choose a new folder path")
    replacing = False
    if target.is_dir():
        entries = _entries(target, where)
        if entries:
            if not force:
                raise OutputPathError(f"{where}: folder exists and is not empty; choose another "
                                      "folder, or add --force to replace a result folder the "
                                      "workbench wrote")
            foreign = foreign_entries(target, kind)
            if foreign is None:
                raise OutputPathError(f"{where}: not a folder the workbench wrote (no {MARKER_FILE}); "
                                      "--force replaces only those; choose another folder")
            if foreign:
                raise OutputPathError(f"{where}: holds files the workbench did not write "
                                      f"({', '.join(foreign[:3])}); --force will not delete them")
            replacing = True
        # Replacing means removing the old folder's entries, so it must be writable itself.
        check_writable(target, where)
    check_writable(target.parent, where)
    return replacing


def guard_output_file(target: str | Path, *, force: bool, option: str = "--out",
                      magic: bytes | None = None, allowed_without_force: bool = False) -> None:
    """Refuse a target file that may not be written (a folder, a user's file, a read-only place).

    `magic`: with `force`, replace only a file that contains these bytes in its first
    4 KiB (a report's generator tag, Parquet's `PAR1`), i.e. one the workbench wrote.
    `allowed_without_force`: the target is a name inside a workbench folder (its own
    report.html), which is rewritten freely.
    """
    target = Path(target)
    where = f"{option} {target}"
    if target.is_dir():
        raise OutputPathError(f"{where}: is a folder; give a file path")
    if target.exists() and not allowed_without_force:
        if not force:
            raise OutputPathError(f"{where}: file exists; choose another path, or add --force "
                                  "to replace a file the workbench wrote")
        if magic is not None and magic not in _head(target, where):
            raise OutputPathError(f"{where}: not a file the workbench wrote; --force replaces only those")
    if target.exists():
        _check_access(target, where)
    check_writable(target.parent, where)


def fresh_path(base: Path, *, siblings: tuple[str, ...] = ()) -> Path:
    """`base` if nothing is there, else `name-2.ext`, `name-3.ext`, ...: the first free name
    (a file's suffix is kept; an earlier finding, or a user's file, is never replaced).
    `siblings`: suffixes of files written beside it under the same stem (a chart beside
    a trace), which must be free too."""
    def taken(path: Path) -> bool:
        return any(p.exists() or p.is_symlink() for p in (path, *(path.with_suffix(s) for s in siblings)))

    candidate, k = base, 1
    while taken(candidate):
        k += 1
        candidate = base.with_name(f"{base.stem}-{k}{base.suffix}")
    return candidate


def _head(path: Path, where: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(4096)
    except OSError as exc:
        raise OutputPathError(f"{where}: cannot read ({exc.strerror})") from None


def _entries(folder: Path, where: str) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise OutputPathError(f"{where}: cannot list the folder ({exc.strerror})") from None


def _check_access(path: Path, where: str) -> None:
    if not os.access(path, os.W_OK):
        raise OutputPathError(f"{where}: not writable")


def check_writable(folder: Path, where: str) -> None:
    """Create and remove a probe folder in `folder`, or in its nearest existing ancestor
    (the missing parents would be made there). A real write is the only test that sees a
    read-only mount for root as well as permission bits for everyone else."""
    base = folder
    while not base.exists():
        if base.parent == base:
            break
        base = base.parent
    if base.exists() and not base.is_dir():
        raise OutputPathError(f"{where}: {base} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(dir=base, prefix=".workbench-probe-")
        os.rmdir(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(f"{where}: cannot write in {base} ({reason})") from None
