"""Never lose a user's file (issue 18 item 1): every writing command refuses a target it may
not write with one line and exit 2, checks it before any work, and leaves the filesystem as it was."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cli_harness import read_only_folder, run_cli, snapshot, write_experiment
from conftest import ROOT

from workbench.errors import OutputPathError
from workbench.outputs import MARKER_FILE, guard_output_dir

SWEEP = ROOT / "experiments" / "cap_sweep.yaml"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal must come before the run: make running an experiment fail loudly."""
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the experiment ran although its output path is refused")

    monkeypatch.setattr("workbench.experiment.run.run_experiment", refuse)


def users_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("a week of notes")
    (folder / "sub" / "data.csv").write_text("1,2\n")
    return folder


# ---------------------------------------------------------------- run
@pytest.mark.parametrize("force", [False, True])
def test_run_never_replaces_a_users_folder(tmp_path: Path, cli, no_run, force: bool) -> None:
    experiment, folder = write_experiment(tmp_path), users_folder(tmp_path)
    before = snapshot(tmp_path)
    line = cli("run", str(experiment), "--out", str(folder), *(["--force"] if force else [])).one_error_line()
    assert str(folder) in line and ("not empty" in line or MARKER_FILE in line)
    assert snapshot(tmp_path) == before


def test_run_refuses_a_file_as_out(tmp_path: Path, cli, no_run) -> None:
    experiment, target = write_experiment(tmp_path), tmp_path / "results.txt"
    target.write_text("keep me")
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        assert "is a file" in cli("run", str(experiment), "--out", str(target), *extra).one_error_line()
    assert snapshot(tmp_path) == before


def test_run_refuses_a_read_only_target_before_running(tmp_path: Path, cli, no_run) -> None:
    experiment = write_experiment(tmp_path)
    with read_only_folder(tmp_path / "ro") as ro:
        before = snapshot(tmp_path)
        line = cli("run", str(experiment), "--out", str(ro / "deep" / "out")).one_error_line()
        assert "cannot write" in line and str(ro) in line
        assert snapshot(tmp_path) == before


def test_read_only_simulated_with_erofs(tmp_path: Path, cli, no_run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs everywhere (no mount needed): the probe's mkdir fails with EROFS as on a ro mount."""
    import tempfile

    def erofs(*_: object, **__: object) -> str:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    experiment = write_experiment(tmp_path)
    before = snapshot(tmp_path)
    monkeypatch.setattr(tempfile, "mkdtemp", erofs)
    line = cli("run", str(experiment), "--out", str(tmp_path / "out")).one_error_line()
    assert "Read-only file system" in line
    assert snapshot(tmp_path) == before


def test_force_replaces_only_a_workbench_folder_and_never_a_file_dropped_in_it(tmp_path: Path, cli) -> None:
    experiment, out = write_experiment(tmp_path), tmp_path / "out"
    assert cli("run", str(experiment), "--out", str(out), "--no-report").code == 0
    assert (out / MARKER_FILE).is_file()
    first = (out / "history.jsonl").read_text()
    assert "not empty" in cli("run", str(experiment), "--out", str(out)).one_error_line()
    assert cli("run", str(experiment), "--out", str(out), "--force", "--no-report").code == 0
    assert (out / "history.jsonl").read_text() == first  # same seed, same history, rewritten
    (out / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert "notes.txt" in cli("run", str(experiment), "--out", str(out), "--force").one_error_line()
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left"


def test_a_failure_while_writing_leaves_no_staging_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import tiny_experiment

    from workbench.experiment import run as runner
    from workbench.experiment.config import validate_config
    from workbench.experiment.run import run_experiment, write_run

    output = run_experiment(validate_config(tiny_experiment(nodes=3, duration_s=1)))

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runner, "write_files", disk_full)
    with pytest.raises(OSError):
        write_run(output, tmp_path / "a" / "b" / "out")
    assert list(tmp_path.iterdir()) == [], "no stage, no parents made for it"


# ---------------------------------------------------------------- the Python API
def test_api_run_refuses_before_running(tmp_path: Path, no_run) -> None:
    import workbench

    folder = users_folder(tmp_path)
    before = snapshot(tmp_path)
    for force in (False, True):
        with pytest.raises(OutputPathError):
            workbench.run(str(write_experiment(tmp_path)), out=folder, force=force)
    (tmp_path / "exp.yaml").unlink()
    assert snapshot(tmp_path) == before


def test_api_sweep_refuses_a_file(tmp_path: Path) -> None:
    import workbench

    target = tmp_path / "f"
    target.write_text("x")
    with pytest.raises(OutputPathError, match="is a file"):
        workbench.sweep(str(SWEEP), out=target, workers=1, progress=False)
    assert target.read_text() == "x"


# ---------------------------------------------------------------- sweep, report, fig16
def test_sweep_refusals_are_one_line(tmp_path: Path, cli) -> None:
    folder = users_folder(tmp_path)
    (tmp_path / "f").write_text("x")
    before = snapshot(tmp_path)
    assert "not a sweep folder" in cli("sweep", str(SWEEP), "--out", str(folder), "--workers", "1").one_error_line()
    assert MARKER_FILE in cli("sweep", str(SWEEP), "--out", str(folder), "--workers", "1",
                              "--force").one_error_line()
    assert "is a file" in cli("sweep", str(SWEEP), "--out", str(tmp_path / "f"), "--workers", "1").one_error_line()
    with read_only_folder(tmp_path / "ro") as ro:
        assert "cannot write" in cli("sweep", str(SWEEP), "--out", str(ro / "s"), "--workers", "1").one_error_line()
    assert snapshot(tmp_path) == before | {"ro": None}


def test_report_out_refusals(tmp_path: Path, cli) -> None:
    experiment, run_dir = write_experiment(tmp_path), tmp_path / "run"
    assert cli("run", str(experiment), "--out", str(run_dir), "--no-report").code == 0
    mine = tmp_path / "mine.html"
    mine.write_text("<p>my page</p>")
    before = snapshot(tmp_path)
    assert "is a folder" in cli("report", str(run_dir), "--out", str(tmp_path)).one_error_line()
    assert "file exists" in cli("report", str(run_dir), "--out", str(mine)).one_error_line()
    assert "not a file the workbench wrote" in cli("report", str(run_dir), "--out", str(mine),
                                                   "--force").one_error_line()
    with read_only_folder(tmp_path / "ro") as ro:
        assert "cannot write" in cli("report", str(run_dir), "--out", str(ro / "r.html")).one_error_line()
    assert snapshot(tmp_path) == before | {"ro": None}
    # Its own report.html, and a workbench report with --force, are rewritten.
    assert cli("report", str(run_dir)).code == 0
    assert cli("report", str(run_dir), "--out", str(tmp_path / "r.html")).code == 0
    assert cli("report", str(run_dir), "--out", str(tmp_path / "r.html"), "--force").code == 0


def test_fig16_refuses_to_overwrite_without_force(tmp_path: Path, cli) -> None:
    """fig16 writes a folder (trials.parquet, comparison.csv, cdf.png); a path ending in
    .parquet names the trials file itself (the older form)."""
    target = tmp_path / "trials.parquet"
    target.write_bytes(b"not parquet")
    notes = tmp_path / "notes"
    notes.write_text("mine")
    before = snapshot(tmp_path)
    assert "file exists" in cli("fig16", "--out", str(target), "--trials", "1").one_error_line()
    assert "not a file the workbench wrote" in cli("fig16", "--out", str(target), "--trials", "1",
                                                   "--force").one_error_line()
    # the folder that holds the user's trials.parquet is refused for the same reason
    assert "file exists" in cli("fig16", "--out", str(tmp_path), "--trials", "1").one_error_line()
    assert "must be a folder" in cli("fig16", "--out", str(notes), "--trials", "1").one_error_line()
    assert snapshot(tmp_path) == before


def test_guard_names_the_reason(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(OutputPathError, match="not empty"):
        guard_output_dir(tmp_path, force=False)
    assert guard_output_dir(tmp_path / "new", force=False) is False
    assert guard_output_dir(tmp_path / "a" / "b", force=False) is False
    assert not (tmp_path / "a").exists(), "checking writes nothing"


def test_sweep_force_replaces_only_a_workbench_sweep_of_another_experiment(tmp_path: Path) -> None:
    from conftest import tiny_experiment

    from workbench.errors import ConfigError
    from workbench.experiment.execute import run_sweep
    from workbench.experiment.plan import plan_sweep

    def plan(**changes: object):
        return plan_sweep({**tiny_experiment(**{"nodes": 3, "duration_s": 1, **changes}),
                           "sweep": {"grid": {"workload.keys": [1]}, "seeds": 1}})

    out = tmp_path / "s"
    run_sweep(plan(), out=out, workers=1, progress=False)
    assert (out / MARKER_FILE).is_file()
    with pytest.raises(ConfigError, match="--force to replace it"):
        run_sweep(plan(duration_s=2), out=out, workers=1, progress=False)
    result = run_sweep(plan(duration_s=2), out=out, workers=1, progress=False, force=True)
    assert result.ran == 1 and (out / MARKER_FILE).is_file()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match="notes.txt"):
        run_sweep(plan(duration_s=1), out=out, workers=1, progress=False, force=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_fresh_path_never_names_something_that_exists(tmp_path: Path) -> None:
    from workbench.outputs import fresh_path

    assert fresh_path(tmp_path / "counterexample.txt") == tmp_path / "counterexample.txt"
    (tmp_path / "counterexample.txt").write_text("a user's notes")
    (tmp_path / "counterexample-2.txt").mkdir()
    assert fresh_path(tmp_path / "counterexample.txt") == tmp_path / "counterexample-3.txt"
    (tmp_path / "raft-seed4").mkdir()
    (tmp_path / "raft-seed4-2").symlink_to(tmp_path / "gone")  # a dangling link is taken too
    assert fresh_path(tmp_path / "raft-seed4") == tmp_path / "raft-seed4-3"
    assert (tmp_path / "counterexample.txt").read_text() == "a user's notes"


def test_fresh_path_keeps_a_users_file_beside_it_too(tmp_path: Path) -> None:
    """`workbench explore` writes counterexample.txt and its chart counterexample.png:
    a user's chart of that name makes both move on to the next free stem."""
    from workbench.outputs import fresh_path

    (tmp_path / "counterexample.png").write_bytes(b"a user's chart")
    assert fresh_path(tmp_path / "counterexample.txt") == tmp_path / "counterexample.txt"
    assert fresh_path(tmp_path / "counterexample.txt", siblings=(".png",)) == tmp_path / "counterexample-2.txt"
