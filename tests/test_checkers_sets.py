"""Set workload (set-full style): lost, never read, stale reads, stable latency."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from workbench.checkers.sets import set_report
from workbench.history.frame import history_to_frame


def op(p: int, f: str, value: Any, start: float, end: float | None, kind: str = "ok",
       result: Any = None, key: str = "s") -> list[dict[str, Any]]:
    events = [{"process": p, "type": "invoke", "f": f, "key": key, "value": value, "time": start}]
    if end is not None:
        events.append({"process": p, "type": kind, "f": f, "key": key,
                       "value": result if f == "read" else value, "time": end})
    return events


def frame_of(*ops: list[dict[str, Any]]) -> pd.DataFrame:
    return history_to_frame(sorted((e for o in ops for e in o), key=lambda e: e["time"]))


def test_hand_built_set_history() -> None:
    frame = frame_of(
        op(0, "add", 1, 0, 1), op(1, "add", 2, 0, 2), op(2, "add", 3, 0, 3),
        op(3, "add", 4, 0, None),                  # info: unknown outcome
        op(4, "read", None, 1.5, 4, result=[1]),   # fine: 2 not known yet at 1.5
        op(4, "read", None, 5, 6, result=[1]),     # stale: misses 2 and 3 (acked at 2, 3)
        op(4, "read", None, 7, 8, result=[1, 2, 3, 4]),
        op(4, "read", None, 9, 10, result=[1, 3, 4]),   # misses 2 again, for good: 2 lost
        op(0, "add", 5, 11, 12),                  # acknowledged after every read began
    )
    report = set_report(frame)
    adds = report.adds.set_index("element")
    assert adds["outcome"].to_dict() == {1: "stable", 2: "lost", 3: "stable", 4: "stable",
                                         5: "never-read"}
    assert adds["known_time"].to_dict() == {1: 1.0, 2: 2.0, 3: 3.0, 4: 8.0, 5: 12.0}
    # Stable latency: from known to the invoke of the last read that missed it.
    assert adds["stable_latency_ms"][1] == 0.0 and adds["stable_latency_ms"][3] == 2.0  # 5 - 3
    assert adds["stable_latency_ms"][4] == 0.0  # known only from the read that showed it
    assert adds["lost_latency_ms"][2] == 5.0  # last seen by the read invoked at 7
    assert adds["stale"].to_dict() == {1: False, 2: False, 3: True, 4: False, 5: False}
    assert adds["recovered"].to_dict() == {1: False, 2: False, 3: False, 4: True, 5: False}
    assert report.reads["missing"].tolist() == [0, 2, 0, 1]
    assert report.reads["stale"].tolist() == [False, True, False, True]
    assert (report.lost_adds, report.never_read_adds, report.stale_reads, report.stale_adds,
            report.recovered_adds, report.info_adds) == (1, 1, 2, 1, 1, 1)


def test_issue_20_an_info_add_seen_and_then_gone_is_lost() -> None:
    frame = frame_of(op(0, "add", 7, 0, None),                   # timed out: info
                     op(1, "read", None, 1, 2, result=[7]),     # it took effect
                     op(1, "read", None, 3, 4, result=[]))      # and then it was gone
    assert set_report(frame).lost_adds == 1
    assert set_report(frame, rule="legacy").lost_adds == 0  # the old rule missed it


def test_issue_20_an_ok_add_seen_before_its_ack_and_then_gone_is_lost() -> None:
    frame = frame_of(op(0, "add", 7, 0, 5),                      # acked at 5
                     op(1, "read", None, 1, 2, result=[7]),     # seen at 2: known from 2
                     op(1, "read", None, 3, 4, result=[]))      # final read invoked at 3
    report = set_report(frame)
    assert report.lost_adds == 1 and report.adds["known_time"].tolist() == [2.0]
    assert set_report(frame, rule="legacy").lost_adds == 0


def test_a_read_concurrent_with_the_add_that_misses_it_is_not_a_loss() -> None:
    frame = frame_of(op(0, "add", 7, 0, 5), op(1, "read", None, 1, 6, result=[]))
    report = set_report(frame)
    assert report.adds["outcome"].tolist() == ["never-read"] and report.lost_adds == 0


def test_keys_are_separate_sets_and_registers_are_ignored() -> None:
    frame = frame_of(op(0, "add", 1, 0, 1, key="a"), op(0, "add", 1, 2, 3, key="b"),
                     op(1, "read", None, 4, 5, result=[1], key="a"),
                     op(1, "read", None, 6, 7, result=[], key="b"),
                     op(2, "write", 3, 0, 1, key="r"), op(2, "read", None, 2, 3, result=3, key="r"))
    report = set_report(frame)
    assert report.adds["key"].tolist() == ["a", "b"]
    assert report.adds["outcome"].tolist() == ["stable", "lost"]
    assert report.adds["lost"].tolist() == [False, True]
    assert report.reads["key"].tolist() == ["a", "b"]
    empty = set_report(history_to_frame([]))
    assert empty.adds.empty and empty.reads.empty and empty.lost_adds == 0


# --- the legacy rule (a mutant for the catalogue) against its loop reference -------------------

def ref_sets(frame: pd.DataFrame) -> tuple[dict[int, tuple[bool, bool, float]], dict[int, int]]:
    adds = [r for r in frame.itertuples() if r.f == "add" and r.type in ("ok", "info")]
    set_keys = {r.key for r in frame.itertuples() if r.f == "add"}
    reads = sorted((r for r in frame.itertuples()
                    if r.f == "read" and r.type == "ok" and r.key in set_keys),
                   key=lambda r: (r.invoke_time, r.op))
    per_add: dict[int, tuple[bool, bool, float]] = {}
    for a in adds:
        mine = [r for r in reads if r.key == a.key]
        contents = [set(r.result or []) for r in mine]
        never = not any(a.value in c for c in contents)
        lost = False
        if a.type == "ok":
            for i, r in enumerate(mine):
                if r.invoke_time > a.complete_time and a.value not in contents[i] and not any(
                        a.value in c for c in contents[i + 1:]):
                    lost = True
        latency = math.nan
        for i in range(len(mine)):
            if all(a.value in c for c in contents[i:]):
                latency = max(mine[i].invoke_time - a.invoke_time, 0.0)
                break
        per_add[a.op] = (lost, never, latency)
    missing: dict[int, int] = {}
    for r in reads:
        acked = {a.value for a in adds if a.key == r.key and a.type == "ok"
                 and a.complete_time < r.invoke_time}
        missing[r.op] = len(acked - set(r.result or []))
    return per_add, missing


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 30), keys=st.integers(1, 2))
def test_legacy_rule_matches_its_loop_reference(seed: int, n_ops: int, keys: int) -> None:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    free_at = [0.0] * 4
    added: dict[str, list[int]] = {}
    for i in range(n_ops):
        p = rng.randrange(4)
        start = free_at[p] + rng.randrange(3)
        end = start + rng.randrange(1, 4)
        key = f"s{rng.randrange(keys)}"
        if rng.random() < 0.5:
            f, value, result = "add", i, i
            added.setdefault(key, []).append(i)
        else:
            f, value = "read", None
            pool = added.get(key, [])
            result = sorted(rng.sample(pool, rng.randrange(len(pool) + 1)))
        kind = rng.choice(["ok", "ok", "ok", "info"])
        events.append({"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                       "time": start})
        events.append({"process": p, "type": kind, "f": f, "key": key, "value": result,
                       "time": end})
        free_at[p] = end
    frame = history_to_frame(sorted(events, key=lambda e: e["time"]))
    report = set_report(frame, rule="legacy")
    per_add, missing = ref_sets(frame)
    got = {row.op: (row.lost, row.never_read, row.stable_latency_ms)
           for row in report.adds.itertuples()}
    assert got.keys() == per_add.keys()
    for op_id, (lost, never, latency) in per_add.items():
        assert got[op_id][:2] == (lost, never)
        np.testing.assert_equal(got[op_id][2], latency)
    assert dict(zip(report.reads["op"], report.reads["missing"], strict=True)) == missing


# --- set-full against a brute-force reading of the same definition ----------------------------

def brute_set_full(frame: pd.DataFrame) -> tuple[dict[int, tuple[Any, ...]], dict[int, int]]:
    """Per add op: (outcome, known_time, stable_latency, lost_latency, recovered), and per
    read op: missing. Loops over every (element, read) pair, straight from the module doc."""
    set_keys = {r.key for r in frame.itertuples() if r.f == "add"}
    adds = [r for r in frame.itertuples() if r.f == "add" and r.type in ("ok", "info")]
    reads = sorted((r for r in frame.itertuples()
                    if r.f == "read" and r.type == "ok" and r.key in set_keys),
                   key=lambda r: (r.invoke_time, r.op))
    per_add: dict[int, tuple[Any, ...]] = {}
    known_of: dict[tuple[Any, Any], float] = {}
    for a in adds:
        mine = [r for r in reads if r.key == a.key]
        shows = [a.value in (r.result or []) for r in mine]
        acked = a.complete_time if a.type == "ok" else math.inf
        known = min([acked] + [r.complete_time for r, s in zip(mine, shows, strict=True) if s])
        counting = [i for i, r in enumerate(mine) if shows[i] or r.complete_time > a.invoke_time]
        present = [i for i in counting if shows[i]]
        absent = [i for i in counting if not shows[i]]
        last_present = max(present, default=-1)
        last_absent = max(absent, default=-1)
        stable_latency = lost_latency = math.nan
        if present and last_absent < last_present:
            outcome = "stable"
            stable_latency = (max(mine[last_absent].invoke_time - known, 0.0)
                              if last_absent >= 0 else 0.0)
        elif known < math.inf and last_absent >= 0 and mine[last_absent].invoke_time > known:
            outcome = "lost"
            lost_latency = max(mine[last_present].invoke_time - known, 0.0) if present else 0.0
        else:
            outcome = "never-read"
        recovered = a.type == "info" and any(shows)
        per_add[a.op] = (outcome, known if known < math.inf else math.nan, stable_latency,
                         lost_latency, recovered)
        if known < math.inf:
            known_of[(a.key, a.value)] = min(known, known_of.get((a.key, a.value), math.inf))
    missing = {r.op: sum(1 for (key, x), k in known_of.items()
                         if key == r.key and k < r.invoke_time and x not in (r.result or []))
               for r in reads}
    return per_add, missing


def random_set_history(seed: int, n_ops: int, keys: int, processes: int) -> pd.DataFrame:
    """Overlapping ops from several processes; info adds (timed out or never completed);
    each read shows a random subset of the elements whose add began before it ended."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    free_at = [0.0] * processes
    pid = list(range(processes))  # a slot's process; a crashed process is replaced (Jepsen)
    adds: list[tuple[str, int, float]] = []  # key, element, invoke time
    for i in range(n_ops):
        slot = rng.randrange(processes)
        start = free_at[slot] + rng.randrange(1, 4)
        end = start + rng.randrange(0, 6)
        key = f"s{rng.randrange(keys)}"
        if rng.random() < 0.5:
            f, value, result = "add", i, i
            adds.append((key, i, start))
            kind = rng.choice(["ok", "ok", "ok", "info", "none"])
        else:
            f, value, kind = "read", None, "ok"
            pool = [x for k, x, t in adds if k == key and t <= end]
            result = sorted(rng.sample(pool, rng.randrange(len(pool) + 1)))
        events.append({"process": pid[slot], "type": "invoke", "f": f, "key": key, "value": value,
                       "time": start})
        if kind == "none":  # never completes: the process is gone, its slot gets a new one
            pid[slot] += processes
        else:
            events.append({"process": pid[slot], "type": kind, "f": f, "key": key, "value": result,
                           "time": end})
        free_at[slot] = end
    events.sort(key=lambda e: e["time"])  # stable: one process's events keep their order
    return history_to_frame(events)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 40), keys=st.integers(1, 2),
       processes=st.integers(1, 5))
def test_set_full_matches_brute_force(seed: int, n_ops: int, keys: int, processes: int) -> None:
    frame = random_set_history(seed, n_ops, keys, processes)
    report = set_report(frame)
    per_add, missing = brute_set_full(frame)
    got = {row.op: (row.outcome, row.known_time, row.stable_latency_ms, row.lost_latency_ms,
                    row.recovered) for row in report.adds.itertuples()}
    assert got.keys() == per_add.keys(), f"seed {seed}"
    for op_id, expected in per_add.items():
        np.testing.assert_equal(got[op_id], expected, err_msg=f"seed {seed}, add op {op_id}")
    assert dict(zip(report.reads["op"], report.reads["missing"], strict=True)) == missing, f"seed {seed}"
    assert report.lost_adds == sum(v[0] == "lost" for v in per_add.values())
