"""Stale reads and session guarantees: hand-built histories and loop references."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from workbench.checkers.sessions import session_guarantees, session_reads
from workbench.checkers.staleness import stale_read_fraction, stale_reads
from workbench.history.frame import history_to_frame


def op(p: int, f: str, value: Any, start: float, end: float | None, kind: str = "ok",
       result: Any = None, key: str = "k") -> list[dict[str, Any]]:
    """An invoke and (unless end is None) its completion."""
    events = [{"process": p, "type": "invoke", "f": f, "key": key, "value": value, "time": start}]
    if end is not None:
        done = result if f == "read" else value
        events.append({"process": p, "type": kind, "f": f, "key": key, "value": done, "time": end})
    return events


def frame_of(*ops: list[dict[str, Any]]) -> pd.DataFrame:
    events = sorted((e for o in ops for e in o), key=lambda e: e["time"])
    return history_to_frame(events)


# --- hand-built ------------------------------------------------------------------------------

def test_stale_read_after_overwrite() -> None:
    frame = frame_of(op(0, "write", 1, 0, 1), op(0, "write", 2, 2, 3),
                     op(1, "read", None, 4, 5, result=1),      # stale: 2 acknowledged at 3
                     op(1, "read", None, 6, 7, result=2),      # fresh
                     op(2, "read", None, 0.5, 8, result=None))  # null, but invoked before any ack
    reads = stale_reads(frame).set_index("op")  # ops are numbered in invoke order
    assert [as_value(v) for v in reads["value"]] == [None, 1, 2]
    assert reads["stale"].tolist() == [False, True, False]
    assert reads["versions_behind"].tolist() == [0, 1, 0]
    assert reads["ms_behind"].tolist() == [0.0, 1.0, 0.0]  # 4 - 3
    assert stale_read_fraction(frame) == pytest.approx(1 / 3)


def test_concurrent_write_does_not_make_a_read_stale() -> None:
    # Write 2 overlaps write 1, so reading 1 afterwards is legal (2 may have come first).
    frame = frame_of(op(0, "write", 1, 0, 5), op(1, "write", 2, 1, 3),
                     op(2, "read", None, 6, 7, result=1))
    assert not stale_reads(frame)["stale"].any()


def test_null_read_and_info_writes() -> None:
    frame = frame_of(op(0, "write", 1, 0, 1), op(1, "write", 9, 0.5, None),  # 9: never completes
                     op(2, "read", None, 2, 3, result=None),   # stale: 1 was acknowledged
                     op(2, "read", None, 4, 5, result=9),      # info value: not provably stale
                     op(3, "write", 5, 6, 7, kind="info"),     # info never overwrites
                     op(2, "read", None, 8, 9, result=1))
    reads = stale_reads(frame)
    assert reads["stale"].tolist() == [True, False, False]
    assert reads["versions_behind"].tolist() == [1, 0, 0]
    assert reads["ms_behind"].tolist() == [1.0, 0.0, 0.0]


def test_versions_from_trace_count_unacknowledged_versions_between() -> None:
    frame = frame_of(op(0, "write", 1, 0, 1), op(0, "write", 2, 2, 3), op(0, "write", 3, 4, 5),
                     op(1, "read", None, 6, 7, result=1))
    trace = [{"time": 0.5, "kind": "apply", "node": 0, "key": "k", "value": 1, "version": 10},
             {"time": 1.5, "kind": "apply", "node": 1, "key": "k", "value": 77, "version": 11},
             {"time": 2.5, "kind": "apply", "node": 0, "key": "k", "value": 2, "version": 12},
             {"time": 2.6, "kind": "apply", "node": 1, "key": "k", "value": 2, "version": 12},
             {"time": 4.5, "kind": "apply", "node": 0, "key": "k", "value": 3, "version": 14},
             {"time": 4.5, "kind": "apply", "node": 0, "key": "other", "value": 5, "version": 13}]
    with_trace = stale_reads(frame, trace)
    assert with_trace["versions_behind"].tolist() == [3]  # 11 (never acknowledged), 12, 14
    assert with_trace["ms_behind"].tolist() == [1.0]  # version 14 acknowledged at 5
    assert stale_reads(frame)["versions_behind"].tolist() == [2]  # completion order: 2, 3


def test_cas_writes_its_new_value_and_keys_are_separate() -> None:
    frame = frame_of(op(0, "write", 1, 0, 1), op(0, "cas", [1, 2], 2, 3),
                     op(1, "read", None, 4, 5, result=1),
                     op(1, "read", None, 6, 7, result=None, key="j"),
                     op(2, "cas", [2, 8], 8, 9, kind="fail"),
                     op(1, "read", None, 10, 11, result=2))
    reads = stale_reads(frame)
    assert reads["key"].tolist() == ["k", "j", "k"]
    assert reads["stale"].tolist() == [True, False, False]


def test_empty_and_set_frames() -> None:
    empty = history_to_frame([])
    assert stale_reads(empty).empty and math.isnan(stale_read_fraction(empty))
    sets = frame_of(op(0, "add", 1, 0, 1), op(1, "read", None, 2, 3, result=[1]))
    assert stale_reads(sets).empty


def test_session_guarantees_hand_built() -> None:
    frame = frame_of(
        op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3),
        op(0, "read", None, 4, 5, result=2),
        op(0, "read", None, 6, 7, result=1),   # monotonic violation (after 2); ryw fine (own 1)
        op(1, "read", None, 8, 9, result=1),   # ryw violation: p1 wrote 2
        op(1, "read", None, 10, 11, result=None),  # ryw and monotonic
        op(2, "read", None, 12, 13, result=1),  # first read of p2: fine
    )
    report = session_guarantees(frame)
    assert report.ryw_violations == 2 and report.monotonic_read_violations == 2
    per = report.per_process.set_index("process")
    assert per.loc[0, "monotonic_read_violations"] == 1 and per.loc[0, "ryw_violations"] == 0
    assert per.loc[1, "ryw_violations"] == 2 and per.loc[1, "monotonic_read_violations"] == 1
    assert per.loc[2].tolist() == [1, 0, 0]


def test_session_order_from_trace() -> None:
    # The store ordered 2 before 1 (say, by clock); reading 1 after 2 is then monotonic.
    frame = frame_of(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3),
                     op(2, "read", None, 4, 5, result=2), op(2, "read", None, 6, 7, result=1))
    trace = [{"time": 0, "kind": "apply", "node": 0, "key": "k", "value": 2, "version": 5},
             {"time": 0, "kind": "apply", "node": 0, "key": "k", "value": 1, "version": 9}]
    assert session_guarantees(frame).monotonic_read_violations == 1
    by_trace = session_reads(frame, trace)
    assert not by_trace["monotonic_violation"].any()  # the store's order says fine...
    # ...but 1 was acknowledged before 2 was invoked: by real time, reading 1 after 2 is
    # going back, whatever the store's versions say (issue 20 §4).
    assert by_trace["monotonic_realtime_violation"].tolist() == [False, True]
    report = session_guarantees(frame, trace)
    assert report.monotonic_read_violations == report.monotonic_realtime_violations == 1


# --- loop references on random frames --------------------------------------------------------

def random_history(rng: random.Random, n_ops: int, processes: int, keys: int,
                   with_ties: bool) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    free_at = [0.0] * processes
    written: dict[str, list[int]] = {}
    for i in range(n_ops):
        p = rng.randrange(processes)
        start = free_at[p] + (rng.randrange(3) if with_ties else rng.random() * 3)
        end = start + (rng.randrange(1, 4) if with_ties else rng.random() * 4)
        key = f"k{rng.randrange(keys)}"
        kind = rng.choice(["ok"] * 6 + ["info", "fail"])
        r = rng.random()
        if r < 0.4:
            f, value = "write", i
            written.setdefault(key, []).append(i)
        elif r < 0.5 and written.get(key):
            f, value = "cas", [rng.choice(written[key]), i]
            written[key].append(i)
        else:
            f, value = "read", None
        result = rng.choice([None, *written.get(key, [])[-4:]]) if f == "read" else value
        events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                       "time": start})
        if kind != "info" or rng.random() < 0.5:
            events.append({"process": p, "type": kind, "f": f, "key": key,
                           "value": result if kind == "ok" else value, "time": end})
        free_at[p] = end
    events.sort(key=lambda e: e["time"])
    return events


def random_trace(rng: random.Random, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    trace = []
    for e in events:
        if e["type"] == "invoke" and e["f"] in ("write", "cas") and rng.random() < 0.9:
            value = e["value"] if e["f"] == "write" else e["value"][1]
            version = rng.randrange(1000)
            for node in range(rng.randrange(1, 3)):
                trace.append({"time": e["time"], "kind": "apply", "node": node, "key": e["key"],
                              "value": value, "version": version + node})
    return trace


def ref_versions(frame: pd.DataFrame, trace: list[dict[str, Any]] | None
                 ) -> tuple[dict[tuple[str, Any], float], dict[str, list[float]]]:
    version: dict[tuple[str, Any], float] = {}
    if trace:
        for r in trace:
            k = (r["key"], r["value"])
            version[k] = min(version.get(k, math.inf), r["version"])
    else:
        writes = ok_writes_ref(frame)
        for key in {w[0] for w in writes}:
            mine = sorted((w for w in writes if w[0] == key), key=lambda w: (w[3], w[4]))
            for pos, w in enumerate(mine, start=1):
                version[(key, w[1])] = pos
    distinct: dict[str, list[float]] = {}
    for (key, _), v in version.items():
        distinct.setdefault(key, []).append(v)
    return version, {k: sorted(set(v)) for k, v in distinct.items()}


def ok_writes_ref(frame: pd.DataFrame) -> list[tuple[str, Any, float, float, int]]:
    out = []
    for row in frame.itertuples():
        if row.type == "ok" and row.f in ("write", "cas"):
            written = row.value[1] if row.f == "cas" else row.value
            out.append((row.key, written, row.invoke_time, row.complete_time, row.op))
    return out


def as_value(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)


def ref_stale(frame: pd.DataFrame, trace: list[dict[str, Any]] | None) -> list[tuple[bool, float, float]]:
    writes = ok_writes_ref(frame)
    version, distinct = ref_versions(frame, trace)
    out = []
    for row in frame.itertuples():
        if not (row.type == "ok" and row.f == "read"):
            continue
        v, t = as_value(row.result), row.invoke_time
        mine = [w for w in writes if w[0] == row.key]
        if v is None:
            stale = any(w[3] < t for w in mine)
        else:
            acks = [w[3] for w in mine if w[1] == v]
            stale = bool(acks) and any(w[2] > min(acks) and w[3] < t for w in mine)
        if not stale:
            out.append((False, 0.0, 0.0))
            continue
        acked = [(version[(row.key, w[1])], w[3]) for w in mine
                 if w[3] < t and (row.key, w[1]) in version]
        newest = max(a[0] for a in acked) if acked else -math.inf
        newest_at = min(a[1] for a in acked if a[0] == newest) if acked else math.nan
        mine_v = -math.inf if v is None else version.get((row.key, v), math.nan)
        behind = sum(1 for d in distinct.get(row.key, []) if mine_v < d <= newest)
        if math.isnan(mine_v):
            behind = math.nan
        out.append((True, behind, t - newest_at))
    return out


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 40), processes=st.integers(1, 4),
       keys=st.integers(1, 3), with_ties=st.booleans(), use_trace=st.booleans())
def test_staleness_matches_loop_reference(seed: int, n_ops: int, processes: int, keys: int,
                                          with_ties: bool, use_trace: bool) -> None:
    rng = random.Random(seed)
    events = random_history(rng, n_ops, processes, keys, with_ties)
    trace = random_trace(rng, events) if use_trace else None
    frame = history_to_frame(events)
    got = stale_reads(frame, trace)
    expected = ref_stale(frame, trace)
    assert got["stale"].tolist() == [e[0] for e in expected]
    np.testing.assert_allclose(got["versions_behind"].to_numpy(dtype=float),
                               [e[1] for e in expected])
    np.testing.assert_allclose(got["ms_behind"].to_numpy(dtype=float), [e[2] for e in expected])


def ref_realtime_sessions(frame: pd.DataFrame) -> dict[int, tuple[bool, bool]]:
    """Real-time session flags, straight from the definition: per read of p, does the
    value's ok write complete before some write p observed (own write / earlier read)
    was invoked? Null precedes all; a value without an ok write sets nothing."""
    writes = {}
    for r in frame.itertuples():
        if r.type == "ok" and r.f in ("write", "cas"):
            value = as_value(r.value[1] if r.f == "cas" else r.value)
            old = writes.get((r.key, value))
            writes[(r.key, value)] = (r.invoke_time, r.complete_time) if old is None else (
                min(old[0], r.invoke_time), min(old[1], r.complete_time))
    flags: dict[int, tuple[bool, bool]] = {}
    rows = sorted(frame.itertuples(), key=lambda r: (r.process, r.invoke_time, r.op))
    own: dict[tuple[int, str], list[float]] = {}
    read_of: dict[tuple[int, str], list[float]] = {}
    for row in rows:
        if row.type != "ok" or row.f not in ("read", "write", "cas"):
            continue
        session = (row.process, row.key)
        if row.f in ("write", "cas"):
            own.setdefault(session, []).append(row.invoke_time)
            continue
        value = as_value(row.result)
        if value is None:
            invoked, done = math.nan, -math.inf
        else:
            invoked, done = writes.get((row.key, value), (math.nan, math.nan))
        flags[row.op] = (any(done < t for t in own.get(session, [])),
                         any(done < t for t in read_of.get(session, [])))
        if not math.isnan(invoked):
            read_of.setdefault(session, []).append(invoked)
    return flags


def ref_sessions(frame: pd.DataFrame, trace: list[dict[str, Any]] | None) -> dict[int, tuple[bool, bool]]:
    version, distinct = ref_versions(frame, trace)

    def rank(key: str, v: Any) -> float:
        if v is None:
            return 0.0
        if (key, v) not in version:
            return math.nan
        return float(distinct[key].index(version[(key, v)]) + 1)

    flags: dict[int, tuple[bool, bool]] = {}
    rows = sorted(frame.itertuples(), key=lambda r: (r.process, r.invoke_time, r.op))
    state: dict[tuple[int, str], tuple[float | None, float | None]] = {}
    for row in rows:
        if row.type != "ok" or row.f not in ("read", "write", "cas"):
            continue
        last_write, bar = state.get((row.process, row.key), (None, None))
        if row.f in ("write", "cas"):
            r = rank(row.key, row.value[1] if row.f == "cas" else row.value)
            state[(row.process, row.key)] = (-1.0 if math.isnan(r) else r, bar)
            continue
        r = rank(row.key, as_value(row.result))
        ryw = last_write is not None and not math.isnan(r) and r < last_write
        mono = bar is not None and not math.isnan(r) and r < bar
        flags[row.op] = (ryw, mono)
        if not math.isnan(r):
            bar = r if bar is None else max(bar, r)
        state[(row.process, row.key)] = (last_write, bar)
    return flags


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 40), processes=st.integers(1, 4),
       keys=st.integers(1, 3), use_trace=st.booleans())
def test_sessions_match_loop_reference(seed: int, n_ops: int, processes: int, keys: int,
                                       use_trace: bool) -> None:
    rng = random.Random(seed)
    events = random_history(rng, n_ops, processes, keys, with_ties=False)
    trace = random_trace(rng, events) if use_trace else None
    frame = history_to_frame(events)
    got = session_reads(frame, trace)
    expected = ref_sessions(frame, trace)
    assert dict(zip(got["op"], zip(got["ryw_violation"], got["monotonic_violation"],
                                   strict=True), strict=True)) == expected
    realtime = ref_realtime_sessions(frame)
    assert dict(zip(got["op"], zip(got["ryw_realtime_violation"], got["monotonic_realtime_violation"],
                                   strict=True), strict=True)) == realtime, f"seed {seed}"
    report = session_guarantees(frame, trace)
    assert report.ryw_violations == sum(e[0] or realtime[o][0] for o, e in expected.items())
    assert report.monotonic_read_violations == sum(e[1] or realtime[o][1] for o, e in expected.items())
    assert report.per_process["reads"].sum() == len(expected)
