"""PBS-style t-visibility, pairwise (`checkers/pbs.visibility_pairs`), from a history and its trace."""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import tiny_experiment

from workbench.checkers.pbs import (
    at_least,
    causal_successor,
    settled_staleness,
    t_visibility,
    visibility_curve,
    visibility_pairs,
)
from workbench.experiment.config import validate_config
from workbench.history.frame import history_to_frame
from workbench.runtime.sim import simulate


def ev(p: int, kind: str, f: str, value: Any, t: float) -> dict[str, Any]:
    return {"process": p, "type": kind, "f": f, "key": "k", "value": value, "time": t}


def rec(node: int, value: str, version: int, seen: int | None = None, writer: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"time": 0, "kind": "apply", "node": node, "key": "k", "value": value,
                           "version": version}
    return {**out, "writer": node, "seen": seen} if writer else out


def test_pairs_and_curve_by_successor_rule() -> None:
    # a (v1) at [0, 1]; b (v2, written without seeing a) at [0, 2]; c (v3, saw a) at [5, 6].
    history = [ev(0, "invoke", "write", "a", 0), ev(1, "invoke", "write", "b", 0),
               ev(0, "ok", "write", "a", 1), ev(1, "ok", "write", "b", 2),
               ev(2, "invoke", "read", None, 3), ev(2, "ok", "read", "b", 4),
               ev(0, "invoke", "write", "c", 5), ev(0, "ok", "write", "c", 6),
               ev(2, "invoke", "read", None, 7), ev(2, "ok", "read", "c", 8)]
    trace = [rec(0, "a", 1), rec(1, "b", 2), rec(0, "c", 3, seen=1)]
    frame = history_to_frame(history)
    causal = visibility_pairs(frame, trace, max_t_ms=10, successor=causal_successor(trace))
    got = {(w, r): (t, v) for w, r, t, v in zip(causal["write_op"], causal["read_op"], causal["t_ms"],
                                                causal["visible"], strict=True)}
    # Read 1 (invoked 3) after a (done 1, t=2) and b (done 2, t=1): b is newer than a but
    # never saw it, so by the causal rule the read missed a; by ">=" it did not.
    assert got == {(0, 2): (2.0, False), (1, 2): (1.0, True),
                   (0, 4): (6.0, True), (1, 4): (5.0, False), (3, 4): (1.0, True)}
    ordered = visibility_pairs(frame, trace, max_t_ms=10, successor=at_least)
    assert ordered["visible"].tolist() == [True, True, True, True, True]
    curve = visibility_curve(causal, edges_ms=[0, 2, 10])
    assert curve["pairs"].tolist() == [2, 3] and curve["visible"].tolist() == [2, 1]
    np.testing.assert_allclose(curve["p_visible"], [1.0, 1 / 3])
    # Pairs further apart than max_t_ms are left out.
    assert len(visibility_pairs(frame, trace, max_t_ms=2, successor=at_least)) == 2


def test_null_reads_show_nothing_and_empty_inputs_give_empty_frames() -> None:
    history = [ev(0, "invoke", "write", "a", 0), ev(0, "ok", "write", "a", 1),
               ev(1, "invoke", "read", None, 2), ev(1, "ok", "read", None, 3)]
    pairs = visibility_pairs(history_to_frame(history), [rec(0, "a", 1)], max_t_ms=5)
    assert pairs["visible"].tolist() == [False]
    empty = visibility_pairs(history_to_frame([]), [], max_t_ms=5)
    assert empty.empty and visibility_curve(empty)["pairs"].sum() == 0


def test_eventual_store_curve_rises_with_t_in_a_partition_free_run() -> None:
    config = validate_config(tiny_experiment(duration_s=3.0, faults={}))
    result = simulate(config)
    pairs = visibility_pairs(history_to_frame(result.history), result.trace, max_t_ms=200,
                             successor=causal_successor(result.trace))
    curve = visibility_curve(pairs, edges_ms=[0, 10, 200]).set_index("t_ms")
    assert curve["pairs"].min() > 20
    # Replication takes a few ms: reads soon after a write miss it more often than later
    # ones (LWW also loses some writes to concurrent ones for good).
    assert curve.loc[0, "p_visible"] < curve.loc[10, "p_visible"], curve


def test_settled_staleness_skips_versions_whose_branch_died() -> None:
    # a (version 2) is applied at node 0 only and its branch dies at once; b (version 1,
    # concurrent) spreads. A read 200 ms later returning b is judged against b, not a:
    # a was lost to a concurrent write, which is not the read's staleness.
    history = [ev(0, "invoke", "write", "a", 0), ev(1, "invoke", "write", "b", 0),
               ev(0, "ok", "write", "a", 1), ev(1, "ok", "write", "b", 2),
               ev(2, "invoke", "read", None, 200), ev(2, "ok", "read", "b", 201)]
    trace = [{**rec(0, "a", 2), "time": 1}, {**rec(1, "b", 1), "time": 2},
             {**rec(2, "b", 1, writer=False), "time": 150}]
    frame = history_to_frame(history)
    assert settled_staleness(frame, trace) == {"stale_read_settled_fraction": 0.0, "stale_read_settled_reads": 1}
    # Judged against the newest version by rank instead (a), the read would be stale.
    rows = t_visibility(frame, trace, successor=causal_successor(trace), lag_ms=100)
    assert rows["consistent"].tolist() == [False]
