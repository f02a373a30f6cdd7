"""Honest warnings (issue 18 item 5, issue 20 item 5): recorded in the summary, printed by the
CLI; the run still proceeds."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_harness import run_cli
from conftest import tiny_experiment

from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment
from workbench.results.store import summary_frame
from workbench.run_warnings import config_warnings


def summary_of(**changes: object) -> dict:
    return run_experiment(validate_config(tiny_experiment(**changes))).summary


def test_no_leader_at_200ms_latency_with_default_timeouts_is_warned() -> None:
    """The issue's reproducer: 3 nodes, 200 ms one-way constant latency, the default
    150-300 ms election timeout: no leader, availability 0, and it used to say nothing."""
    summary = summary_of(protocol="raft", nodes=3, duration_s=4, faults={},
                         network={"latency": {"dist": "constant", "ms": 200}})
    assert summary["availability"] == 0
    warnings = summary["warnings"]
    assert any(w.startswith("no leader was ever elected: 4.0 s") for w in warnings), warnings
    assert any("under 2x the mean round trip (400 ms)" in w for w in warnings), warnings


def test_a_healthy_run_with_a_partition_has_no_leader_warning() -> None:
    summary = summary_of(protocol="raft", nodes=3)
    assert summary["warnings"] == [], summary["warnings"]
    assert summary["verdict"] in ("linearizable", "unknown")


def test_fault_after_the_run_and_drift_beyond_the_bound() -> None:
    config = validate_config(tiny_experiment(
        protocol="paxos", duration_s=2,
        faults={"partitions": [{"shape": "halves", "at": 5, "duration": 1},
                               {"shape": "halves", "at": 0.5, "duration": 0.2, "repeat": 4, "every": 0.5}],
                "clocks": [{"node": 1, "drift": 0.5}]}))
    warnings = config_warnings(config)
    assert "faults.partitions[0] starts at 5 s, when the run is over (2 s): it never happens" in warnings
    assert "faults.partitions[1]: only 3 of its 4 repetitions start before the run ends (2 s)" in warnings
    assert any(w.startswith("faults.clocks[0].drift (0.5) exceeds paxos.max_clock_drift (0.01)") for w in warnings)
    assert len(run_experiment(config).ops) > 0, "the run proceeds"


def test_an_empty_history_is_empty_not_linearizable() -> None:
    summary = summary_of(protocol="raft", nodes=3, duration_s=1, faults={}, workload={"start_s": 5})
    assert summary["ops"] == 0
    assert summary["verdict"] == "empty" and summary["linearizable"] is None
    assert any("no operations in the history" in w for w in summary["warnings"])


def test_an_unknown_check_is_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = SimpleNamespace(linearizable=None, elapsed_ms=1.0, verdict="unknown")
    monkeypatch.setattr("workbench.checkers.summary.check_linearizability", lambda *a, **k: unknown)
    summary = summary_of(protocol="raft", nodes=3, faults={})
    assert summary["verdict"] == "unknown"
    assert any("ran out of its budget" in w for w in summary["warnings"])


def test_the_cli_prints_warnings_and_a_sweep_frame_keeps_them_as_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(yaml.safe_dump(tiny_experiment(
        nodes=3, faults={"partitions": [{"shape": "halves", "at": 9, "duration": 1}]})))
    result = run_cli(capsys, monkeypatch, "run", str(experiment), "--out", str(tmp_path / "out"), "--no-report")
    assert result.code == 0, result.err
    assert "workbench: warning: faults.partitions[0] starts at 9 s" in result.err
    frame = summary_frame([{"run_id": "a", "status": "ok", "error": None, "warnings": ["x", "y"]},
                           {"run_id": "b", "status": "ok", "error": None, "warnings": []}], [])
    assert frame["warnings"].tolist() == ["x; y", ""]


def test_an_empty_run_writes_its_folder_without_a_report_and_report_says_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(yaml.safe_dump(tiny_experiment(nodes=3, duration_s=1, faults={},
                                                         workload={"start_s": 5})))
    out = tmp_path / "out"
    result = run_cli(capsys, monkeypatch, "run", str(experiment), "--out", str(out))
    assert result.code == 0, result.err
    assert "no operations in the history" in result.err and "verdict               empty" not in result.out
    assert (out / "summary.json").is_file() and not (out / "report.html").exists()
    assert "no operations" in run_cli(capsys, monkeypatch, "report", str(out)).one_error_line()


def test_the_python_api_raises_run_warnings() -> None:
    import workbench
    from workbench.errors import RunWarning

    with pytest.warns(RunWarning, match="starts at 9 s"):
        run = workbench.run(tiny_experiment(nodes=3, faults={"partitions": [
            {"shape": "halves", "at": 9, "duration": 1}]}))
    assert any("starts at 9 s" in w for w in run.summary["warnings"])
