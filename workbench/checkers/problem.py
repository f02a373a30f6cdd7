"""One key's sub-history compiled for the linearizability search (`linearizability.py`).

Bit numbering: ops that completed `ok` get bits 0..m-1 by return time; ops whose outcome
is unknown (`info`, return time +inf) get bits m..n-1 by invoke time. Sets of ops are
Python ints. Each op is `(req, out, fn)` on interned int states (`models.py`).

Besides the ops, this precomputes what the search's look-ahead on reads needs: for a
read q, which pending ops could still produce the value q returned ("makers"), and the
reverse index (which reads an op might produce the value of).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.checkers.models import Encoded, Model, StateTable
from workbench.checkers.pairing import Op

# Precomputed windows cost m*n bits; above this a key computes them on demand instead.
WINDOW_BITS_LIMIT = 256_000_000  # 32 MB
# A read with more possible makers than this is left out of the reverse index: the
# look-ahead is a pruning, and such a read (a set read after many adds) rarely becomes
# impossible early.
MAX_MAKERS = 64


@dataclass
class Problem:
    ops: list[Op]  # by bit
    m: int  # number of ok ops (they must all be linearized)
    req: list[int]  # state the op needs (-1: any)
    out: list[int]  # state it leaves (-1: unchanged)
    fn: list[Callable[[int], int] | None]  # state-dependent effect, when req/out cannot say
    keeps: list[bool]  # it leaves every state where it is legal unchanged (reads, cas [a a])
    clsbit: list[int]  # 1 << class index for ops sharing their effect with another, else 0
    win: Any  # win[r]: bitset of the ops invoked no later than op r returned
    table: StateTable
    reads: dict[int, int]  # state -> bitset of the ok pure reads that need exactly it
    all_reads: int  # bitset of the ok pure reads
    read_req: list[int]  # per ok op: the state it needs if it is a pure read, else -1
    producers: dict[int, int]  # state -> bitset of the ops that set exactly that state
    grows_to: Callable[[int, int], bool]  # the model's `grows_to`, on state ids, memoised
    makers: Callable[[int], tuple[int, int]]  # read q -> (lasts, makers), see `_makers`
    seeds: Callable[[int], int]  # read q -> ops setting a state fn ops might grow to q's
    dependents: list[int]  # per op: bitset of the reads it might be a maker of


def drop_unobservable(done: list[tuple[Op, Encoded]], unknown: list[tuple[Op, Encoded]]
                      ) -> list[tuple[Op, Encoded]]:
    """The info ops left once those whose effect nothing can observe are dropped.

    For a key whose ops all have fixed effects (no `fn`: registers, not appends or
    adds), an info op that leaves a state no op requires (say a timed-out write whose
    value nobody read and no cas expected) can be dropped without changing the
    verdict. In a linearization that takes it, every op after it needs some required
    state or none; until an op that needs none comes, nothing is legal, so the next op
    needs none and its legality and effect do not depend on what came before (ops in
    between that need none and change nothing neither). Leaving the info op out —
    "it never happened", always allowed for info — keeps the rest legal.

    This matters: a run with timeouts has dozens of info writes per key, and each one
    the search may take or not doubles the configurations it can reach. Dropping one
    can free another (an info write only a dropped info cas expected), so repeat.
    """
    required_by_done = {enc[0] for _, enc in done if enc[0] >= 0}
    while True:
        required = required_by_done.union(enc[0] for _, enc in unknown if enc[0] >= 0)
        kept = [entry for entry in unknown if entry[1][1] < 0 or entry[1][1] in required]
        if len(kept) == len(unknown):
            return kept
        unknown = kept


def compile_key(key_ops: list[Op], spec: Model) -> Problem:
    table = StateTable(spec.initial)
    done: list[tuple[Op, Encoded]] = []
    unknown: list[tuple[Op, Encoded]] = []
    for op in key_ops:
        definite = op.type == "ok"
        enc = spec.encode(op.f, op.value, op.result, definite, table)
        if enc is not None:
            (done if definite else unknown).append((op, enc))
    if all(enc[2] is None for _, enc in done) and all(enc[2] is None for _, enc in unknown):
        unknown = drop_unobservable(done, unknown)
    done.sort(key=lambda e: (max(e[0].complete_time, e[0].invoke_time), e[0].invoke_time, e[0].id))
    unknown.sort(key=lambda e: (e[0].invoke_time, e[0].id))
    entries = done + unknown
    m, n = len(done), len(entries)
    ops = [e[0] for e in entries]
    req = [e[1][0] for e in entries]
    out = [e[1][1] for e in entries]
    fn = [e[1][2] for e in entries]
    keeps = [fn[j] is None and (out[j] < 0 or out[j] == req[j]) for j in range(n)]
    clsbit = _class_bits([e[1][3] for e in entries])

    inv = [op.invoke_time for op in ops]
    ret = [max(op.complete_time, op.invoke_time) for op in ops[:m]]
    win = windows(inv, ret, n) if m * n <= WINDOW_BITS_LIMIT else LazyWindows(inv, ret, n)

    read_req = [req[j] if out[j] < 0 and fn[j] is None else -1 for j in range(m)]
    reads: dict[int, int] = defaultdict(int)
    for j, target in enumerate(read_req):
        if target >= 0:
            reads[target] |= 1 << j
    producers: dict[int, int] = defaultdict(int)
    for j in range(n):
        if fn[j] is None and out[j] >= 0:
            producers[out[j]] |= 1 << j
    fixed = sum(producers.values())
    fn_ops = [(1 << j, ops[j].f, ops[j].value) for j in range(n) if fn[j] is not None]
    last_steps = spec.last_steps(fn_ops) if fn_ops else None
    values = table.values

    grows_memo: dict[tuple[int, int], bool] = {}

    def grows_to(state: int, target: int) -> bool:
        known = grows_memo.get((state, target))
        if known is None:
            known = grows_memo[state, target] = spec.grows_to(values[state], values[target])
        return known

    makers_memo: dict[int, tuple[int, int]] = {}

    def makers(q: int) -> tuple[int, int]:
        """`lasts`: the fn ops that might take the last step to read q's value (an append
        it ends with); `makers`: every op that might leave exactly that value. Only ops
        in win[q] can come before q, so only they count."""
        known = makers_memo.get(q)
        if known is None:
            target, window = read_req[q], win[q]
            lasts = last_steps(values[target]) & window if last_steps else 0
            known = makers_memo[q] = (lasts, lasts | (window & producers.get(target, 0)))
        return known

    def any_maker(target: int) -> int:
        """Every op that might leave state `target`, wherever it is."""
        lasts = last_steps(values[target]) if last_steps else 0
        return lasts | producers.get(target, 0)

    seeds_memo: dict[int, int] = {}

    def seeds(q: int) -> int:
        """Ops in win[q] setting a fixed state that fn ops might grow into read q's value
        (a put that is a prefix of it)."""
        mask = seeds_memo.get(q)
        if mask is None:
            target = read_req[q]
            mask, rest = 0, win[q] & fixed & ~producers.get(target, 0)
            while rest:
                b = rest & -rest
                rest ^= b
                if grows_to(out[b.bit_length() - 1], target):
                    mask |= b
            seeds_memo[q] = mask
        return mask

    return Problem(
        ops=ops, m=m, req=req, out=out, fn=fn, keeps=keeps, clsbit=clsbit, win=win,
        table=table, reads=dict(reads), all_reads=sum(reads.values()), read_req=read_req,
        producers=dict(producers), grows_to=grows_to, makers=makers, seeds=seeds,
        dependents=_dependents(n, read_req, any_maker))


def _class_bits(classes: list[Any]) -> list[int]:
    """Ops with equal effect in every state share a class; singletons get no bit."""
    size: dict[Any, int] = defaultdict(int)
    for cls in classes:
        size[cls] += 1
    index: dict[Any, int] = {}
    return [1 << index.setdefault(cls, len(index)) if size[cls] > 1 else 0 for cls in classes]


def _dependents(n: int, read_req: list[int], makers: Callable[[int], int]) -> list[int]:
    """dependents[j] = the reads that op j might be a maker of (a superset is fine:
    the search tests each candidate with the exact, window-restricted makers)."""
    dependents = [0] * n
    for q, target in enumerate(read_req):
        if target < 0:
            continue
        mask = makers(target)
        if mask.bit_count() > MAX_MAKERS:
            continue
        while mask:
            b = mask & -mask
            mask ^= b
            dependents[b.bit_length() - 1] |= 1 << q
    return dependents


def windows(inv: list[float], ret: list[float], n: int) -> list[int]:
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


class LazyWindows:
    """`windows` built per lookup, for keys too large to hold m*n bits.

    win[r] is every op returning no later than r (bits 0..r), the ok ops returning
    later but invoked by then (few: they overlap r), and the info ops invoked by then
    (a prefix of bits m..n-1, which are in invoke order).
    """

    def __init__(self, inv: list[float], ret: list[float], n: int) -> None:
        m = len(ret)
        self.m = m
        self.info_invoked = [bisect.bisect_right(inv[m:n], t) for t in ret]
        # Ok op j > r is in win[r] for r in [first r with ret[r] >= inv[j], j).
        starts: dict[int, list[int]] = defaultdict(list)
        for j in range(m):
            first = bisect.bisect_left(ret, inv[j])
            if first < j:
                starts[first].append(j)
        active: set[int] = set()
        self.overlapping: list[tuple[int, ...]] = []
        for r in range(m):
            active.update(starts.get(r, ()))
            active.discard(r)
            self.overlapping.append(tuple(active))

    def __getitem__(self, r: int) -> int:
        mask = (1 << (r + 1)) - 1
        for j in self.overlapping[r]:
            mask |= 1 << j
        count = self.info_invoked[r]
        if count:
            mask |= ((1 << count) - 1) << self.m
        return mask
