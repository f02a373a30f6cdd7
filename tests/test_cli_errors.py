"""Bad input gets one clear line naming what is wrong and where, exit code 2, no half-written output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

CAP = ROOT / "experiments" / "cap_partition.yaml"


def workbench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(CAP.read_text() + text)
    return path


@pytest.mark.parametrize(
    ("extra", "args", "expected"),
    [
        ("", ["--set", "protocol=zab"], "protocol: 'zab' is not allowed"),
        ("raft:\n  read_mod: lease\n", [], "raft.read_mod: unknown field"),
        ("", ["--set", "faults.partitions.0.shape=groups", "--set", "faults.partitions.0.groups=[[0, 1], [7]]"],
         "node 7 does not exist"),
        ("", ["--set", "raft.read_mod=lease"], "no field 'raft.read_mod'"),
        ("", ["--set", "nodes"], "expected key.path=value"),
        ("nodes: 0\n", [], "nodes: "),
    ],
)
def test_bad_experiment_gives_one_line_and_exit_2(tmp_path: Path, extra: str, args: list[str], expected: str) -> None:
    experiment = write(tmp_path, extra)
    out = tmp_path / "out"
    proc = workbench("run", str(experiment), "--out", str(out), *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0] and str(experiment) in lines[0] or expected in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [experiment], "no output left behind"


def test_missing_experiment_file(tmp_path: Path) -> None:
    proc = workbench("run", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "nope.yaml" in proc.stderr


def test_unknown_cli_option(tmp_path: Path) -> None:
    proc = workbench("run", str(CAP), "--sett", "x=1", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--sett" in proc.stderr


def test_unreadable_history_file_names_file_and_line(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"process": 0, "type": "invoke", "f": "read", "key": "k", "value": null, "time": 1}\n'
                       '{"process": 0, "type": "ok", "f": "read", "key": "k", "value": null, "time": 2\n')
    proc = workbench("check", str(history), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = proc.stderr.strip()
    assert line.count("\n") == 0 and f"{history}:2" in line
    assert proc.stdout == ""


# ---------------------------------------------------------------- issue 18: no traceback for any input
@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from cli_harness import run_cli

    monkeypatch.chdir(tmp_path)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_binary_experiment_file(tmp_path: Path, cli) -> None:
    from cli_harness import snapshot

    binary = tmp_path / "exp.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    before = snapshot(tmp_path)
    assert "not a text file" in cli("run", str(binary)).one_error_line()
    assert "not a text file" in cli("sweep", str(binary)).one_error_line()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("text", ["a: " + "[" * 200_000, "".join("  " * i + f"k{i}:\n" for i in range(500)),
                                  "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
                                      f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
                                      for p, c in zip("abcdefg", "bcdefgh", strict=True))])
def test_pathological_yaml(tmp_path: Path, cli, text: str) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(text)
    line = cli("run", str(experiment)).one_error_line()
    assert str(experiment) in line and ("nested deeper" in line or "aliases" in line)


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("deep.edn", "[" * 200_000 + "]" * 200_000, "nested deeper than 100 levels"),
    ("value.edn", "{:process 0 :type :invoke :f :write :value " + "[" * 5_000 + "]" * 5_000 + "}\n",
     "nested deeper than 100 levels"),
    ("deep.jsonl", '{"process": 0, "type": "invoke", "f": "write", "value": ' + "[" * 200_000 + "]" * 200_000
     + "}\n", "nested deeper than 100 levels"),
    ("mid.jsonl", '{"process": 0, "type": "invoke", "f": "write", "value": ' + "[" * 800 + "]" * 800 + "}\n",
     "nested deeper than 100 levels"),
    ("long.log", "INFO  jepsen.util - 0\t:invoke\t:write\t" + "[" * 3_000_000 + "\n", "bad value"),
    ("long.edn", "{:process " + "x" * 3_000_000 + "}\n", "missing field"),
])
def test_pathological_histories(tmp_path: Path, cli, name: str, text: str, expected: str) -> None:
    history = tmp_path / name
    history.write_text(text)
    line = cli("check", str(history)).one_error_line()
    assert f"{history}:1" in line and expected in line and len(line) < 500


def test_catch_all_is_one_line_and_debug_shows_the_traceback(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*_: object, **__: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("workbench.experiment.config.load_config", bug)
    line = cli("run", str(CAP)).one_error_line()
    assert "internal error: KeyError" in line and "--debug" in line
    debug = cli("run", str(CAP), "--debug")
    assert debug.code == 2 and "Traceback" in debug.err and "KeyError" in debug.err


# ---------------------------------------------------------------- issue 18 item 8: CLI polish
COMMANDS = ["run", "check", "sweep", "report", "fig16", "config"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_exit_codes_and_readable_metavars(cli, command: str) -> None:
    result = cli(command, "-h")
    assert result.code == 0, result.err
    assert "Exit codes:" in result.out
    assert "<list[" not in result.out and "<path>" not in result.out and "{" not in result.out.splitlines()[0]


def test_top_level_help_and_version(cli) -> None:
    assert "Exit codes:" in cli("-h").out
    version = cli("--version")
    assert version.code == 0 and version.out.startswith("workbench 0.")


def test_format_names_are_the_same_in_help_and_in_the_error(cli, tmp_path: Path) -> None:
    from workbench.history.importers import FORMATS

    listed = ", ".join(FORMATS)
    assert listed in " ".join(cli("check", "-h").out.split())
    (tmp_path / "h.jsonl").write_text("")
    line = cli("check", str(tmp_path / "h.jsonl"), "--format", "csv").one_error_line()
    assert f"(known: {listed})" in line


def test_run_help_names_the_default_folder_and_that_set_repeats(cli) -> None:
    text = " ".join(cli("run", "-h").out.split())
    assert "default data/runs/NAME-PROTOCOL-seedSEED" in text.replace("- seed", "-seed")
    assert "repeat --set" in text and "KEY.PATH=VALUE" in text
