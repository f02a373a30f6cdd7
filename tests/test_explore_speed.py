"""Issue 13: the explorer's speed work keeps the same canonical states, and the 100k-state runs.

The speed-ups (per-type `canonical` rules, cached field order, the checker's key
rebuilt only for changed fields, states at the depth bound not queued) must not change
which states are told apart: the old isinstance chain below is the reference, and the
pinned distinct-state counts (tests/test_explore_mutants.py) must not move.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from workbench.core.canonical import canonical, canonical_fields
from workbench.explore.bfs import explore
from workbench.explore.model import Scope, enabled, initial_state, successor

_ATOMS = (int, float, str, bytes, bool, type(None))


def _reference(value: Any) -> Any:
    """`canonical` as it was before its rules were decided per type (the isinstance chain)."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, list | tuple):
        return tuple(_reference(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, _reference(v)) for k, v in value.items())
    if isinstance(value, set | frozenset):
        return frozenset(_reference(v) for v in value)
    if hasattr(value, "__self__") and hasattr(value, "__func__"):
        return value.__func__.__qualname__
    if type(value).__hash__ not in (None, object.__hash__) and dataclasses.is_dataclass(value):
        return (type(value).__qualname__, tuple(_reference(getattr(value, f.name)) for f in dataclasses.fields(value)))
    if type(value).__hash__ not in (None, object.__hash__):
        return (type(value).__qualname__, value)
    fields = getattr(value, "__dict__", None)
    if fields is None:
        fields = {name: getattr(value, name) for name in getattr(type(value), "__slots__", ())
                  if hasattr(value, name)}
    return (type(value).__name__, _reference(fields))


@pytest.mark.parametrize(("protocol", "seed"), [("raft", 1), ("paxos", 2), ("raft", 3)])
def test_canonical_per_type_rules_equal_the_isinstance_chain(protocol: str, seed: int) -> None:
    """Along a seeded random walk (seed printed on failure), every node's canonical
    fields, storage and the invariant checker canonicalize exactly as the reference does."""
    scope = Scope(protocol, clients=2, ops=2, crashes=1, cuts=1,
                  options={"read_mode": "lease"} if seed == 3 else {})
    rng = random.Random(seed)
    state = initial_state(scope)
    for step in range(40):
        world = state.world
        for node, storage in zip(world.nodes, world.storages, strict=True):
            assert canonical(storage._data) == _reference(storage._data), (protocol, seed, step)
            if node is not None:
                skip = node.CANONICAL_SKIP
                expected = tuple((k, _reference(v)) for k, v in sorted(vars(node).items()) if k not in skip)
                assert canonical_fields(node, skip) == expected, (protocol, seed, step)
        assert canonical(world.invariants) == _reference(world.invariants), (protocol, seed, step)
        events = enabled(state, scope)
        if not events:
            break
        state = successor(state, *events[rng.randrange(len(events))])


def test_a_bounded_slice_of_the_issue_scope_is_clean_and_deterministic() -> None:
    """Correct Raft (read_mode log), 3 nodes, 2 clients x 2 ops, one crash, one cut:
    the first 2,000 distinct states, twice: no violation, and the same search both times."""
    scope = Scope("raft", clients=2, ops=2, crashes=1, cuts=1, options={"read_mode": "log"})
    first = explore(scope, max_depth=12, max_states=2_000)
    second = explore(scope, max_depth=12, max_states=2_000)
    assert first.violation is None, first.summary()
    assert (first.distinct, first.states, first.max_depth) == (second.distinct, second.states, second.max_depth)
    assert 0 < first.hash_seconds < first.cpu_seconds  # hashing is CPU time inside the run's CPU time


@pytest.mark.slow
@pytest.mark.parametrize("read_mode", ["log", "read_index", "lease"])
def test_correct_raft_explores_100k_distinct_states_without_violation(read_mode: str) -> None:
    """Issue 13's Must show, bounded by states (the same work on any machine): 100,000
    distinct states of correct Raft at 3 nodes, 2 clients x 2 ops, one crash and one cut,
    breadth-first within depth 12, every state's invariants and every reply's history checked."""
    scope = Scope("raft", clients=2, ops=2, crashes=1, cuts=1, options={"read_mode": read_mode})
    result = explore(scope, max_depth=12, max_states=100_000)
    assert result.violation is None, result.summary()
    assert result.distinct >= 100_000 or result.finished, result.summary()


@pytest.mark.slow
def test_correct_paxos_explores_100k_distinct_states_without_violation() -> None:
    scope = Scope("paxos", clients=2, ops=2, crashes=1, cuts=1)
    result = explore(scope, max_depth=11, max_states=100_000)
    assert result.violation is None, result.summary()
    assert result.distinct >= 100_000 or result.finished, result.summary()
