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
`win[r] & ~S`, where `win[r]` (precomputed) holds the ops invoked before op r returned.
Model states are interned to ints per key, so a configuration is (int, int) and the
cache is one set of S per state.

Pruning on top of the plain search (each keeps the verdict exact; see the proofs in the
comments at the place they apply):
- an info op that would not change the state is never tried (never happening is as good);
- a legal op that never changes any state (a read that matches, a cas [a a]) is taken
  alone: no other choice at that configuration can do better (moving such an op
  earlier keeps every later step legal, and real-time order is kept because it was
  already minimal). A write of the value the register holds does not qualify: later
  it may be the op that sets that value again;
- of several pending ops with the same effect, only the one that returns first is tried
  (swapping two same-effect ops in any linearization keeps it legal).

The history is split per key first: linearizability is local (Herlihy & Wing 1990,
Theorem 1), and Horn & Kroening (2015, "Faster linearizability checking via
P-compositionality") show the per-key split is what makes large histories tractable.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from workbench.checkers.models import Encoded, Model, StateTable, get_model
from workbench.checkers.pairing import Op, pair_ops

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown"

# Precomputed windows cost m*n bits; above this a key computes them on demand instead.
_WINDOW_BITS_LIMIT = 64_000_000
_BUDGET_EVERY = 1023  # check the clock every 1024 new configurations


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
    after it) in linearization order, starting from `initial`. `unplaceable` are the ops
    that were pending at its end and cannot be applied next (the model rejects them in
    `prefix`'s final state); every linearization has to place one of them there.
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
    per_key: Mapping[Any, str] = field(default_factory=dict)
    states: int = 0  # configurations explored, over all keys
    model: str = ""

    @property
    def linearizable(self) -> bool | None:
        return {LINEARIZABLE: True, NOT_LINEARIZABLE: False}.get(self.verdict)


def check_linearizability(
    events: Iterable[Mapping[str, Any]],
    model: str = "cas-register",
    max_seconds: float | None = None,
    max_states: int | None = None,
) -> LinearizabilityResult:
    """Check a history (events as in DESIGN.md) against a model, key by key.

    `fail` ops never happened and are dropped; `info` ops may take effect at any time
    after their invoke, or never. With a budget (`max_seconds`, `max_states`, over the
    whole check) the verdict is "unknown" instead of running on. Raises ValueError when
    the model cannot check an op (e.g. a cas under the plain `register` model).
    """
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
        problem = _compile(key_ops, spec)
        verdict, count, dead_end = _search(problem, deadline, states_left)
        explored += count
        if states_left is not None:
            states_left -= count
        per_key[key] = verdict
        if verdict == NOT_LINEARIZABLE and witness is None:
            witness = _witness(key, problem, spec, dead_end)

    verdicts = set(per_key.values())
    verdict = (NOT_LINEARIZABLE if NOT_LINEARIZABLE in verdicts
               else UNKNOWN if UNKNOWN in verdicts else LINEARIZABLE)
    return LinearizabilityResult(
        verdict=verdict, ops=len(ops), elapsed_ms=(time.perf_counter() - start) * 1000,
        witness=witness, per_key=MappingProxyType(per_key), states=explored, model=spec.name)


@dataclass
class _Problem:
    """One key's sub-history compiled for the search (see the module docstring)."""

    ops: list[Op]  # by bit: ok ops by return time, then info ops by invoke time
    m: int  # number of ok ops (they must all be linearized)
    req: list[int]
    out: list[int]
    fn: list[Any]
    clsbit: list[int]  # 1 << class index for ops sharing their effect with another, else 0
    win: Any  # win[r]: bitset of the ops invoked before op r returned
    reads: dict[int, int]  # state -> bitset of the ok pure reads that need exactly it
    table: StateTable
    read_req: list[int]  # per ok op: the state it needs if it is a pure read, else -1
    producers: dict[int, int]  # state -> bitset of ops that set exactly that state
    growers: int  # bitset of ops with a state-dependent effect (`fn`)
    grows_to: Any  # (state id, target id) -> bool, the model's `grows_to` on ids
    all_reads: int  # bitset of the ok pure reads
    reach: Any  # q -> (seeds, lasts, makers) bitsets for read q, see `_compile`
    dependents: list[int]  # per op: bitset of the reads it might be the maker of
    keeps: list[bool]  # per op: it leaves every state where it is legal unchanged


def _compile(key_ops: list[Op], spec: Model) -> _Problem:
    table = StateTable(spec.initial)
    done: list[tuple[Op, Encoded]] = []
    unknown: list[tuple[Op, Encoded]] = []
    for op in key_ops:
        definite = op.type == "ok"
        enc = spec.encode(op.f, op.value, op.result, definite, table)
        if enc is not None:
            (done if definite else unknown).append((op, enc))
    done.sort(key=lambda e: (max(e[0].complete_time, e[0].invoke_time), e[0].invoke_time, e[0].id))
    unknown.sort(key=lambda e: (e[0].invoke_time, e[0].id))
    entries = done + unknown
    m, n = len(done), len(entries)
    ops = [e[0] for e in entries]
    req = [e[1][0] for e in entries]
    out = [e[1][1] for e in entries]
    fn = [e[1][2] for e in entries]

    class_size: dict[Any, int] = defaultdict(int)
    for e in entries:
        class_size[e[1][3]] += 1
    class_index: dict[Any, int] = {}
    clsbit = []
    for e in entries:
        cls = e[1][3]
        if class_size[cls] < 2:
            clsbit.append(0)
            continue
        index = class_index.setdefault(cls, len(class_index))
        clsbit.append(1 << index)

    reads: dict[int, int] = defaultdict(int)
    for j in range(m):
        if out[j] < 0 and fn[j] is None and req[j] >= 0:
            reads[req[j]] |= 1 << j

    read_req = [req[j] if out[j] < 0 and fn[j] is None else -1 for j in range(m)]
    producers: dict[int, int] = defaultdict(int)
    growers = 0
    for j in range(n):
        if fn[j] is not None:
            growers |= 1 << j
        elif out[j] >= 0:
            producers[out[j]] |= 1 << j

    fixed = sum(1 << j for j in range(n) if fn[j] is None and out[j] >= 0)
    values = table.values
    grows_memo: dict[tuple[int, int], bool] = {}

    def grows_to(state: int, target: int) -> bool:
        known = grows_memo.get((state, target))
        if known is None:
            known = grows_memo[state, target] = spec.grows_to(values[state], values[target])
        return known

    reach_memo: dict[int, tuple[int, int, int]] = {}

    def reach(q: int) -> tuple[int, int, int]:
        """How read q's value could be reached, for the search's look-ahead: `seeds`,
        the ops setting a fixed state fn ops might grow into it (a put that is a prefix
        of it), `lasts`, the fn ops that might take the last step to it (an append it
        ends with), and `makers`, every op that might leave exactly that value. Only
        ops in win[q] can come before q, so only they count."""
        known = reach_memo.get(q)
        if known is None:
            target = read_req[q]
            window = win[q]
            exact = window & producers.get(target, 0)
            seeds = lasts = 0
            if growers:
                value = values[target]
                rest = window & growers
                while rest:
                    b = rest & -rest
                    rest ^= b
                    j = b.bit_length() - 1
                    if spec.may_produce(ops[j].f, ops[j].value, value):
                        lasts |= b
                rest = window & fixed & ~exact if lasts else 0
                while rest:
                    b = rest & -rest
                    rest ^= b
                    if grows_to(out[b.bit_length() - 1], target):
                        seeds |= b
            known = reach_memo[q] = (seeds, lasts, lasts | exact)
        return known

    inv = [op.invoke_time for op in ops]
    ret = [max(op.complete_time, op.invoke_time) for op in ops[:m]]
    win = _windows(inv, ret, n) if m * n <= _WINDOW_BITS_LIMIT else _LazyWindows(inv, ret, n)
    return _Problem(ops, m, req, out, fn, clsbit, win, dict(reads), table,
                    read_req, dict(producers), growers, grows_to,
                    sum(1 << j for j in range(m) if read_req[j] >= 0), reach,
                    _dependents(n, read_req, reach),
                    [fn[j] is None and (out[j] < 0 or out[j] == req[j]) for j in range(n)])


_MAX_MAKERS = 64


def _dependents(n: int, read_req: list[int], reach: Any) -> list[int]:
    """dependents[j] = reads that op j might make the value of (for the look-ahead).

    Reads with very many possible makers are left out: the look-ahead is a pruning,
    and such a read (a set read after many adds) rarely becomes impossible early.
    """
    dependents = [0] * n
    for q, target in enumerate(read_req):
        if target < 0:
            continue
        makers = reach(q)[2]
        if makers.bit_count() > _MAX_MAKERS:
            continue
        while makers:
            b = makers & -makers
            makers ^= b
            dependents[b.bit_length() - 1] |= 1 << q
    return dependents


def _windows(inv: list[float], ret: list[float], n: int) -> list[int]:
    """win[r] = bitset of ops invoked no later than op r returned.

    Ties count as concurrent (an op invoked at the instant another returns may be
    ordered either way), so the check never reports a violation timing cannot support.
    """
    by_invoke = sorted(range(n), key=inv.__getitem__)
    win, mask, p = [], 0, 0
    for t in ret:
        while p < n and inv[by_invoke[p]] <= t:
            mask |= 1 << by_invoke[p]
            p += 1
        win.append(mask)
    return win


class _LazyWindows:
    """`_windows` computed per lookup, for keys too large to hold m*n bits."""

    def __init__(self, inv: list[float], ret: list[float], n: int) -> None:
        self.inv, self.ret, self.n = inv, ret, n
        self.m = len(ret)
        self.by_invoke = sorted(range(n), key=inv.__getitem__)
        self.invoked = sorted(inv)

    def __getitem__(self, r: int) -> int:
        t = self.ret[r]
        count = bisect.bisect_right(self.invoked, t)
        mask = (1 << (r + 1)) - 1  # every op returning no later than r was invoked before
        for j in self.by_invoke[:count]:
            if j > r:
                mask |= 1 << j
        return mask


# The deepest dead end: ops of the prefix, states after each, its S, its state, and the
# read the look-ahead gave up on there (-1 if none).
_DeadEnd = tuple[list[int], list[int], int, int, int]


def _search(p: _Problem, deadline: float | None, max_states: int | None
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
    all_reads, reach, dependents = p.all_reads, p.reach, p.dependents
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
                doomed = (reads_get(state, 0) | dependents[c]) & ~S
                while doomed:
                    qb = doomed & -doomed
                    doomed ^= qb
                    q = qb.bit_length() - 1
                    if read_req[q] != ns and not reach(q)[2] & ~S:
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
                    seeds, lasts, _ = reach(q)
                    if not (w & lasts and (grows_to(state, x) or w & seeds)):
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


def _witness(key: Any, p: _Problem, spec: Model,
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
