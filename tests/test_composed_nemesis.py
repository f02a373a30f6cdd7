"""The composed nemesis (issue 11): overlapping faults as data, and the simulator's
new fault kinds (bad-link windows, mid-run clock changes, partitions that hold
messages until the heal). Old configs keep their histories: see test_sim's golden runs."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.experiment.config import validate_config
from workbench.fault_search import composed_scenario
from workbench.faults import build_schedule
from workbench.faults.composed import NemesisMix, composed_faults, overlapping_faults
from workbench.runtime.seeds import derive_rng
from workbench.runtime.sim import simulate


def _faults(seed: int, nodes: int = 5, mix: NemesisMix | None = None) -> dict[str, Any]:
    return composed_faults(derive_rng(seed, "t"), nodes, duration_s=6.0, election_timeout_ms=150.0,
                           max_clock_drift=0.01, mix=mix or NemesisMix())


def test_same_seed_same_schedule_and_history() -> None:
    assert _faults(3) == _faults(3)
    a, b = composed_scenario("raft", 11, nodes=3), composed_scenario("raft", 11, nodes=3)
    assert a == b
    assert simulate(a).history == simulate(b).history


def test_faults_overlap_and_cover_every_family() -> None:
    kinds: set[str] = set()
    overlaps = 0
    for seed in range(20):
        config = composed_scenario("raft", seed, nodes=5)
        events = build_schedule(config.faults, config.duration_ms, derive_rng(seed, "faults"))
        overlaps += overlapping_faults(events)
        kinds |= {e.kind for e in events}
        faults = config.faults
        kinds |= {"hold"} if any(p.hold for p in faults.partitions) else set()
        kinds |= {"leader"} if any(p.node == "leader" for p in faults.partitions) else set()
        # the quiet tail: nothing is still going at duration - 2.5 s
        assert all(e.time_ms <= config.duration_ms - 2500 + 1e-6 for e in events), seed
    assert {"partition_start", "crash", "pause", "link_start", "clock", "hold", "leader"} <= kinds
    assert overlaps >= 20  # on average at least one overlap per run


def test_whole_cluster_crash_and_minority_crashes() -> None:
    mix = NemesisMix(partitions=0, crashes=3, cluster_crashes=1, pauses=0, clock_changes=0, delays=0,
                     duplication=0)
    crashes = _faults(5, mix=mix)["nodes"]
    starts: dict[float, set[Any]] = {}
    for c in crashes:
        starts.setdefault(c["at"], set()).add(c["node"])
    assert any(len(v) == 5 for v in starts.values())  # everyone at once
    assert any(1 < len(v) <= 2 for v in starts.values())  # two of five at once


def test_clocks_stay_within_the_bound_unless_asked() -> None:
    inside = _faults(1, mix=NemesisMix(clock_changes=5))
    assert all(abs(c["drift"]) <= 0.01 for c in inside["clocks"] + inside["clock_changes"])
    assert not any("jump_ms" in c for c in inside["clock_changes"])
    beyond = _faults(1, mix=NemesisMix(clock_changes=5, clocks_beyond_bound=True))
    assert any(abs(c["drift"]) > 0.01 for c in beyond["clocks"] + beyond["clock_changes"])
    assert any("jump_ms" in c for c in beyond["clock_changes"])


def _base(**faults: Any) -> dict[str, Any]:
    return {"protocol": "raft", "nodes": 3, "duration_s": 3, "seed": 4,
            "workload": {"clients": 3, "think_ms": 10}, "faults": faults}


def test_holding_partition_delivers_cut_messages_at_the_heal() -> None:
    held = simulate(validate_config(_base(partitions=[{"shape": "isolate", "node": 0, "at": 1, "duration": 0.5,
                                                       "hold": True}])))
    dropped = simulate(validate_config(_base(partitions=[{"shape": "isolate", "node": 0, "at": 1,
                                                          "duration": 0.5}])))
    end = next(r for r in held.trace if r["kind"] == "partition_end")
    assert end["released"] > 0
    assert held.stats["messages_dropped"] < dropped.stats["messages_dropped"]


def test_link_windows_delay_and_duplicate() -> None:
    plain = simulate(validate_config(_base()))
    slow = simulate(validate_config(_base(links=[{"at": 0.5, "duration": 2, "delay_low_ms": 75,
                                                   "delay_high_ms": 450, "delay_p": 0.5}])))
    dup = simulate(validate_config(_base(links=[{"at": 0.5, "duration": 2, "duplicate": 0.5}])))
    assert slow.history != plain.history
    assert dup.stats["messages_delivered"] > plain.stats["messages_delivered"] * 1.2


def test_clock_change_jumps_the_local_clock() -> None:
    from workbench.runtime.sim import Simulation

    sim = Simulation(validate_config(_base(clock_changes=[{"at": 1, "node": 2, "jump_ms": 500, "drift": 0.5}])))
    sim.run()
    # at true time t >= 1000: local = 1000 + 500 + (t - 1000) * 1.5
    assert sim.local_time(2, 2000.0) == 1000 + 500 + 1000 * 1.5
    assert sim.local_time(1, 2000.0) == 2000.0


def test_leader_stalls_are_drawn_last_and_aimed_at_the_leader() -> None:
    """Issue 11's lease window as data: each stall is a pause of the leader and a cut
    aimed at it from the same moment, the cut outlasting the pause; drawn after every
    other process, so a mix without stalls draws exactly what it drew before."""
    plain = _faults(7, nodes=3)
    stalled = _faults(7, nodes=3, mix=NemesisMix(leader_stalls=2.0))
    for key, old in plain.items():
        assert stalled[key][:len(old)] == old, key
    pauses = stalled["nodes"][len(plain["nodes"]):]
    cuts = stalled["partitions"][len(plain["partitions"]):]
    assert pauses and len(pauses) == len(cuts)
    for pause, cut in zip(pauses, cuts, strict=True):
        assert pause["kind"] == "pause" and pause["node"] == cut["node"] == "leader"
        assert pause["at"] == cut["at"] and cut["shape"] in ("isolate", "bridge")
        assert cut["duration"] >= pause["duration"]
        assert 2.5 * 0.15 - 1e-9 <= pause["duration"] <= 4.5 * 0.15 + 1e-9 or \
            pause["at"] + pause["duration"] >= 6.0 - 2.5 - 1e-9  # cut short by the quiet tail


def test_a_leader_stall_lets_the_others_elect_while_the_old_leader_sleeps() -> None:
    from workbench.mutants import LEASE_STALLS

    mix = NemesisMix(**LEASE_STALLS)
    config = composed_scenario("raft", 3, nodes=3, options={"read_mode": "lease"}, mix=mix)
    trace = simulate(config).trace
    leader_at: dict[str, int] = {}
    elected_while_paused = 0
    paused: int | None = None
    for record in trace:
        if record["kind"] == "leader":
            if paused is not None and record["node"] != paused:
                elected_while_paused += 1
            leader_at["now"] = record["node"]
        elif record["kind"] == "pause":
            assert record["node"] == leader_at.get("now"), record  # aimed at the leader of that moment
            paused = record["node"]
        elif record["kind"] == "resume":
            paused = None
    assert elected_while_paused >= 1


def test_vote_races_are_drawn_last_one_at_a_time_and_laid_out_in_order() -> None:
    """Issue 11's vote at a just-adopted term inside a lease, as data (`_vote_race`):
    drawn after every other process (a mix without races draws what it drew before);
    each race unseats the highest-numbered node, then pauses the leader (isolated for
    the pause, cut from that node with a `bridge`), holds the links into that node
    until just before the resume, slows that node's links right after it, and isolates
    the old leader again once its heartbeat round trip is done. Races never overlap."""
    plain = _faults(7, nodes=3, mix=NemesisMix(leader_stalls=1.0))
    raced = _faults(7, nodes=3, mix=NemesisMix(leader_stalls=1.0, vote_races=3.0))
    for key, old in plain.items():
        assert raced[key][:len(old)] == old, key
    pauses = raced["nodes"][len(plain["nodes"]):]
    cuts = raced["partitions"][len(plain["partitions"]):]
    windows = raced["links"][len(plain["links"]):]
    assert pauses and len(windows) == len(pauses)
    et = 0.15
    ends: list[float] = []
    for pause, window in zip(pauses, windows, strict=True):
        at = pause["at"]
        assert pause["kind"] == "pause" and pause["node"] == "leader"
        resume = at + pause["duration"]
        mine = [c for c in cuts if at - 3.0 * et - 1e-9 <= c["at"] <= resume + et]
        unseat, during, bridge, hold, after = mine
        assert unseat["shape"] == "isolate" and unseat["node"] == 2  # a node id: whoever leads is not cut
        assert unseat["at"] == pytest.approx(at - 3.0 * et, abs=1e-3) and unseat["duration"] == pytest.approx(2.0 * et)
        assert during["shape"] == "isolate" and during["node"] == "leader" and during["at"] == at
        assert during["duration"] == pause["duration"]
        assert bridge["shape"] == "bridge" and bridge["node"] == "leader" and bridge["at"] == at
        assert hold["shape"] == "one-way" and hold["hold"] and hold["from"] == [0, 1] and hold["to"] == [2]
        assert at < hold["at"] and hold["at"] + hold["duration"] < resume  # released before the heartbeat
        assert window["nodes"] == [2] and window["delay_p"] == 1.0 and window["at"] < resume
        assert after["shape"] == "isolate" and after["node"] == "leader"
        assert resume + 0.1 * et - 1e-3 <= after["at"] <= resume + 0.15 * et + 1e-3
        assert after["at"] + after["duration"] == pytest.approx(bridge["at"] + bridge["duration"], abs=1e-3)
        assert 3.0 * et - 1e-9 <= pause["duration"] <= 4.5 * et + 1e-9 or resume >= 6.0 - 2.5 - 1e-3
        ends.append(bridge["at"] + bridge["duration"])
        # one race at a time: the next starts (with its unseat cut) after this one healed
    for end, nxt in zip(ends, pauses[1:], strict=False):
        assert nxt["at"] - 3.0 * et > end


def test_vote_races_on_the_correct_protocol_keep_it_linearizable() -> None:
    """The faults are hostile, not wrong: correct Raft (`read_mode: lease`) under the
    races of `raft:lease_vote_by_term`'s scenario finds nothing on a few seeds that
    catch the mutant (the 1,000-seed clean run is in docs/mutants.md)."""
    from workbench.fault_search import check_seed
    from workbench.mutants import correct, find_mutant

    mutant = find_mutant("raft:lease_vote_by_term")
    for seed in (0, 1000, 2000):
        assert check_seed(mutant.config(seed)) is not None, seed  # the mutant is caught here
        assert check_seed(correct(mutant).config(seed)) is None, seed
