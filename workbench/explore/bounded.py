"""Schedule-bounded exploration for larger scopes (issue 13 item 3): deviation bounding.

A run follows the default schedule — deliver the oldest deliverable message, else let
a client invoke its next op, else advance time to the next timer — except at up to k
steps, where it takes another enabled event instead (a deviation; faults are only ever
taken as deviations). This is delay bounding in the spirit of Coyote/P# (Emmi, Qadeer,
Rakamaric, POPL 2011): most bugs need few deviations from an ordinary schedule, and a
run of 50 steps with 2 deviations is far out of breadth-first reach. All schedules with
at most k deviations are enumerated (depth-first, deviation positions in order) until
`budget_runs`; after that, deviations are sampled from a seeded rng (`seed` printed in
the result, so a sampled finding reproduces).

`window` bounds how far apart the deviations of one schedule may be (a burst of faults
at one moment: a crash, a cut and a restart in a row): at most `window` steps from the
first deviation to the last. Enumeration is lexicographic in the deviation positions,
so without a window a bug whose deviations all sit late in the run (Figure 8's second
half, 20 steps after the opening) waits behind every schedule that deviates earlier.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from workbench.explore.model import Scope, apply, enabled, initial_state, violation


@dataclass
class BoundedResult:
    scope: Scope
    runs: int = 0
    steps: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    enumerated_all: bool = False
    violation: str | None = None
    trace: list[tuple[str, list[str]]] = field(default_factory=list)
    deviations: dict[int, int] = field(default_factory=dict)
    seed: int = 0
    sampled: int = 0  # runs after enumeration stopped

    def summary(self) -> str:
        verdict = (f"VIOLATION ({self.violation}) in {len(self.trace)} steps with {len(self.deviations)} deviations"
                   if self.violation else "no violation")
        if self.enumerated_all:
            mode = "all schedules within the bound"
        elif self.sampled:
            mode = f"enumerated {self.runs - self.sampled}, then sampled {self.sampled} (seed {self.seed})"
        else:
            mode = "while enumerating" if self.violation else "enumeration cut off by the budget"
        return (f"{self.scope.protocol}: {verdict}; {self.runs} runs, {self.steps} steps, {self.seconds:.1f} s "
                f"({self.cpu_seconds:.1f} s CPU), {mode}")


DEFAULT_ORDER = ("deliver", "client", "advance")
CLIENTS_LAST = ("deliver", "advance")
"""Client ops only as deviations: the cluster runs on (timers, elections) until a
deviation invokes an op, so a read can come late, after a partition has done its work
(stale reads need that; the default order invokes every op at the first quiet moment)."""


def _default_index(events: list[tuple[str, list[str]]], order: tuple[str, ...] = DEFAULT_ORDER) -> int | None:
    for wanted in order:
        for k, (command, _) in enumerate(events):
            if command == wanted:
                return k
    return None


def run_schedule(scope: Scope, deviations: dict[int, int], *, max_steps: int,
                 order: tuple[str, ...] = DEFAULT_ORDER) -> tuple[str | None, list[tuple[str, list[str]]], list[int]]:
    """One run; `deviations[t] = j` takes the j-th non-default event at step t.

    Returns (violation, trace, number of alternatives at each step).
    """
    state = initial_state(scope)
    trace: list[tuple[str, list[str]]] = [(c, list(a)) for c, a in scope.prefix]
    alternatives: list[int] = []
    for step in range(max_steps):
        events = enabled(state, scope)
        default = _default_index(events, order)
        others = [e for k, e in enumerate(events) if k != default]
        alternatives.append(len(others))
        if step in deviations and deviations[step] < len(others):
            command, args = others[deviations[step]]
        elif default is not None:
            command, args = events[default]
        else:
            break
        apply(state, command, args)
        trace.append((command, list(args)))
        problem = violation(state, command != "drop" and any(
            line.lstrip().startswith("reply ") for line in state.world.out))
        if problem is not None:
            return problem, trace, alternatives
    return None, trace, alternatives


def explore_bounded(scope: Scope, *, k: int = 2, max_steps: int = 60, budget_runs: int = 2000,
                    sample_runs: int = 0, seed: int = 0, budget_s: float | None = None,
                    clients_last: bool = False, window: int | None = None) -> BoundedResult:
    started, cpu_started = time.perf_counter(), time.process_time()
    result = BoundedResult(scope, seed=seed)

    def out_of_time() -> bool:
        return budget_s is not None and time.perf_counter() - started > budget_s

    order = CLIENTS_LAST if clients_last else DEFAULT_ORDER

    def one(deviations: dict[int, int]) -> list[int] | None:
        problem, trace, alternatives = run_schedule(scope, deviations, max_steps=max_steps, order=order)
        result.runs += 1
        result.steps += len(trace)
        if problem is not None:
            result.violation, result.trace, result.deviations = problem, trace, dict(deviations)
            return None
        return alternatives

    # Enumerate: depth-first over (position, alternative), positions after the last deviation.
    stack: list[dict[int, int]] = [{}]
    complete = True
    while stack:
        if result.runs >= budget_runs or out_of_time():
            complete = False
            break
        deviations = stack.pop()
        alternatives = one(deviations)
        if alternatives is None:
            break
        if len(deviations) < k:
            last = max(deviations, default=-1)
            end = len(alternatives) - 1
            if window is not None and deviations:
                end = min(end, min(deviations) + window - 1)
            for t in range(end, last, -1):
                for j in range(alternatives[t] - 1, -1, -1):
                    stack.append({**deviations, t: j})
    result.enumerated_all = complete and result.violation is None
    rng = random.Random(seed)
    # positions are drawn along the default run
    _, _, alternatives = run_schedule(scope, {}, max_steps=max_steps, order=order)
    for _ in range(sample_runs if result.violation is None and not complete else 0):
        if out_of_time():
            break
        positions = sorted(rng.sample(range(len(alternatives)), min(k, len(alternatives))))
        deviations = {t: rng.randrange(max(1, alternatives[t])) for t in positions}
        result.sampled += 1
        if one(deviations) is None:
            break
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result
