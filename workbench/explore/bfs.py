"""Exhaustive breadth-first exploration (as TLC and Stateright do), shortest counterexample first.

States in the frontier are never mutated again: each successor shares the node objects
its transition does not touch and copies the ones it does (`model.successor`, copy on
write), then runs one transition. A state whose canonical key (`model.state_key`) was
seen before is not expanded again. Breadth-first order makes the first violation found a
shortest one (fewest transitions from the initial state). With sleep sets (the
default; explore/sleep.py) the second order of two commuting deliveries is not run:
the same states are visited through fewer transitions.
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
from workbench.explore.sleep import AWAKE, Names, TransitionId, asleep_after, quiet, wanted


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
    sleep_sets: bool = False  # partial-order reduction on (explore/sleep.py)
    slept: int = 0  # transitions not run because they were asleep
    reexpanded: int = 0  # cached states explored again for transitions that woke up

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
        reduction = (f"; sleep sets skipped {self.slept} transitions, re-expanded {self.reexpanded} states"
                     if self.sleep_sets else "")
        return (f"{self.scope.protocol}: {verdict}; {self.distinct} distinct states, {self.states} transitions, "
                f"max depth {self.max_depth}, {self.seconds:.1f} s ({self.cpu_seconds:.1f} s CPU; "
                f"{self.states_per_s:.0f} states/CPU s, hashing {self.hash_seconds:.1f} CPU s = "
                f"{self.hash_share:.0%}), {status}; "
                f"exhaustive through depth {self.complete_depth} ({self.complete_distinct} states){reduction}")


def explore(scope: Scope, *, max_depth: int = 30, budget_s: float | None = None,
            progress: Callable[[Result, int], None] | None = None,
            cpu_budget_s: float | None = None, max_states: int | None = None,
            sleep_sets: bool = True) -> Result:
    """Breadth-first search of every schedule of `scope` up to `max_depth` transitions.

    Stops early after `budget_s` wall seconds, `cpu_budget_s` seconds of this process's
    CPU time (what a shared machine cannot inflate) or `max_states` distinct states
    (what a test should bound by: it is the same on any machine). `sleep_sets` skips
    the second order of commuting deliveries (explore/sleep.py): the same distinct
    states, fewer transitions."""
    # The cyclic garbage collector was ~30% of the CPU time: every successor allocates
    # thousands of objects (unpickled nodes), so the youngest generation fills every
    # few steps and older ones are rescanned as the frontier grows. Rarer collections
    # (restored afterwards) cost ~15% more memory; none at all would leak the cycles
    # each node has (its `_step` bound method) and double it.
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        return _Search(scope, max_depth, sleep_sets).run(budget_s, progress, cpu_budget_s, max_states)
    finally:
        gc.set_threshold(*thresholds)


@dataclass(slots=True)
class _Entry:
    """A state waiting to be expanded, with its place in the trace tree."""

    state: State
    depth: int
    node: int  # index of its trace node in `_Search.parents`
    key: int
    # Re-expanding a cached state (sleep sets): only these transitions, from this sleep set.
    only: frozenset[TransitionId] | None = None
    sleeping: frozenset[TransitionId] = AWAKE


@dataclass(slots=True)
class _Cached:
    """What the search keeps of a seen state under sleep sets (Godefroid 1996, §5.4)."""

    sleeping: frozenset[TransitionId]  # transitions not (yet) explored from it
    depth: int
    expanded: bool = False


class _Search:
    """One breadth-first search: the frontier, the fingerprints seen, the trace tree."""

    def __init__(self, scope: Scope, max_depth: int, sleep_sets: bool) -> None:
        self.scope, self.max_depth, self.sleep_sets = scope, max_depth, sleep_sets
        self.result = Result(scope, sleep_sets=sleep_sets)
        self.seen: set[int] = set()  # 64-bit hashes: collisions are possible but rare (TLC fingerprints likewise)
        self.cached: dict[int, _Cached] = {}  # sleep sets only
        self.frontier: deque[_Entry] = deque()
        # Re-expansions and what they newly find at a depth the main frontier has
        # already reached: done before the next entry of the frontier, so a level
        # is complete when the frontier moves past it.
        self.urgent: deque[_Entry] = deque()
        self.level = 0
        self.parents: list[tuple[int, str, list[str]]] = []  # trace tree: (parent, command, args)

    def run(self, budget_s: float | None, progress: Callable[[Result, int], None] | None,
            cpu_budget_s: float | None, max_states: int | None) -> Result:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = self.result
        root = initial_state(self.scope)
        key = hash(state_key(root))
        self.seen.add(key)
        if self.sleep_sets:
            self.cached[key] = _Cached(AWAKE, 0)
        root.world.out = []
        self.frontier.append(_Entry(root, 0, -1, key))
        result.distinct = 1
        ticks = 0
        while self.frontier or self.urgent:
            if self.urgent:
                entry = self.urgent.popleft()
            else:
                entry = self.frontier.popleft()
                self.level = entry.depth
                if entry.depth > result.complete_depth:  # every state at depth-1 was expanded: depth is complete
                    result.complete_depth, result.complete_distinct = entry.depth, result.distinct
            if entry.depth >= self.max_depth:  # only the root can be: deeper states are never queued
                continue
            if self._expand(entry):
                _stop(result, started, cpu_started)
                return result
            ticks += 1
            if progress is not None and ticks % 50 == 0:
                progress(result, len(self.frontier))
            if ((budget_s is not None and time.perf_counter() - started > budget_s)
                    or (cpu_budget_s is not None and time.process_time() - cpu_started > cpu_budget_s)
                    or (max_states is not None and result.distinct >= max_states)):
                _stop(result, started, cpu_started)
                return result
        result.finished = True
        result.complete_depth, result.complete_distinct = result.max_depth, result.distinct
        _stop(result, started, cpu_started)
        return result

    def _expand(self, entry: _Entry) -> bool:
        """Run the transitions of `entry`'s state; True on a violation (recorded in the result)."""
        parent, depth, result, scope = entry.state, entry.depth, self.result, self.scope
        clock = time.process_time
        transitions = enabled(parent, scope)
        if self.sleep_sets:
            names = Names(parent)
            if entry.only is None:
                cached = self.cached[entry.key]
                cached.expanded = True
                sleeping = cached.sleeping
                chosen = wanted(transitions, names, skip=sleeping)
            else:
                sleeping = entry.sleeping
                chosen = wanted(transitions, names, only=entry.only)
                result.reexpanded += 1
            result.slept += len(transitions) - len(chosen)
        else:
            sleeping, chosen = AWAKE, [(command, args, None) for command, args in transitions]
        explored: list[TransitionId] = []  # quiet deliveries explored from `parent` so far
        for command, args, name in chosen:
            state = successor(parent, command, args)
            result.states += 1
            replied = command in ("deliver", "advance", "client", "restart")
            problem = violation(state, replied and _new_reply(state))
            if problem is not None:
                self.parents.append((entry.node, command, args))
                prefix = [(c, list(a)) for c, a in scope.prefix]
                result.violation, result.trace = problem, prefix + _path(self.parents, len(self.parents) - 1)
                result.max_depth = max(result.max_depth, depth + 1)
                return True
            t0 = clock()
            key = hash(state_key(state))
            result.hash_seconds += clock() - t0
            child_sleeping = AWAKE
            if self.sleep_sets:
                child_sleeping = asleep_after(names, command, args, sleeping=sleeping, explored=explored)
                if name is not None and quiet(parent, state):
                    explored.append(name)
            if key in self.seen:
                if self.sleep_sets:
                    self._seen_again(key, state, entry, command, args, child_sleeping)
                continue
            self.seen.add(key)
            result.distinct += 1
            self.parents.append((entry.node, command, args))
            result.max_depth = max(result.max_depth, depth + 1)
            if self.sleep_sets:
                self.cached[key] = _Cached(child_sleeping, depth + 1)
            if depth + 1 < self.max_depth:  # a state at the depth bound is checked and counted, never expanded:
                child = _Entry(state, depth + 1, len(self.parents) - 1, key)  # keeping it would only cost memory
                (self.urgent if depth + 1 <= self.level else self.frontier).append(child)
        parent.blobs = {}  # fully expanded: its node copies are not needed again
        return False

    def _seen_again(self, key: int, state: State, entry: _Entry, command: str, args: list[str],
                    sleeping: frozenset[TransitionId]) -> None:
        """A cached state reached by another path, with sleep set `sleeping` (§5.4): what
        slept there before but is awake now must still be explored from it."""
        cached = self.cached[key]
        if cached.sleeping <= sleeping:
            return  # everything awake now was (or will be) explored from it
        woken = cached.sleeping - sleeping
        cached.sleeping = cached.sleeping & sleeping
        if not cached.expanded:
            return  # it will be expanded with the smaller sleep set
        if cached.depth >= self.max_depth:
            return
        # Explore the woken transitions from this copy of the state (the same canonical
        # state; its own path names its messages, so its trace node is this path).
        self.parents.append((entry.node, command, list(args)))
        self.urgent.append(_Entry(state, cached.depth, len(self.parents) - 1, key, woken, cached.sleeping))


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
