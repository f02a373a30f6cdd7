"""Issue 13: the explorer's canonical states, time abstraction, search and counterexamples."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.explore.bfs import explore
from workbench.explore.model import (
    Scope,
    apply,
    copy_state,
    enabled,
    freeze,
    initial_state,
    state_key,
)


def _deliveries(state, scope):  # type: ignore[no-untyped-def]
    return [e for e in enabled(state, scope) if e[0] == "deliver"]


def _to_first_prevote(scope: Scope):  # type: ignore[no-untyped-def]
    state = initial_state(scope)
    while not _deliveries(state, scope):
        apply(state, *next(e for e in enabled(state, scope) if e[0] == "advance"))
    return state


def test_commuting_deliveries_reach_one_canonical_state() -> None:
    scope = Scope("raft")
    blob = freeze(_to_first_prevote(scope))
    a, b = copy_state(blob), copy_state(blob)
    first, second = _deliveries(a, scope)[:2]
    apply(a, *first), apply(a, *second)
    apply(b, *second), apply(b, *first)
    assert state_key(a) == state_key(b)
    assert state_key(a) != state_key(copy_state(blob))


def test_time_cannot_pass_a_message_in_flight_beyond_its_latency() -> None:
    scope = Scope("raft", max_latency_ms=0.0)
    state = _to_first_prevote(scope)
    assert state.world.flight
    assert not [e for e in enabled(state, scope) if e[0] == "advance"]
    relaxed = Scope("raft", max_latency_ms=1e9)
    assert [e for e in enabled(state, relaxed) if e[0] == "advance"]


def test_paxos_small_scope_finishes_without_violation() -> None:
    result = explore(Scope("paxos", clients=1, ops=1), max_depth=4)
    assert result.finished and result.violation is None
    assert result.distinct > 10


def test_bounded_mode_enumerates_every_single_deviation_of_a_short_run() -> None:
    from workbench.explore.bounded import explore_bounded, run_schedule

    scope = Scope("raft", clients=1, ops=2)
    problem, trace, alternatives = run_schedule(scope, {}, max_steps=5)
    assert problem is None and len(trace) == 5
    result = explore_bounded(scope, k=1, max_steps=5, budget_runs=10_000)
    assert result.enumerated_all and result.violation is None
    assert result.runs == 1 + sum(alternatives)  # the default run plus each one-step deviation


def test_cli_bad_input_is_one_line_and_exit_2() -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    for args in (["explore", "raft", "--faults", "crash=x"], ["explore", "eventual"],
                 ["explore", "raft", "--mutant", "paxos:skip_phase1"], ["explore", "raft", "-o", "bogus=1"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().count("\n") == 0 and "error:" in result.output


def test_copy_on_write_successors_match_deep_copies_and_leave_the_parent_alone() -> None:
    """`successor` shares untouched nodes with its parent; along seeded random walks
    (every transition kind, both protocols) it must reach exactly the state a full
    deep copy reaches, and the parent's own key must not move."""
    import random


    for protocol, seed in (("raft", 1), ("paxos", 2), ("raft", 3)):
        scope = Scope(protocol, clients=2, ops=2, crashes=1, cuts=1, drops=1,
                      options={"read_mode": "lease"} if seed == 3 else {})
        rng = random.Random(seed)
        state = initial_state(scope)
        for step in range(40):
            events = enabled(state, scope)
            if not events:
                break
            command, args = events[rng.randrange(len(events))]
            state = _successor_matches_deep_copy(state, scope, command, args, (protocol, seed, step))


def _successor_matches_deep_copy(state: Any, scope: Scope, command: str, args: list[str],
                                 where: tuple[Any, ...]) -> Any:
    """One step both ways: the copy-on-write successor keys exactly as a deep copy does,
    and the parent's key is untouched (every node's fingerprint rebuilt, not cached)."""
    from workbench.explore.model import successor

    state.dirty.update(range(scope.nodes))
    before = state_key(state)
    deep = copy_state(freeze(state))
    apply(deep, command, args)
    child = successor(state, command, args)
    assert state_key(child) == state_key(deep), (*where, command, args)
    state.dirty.update(range(scope.nodes))
    assert state_key(state) == before, (*where, command, args)
    return child


def test_a_paused_node_holds_its_inputs_as_data_and_copies_like_any_state() -> None:
    """Pause/resume are explorer transitions (issue 13): what a paused node receives
    waits in the world as plain data, so the state pickles, and copy-on-write
    successors reach exactly what a deep copy reaches, along seeded walks with pauses."""
    import random


    for protocol, seed in (("raft", 4), ("paxos", 5), ("raft", 6)):
        scope = Scope(protocol, clients=2, ops=2, crashes=1, pauses=2, max_latency_ms=50.0,
                      options={"read_mode": "lease"} if seed == 6 else {})
        rng = random.Random(seed)
        state = initial_state(scope)
        kinds: set[str] = set()
        held = 0
        for step in range(60):
            events = enabled(state, scope)
            if not events:
                break
            pauses = [e for e in events if e[0] == "pause"]
            # Lean on pausing (a resume is one event among many) so the walk spends
            # time with a node paused while messages and timers reach it.
            command, args = pauses[0] if pauses and rng.random() < 0.3 else events[rng.randrange(len(events))]
            kinds.add(command)
            state = _successor_matches_deep_copy(state, scope, command, args, (protocol, seed, step))
            held = max(held, sum(len(p) for p in state.world.pending))
        assert {"pause", "resume"} <= kinds, (protocol, seed, kinds)
        assert held > 0, (protocol, seed)  # some input really waited for a resume
        assert state.pauses <= scope.pauses


def test_pause_budget_and_held_inputs_enter_the_state_key() -> None:
    scope = Scope("raft", pauses=1, max_latency_ms=1e9)
    state = _to_first_prevote(scope)
    assert ("pause", ["1"]) in enabled(state, scope)
    target = next(m for m in state.world.flight if m.dst == 1)
    plain = copy_state(freeze(state))
    apply(state, "pause", ["1"])
    assert ("resume", ["1"]) in enabled(state, scope)
    assert not [e for e in enabled(state, scope) if e[0] == "pause"]  # budget of one spent
    paused_only = state_key(state)
    apply(state, "deliver", [f"#{target.id}"])
    assert state.world.pending[1] == [("message", target.src, target.message)]
    assert state_key(state) != paused_only
    apply(state, "resume", ["1"])
    apply(plain, "deliver", [f"#{target.id}"])
    # The held message reached node 1 at resume, at the same instant: the same node state.
    assert state_key(state)[1][1] == state_key(plain)[1][1]
    assert not state.world.pending[1] and not state.world.paused[1]


def test_a_prefix_may_pause_and_resume() -> None:
    from pathlib import Path

    from workbench.explore.model import prefix_from_script
    from workbench.scenario.script import parse_script

    path = Path(__file__).parent / "scenarios" / "raft_lease_vote_after_term_adoption.txt"
    opening = prefix_from_script(parse_script(path).directives, None)
    assert ("pause", ("0",)) in opening and ("resume", ("0",)) in opening
    scope = Scope("raft", options={"read_mode": "lease"}, prefix=opening)
    state = initial_state(scope)
    assert not any(state.world.paused)
    assert [e["type"] for e in state.world.history if e["process"] == 0][-2:] == ["invoke", "ok"]


# The stale lease read's opening run on to the instant both election timers have fired
# (node 1's at 344.6 ms, node 2's 35.3 ms later): the cheap slice of the
# raft:lease_vote_by_term recipe (recipes.RAFT_LEASE_PAUSED, depth 11 from 300 ms).
_LEASE_OPENING = "advance 44.56605043340761;advance 35.318140619551514"


def _lease_scope(bug: str) -> Scope:
    from workbench.explore.recipes import RAFT_LEASE_PAUSED

    words = f"{RAFT_LEASE_PAUSED};{_LEASE_OPENING}".split(";")
    return Scope("raft", clients=0, ops=0, fifo=False, max_latency_ms=50.0, horizon_ms=400.0, lease_check=True,
                 options={"read_mode": "lease", "bug": bug}, prefix=tuple((w.split()[0], tuple(w.split()[1:])) for w in words))


def test_the_old_vote_rule_is_found_with_the_leader_paused_and_the_correct_one_is_not() -> None:
    """Issue 13 Must show: the stale lease read (raft:lease_vote_by_term) at 3 nodes.
    With the old leader paused, node 1 grants node 2's pre-vote; node 0 resumes and
    renews its lease with node 1's ack; node 1 adopts term 2 from a rejecting
    PreVoteReply and then votes for node 2 in that term: two leaders, one with a lease."""
    found = explore(_lease_scope("lease_vote_by_term"), max_depth=9, max_states=20_000)
    assert found.violation is not None and "lease overlap" in found.violation, found.summary()
    commands = [command for command, _ in found.trace]
    assert "resume" in commands and commands.count("deliver") >= 7
    # The counterexample ends in `check lease`, so its replay shows the overlap too.
    from pathlib import Path

    from workbench.explore.counterexample import to_script
    from workbench.scenario.runner import run_script

    script = to_script(found, Path("counterexample.txt"))
    assert script.directives[-1].args == ["lease"]
    assert any(line.startswith("INVARIANT VIOLATED: lease overlap") for line in run_script(script)[-1])
    clean = explore(_lease_scope("none"), max_depth=9, max_states=40_000)
    assert clean.violation is None and clean.finished, clean.summary()
    assert clean.distinct > found.distinct


@pytest.mark.slow
@pytest.mark.parametrize("mutant", ["raft:lease_vote_by_term", "paxos:accept_ack_before_persist"])
def test_pause_and_crash_point_recipes_find_their_mutant(mutant: str) -> None:
    """The full recipes (workbench/explore/recipes.py): the stale lease read from the
    paused-leader opening (~120k states, ~70 CPU s) and the ack that leaves before its
    write through `after_send` crash points (~3,200 runs, ~9 CPU s)."""
    from workbench.explore.recipes import BY_MUTANT

    result = BY_MUTANT[mutant].run()
    assert result.violation is not None, result.summary()


def test_check_lease_says_ok_on_a_healthy_cluster_and_rejects_other_words() -> None:
    from pathlib import Path

    from workbench.errors import UserInputError
    from workbench.scenario.runner import run_script
    from workbench.scenario.script import Directive, Script

    cluster = Directive(1, "cluster", ["raft"], {"nodes": "3", "read_mode": "lease"}, [])
    healthy = Script(Path("s.txt"), [cluster, Directive(2, "advance", ["400"], {}, []),
                                     Directive(3, "stabilize", [], {}, []), Directive(4, "check", ["lease"], {}, [])], [])
    assert run_script(healthy)[-1][-1] == "leases ok"
    with pytest.raises(UserInputError, match="expected nothing or 'lease'"):
        run_script(Script(Path("s.txt"), [cluster, Directive(2, "check", ["leases"], {}, [])], []))


def test_cli_bad_crash_point_or_pause_budget_is_one_line_and_exit_2() -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    for args, named in ((["explore", "raft", "--crash-points", "sideways"], "--crash-points"),
                        (["explore", "raft", "--faults", "pause=x"], "--faults")):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and named in result.output
        assert result.output.strip().count("\n") == 0
