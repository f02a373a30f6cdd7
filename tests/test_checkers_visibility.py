"""Replication lag per write version, from the trace's apply records."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import tiny_experiment

from workbench.checkers.visibility import visibility_lags, visibility_summary
from workbench.experiment.config import validate_config
from workbench.runtime.sim import simulate


def apply(time: float, node: int, version: int, key: str = "k") -> dict[str, Any]:
    return {"time": time, "kind": "apply", "node": node, "key": key, "value": version, "version": version}


def test_lag_is_until_the_last_replica_holds_the_version_or_a_newer_one() -> None:
    trace = [apply(10, 0, 1), apply(12, 1, 1), apply(30, 2, 1),  # v1 everywhere at 30
             apply(40, 0, 2), apply(41, 1, 2),                  # node 2 skips v2 ...
             apply(55, 2, 3), apply(50, 0, 3), apply(52, 1, 3),  # ... and gets v3 at 55
             apply(60, 0, 4), apply(61, 1, 4),                  # v4 never reaches node 2
             {"time": 5, "kind": "crash", "node": 2}]
    lags = visibility_lags(trace, nodes=3).set_index("version")
    assert lags.loc[1, "lag_ms"] == 20 and lags.loc[1, "replicas"] == 3
    assert lags.loc[2, "everywhere_ms"] == 55 and lags.loc[2, "lag_ms"] == 15  # subsumed by v3
    assert lags.loc[3, "lag_ms"] == 5 and lags.loc[3, "first_ms"] == 50
    assert math.isnan(lags.loc[4, "lag_ms"]) and lags.loc[4, "replicas"] == 2
    summary = visibility_summary(visibility_lags(trace, nodes=3))
    assert summary["visibility_incomplete"] == 0.25
    assert summary["visibility_p50_ms"] == 15


def test_keys_are_independent_and_empty_traces_give_nothing() -> None:
    trace = [apply(0, 0, 1, "a"), apply(1, 1, 1, "a"), apply(0, 0, 9, "b"), apply(7, 1, 9, "b")]
    lags = visibility_lags(trace, nodes=2)
    assert dict(zip(lags["key"], lags["lag_ms"], strict=True)) == {"a": 1, "b": 7}
    assert visibility_lags([], nodes=3).empty
    assert visibility_summary(visibility_lags([], nodes=3))["visibility_p50_ms"] is None


def test_a_cut_off_replica_lags_by_the_partition_where_the_store_waits_for_it() -> None:
    # Node 0 is cut off from 0.5 s to 1.5 s. Raft's majority keeps committing and node 0
    # gets the entries at the heal: writes of the cut lag by up to the partition's
    # length. So do the eventual store's, counted causally (issue 19 §6): a replica
    # reaches a write only through it or a write made after seeing it, and writes of
    # the cut cross it only at the heal. (By ">= v", the other side's own newer writes
    # made these lags look short.) Under last-writer-wins some writes never reach every
    # replica: a concurrent newer write replaced them first.
    lags = {}
    for protocol in ("raft", "eventual"):
        config = validate_config(tiny_experiment(
            protocol=protocol, duration_s=5.0,
            faults={"partitions": [{"shape": "isolate", "node": 0, "at": 0.5, "duration": 1.0}]}))
        of_run = visibility_lags(simulate(config).trace, config.nodes)
        incomplete = visibility_summary(of_run)["visibility_incomplete"]
        assert incomplete == 0 if protocol == "raft" else 0 < incomplete < 0.5
        cut = of_run[(of_run["first_ms"] > 600) & (of_run["first_ms"] < 1400)]["lag_ms"].dropna()
        healed = of_run[of_run["first_ms"] > 1600]["lag_ms"]
        assert len(cut) > 20 and len(healed) > 20
        assert healed.max() < 50  # whole again: a round trip or an anti-entropy push
        lags[protocol] = cut.median()
    assert 300 < lags["raft"] < 1000
    assert 300 < lags["eventual"] < 1000


def test_an_installed_snapshot_reaches_every_version_it_holds() -> None:
    # Node 2 never applies v1 or v2 of k (nor anything of j): it installs a snapshot up
    # to version 2 at 70, then applies v3 itself.
    trace = [apply(10, 0, 1), apply(11, 1, 1), apply(20, 0, 2, "j"), apply(21, 1, 2, "j"),
             {"time": 70, "kind": "install", "node": 2, "version": 2},
             apply(80, 0, 3), apply(81, 1, 3), apply(90, 2, 3)]
    lags = visibility_lags(trace, nodes=3).set_index(["key", "version"])
    assert lags.loc[("k", 1), "lag_ms"] == 60 and lags.loc[("j", 2), "lag_ms"] == 50
    assert lags.loc[("k", 3), "lag_ms"] == 10
    assert visibility_summary(visibility_lags(trace, nodes=3))["visibility_incomplete"] == 0


@pytest.mark.parametrize("protocol", ["raft", "paxos"])
def test_a_replica_that_catches_up_by_snapshot_is_counted_from_the_install(protocol: str) -> None:
    # Node 4 is cut off for 2 s while the others compact every 20 entries: it catches
    # up by InstallSnapshot / Checkpoint, and the install is when it got those writes.
    config = validate_config(tiny_experiment(
        protocol=protocol, duration_s=5.0, **{protocol: {"snapshot_threshold": 20}},
        faults={"partitions": [{"shape": "isolate", "node": 4, "at": 0.5, "duration": 2.0}]}))
    trace = simulate(config).trace
    assert any(r["kind"] == "install" and r["node"] == 4 for r in trace)
    with_install = visibility_lags(trace, config.nodes)
    without = visibility_lags([r for r in trace if r["kind"] != "install"], config.nodes)
    assert (with_install["replicas"] == config.nodes).all()
    earlier = without["everywhere_ms"] - with_install["everywhere_ms"]
    assert (earlier.fillna(0) >= 0).all() and (earlier > 0).any()


def write(time: float, node: int, version: int, seen: int | None, key: str = "k") -> dict[str, Any]:
    return {**apply(time, node, version, key), "writer": node, "seen": seen}


def test_lww_lag_counts_only_the_version_or_its_causal_successors() -> None:
    # Node 0 writes v1; node 1 (cut off) writes its own v2 > v1 without having seen v1;
    # node 1 only gets v1's line at 500 through v3, a write node 0 made after v1.
    trace = [write(0, 0, 1, None), apply(2, 2, 1),
             write(10, 1, 2, None), apply(12, 2, 2),   # not a successor of v1
             write(20, 0, 3, 1), apply(21, 2, 3),      # v3 saw v1
             apply(500, 1, 3)]
    lags = visibility_lags(trace, nodes=3).set_index("version")
    assert lags.loc[1, "lag_ms"] == 500  # by ">= v1", node 1 had it at 10 (its own v2)
    assert lags.loc[3, "lag_ms"] == 480
    assert math.isnan(lags.loc[2, "lag_ms"]) and lags.loc[2, "replicas"] == 2  # node 0 never got v2
    without_seen = [{k: v for k, v in r.items() if k not in ("writer", "seen")} for r in trace]
    assert visibility_lags(without_seen, nodes=3).set_index("version").loc[1, "lag_ms"] == 10


def test_eventual_store_causal_lag_spans_the_partition_for_the_cut_side() -> None:
    """Node 0 is cut off from 0.5 s to 1.5 s: its writes of the cut reach the others only
    at the heal, though their own newer writes are '>=' them all along (issue 19 §6)."""
    config = validate_config(tiny_experiment(
        duration_s=4.0, faults={"partitions": [{"shape": "isolate", "node": 0, "at": 0.5, "duration": 1.0}]}))
    trace = simulate(config).trace
    lags = visibility_lags(trace, config.nodes)
    node_of = {(r["key"], r["version"]): r["writer"] for r in trace if "writer" in r}
    lags["writer"] = [node_of[(k, v)] for k, v in zip(lags["key"], lags["version"], strict=True)]
    cut = lags[(lags["first_ms"] > 600) & (lags["first_ms"] < 1400) & lags["writer"].eq(0)]
    assert len(cut) > 5
    # Every write node 0 made during the cut reached the rest only at or after the heal.
    assert (cut["everywhere_ms"].dropna() >= 1500).all() and cut["everywhere_ms"].notna().any()
    assert cut["lag_ms"].median() > 300
