"""Issue 13, the CI slice: exploration finds the cheapest planted bugs, shortest first,
and the counterexample replays as a scenario file that reproduces the violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.explore.bfs import explore
from workbench.explore.counterexample import write_counterexample
from workbench.explore.model import Scope
from workbench.mutants import find_mutant
from workbench.scenario.runner import run_script
from workbench.scenario.script import parse_script


def _scope(mutant: str, **kwargs: object) -> Scope:
    found = find_mutant(mutant)
    options = {k: str(v) for k, v in found.options.items()}
    return Scope(found.protocol, options=options, **kwargs)  # type: ignore[arg-type]


def test_vote_not_persisted_is_found_and_replays(tmp_path: Path) -> None:
    scope = _scope("raft:vote_not_persisted", clients=1, ops=0, crashes=1)
    result = explore(scope, max_depth=9)
    assert result.violation is not None and "election safety" in result.violation, result.summary()
    assert len(result.trace) == 9  # breadth-first: no shorter schedule trips it
    path = tmp_path / "counterexample.txt"
    write_counterexample(result, path)
    assert path.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"  # the message-sequence chart
    script = parse_script(path)
    outputs = run_script(script)
    assert [d.expected for d in script.directives] == outputs  # the file replays as written
    assert any("INVARIANT VIOLATED: election safety" in line for out in outputs for line in out)


@pytest.mark.slow  # ~150 s on a loaded 2-core machine: outside the CI slice
def test_bounded_mode_finds_paxos_accept_below_promise() -> None:
    from workbench.explore.bounded import explore_bounded

    scope = _scope("paxos:accept_below_promise", clients=2, ops=2)
    result = explore_bounded(scope, k=2, max_steps=60, budget_runs=2000)
    assert result.violation is not None and "below its promise" in result.violation, result.summary()
    assert len(result.deviations) <= 2
    outputs = run_script(parse_script_from(result))
    assert any("INVARIANT VIOLATED" in line for out in outputs for line in out)


def parse_script_from(result: object):  # type: ignore[no-untyped-def]
    from workbench.explore.counterexample import to_script

    return to_script(result, Path("counterexample.txt"))  # type: ignore[arg-type]
