"""`workbench search` (issue 11, item 6): exit codes, the finding folder, bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.errors import UserInputError
from workbench.experiment.config import validate_config
from workbench.runtime.sim import simulate
from workbench.search_command import parse_options, run_search


def _quiet(*_: object) -> None:
    pass


def test_no_finding_exits_0(tmp_path: Path) -> None:
    code = run_search("raft", seeds=2, start=0, options={}, mutant=None, generator=None,
                      nodes=3, duration=4.0, workers=1, address=None, out=tmp_path / "out", echo=_quiet)
    assert code == 0
    assert not (tmp_path / "out").exists()


def test_a_finding_is_written_and_replays(tmp_path: Path) -> None:
    out = tmp_path / "finding"
    lines: list[str] = []
    # skip_phase1 under the old generator is caught at once (tests/test_paxos_search.py).
    code = run_search("paxos", seeds=10, start=0, options={}, mutant="paxos:skip_phase1", generator="generic",
                      nodes=None, duration=6.0, workers=1, address=None, out=out,
                      echo=lambda s: lines.append(str(s)))
    assert code == 1, lines
    assert {p.name for p in out.iterdir()} == {"config.yaml", "schedule.json", "history.jsonl",
                                                 "trace.jsonl", "finding.txt"}
    assert any(line.startswith("FINDING seed") for line in lines)
    config = validate_config(yaml.safe_load((out / "config.yaml").read_text()))
    assert config.paxos.bug == "skip_phase1"
    # The stored config replays the stored history exactly.
    replay = simulate(config.model_copy(update={"sim": config.sim.model_copy(update={"invariants": False})}))
    stored = (out / "history.jsonl").read_text().splitlines()
    assert len(stored) > 0 and len(replay.history) >= len(stored)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="--mutant"):
        run_search("raft", seeds=1, start=0, options={}, mutant="raft:nope", generator=None,
                   nodes=None, duration=None, workers=1, address=None, out=None, echo=_quiet)
    with pytest.raises(UserInputError, match="paxos mutant"):
        run_search("raft", seeds=1, start=0, options={}, mutant="paxos:skip_phase1", generator=None,
                   nodes=None, duration=None, workers=1, address=None, out=None, echo=_quiet)
    with pytest.raises(UserInputError, match="read_mode"):
        run_search("raft", seeds=1, start=0, options={"read_mode": "psychic"}, mutant=None, generator=None,
                   nodes=None, duration=None, workers=1, address=None, out=None, echo=_quiet)
    with pytest.raises(UserInputError, match="KEY=VALUE"):
        parse_options(["read_mode"])
    # Too short for any fault window: a clear line about --duration, not a config error.
    with pytest.raises(UserInputError, match="--duration: 2 s is too short"):
        run_search("raft", seeds=1, start=0, options={}, mutant=None, generator=None,
                   nodes=None, duration=2.0, workers=1, address=None, out=None, echo=_quiet)
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    with pytest.raises(UserInputError, match="already exists"):
        run_search("raft", seeds=1, start=0, options={}, mutant=None, generator=None,
                   nodes=None, duration=None, workers=1, address=None, out=existing, echo=_quiet)
    assert (existing / "notes.txt").read_text() == "keep me"
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "search", "raft", "--seeds", "1",
                           "--workers", "1", "-o", "read_mode=psychic"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "read_mode" in done.stderr, done.stderr


def test_seeds_fan_out_on_ray(ray_session: None, tmp_path: Path) -> None:
    code = run_search("raft", seeds=4, start=0, options={}, mutant=None, generator=None,
                      nodes=3, duration=4.0, workers=2, address=None, out=tmp_path / "out", echo=_quiet)
    assert code == 0


def test_a_mutant_search_runs_the_mutants_own_scenario(tmp_path: Path) -> None:
    """`--mutant` builds each seed with the mutant's generator, mix and workload
    (`Mutant.config`), so the seed tests/test_mutants.py names reproduces here: Paxos
    `long_lease` needs its leader stalls, 150-600 ms timeouts and 200 ms client timeout,
    none of which the default composed scenario has."""
    from workbench.mutants import find_mutant, first_catch

    mutant = find_mutant("paxos:long_lease")
    _, gate_finding = first_catch(mutant, mutant.budget)
    assert gate_finding is not None
    out = tmp_path / "finding"
    code = run_search("paxos", seeds=1, start=gate_finding.seed, options={}, mutant="paxos:long_lease",
                      generator=None, nodes=None, duration=None, workers=1, address=None, out=out,
                      echo=_quiet)
    assert code == 1
    config = validate_config(yaml.safe_load((out / "config.yaml").read_text()))
    assert config == mutant.config(gate_finding.seed)
    assert config.workload.timeout_ms == 200.0 and config.paxos.election_timeout_max_ms == 600.0
