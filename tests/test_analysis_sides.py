"""Sides and phases from the real network state (issue 19 item 1) and clients that stay
on their node (item 2). Each measured case of the issue is one short Raft run in the
simulator; each asserts the labels the combined network state implies."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tests.conftest import tiny_experiment
from workbench.analysis.phases import annotate_ops, fault_windows
from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment
from workbench.faults.sides import node_sides


def run_raft(faults: dict[str, Any], **changes: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    raw = tiny_experiment(protocol="raft", duration_s=4, faults=faults, **changes)
    raw.setdefault("workload", {}).update({"timeout_ms": 200, "think_ms": 10})
    raw["check"] = {"linearizability": False}
    output = run_experiment(validate_config(raw))
    return output.ops, output.summary


def invoked(ops: pd.DataFrame, start_ms: float, end_ms: float) -> pd.DataFrame:
    return ops[(ops["invoke_time"] >= start_ms) & (ops["invoke_time"] < end_ms)]


# ---------------------------------------------------------------- the pure rule
def test_node_sides_clean_split_is_majority_and_minority() -> None:
    halves = {(a, b) for a in (0, 1, 2) for b in (3, 4)} | {(b, a) for a in (0, 1, 2) for b in (3, 4)}
    assert node_sides(range(5), halves) == {"majority": [0, 1, 2], "minority": [3, 4], "ambiguous": []}


def test_node_sides_down_nodes_are_minority_and_shrink_the_majority() -> None:
    halves = {(a, b) for a in (0, 1, 2) for b in (3, 4)} | {(b, a) for a in (0, 1, 2) for b in (3, 4)}
    assert node_sides(range(5), halves, down=[0]) == {"majority": [], "minority": [0, 1, 2, 3, 4],
                                                      "ambiguous": []}
    assert node_sides(range(5), set(), down=[4]) == {"majority": [0, 1, 2, 3], "minority": [4],
                                                     "ambiguous": []}


def test_node_sides_one_way_cut_puts_the_sender_side_in_the_minority() -> None:
    one_way = {(a, b) for a in (3, 4) for b in (0, 1, 2)}
    assert node_sides(range(5), one_way)["minority"] == [3, 4]


def test_node_sides_bridge_has_no_clean_side() -> None:
    bridge = {(a, b) for a in (0, 1) for b in (3, 4)} | {(b, a) for a in (0, 1) for b in (3, 4)}
    assert node_sides(range(5), bridge) == {"majority": [], "minority": [], "ambiguous": [0, 1, 2, 3, 4]}


# ---------------------------------------------------------------- measured cases (issue 19)
@pytest.mark.parametrize("shape", ["bridge", "majorities-ring"])
def test_shapes_without_a_clean_minority_are_ambiguous_not_majority(shape: str) -> None:
    ops, summary = run_raft({"partitions": [{"shape": shape, "at": 1, "duration": 2}]})
    during = invoked(ops, 1000, 3000)
    assert len(during) > 50
    # The base commit called every node "majority" here (availability_majority 0.48).
    assert summary["availability_majority"] is None
    assert summary["availability_minority"] is None
    assert set(during["side"]) == {"ambiguous"}
    assert (during["phase"] == "during").all()
    ok = during["type"].eq("ok")
    assert summary["availability_ambiguous"] == pytest.approx(ok.mean())


def test_overlapping_partitions_combine_into_no_majority() -> None:
    # {0,1} | {2,3,4} from 1 s to 3 s, and node 2 isolated from 1.5 s to 2.5 s:
    # meanwhile the groups are {0,1}, {2}, {3,4}, none a majority.
    ops, _ = run_raft({"partitions": [
        {"shape": "groups", "groups": [[0, 1]], "at": 1, "duration": 2},
        {"shape": "isolate", "node": 2, "at": 1.5, "duration": 1},
    ]})
    overlap = invoked(ops, 1500, 2500)
    assert len(overlap) > 20 and overlap["minority"].all()
    assert set(overlap["side"]) == {"minority"}
    before_overlap = invoked(ops, 1000, 1500)
    assert set(before_overlap.loc[before_overlap["node"].isin([2, 3, 4]), "side"]) == {"majority"}
    assert set(before_overlap.loc[before_overlap["node"].isin([0, 1]), "side"]) == {"minority"}
    # One window: the two partitions overlap, so there is no gap between them.
    assert set(invoked(ops, 1000, 3000)["period"]) == {"during 1"}


def test_a_crash_during_halves_leaves_no_majority() -> None:
    # {0,1,2} | {3,4} from 1 s to 3 s; node 0 down from 1.5 s to 2.5 s: {1,2} is no majority.
    ops, summary = run_raft({
        "partitions": [{"shape": "halves", "at": 1, "duration": 2}],
        "nodes": [{"kind": "crash", "node": 0, "at": 1.5, "duration": 1}],
    })
    crash = invoked(ops, 1500, 2500)
    assert len(crash) > 20 and crash["minority"].all()
    assert set(crash["side"]) == {"minority"}
    majority = ops[(ops["phase"] == "during") & (ops["side"] == "majority")]
    assert set(majority["node"]) <= {0, 1, 2}
    # What is left on the majority side is the partition without the crash.
    assert ((majority["invoke_time"] < 1500) | (majority["invoke_time"] >= 2500)).all()
    assert summary["availability_majority"] == pytest.approx(majority["type"].eq("ok").mean())


def test_gaps_between_partitions_are_between_not_after() -> None:
    ops, _ = run_raft({"partitions": [{"shape": "halves", "at": 1, "duration": 0.5,
                                       "repeat": 2, "every": 1.5}]})
    assert set(invoked(ops, 0, 1000)["phase"]) == {"before"}
    gap = invoked(ops, 1500, 2500)
    assert len(gap) > 20 and set(gap["phase"]) == {"between"}
    assert set(gap["period"]) == {"between 1-2"}
    assert not gap["minority"].any()
    assert set(invoked(ops, 1000, 1500)["period"]) == {"during 1"}
    assert set(invoked(ops, 2500, 3000)["period"]) == {"during 2"}
    assert set(invoked(ops, 3000, 4000)["phase"]) == {"after"}


def test_seven_clients_on_five_nodes_stay_on_their_node_after_timeouts() -> None:
    # Nodes 3 and 4 can send to {0,1,2} but not hear back: they are the minority, and
    # their clients' ops time out. Jepsen's workers keep their node for the whole run.
    ops, _ = run_raft({"partitions": [{"shape": "one-way", "from": [3, 4], "to": [0, 1, 2],
                                       "at": 1, "duration": 2}]},
                      workload={"clients": 7})
    slot = ops["process"] % 7
    assert (ops["node"] == slot % 5).all()
    assert (ops["process"] >= 7).any(), "no timeout happened: the case proves nothing"
    minority = ops[(ops["phase"] == "during") & ops["minority"]]
    assert set(minority["node"]) == {3, 4}
    # Slots 3 and 4 sit beside nodes 3 and 4 for the whole cut: each op there waits one
    # 200 ms timeout plus 10 ms think time, so each slot invokes ~9 ops in 2 s.
    assert len(minority) >= 2 * 8
    assert minority["type"].eq("ok").sum() == 0


def test_windows_and_phases_from_a_hand_written_trace() -> None:
    trace = [
        {"time": 100.0, "kind": "partition_start", "fault_id": 0, "minority": [3, 4],
         "sides": {"majority": [0, 1, 2], "minority": [3, 4], "ambiguous": []}},
        {"time": 200.0, "kind": "partition_end", "fault_id": 0,
         "sides": {"majority": [0, 1, 2, 3, 4], "minority": [], "ambiguous": []}},
        {"time": 300.0, "kind": "pause", "fault_id": 1, "node": 1,
         "sides": {"majority": [0, 2, 3, 4], "minority": [1], "ambiguous": []}},
        {"time": 400.0, "kind": "resume", "fault_id": 1, "node": 1,
         "sides": {"majority": [0, 1, 2, 3, 4], "minority": [], "ambiguous": []}},
    ]
    assert fault_windows(trace, 500.0)[["start", "end"]].values.tolist() == [[100, 200], [300, 400]]
    frame = pd.DataFrame({"process": [3, 3, 1, 1, 1], "invoke_time": [50.0, 150.0, 250.0, 350.0, 450.0]})
    out = annotate_ops(frame, trace, nodes=5, end_ms=500.0)
    assert out["phase"].tolist() == ["before", "during", "between", "during", "after"]
    assert out["period"].tolist() == ["before", "during 1", "between 1-2", "during 2", "after"]
    assert out["side"].tolist() == ["majority", "minority", "majority", "minority", "majority"]
    assert out["partitioned"].tolist() == [False, True, False, False, False]
