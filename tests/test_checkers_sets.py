"""Set workload (set-full style): lost, never read, stale reads, stable latency."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

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
        op(4, "read", None, 1.5, 4, result=[1]),   # fine: 2 not acknowledged yet at 1.5
        op(4, "read", None, 5, 6, result=[1, 3]),  # stale: misses 2 (acked at 2)
        op(4, "read", None, 7, 8, result=[1, 2, 3, 4]),
        op(4, "read", None, 9, 10, result=[1, 3, 4]),   # misses 2 again, for good: 2 lost
        op(0, "add", 5, 11, 12),                  # acknowledged after every read began
    )
    report = set_report(frame)
    adds = report.adds.set_index("element")
    assert adds["lost"].to_dict() == {1: False, 2: True, 3: False, 4: False, 5: False}
    assert adds["never_read"].to_dict() == {1: False, 2: False, 3: False, 4: False, 5: True}
    latency = adds["stable_latency_ms"]
    assert latency[1] == 1.5 and latency[3] == 5.0 and latency[4] == 7.0
    assert math.isnan(latency[2]) and math.isnan(latency[5])
    assert report.reads["missing"].tolist() == [0, 1, 0, 1]
    assert report.reads["stale"].tolist() == [False, True, False, True]
    assert (report.lost_adds, report.never_read_adds, report.stale_reads) == (1, 1, 2)


def test_keys_are_separate_sets_and_registers_are_ignored() -> None:
    frame = frame_of(op(0, "add", 1, 0, 1, key="a"), op(0, "add", 1, 2, 3, key="b"),
                     op(1, "read", None, 4, 5, result=[1], key="a"),
                     op(1, "read", None, 6, 7, result=[], key="b"),
                     op(2, "write", 3, 0, 1, key="r"), op(2, "read", None, 2, 3, result=3, key="r"))
    report = set_report(frame)
    assert report.adds["key"].tolist() == ["a", "b"]
    assert report.adds["lost"].tolist() == [False, True]
    assert report.reads["key"].tolist() == ["a", "b"]
    empty = set_report(history_to_frame([]))
    assert empty.adds.empty and empty.reads.empty and empty.lost_adds == 0


# --- loop reference --------------------------------------------------------------------------

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


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 30), keys=st.integers(1, 2))
def test_sets_match_loop_reference(seed: int, n_ops: int, keys: int) -> None:
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
    report = set_report(frame)
    per_add, missing = ref_sets(frame)
    got = {row.op: (row.lost, row.never_read, row.stable_latency_ms)
           for row in report.adds.itertuples()}
    assert got.keys() == per_add.keys()
    for op_id, (lost, never, latency) in per_add.items():
        assert got[op_id][:2] == (lost, never)
        np.testing.assert_equal(got[op_id][2], latency)
    assert dict(zip(report.reads["op"], report.reads["missing"], strict=True)) == missing
