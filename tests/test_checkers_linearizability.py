"""Linearizability checker: porcupine conformance, brute-force agreement, witnesses."""

from __future__ import annotations

import csv
import gzip
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.checkers.linearizability import (
    LINEARIZABLE,
    NOT_LINEARIZABLE,
    UNKNOWN,
    check_linearizability,
)
from workbench.checkers.pairing import Op, pair_ops
from workbench.history.importers import load_history

DATA = Path(__file__).parent / "data" / "porcupine"
ROWS = list(csv.DictReader((DATA / "verdicts.csv").open()))
CASES = [(r["file"], r["expected"]) for r in ROWS if not r["expected"].startswith("none")]


# --- conformance with porcupine's verdicts ------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_porcupine_verdicts(name: str, expected: str) -> None:
    events, model = load_history(DATA / name)
    result = check_linearizability(events, model, max_seconds=60)
    assert result.verdict == expected
    assert (result.witness is None) == (expected == LINEARIZABLE)


def test_corpus_is_complete() -> None:
    assert sum(r["format"] == "jepsen-etcd-log" for r in ROWS) == 103
    assert sum(r["format"] == "kv-edn-line" for r in ROWS) == 6
    assert len(CASES) == 108


def test_empty_history_is_linearizable() -> None:
    events, model = load_history(DATA / "jepsen" / "etcd_095.log")
    assert events == [] and model == "cas-register"
    result = check_linearizability(events, model)
    assert result.verdict == LINEARIZABLE and result.ops == 0


def test_kv_is_checked_per_key() -> None:
    events, _ = load_history(DATA / "kv" / "c10-bad.txt")
    result = check_linearizability(events, "kv")
    assert set(result.per_key) == {str(k) for k in range(10)}
    assert NOT_LINEARIZABLE in result.per_key.values()
    assert result.witness is not None and result.per_key[result.witness.key] == NOT_LINEARIZABLE


# --- an independent reference: brute force over every order --------------------------------

def ref_step(model: str, state: Any, op: Op) -> tuple[bool, Any]:
    """The sequential specifications, written again from DESIGN.md for the tests."""
    definite = op.type == "ok"
    if op.f in ("read", "get"):
        if not definite:
            return True, state
        if model == "set":
            return set(op.result or []) == set(state), state
        if model == "kv":
            return (op.result if op.result is not None else "") == state, state
        return op.result == state, state
    if op.f in ("write", "put"):
        return True, op.value
    if op.f == "append":
        return True, state + op.value
    if op.f == "add":
        return True, frozenset(state) | {op.value}
    expected, new = op.value
    if state == expected:
        return True, new
    return not definite, state


INITIAL = {"register": None, "cas-register": None, "set": frozenset(), "kv": ""}


def brute_force(events: list[dict[str, Any]], model: str) -> bool:
    """Try every order consistent with real time; info ops may be left out."""
    ops = [o for o in pair_ops(events) if o.type != "fail"]
    by_key: dict[Any, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)

    def done(o: Op) -> float:
        return math.inf if o.type == "info" else o.complete_time

    def search(left: list[Op], state: Any) -> bool:
        if all(o.type == "info" for o in left):
            return True
        for i, op in enumerate(left):
            if any(done(other) < op.invoke_time for other in left):
                continue  # something that must come first is still unplaced
            legal, new = ref_step(model, state, op)
            if legal and search(left[:i] + left[i + 1:], new):
                return True
        return False

    return all(search(key_ops, INITIAL[model]) for key_ops in by_key.values())


# --- random small histories ------------------------------------------------------------------

VALUES = [0, 1, 2]
KV_VALUES = ["", "a", "b", "ab", "ba", "aa", "bb"]


def draw_invoke(draw: st.DrawFn, model: str) -> tuple[str, Any]:
    if model == "set":
        return draw(st.sampled_from([("add", v) for v in VALUES] + [("read", None)] * 2))
    if model == "kv":
        return draw(st.sampled_from([("get", None), ("get", None), ("put", "a"), ("put", "b"),
                                     ("append", "a"), ("append", "b")]))
    fs = ["read", "write", "cas"] if model == "cas-register" else ["read", "write"]
    f = draw(st.sampled_from(fs))
    if f == "read":
        return f, None
    if f == "write":
        return f, draw(st.sampled_from(VALUES))
    return f, [draw(st.sampled_from([None, *VALUES])), draw(st.sampled_from(VALUES))]


def draw_result(draw: st.DrawFn, model: str, f: str, value: Any) -> Any:
    if f not in ("read", "get"):
        return value
    if model == "set":
        return sorted(draw(st.sets(st.sampled_from(VALUES))))
    if model == "kv":
        return draw(st.sampled_from(KV_VALUES))
    return draw(st.sampled_from([None, *VALUES]))


@st.composite
def small_histories(draw: st.DrawFn, model: str, max_ops: int = 7) -> list[dict[str, Any]]:
    processes = draw(st.integers(2, 3))
    keys = draw(st.sampled_from([["k"], ["k"], ["k", "j"]]))
    max_ops = draw(st.integers(1, max_ops))
    events: list[dict[str, Any]] = []
    pending: dict[int, tuple[str, Any, Any]] = {}
    invoked = 0
    while True:
        can_invoke = [p for p in range(processes) if p not in pending] if invoked < max_ops else []
        actors = sorted(pending) + can_invoke
        if not actors:
            break
        p = draw(st.sampled_from(actors))
        t = float(len(events))
        if p in pending:
            f, key, value = pending.pop(p)
            if draw(st.integers(0, 9)) == 0:
                continue  # never completes: unknown outcome
            kind = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info"]))
            result = draw_result(draw, model, f, value) if kind == "ok" else value
            events.append({"process": p, "type": kind, "f": f, "key": key, "value": result,
                           "time": t})
        else:
            f, value = draw_invoke(draw, model)
            key = draw(st.sampled_from(keys))
            pending[p] = (f, key, value)
            invoked += 1
            events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                           "time": t})
    return events


def assert_witness_is_real(events: list[dict[str, Any]], model: str, result: Any) -> None:
    witness = result.witness
    assert witness is not None
    ops = {o.id: o for o in pair_ops(events)}
    state = INITIAL[model]
    placed: list[Op] = []
    for op_id, after in witness.prefix:
        op = ops[op_id]
        assert op.key == witness.key and op.type != "fail"
        for earlier in placed:  # real-time order: nothing placed may follow op in time
            assert not (op.complete_time is not None and op.complete_time < earlier.invoke_time)
        legal, state = ref_step(model, state, op)
        assert legal
        assert state == after or (model == "set" and set(state) == set(after))
        placed.append(op)
    assert witness.final_state == state or set(witness.final_state) == set(state)
    assert witness.unplaceable
    for stuck in witness.unplaceable:
        op = ops[stuck.op]
        assert op.id not in {o.id for o in placed}
        assert not ref_step(model, state, op)[0]


MODELS = ["register", "cas-register", "set", "kv"]


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_agrees_with_brute_force(model: str, data: st.DataObject) -> None:
    agrees_with_brute_force(data.draw(small_histories(model)), model)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_agrees_with_brute_force_long_run(model: str, data: st.DataObject) -> None:
    agrees_with_brute_force(data.draw(small_histories(model, max_ops=9)), model)


def agrees_with_brute_force(events: list[dict[str, Any]], model: str) -> None:
    result = check_linearizability(events, model)
    expected = brute_force(events, model)
    assert result.verdict == (LINEARIZABLE if expected else NOT_LINEARIZABLE)
    if not expected:
        assert_witness_is_real(events, model, result)


# --- histories of a real sequential execution are linearizable -------------------------------

def simulate(rng: random.Random, model: str, processes: int, ops: int, keys: int,
             p_info: float = 0.1) -> list[dict[str, Any]]:
    """Run ops against one sequential object; each takes effect at a random instant
    inside its [invoke, complete] interval (an info op: maybe, any time later)."""
    timeline: list[tuple[float, int, str, Any]] = []  # (time, order, what, payload)
    free_at = [0.0] * processes
    for i in range(ops):
        p = rng.randrange(processes)
        start = free_at[p] + rng.random() * 3
        point = start + rng.random() * 5
        end = point + rng.random() * 5
        f, value = _random_op(rng, model)
        key = f"k{rng.randrange(keys)}"
        info = rng.random() < p_info
        takes_effect = not info or rng.random() < 0.5
        timeline.append((start, i, "invoke", (p, f, key, value)))
        if takes_effect:
            timeline.append((point + (rng.random() * 20 if info else 0), i, "apply",
                             (p, f, key, value, info)))
        if not info or rng.random() < 0.5:
            timeline.append((end + (25 if info else 0), i, "complete", (p, f, key, value, info)))
        free_at[p] = end + (30 if info else 0)
    timeline.sort(key=lambda e: (e[0], e[1]))
    state: dict[str, Any] = {}
    outcome: dict[int, tuple[str, Any]] = {}
    events = []
    for t, i, what, payload in timeline:
        if what == "invoke":
            p, f, key, value = payload
            events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                           "time": t})
        elif what == "apply":
            p, f, key, value, info = payload
            now = state.get(key, INITIAL[model])
            op = Op(i, p, f, key, value, "ok", None, 0.0, 0.0)
            if f in ("read", "get"):
                outcome[i] = ("ok", sorted(now) if model == "set" else now)
                continue
            legal, new = ref_step(model, now, op)
            outcome[i] = ("ok", value) if legal else ("fail", value)
            state[key] = new
        else:
            p, f, key, value, info = payload
            kind, result = ("info", value) if info else outcome.get(i, ("fail", value))
            events.append({"process": p, "type": kind, "f": f, "key": key, "value": result,
                           "time": t})
    return events


def _random_op(rng: random.Random, model: str) -> tuple[str, Any]:
    if model == "set":
        return ("read", None) if rng.random() < 0.3 else ("add", rng.randrange(20))
    if model == "kv":
        return rng.choice([("get", None), ("put", str(rng.randrange(9))),
                           ("append", str(rng.randrange(9)))])
    r = rng.random()
    if r < 0.4:
        return "read", None
    if r < 0.7 or model == "register":
        return "write", rng.randrange(4)
    return "cas", [rng.choice([None, 0, 1, 2, 3]), rng.randrange(4)]


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), processes=st.integers(1, 6), ops=st.integers(0, 40),
       keys=st.integers(1, 3))
def test_sequential_executions_are_linearizable(model: str, seed: int, processes: int,
                                               ops: int, keys: int) -> None:
    events = simulate(random.Random(seed), model, processes, ops, keys)
    result = check_linearizability(events, model, max_seconds=30)
    assert result.verdict == LINEARIZABLE, result.witness


@pytest.mark.parametrize("model", MODELS)
@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_corrupted_executions_agree_with_brute_force(model: str, seed: int) -> None:
    """Small simulated histories with one read result changed: often a violation."""
    rng = random.Random(seed)
    events = simulate(rng, model, processes=3, ops=7, keys=1, p_info=0.2)
    reads = [e for e in events if e["type"] == "ok" and e["f"] in ("read", "get")]
    if reads:
        victim = rng.choice(reads)
        victim["value"] = {"set": [rng.randrange(20)], "kv": str(rng.randrange(9))}.get(
            model, rng.choice([None, 0, 1, 2, 3]))
    result = check_linearizability(events, model)
    expected = brute_force(events, model)
    assert result.verdict == (LINEARIZABLE if expected else NOT_LINEARIZABLE)
    if not expected:
        assert_witness_is_real(events, model, result)


# --- semantics and API details ---------------------------------------------------------------

def ev(p: int, kind: str, f: str, value: Any, t: float, key: Any = "k") -> dict[str, Any]:
    return {"process": p, "type": kind, "f": f, "key": key, "value": value, "time": t}


def test_stale_read_is_a_violation_with_witness() -> None:
    events = [ev(0, "invoke", "write", 1, 0), ev(0, "ok", "write", 1, 1),
              ev(1, "invoke", "read", None, 2), ev(1, "ok", "read", None, 3)]
    result = check_linearizability(events, "register")
    assert result.verdict == NOT_LINEARIZABLE and result.linearizable is False
    assert result.witness.prefix == ((0, 1),)
    assert [o.op for o in result.witness.unplaceable] == [1]
    assert result.witness.to_dict()["unplaceable"][0]["process"] == 1


def test_info_write_may_take_effect_late_or_never() -> None:
    late = [ev(0, "invoke", "write", 1, 0), ev(0, "info", "write", None, 1),
            ev(1, "invoke", "read", None, 2), ev(1, "ok", "read", None, 3),
            ev(1, "invoke", "read", None, 4), ev(1, "ok", "read", 1, 5)]
    assert check_linearizability(late, "register").verdict == LINEARIZABLE
    never_completed = late[:1] + late[2:]
    assert check_linearizability(never_completed, "register").verdict == LINEARIZABLE


def test_fail_never_happened() -> None:
    events = [ev(0, "invoke", "cas", [None, 1], 0), ev(0, "fail", "cas", [None, 1], 1),
              ev(1, "invoke", "read", None, 2), ev(1, "ok", "read", 1, 3)]
    assert check_linearizability(events, "cas-register").verdict == NOT_LINEARIZABLE


def test_budget_gives_unknown() -> None:
    events, model = load_history(DATA / "jepsen" / "etcd_057.log")
    result = check_linearizability(events, model, max_states=10)
    assert result.verdict == UNKNOWN and result.linearizable is None
    assert result.states <= 10
    assert check_linearizability(events, model, max_seconds=0).verdict == UNKNOWN


def test_model_mismatch_is_a_value_error() -> None:
    events = [ev(0, "invoke", "cas", [0, 1], 0), ev(0, "ok", "cas", [0, 1], 1)]
    with pytest.raises(ValueError, match="cas"):
        check_linearizability(events, "register")
    with pytest.raises(ValueError, match="unknown model"):
        check_linearizability(events, "queue")


def test_concurrent_at_equal_times() -> None:
    # A read that starts the instant a write ends may be ordered before it.
    events = [ev(0, "invoke", "write", 1, 0), ev(1, "invoke", "read", None, 1),
              ev(0, "ok", "write", 1, 1), ev(1, "ok", "read", None, 2)]
    assert check_linearizability(events, "register").verdict == LINEARIZABLE


def test_lazy_windows_give_the_same_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys too large to precompute windows for compute them on demand instead."""
    from workbench.checkers import problem

    names = ["jepsen/etcd_000.log", "jepsen/etcd_002.log", "jepsen/etcd_057.log",
             "kv/c10-ok.txt", "kv/c10-bad.txt"]
    histories = [load_history(DATA / name) for name in names]
    eager = [check_linearizability(e, m).verdict for e, m in histories]
    monkeypatch.setattr(problem, "WINDOW_BITS_LIMIT", 0)
    assert [check_linearizability(e, m).verdict for e, m in histories] == eager
    events = simulate(random.Random(5), "cas-register", processes=5, ops=300, keys=2)
    assert check_linearizability(events, "cas-register").verdict == LINEARIZABLE


def test_observed_info_ops_are_kept() -> None:
    # The read of 7 can only be explained by the info write; the read of 9 by the info
    # cas [7 9], which needs the info write of 7 too (dropping one frees the other only
    # when nothing requires it).
    events = [ev(0, "invoke", "write", 7, 0), ev(0, "info", "write", 7, 100),
              ev(1, "invoke", "cas", [7, 9], 1), ev(1, "info", "cas", [7, 9], 100),
              ev(2, "invoke", "read", None, 2), ev(2, "ok", "read", 9, 3)]
    assert check_linearizability(events, "cas-register").verdict == LINEARIZABLE
    assert check_linearizability(events[:2] + events[4:], "cas-register").verdict == NOT_LINEARIZABLE
    unread = events[:4] + [ev(2, "invoke", "read", None, 2), ev(2, "ok", "read", 5, 3)]
    assert check_linearizability(unread, "cas-register").verdict == NOT_LINEARIZABLE


def test_timed_out_writes_of_a_fault_search_run_are_decided() -> None:
    # A real Raft fault-search history (tests/data/regressions/README.md) that used to
    # exhaust a 20 s budget: 47 info writes/cas nobody observes.
    raw = gzip.decompress((DATA.parent / "regressions" / "raft-seed-5100000.jsonl.gz").read_bytes())
    events = [json.loads(line) for line in raw.decode().splitlines()]
    assert sum(e["type"] == "info" for e in events) == 103
    result = check_linearizability(events, "cas-register", max_states=20_000)
    assert result.verdict == LINEARIZABLE
