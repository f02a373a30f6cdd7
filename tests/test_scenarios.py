"""Scripted scenarios as regression tests (etcd's datadriven `testdata/*.txt` style).

Every file in tests/scenarios/ is replayed against the real cores; each command's
output must match the block written under it. Regenerate a file after an intended
behaviour change with `python -m workbench.scenario FILE --rewrite` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import UserInputError
from workbench.scenario import parse_script, run_script
from workbench.scenario.__main__ import first_difference, main

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.txt"))
LEASE = Path(__file__).parent / "scenarios" / "raft_lease_vote_after_term_adoption.txt"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_replays_as_written(path: Path) -> None:
    script = parse_script(path)
    for directive, output in zip(script.directives, run_script(script), strict=True):
        assert directive.expected == output, (
            f"{path.name}:{directive.line}: {directive.text}: "
            f"{first_difference(directive.expected, output)}")


def test_lease_scenario_is_linearizable_with_the_fix() -> None:
    outputs = run_script(parse_script(LEASE))
    assert outputs[-1] == ["linearizable"]
    # the vote that broke the lease is not granted: G stays a candidate
    assert "2: candidate term=2 leader=None" in outputs[-2]


def test_lease_scenario_catches_the_old_vote_rule() -> None:
    """The mutant restores the term-only check of §4.2.3: F votes for G at the term it
    just adopted, G commits x=2 and L serves x=1 from its lease."""
    outputs = run_script(parse_script(LEASE), {"bug": "lease_vote_by_term"})
    assert outputs[-1] == ["not linearizable"]
    assert "2: leader term=2 leader=2" in outputs[-2]
    assert "  reply p0 ok read x=1" in outputs[-3]


def test_rewrite_round_trips(tmp_path: Path) -> None:
    copy = tmp_path / "s.txt"
    text = LEASE.read_text()
    copy.write_text(text.replace("----\nok\n", "----\nwrong\n", 1))
    assert main([str(copy)]) == 1
    assert main([str(copy), "--rewrite"]) == 0
    assert copy.read_text() == text
    assert main([str(copy)]) == 0


@pytest.mark.parametrize(("text", "message"), [
    ("advance 10\n----\n", "the first command must be 'cluster'"),
    ("cluster raft nodes=3\n", "expected a '----' line"),
    ("cluster raft nodes=3\n----\n\nfly 1\n----\n", "unknown command 'fly'"),
    ("cluster raft nodes=3 colour=blue\n----\n", "bad option"),
    ("cluster raft nodes=3\n----\n\ntimer 0 nope\n----\n", "no armed timer 'nope'"),
])
def test_bad_scenarios_are_one_line_errors(tmp_path: Path, text: str, message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UserInputError, match=message):
        run_script(parse_script(path))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("workbench: error: ") and str(path) in err


def test_the_scenario_world_applies_persist_effects() -> None:
    """The World (and so the explorer) carries out `Persist` at once, as the driver does
    without a disk model (issue 12): a restarted Raft node reads back its term and log."""
    from workbench.scenario.runner import COMMANDS, World
    from workbench.scenario.script import Directive

    world = World()

    def run(*words: str) -> None:
        COMMANDS[words[0]](world, Directive(1, words[0], list(words[1:]), {}, []))

    run("cluster", "raft")
    run("advance", "150")
    run("timer", "0", "election")
    run("stabilize")
    leader = next(i for i, node in enumerate(world.nodes) if node is not None and node.is_leader())
    run("client", str(leader), "write", "x", "1")
    run("stabilize")
    stored_log = world.storages[leader].get("log")
    assert world.storages[leader].get("term") == world.nodes[leader].term >= 1  # type: ignore[union-attr]
    assert stored_log and stored_log == list(world.nodes[leader].log)  # type: ignore[union-attr]
