"""Exhaustive breadth-first exploration (as TLC and Stateright do), shortest counterexample first.

States in the frontier are never mutated again: each successor shares the node objects
its transition does not touch and copies the ones it does (`model.successor`, copy on
write), then runs one transition. A state whose canonical key (`model.state_key`) was
seen before is not expanded again. Breadth-first order makes the first violation found a
shortest one (fewest transitions from the initial state).
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.explore.model import (
    Scope,
    State,
    enabled,
    initial_state,
    state_key,
    successor,
    violation,
)


@dataclass
class Result:
    scope: Scope
    states: int = 0  # transitions run (successors generated)
    distinct: int = 0
    max_depth: int = 0
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time (the machine may be shared)
    # CPU seconds (time.process_time) spent building and hashing canonical state keys:
    # per-node fingerprints of the nodes a step changed, the checker's memory, the
    # in-flight multiset, timers and history, and the final 64-bit hash. Successor
    # copies, protocol steps, invariant and linearizability checks are not in it.
    hash_seconds: float = 0.0
    complete_depth: int = 0  # every state within this many transitions was explored...
    complete_distinct: int = 1  # ...and there are this many of them
    finished: bool = False  # the whole reachable space within max_depth was explored
    violation: str | None = None
    trace: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def states_per_s(self) -> float:
        """Distinct states per CPU second (wall seconds say more about the machine's load)."""
        return self.distinct / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def hash_share(self) -> float:
        return self.hash_seconds / self.cpu_seconds if self.cpu_seconds else 0.0

    def summary(self) -> str:
        verdict = f"VIOLATION ({self.violation}) in {len(self.trace)} steps" if self.violation else "no violation"
        status = "finished" if self.finished else "cut off"
        return (f"{self.scope.protocol}: {verdict}; {self.distinct} distinct states, {self.states} transitions, "
                f"max depth {self.max_depth}, {self.seconds:.1f} s ({self.cpu_seconds:.1f} s CPU; "
                f"{self.states_per_s:.0f} states/CPU s, hashing {self.hash_seconds:.1f} CPU s = "
                f"{self.hash_share:.0%}), {status}; "
                f"exhaustive through depth {self.complete_depth} ({self.complete_distinct} states)")


def explore(scope: Scope, *, max_depth: int = 30, budget_s: float | None = None,
            progress: Callable[[Result, int], None] | None = None,
            cpu_budget_s: float | None = None, max_states: int | None = None) -> Result:
    """Breadth-first search of every schedule of `scope` up to `max_depth` transitions.

    Stops early after `budget_s` wall seconds, `cpu_budget_s` seconds of this process's
    CPU time (what a shared machine cannot inflate) or `max_states` distinct states
    (what a test should bound by: it is the same on any machine)."""
    # The cyclic garbage collector was ~30% of the CPU time: every successor allocates
    # thousands of objects (unpickled nodes), so the youngest generation fills every
    # few steps and older ones are rescanned as the frontier grows. Rarer collections
    # (restored afterwards) cost ~15% more memory; none at all would leak the cycles
    # each node has (its `_step` bound method) and double it.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        return _explore(scope, max_depth, budget_s, progress, cpu_budget_s, max_states)
    finally:
        gc.set_threshold(*thresholds)


def _explore(scope: Scope, max_depth: int, budget_s: float | None,
             progress: Callable[[Result, int], None] | None,
             cpu_budget_s: float | None, max_states: int | None) -> Result:
    started, cpu_started = time.perf_counter(), time.process_time()
    clock = time.process_time
    result = Result(scope)
    root = initial_state(scope)
    key = state_key(root)
    seen = {hash(key)}  # 64-bit hashes: collisions are possible but rare (TLC fingerprints likewise)
    # Frontier entries: (state, depth, index of the parent's trace node).
    root.world.out = []
    frontier: deque[tuple[State, int, int]] = deque([(root, 0, -1)])
    parents: list[tuple[int, str, list[str]]] = []  # trace tree: (parent, command, args)
    result.distinct = 1
    ticks = 0
    while frontier:
        parent, depth, node = frontier.popleft()
        if depth > result.complete_depth:  # every state at depth-1 was expanded: depth is complete
            result.complete_depth, result.complete_distinct = depth, result.distinct
        if depth >= max_depth:  # only the root can be: deeper states are never queued
            continue
        for command, args in enabled(parent, scope):
            state = successor(parent, command, args)
            result.states += 1
            replied = command in ("deliver", "advance", "client", "restart")
            problem = violation(state, replied and _new_reply(state))
            if problem is not None:
                parents.append((node, command, args))
                prefix = [(c, list(a)) for c, a in scope.prefix]
                result.violation, result.trace = problem, prefix + _path(parents, len(parents) - 1)
                result.max_depth = max(result.max_depth, depth + 1)
                _stop(result, started, cpu_started)
                return result
            t0 = clock()
            key = hash(state_key(state))
            result.hash_seconds += clock() - t0
            if key in seen:
                continue
            seen.add(key)
            result.distinct += 1
            parents.append((node, command, args))
            result.max_depth = max(result.max_depth, depth + 1)
            if depth + 1 < max_depth:  # a state at the depth bound is checked and counted, never expanded:
                frontier.append((state, depth + 1, len(parents) - 1))  # keeping it would only cost memory
        parent.blobs = {}  # fully expanded: its node copies are not needed again
        ticks += 1
        if progress is not None and ticks % 50 == 0:
            progress(result, len(frontier))
        if ((budget_s is not None and time.perf_counter() - started > budget_s)
                or (cpu_budget_s is not None and time.process_time() - cpu_started > cpu_budget_s)
                or (max_states is not None and result.distinct >= max_states)):
            _stop(result, started, cpu_started)
            return result
    result.finished = True
    result.complete_depth, result.complete_distinct = result.max_depth, result.distinct
    _stop(result, started, cpu_started)
    return result


def _stop(result: Result, started: float, cpu_started: float) -> None:
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started


def _new_reply(state: object) -> bool:
    """Did this step complete a client op? Only then can the history's verdict change."""
    out = state.world.out  # type: ignore[attr-defined]
    return any(line.lstrip().startswith("reply ") for line in out)


def _path(parents: list[tuple[int, str, list[str]]], index: int) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    while index >= 0:
        parent, command, args = parents[index]
        steps.append((command, args))
        index = parent
    return steps[::-1]
