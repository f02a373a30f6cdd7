"""Partial-order reduction (explore/sleep.py) and the FIFO flight key it exposed.

Sleep sets may prune transitions, never states: with them on, breadth-first search
must visit exactly the distinct states the full search visits, and every planted
bug the explorer finds (tests/test_explore_mutants.py) is found with them on, the
default. The reduction rests on one premise, tested here along seeded random walks:
two quiet deliveries to different receivers commute and stay quiet after each other.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

import workbench.explore.bfs as bfs
from workbench.explore.model import (
    Scope,
    State,
    copy_state,
    enabled,
    freeze,
    initial_state,
    state_key,
    successor,
)
from workbench.explore.recipes import STATERIGHT_PAXOS
from workbench.explore.sleep import Names, quiet


def _visited(scope: Scope, max_depth: int, sleep_sets: bool,
             monkeypatch: pytest.MonkeyPatch) -> tuple[set[int], bfs.Result]:
    """The hashes of every state the search built, and its result."""
    hashes: set[int] = set()
    real = bfs.state_key

    def recording(state: State) -> Any:
        key = real(state)
        hashes.add(hash(key))
        return key

    monkeypatch.setattr(bfs, "state_key", recording)
    result = bfs.explore(scope, max_depth=max_depth, max_states=100_000, sleep_sets=sleep_sets)
    monkeypatch.setattr(bfs, "state_key", real)
    return hashes, result


@pytest.mark.parametrize(("scope", "max_depth"), [
    pytest.param(STATERIGHT_PAXOS, 10, id="paxos-unordered"),
    pytest.param(replace(STATERIGHT_PAXOS, fifo=True), 14, id="paxos-fifo"),
    pytest.param(Scope("raft", clients=2, ops=2, cuts=1), 9, id="raft-cut"),
])
def test_sleep_sets_visit_exactly_the_full_searchs_states_with_fewer_transitions(
        scope: Scope, max_depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    full_states, full = _visited(scope, max_depth, False, monkeypatch)
    reduced_states, reduced = _visited(scope, max_depth, True, monkeypatch)
    assert full.finished and reduced.finished, (full.summary(), reduced.summary())
    assert full.violation is None and reduced.violation is None
    assert reduced_states == full_states
    assert reduced.distinct == full.distinct
    assert reduced.slept > 0 and reduced.states < full.states, reduced.summary()


def _walk_pairs(scope: Scope, seed: int, walks: int, steps: int) -> int:
    """Along seeded random walks, check every quiet delivery against every step the
    reduction calls independent of it: both orders reach one state key, and the
    delivery is still quiet after the other step. Returns the number of pairs checked."""
    rng = random.Random(seed)
    pairs = 0
    for _ in range(walks):
        state = initial_state(scope)
        state_key(state)
        for _ in range(steps):
            transitions = enabled(state, scope)
            if not transitions:
                break
            names = Names(state)
            after = {}
            for command, args in transitions:
                child = successor(state, command, args)
                state_key(child)
                after[(command, tuple(args))] = child
            for command, args in transitions:
                sleeper = names.name(command, args)
                if sleeper is None or not quiet(state, after[(command, tuple(args))]):
                    continue
                for other, other_args in transitions:
                    if (other, other_args) == (command, args) or not names.independent(sleeper, other, other_args):
                        continue
                    one = successor(after[(command, tuple(args))], other, other_args)
                    then = successor(after[(other, tuple(other_args))], command, args)
                    assert state_key(one) == state_key(then), (command, args, other, other_args, seed)
                    assert quiet(after[(other, tuple(other_args))], then), (command, args, other, other_args, seed)
                    pairs += 1
            state = successor(state, *rng.choice(transitions))
            state_key(state)
    return pairs


@pytest.mark.parametrize(("scope", "seed"), [
    (Scope("raft", clients=2, ops=2, crashes=1, cuts=1), 1),
    (Scope("raft", clients=2, ops=2, crashes=1, drops=1, options={"read_mode": "lease"}, fifo=False), 2),
    (Scope("paxos", clients=2, ops=2, crashes=1, cuts=1, pauses=1), 3),
    (replace(STATERIGHT_PAXOS, fifo=True), 4),
])
def test_quiet_deliveries_commute_with_independent_steps_and_stay_quiet(scope: Scope, seed: int) -> None:
    assert _walk_pairs(scope, seed, walks=6, steps=25) > 50  # the premise was exercised


def test_a_fifo_key_keeps_each_links_order_and_an_unordered_key_does_not() -> None:
    """Two messages on one link, the same pair in the other order: over FIFO links only
    the head may go next, so those are two states; over unordered links, one."""
    for fifo in (True, False):
        scope = replace(STATERIGHT_PAXOS, fifo=fifo)
        state = initial_state(scope)
        rng = random.Random(5)
        while not _a_link_with_two_messages(state):
            state = successor(state, *rng.choice(enabled(state, scope)))
        link = _a_link_with_two_messages(state)
        swapped = copy_state(freeze(state))
        flight = swapped.world.flight
        first, second = [i for i, m in enumerate(flight) if (m.src, m.dst) == link][:2]
        flight[first], flight[second] = flight[second], flight[first]
        if fifo:
            assert _head(state, scope, link) != _head(swapped, scope, link)  # another message goes first
            assert state_key(state) != state_key(swapped)
        else:
            assert state_key(state) == state_key(swapped)


def _head(state: State, scope: Scope, link: tuple[int, int]) -> Any:
    """The message the link delivers next."""
    by_id = {f"#{m.id}": m for m in state.world.flight}
    return next(by_id[args[0]].message for command, args in enabled(state, scope)
                if command == "deliver" and (by_id[args[0]].src, by_id[args[0]].dst) == link)


def _a_link_with_two_messages(state: State) -> tuple[int, int] | None:
    seen: dict[tuple[int, int], Any] = {}
    for m in state.world.flight:
        link = (m.src, m.dst)
        if link in seen and seen[link] != m.message:
            return link
        seen[link] = m.message
    return None


def test_two_message_types_with_equal_fields_are_told_apart_by_the_fingerprint() -> None:
    """A frozen dataclass hashes its fields, not its type: the explorer, which keeps
    64-bit fingerprints of its state keys, merged a state holding a PreVote with one
    holding a RequestVote of equal fields (found by the sleep-set comparison above)."""
    from workbench.core.canonical import canonical
    from workbench.protocols.raft.messages import PreVote, RequestVote

    pre, vote = PreVote(term=1, last_index=0, last_term=0), RequestVote(term=1, last_index=0, last_term=0)
    assert hash(pre) == hash(vote) and pre != vote  # the trap
    assert canonical(pre) != canonical(vote)
    assert hash(canonical(pre)) != hash(canonical(vote))
    assert hash(canonical((1, pre))) != hash(canonical((1, vote)))  # inside a log or a tuple too
