"""Linearizability checking: Wing & Gong's search with Lowe's memoisation, per key.

Algorithm. Wing & Gong (1993, "Testing and verifying concurrent objects") search for a
sequential order of the ops that respects real time and the model: repeatedly pick a
"minimal" pending op (one invoked before the earliest pending return), apply it to the
model, and backtrack on a dead end. Lowe (2017, "Testing for linearizability", §4)
memoises the configurations already explored, a (set of linearized ops, model state)
pair, which turns the exponential search into one bounded by the distinct configurations.
Porcupine (github.com/anishathalye/porcupine, checker.go) does this over a doubly linked
list of call/return entries with lift/unlift and a cache keyed by bitset + state.

This implementation keeps Porcupine's search but represents the list implicitly, which
suits Python: ops that completed (`ok`) are numbered by return time (bits 0..m-1), ops
with unknown outcome (`info`, return time +inf) after them (bits m..n-1, by invoke time).
The linearized set S is a Python int. The earliest pending return is then the lowest
zero bit of S, and the ops "before the first return entry" of Porcupine's list are
`win[r] & ~S`, where `win[r]` (precomputed, `problem.py`) holds the ops invoked before
op r returned. Model states are interned to ints per key, so a configuration is
(int, int) and the cache is one set of S per state.

Pruning on top of the plain search (each keeps the verdict exact; see the proofs in the
comments at the place they apply):
- an info op that would not change the state is never tried (never happening is as good);
- a legal op that never changes any state (a read that matches, a cas [a a]) is taken
  alone: no other choice at that configuration can do better (moving such an op
  earlier keeps every later step legal, and real-time order is kept because it was
  already minimal). A write of the value the register holds does not qualify: later
  it may be the op that sets that value again;
- of several pending ops with the same effect, only the one that returns first is tried
  (swapping two same-effect ops in any linearization keeps it legal);
- look-ahead on reads, which is what makes refuting a history cheap (a stale read is
  found when the state moves on, not after exhausting every order of the ops before
  it): a configuration is a dead end when a pending read's value differs from the
  state and no pending op that could still produce that value is left, or when a read
  in the current window (which must be placed before any op invoked after it
  returned) cannot reach its value with the ops of its own window.

The history is split per key first: linearizability is local (Herlihy & Wing 1990,
Theorem 1), and Horn & Kroening (2015, "Faster linearizability checking via
P-compositionality") show the per-key split is what makes large histories tractable.
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from workbench.checkers.models import Model, get_model
from workbench.checkers.pairing import Op, pair_ops
from workbench.checkers.problem import Problem, compile_key

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown"

_BUDGET_EVERY = 1023  # check the clock every 1024 new configurations
_DOOMED_CHECKS = 32  # reads looked at per state change by the doomed-read look-ahead


@dataclass(frozen=True)
class WitnessOp:
    """An op as a timeline can draw it (`complete_time` None: outcome unknown)."""

    op: int
    process: int
    f: str
    key: Any
    value: Any
    result: Any
    type: str
    invoke_time: float
    complete_time: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "process": self.process, "f": self.f, "key": self.key,
                "value": self.value, "result": self.result, "type": self.type,
                "invoke_time": self.invoke_time, "complete_time": self.complete_time}


@dataclass(frozen=True)
class Witness:
    """Why a key is not linearizable.

    `prefix` is the longest linearizable prefix the search found: (op id, model state
    after it) in linearization order, starting from `initial` (info ops in it took
    effect). `unplaceable` are ops still pending at its end that the model rejects in
    its final state: the op whose return forces the next step, the others that could
    come next, and a read the look-ahead found can no longer be satisfied, if any.
    Op ids are the frame's `op` column, so a timeline can draw both.
    """

    key: Any
    model: str
    initial: Any
    prefix: tuple[tuple[int, Any], ...]
    unplaceable: tuple[WitnessOp, ...]

    @property
    def final_state(self) -> Any:
        return self.prefix[-1][1] if self.prefix else self.initial

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "model": self.model, "initial": _jsonable(self.initial),
                "prefix": [{"op": op, "state": _jsonable(s)} for op, s in self.prefix],
                "unplaceable": [o.to_dict() for o in self.unplaceable]}


@dataclass(frozen=True)
class LinearizabilityResult:
    verdict: str  # "linearizable" | "not linearizable" | "unknown"
    ops: int  # operations in the history (invocations)
    elapsed_ms: float
    witness: Witness | None
    per_key: Mapping[Any, str] = field(default_factory=dict)  # "unknown": budget ran out
    states: int = 0  # configurations explored, over all keys
    model: str = ""

    @property
    def linearizable(self) -> bool | None:
        return {LINEARIZABLE: True, NOT_LINEARIZABLE: False}.get(self.verdict)


def check_linearizability(
    events: Iterable[Mapping[str, Any]],
    model: str = "cas-register",
    *, max_seconds: float | None = None,
    max_states: int | None = None,
) -> LinearizabilityResult:
    """Check a history (events as in DESIGN.md) against a model, key by key.

    `fail` ops never happened and are dropped; `info` ops may take effect at any time
    after their invoke, or never. With a budget (`max_seconds`, `max_states`, over the
    whole check) the verdict is "unknown" instead of running on. Raises ValueError when
    the model cannot check an op (e.g. a cas under the plain `register` model).
    """
    # The search allocates many long-lived objects (configurations, model states: a set
    # read's state holds thousands of elements) and no cyclic garbage to speak of, so
    # CPython's cycle collector would only traverse them over and over (2-4x slower).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check(events, model, max_seconds, max_states)
    finally:
        if collecting:
            gc.enable()


def _check(events: Iterable[Mapping[str, Any]], model: str, max_seconds: float | None,
           max_states: int | None) -> LinearizabilityResult:
    start = time.perf_counter()
    spec = get_model(model)
    ops = pair_ops(events)
    by_key: dict[Any, list[Op]] = {}
    for op in ops:
        problem = spec.problem(op.f, op.value)
        if problem is not None:
            raise ValueError(f"op {op.id} (process {op.process}, {op.f} {op.value!r}): {problem}")
        if op.type != "fail":
            by_key.setdefault(op.key, []).append(op)

    deadline = None if max_seconds is None else start + max_seconds
    states_left = max_states
    per_key: dict[Any, str] = {}
    witness: Witness | None = None
    explored = 0
    for key, key_ops in by_key.items():
        if states_left is not None and states_left <= 0 or (
                deadline is not None and time.perf_counter() > deadline):
            per_key[key] = UNKNOWN
            continue
        problem = compile_key(key_ops, spec)
        verdict, count, dead_end = _search(problem, deadline, states_left)
        explored += count
        if states_left is not None:
            states_left -= count
        per_key[key] = verdict
        if verdict == NOT_LINEARIZABLE and witness is None:
            witness = _witness(key, problem, spec, dead_end)
        problem.table.fns.clear()  # its closures refer back to the table: no cycle left

    verdicts = set(per_key.values())
    verdict = (NOT_LINEARIZABLE if NOT_LINEARIZABLE in verdicts
               else UNKNOWN if UNKNOWN in verdicts else LINEARIZABLE)
    return LinearizabilityResult(
        verdict=verdict, ops=len(ops), elapsed_ms=(time.perf_counter() - start) * 1000,
        witness=witness, per_key=MappingProxyType(per_key), states=explored, model=spec.name)


# The deepest dead end: ops of the prefix, states after each, its S, its state, and the
# read the look-ahead gave up on there (-1 if none).
_DeadEnd = tuple[list[int], list[int], int, int, int]


def _search(p: Problem, deadline: float | None, max_states: int | None
            ) -> tuple[str, int, _DeadEnd | None]:
    """Depth-first search for a linearization of one key.

    Returns the verdict, the number of configurations explored and, for a violation,
    the deepest dead end: (ops of the prefix, states after each, its S, its state).
    """
    m = p.m
    if m == 0:
        return LINEARIZABLE, 0, None  # info ops alone can always be left out
    req, out, fn, clsbit, win, keeps = p.req, p.out, p.fn, p.clsbit, p.win, p.keeps
    reads_get = p.reads.get
    read_req, producers_get, grows_to = p.read_req, p.producers.get, p.grows_to
    all_reads, makers, seeds, dependents = p.all_reads, p.makers, p.seeds, p.dependents
    visited: defaultdict[int, set[int]] = defaultdict(set)
    frames: list[tuple[int, int, int, int, int]] = []
    push, pop = frames.append, frames.pop
    perf_counter = time.perf_counter
    limit = -1 if max_states is None else max_states

    S = 0  # the linearized set
    state = 0  # the model state after it (interned; 0 is the initial state)
    cand = win[0]
    forced = cand & reads_get(0, 0)
    if forced:
        cand = forced & -forced
    seen = 0  # effect classes already tried at this configuration
    count = 0
    best = -1
    blocker = -1  # a pending read the look-ahead found can never be placed
    dead_end: _DeadEnd | None = None
    while True:
        while cand:
            b = cand & -cand
            cand ^= b
            c = b.bit_length() - 1
            k = clsbit[c]
            if k:
                # Same effect as an op tried already at this configuration, which returns
                # no later: any linearization using c can use that op in c's place.
                if seen & k:
                    continue
                seen |= k
            rq = req[c]
            if rq >= 0 and rq != state:
                continue
            g = fn[c]
            if g is None:
                ns = out[c]
                if ns < 0:
                    ns = state
            else:
                ns = g(state)
                if ns < 0:
                    continue
            if ns == state:
                if c >= m:
                    continue  # an info op with no effect now: leaving it pending is as good
                if keeps[c]:
                    cand = 0  # it never changes any state and is legal: the only choice
            NS = S | b
            vs = visited[ns]
            if NS in vs:
                continue  # explored from here before, and it failed (Lowe's cache)
            vs.add(NS)
            push((S, state, cand, seen, c))
            S = NS
            x = S + 1
            r = (x & -x).bit_length() - 1  # lowest pending op in return order
            if r >= m:
                return LINEARIZABLE, count + 1, None
            cand = win[r] & ~S
            seen = 0
            forced = cand & reads_get(ns, 0)
            if ns != state:
                # A pending read q whose value differs from the new state and none of whose
                # possible makers is still pending can never be linearized: a dead end.
                # Only the reads of the state we leave and the reads c might have made
                # can newly be in that case (earlier ones were caught when they were).
                # Only the first few such reads (in return order) are looked at: the
                # check is a pruning, and with few distinct values a state has many reads.
                doomed = (reads_get(state, 0) | dependents[c]) & ~S
                budget = _DOOMED_CHECKS
                while doomed and budget:
                    budget -= 1
                    qb = doomed & -doomed
                    doomed ^= qb
                    q = qb.bit_length() - 1
                    if read_req[q] != ns and not makers(q)[1] & ~S:
                        cand = forced = 0
                        blocker = q
                        break
                state = ns
                # Look ahead at the pending reads that need another state. Read q must be
                # linearized before every op invoked after q returned, so only the ops
                # in win[q] can come between here and q: if none of them can lead to
                # q's value, this configuration is a dead end, however the search goes on.
                pending = cand & all_reads & ~forced
                while pending:
                    qb = pending & -pending
                    pending ^= qb
                    q = qb.bit_length() - 1
                    x = read_req[q]
                    w = win[q] & ~S
                    if w & producers_get(x, 0):
                        continue
                    if not (w & makers(q)[0] and (grows_to(state, x) or w & seeds(q))):
                        cand = forced = 0
                        blocker = q
                        break
            if forced:
                # A pending read that sees this state: take it now (module docstring).
                cand = forced & -forced
            count += 1
            if count == limit:
                return UNKNOWN, count, None
            if not count & _BUDGET_EVERY and deadline is not None and perf_counter() > deadline:
                return UNKNOWN, count, None
        depth = len(frames)
        if depth > best:
            best = depth
            path = [fr[4] for fr in frames]
            states = [fr[1] for fr in frames[1:]] + [state] if frames else []
            dead_end = (path, states, S, state, blocker)
        blocker = -1
        if not depth:
            return NOT_LINEARIZABLE, count, dead_end
        S, state, cand, seen, _ = pop()


def _witness(key: Any, p: Problem, spec: Model,
             dead_end: _DeadEnd | None) -> Witness:
    assert dead_end is not None
    path, states, S, state, blocker = dead_end
    values = p.table.values
    final = values[state]
    x = S + 1
    r = (x & -x).bit_length() - 1
    pending = p.win[r] & ~S if r < p.m else 0
    if blocker >= 0:
        pending |= 1 << blocker
    stuck = []
    while pending:
        b = pending & -pending
        pending ^= b
        op = p.ops[b.bit_length() - 1]
        if not spec.step(final, op.f, op.value, op.result, op.type == "ok")[0]:
            stuck.append(WitnessOp(op.id, op.process, op.f, op.key, op.value, op.result,
                                   op.type, op.invoke_time, op.complete_time))
    stuck.sort(key=lambda o: o.invoke_time)
    return Witness(key=key, model=spec.name, initial=spec.initial,
                   prefix=tuple((p.ops[c].id, values[s]) for c, s in zip(path, states, strict=True)),
                   unplaceable=tuple(stuck))


def _jsonable(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
