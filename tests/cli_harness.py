"""Run the `workbench` command in-process (no interpreter start-up per call) and snapshot folders."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import tiny_experiment


@dataclass
class Result:
    code: int
    out: str
    err: str

    def one_error_line(self) -> str:
        """The single stderr line of a refusal, asserted to be exactly one."""
        lines = self.err.strip().splitlines()
        assert self.code == 2, (self.code, self.out, self.err)
        assert len(lines) == 1, self.err
        assert lines[0].startswith("workbench: error: "), lines[0]
        assert "Traceback" not in self.err
        return lines[0]


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    from workbench.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["workbench", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def write_experiment(folder: Path, **changes: object) -> Path:
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_experiment(**{"nodes": 3, "duration_s": 2,
                                                       **changes})))
    return path


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` (hidden ones too) with its bytes (None for a folder)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


@contextmanager
def read_only_folder(path: Path) -> Iterator[Path]:
    """A really read-only folder: a tmpfs mounted `ro` (root ignores mode bits, not EROFS).

    Needs mount rights (root in a container that allows it); else, as a non-root user, a
    0555 folder does the same job; else the test is skipped with the reason.
    """
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs ({mounted.stderr.strip()}); "
                    "the monkeypatched EROFS test covers the same code path")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)
