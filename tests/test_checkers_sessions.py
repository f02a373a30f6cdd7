"""Session guarantees on real-time order catch what a store's own version order hides
(issue 20 §4)."""

from __future__ import annotations

from typing import Any

from workbench.checkers.sessions import session_guarantees
from workbench.history.frame import history_to_frame


def ev(p: int, kind: str, f: str, value: Any, t: float) -> dict[str, Any]:
    return {"process": p, "type": kind, "f": f, "key": "x", "value": value, "time": t}


def test_read_your_writes_on_real_time_catches_the_hlc_receive_bug() -> None:
    """The causality case of issue 20 §1 as the store before the fix ran it: process 1
    (at node B) writes v1; process 0 (at node A) reads v1, writes v2 and reads again.
    A's clock had ignored v1's logical counter, so v2 was stamped below v1 and
    anti-entropy reverted A to v1. The versions are the ones that store reported."""
    history = [ev(1, "invoke", "write", "v1", 0), ev(1, "ok", "write", "v1", 1),
               ev(0, "invoke", "read", None, 2), ev(0, "ok", "read", "v1", 3),
               ev(0, "invoke", "write", "v2", 4), ev(0, "ok", "write", "v2", 5),
               ev(0, "invoke", "read", None, 6), ev(0, "ok", "read", "v1", 7)]
    trace = [{"time": 0.5, "kind": "apply", "node": 1, "key": "x", "value": "v1", "version": 100000004001},
             {"time": 4.5, "kind": "apply", "node": 0, "key": "x", "value": "v2", "version": 100000002000},
             {"time": 6.5, "kind": "apply", "node": 0, "key": "x", "value": "v1", "version": 100000004001}]
    report = session_guarantees(history_to_frame(history), trace)
    last = report.reads.iloc[-1]
    assert not last["ryw_violation"]  # by the store's order, v1 is newer than v2: "fine"
    assert last["ryw_realtime_violation"]  # v1 was acknowledged before v2 was even invoked
    assert report.ryw_violations == report.ryw_realtime_violations == 1


def test_concurrent_writes_are_no_real_time_violation() -> None:
    """v1 and v2 overlap in time: either order is possible, so reading v1 after v2 (or
    after writing v2) is no real-time violation; only the store's order can judge it."""
    history = [ev(1, "invoke", "write", "v1", 0), ev(0, "invoke", "write", "v2", 1),
               ev(1, "ok", "write", "v1", 3), ev(0, "ok", "write", "v2", 4),
               ev(0, "invoke", "read", None, 5), ev(0, "ok", "read", "v1", 6),
               ev(0, "invoke", "read", None, 7), ev(0, "ok", "read", None, 8)]
    reads = session_guarantees(history_to_frame(history)).reads
    assert reads["ryw_realtime_violation"].tolist() == [False, True]  # null after own write
    assert reads["monotonic_realtime_violation"].tolist() == [False, True]
