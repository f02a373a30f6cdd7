"""The disk model (issue 12): copying storage, fsync cost, what a crash loses.

Each disk fault is checked at the storage level (`core.storage.Disk` over a `Storage`):
unsynced writes are lost, a torn write keeps a prefix, a lying fsync loses acknowledged
data. Then the driver: sends and replies behind a persist wait for its fsync and die
with a crash. Then whole runs: the unmodified protocols under the composed nemesis
with a disk model (a bounded slice here; `make test-slow` runs 1,000 seeds each).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import search_seeds

from workbench.core.storage import Disk, Extend, Put, PutItem, PutMany, Storage
from workbench.experiment.config import validate_config
from workbench.fault_search import check_seed, composed_scenario
from workbench.faults.disk import make_disk
from workbench.faults.spec import DiskSpec, FaultsConfig
from workbench.runtime.seeds import derive_rng


def constant(ms: float) -> Any:
    return lambda rng: ms


# ------------------------------------------------------------------ storage holds copies
def test_storage_copies_on_put_and_get() -> None:
    storage = Storage()
    log = [(1, "a")]
    storage.put("log", log)
    log.append((1, "b"))  # an in-memory append is not a durable one
    assert storage.get("log") == [(1, "a")]
    got = storage.get("log")
    got.append((2, "c"))
    assert storage.get("log") == [(1, "a")]


def test_records_apply_in_order() -> None:
    storage = Storage()
    storage.apply((Extend("log", 0, ((1, "a"), (1, "b"), (1, "c"))),
                   Extend("log", 1, ((2, "x"),)),  # §5.3: truncate the conflict, append
                   PutItem("accepted", 3, ("b", "v")), Put("term", 2)))
    assert storage.get("log") == [(1, "a"), (2, "x")]
    assert storage.get("accepted") == {3: ("b", "v")}
    assert storage.get("term") == 2


# ------------------------------------------------------------------ one test per disk fault
def test_a_crash_loses_writes_not_yet_synced() -> None:
    storage = Storage()
    disk = Disk(storage, random.Random(1), constant(5.0))
    assert disk.write((Put("term", 1),), now=0.0) == 5.0
    assert disk.write((Put("term", 2),), now=1.0) == 10.0  # fsyncs queue one after another
    disk.sync(6.0)
    assert storage.get("term") == 1  # synced
    assert disk.crash(now=7.0) == 1  # power loss before the second fsync completed
    assert storage.get("term") == 1


def test_a_torn_write_keeps_a_prefix_of_its_records() -> None:
    records = tuple(Put(f"r{i}", i) for i in range(4))
    kept_lengths = set()
    for seed in range(40):
        storage = Storage()
        disk = Disk(storage, random.Random(seed), constant(5.0), torn=True)
        disk.write(records, now=0.0)
        disk.crash(now=1.0)
        kept = [name for name in ("r0", "r1", "r2", "r3") if name in storage]
        assert kept == ["r0", "r1", "r2", "r3"][:len(kept)], (seed, kept)  # a prefix
        assert len(kept) < 4, seed  # never the whole unsynced write
        kept_lengths.add(len(kept))
    assert kept_lengths == {0, 1, 2, 3}  # every prefix occurs
    # One atomic record is never torn: PutMany survives whole or not at all.
    storage = Storage()
    disk = Disk(storage, random.Random(0), constant(5.0), torn=True)
    disk.write((PutMany((("snapshot", 1), ("log", []), ("log_base", 1))),), now=0.0)
    disk.crash(now=1.0)
    assert "snapshot" not in storage and "log" not in storage


def test_a_lying_fsync_loses_acknowledged_writes() -> None:
    storage = Storage()
    disk = Disk(storage, random.Random(0), constant(5.0), lie_ms=100.0)
    assert disk.write((Put("vote", 2),), now=0.0) == 0.0  # acknowledged at once
    disk.crash(now=50.0)  # after the acknowledgement, before the write really landed
    assert "vote" not in storage
    honest = Storage()
    disk = Disk(honest, random.Random(0), constant(5.0))
    acked = disk.write((Put("vote", 2),), now=0.0)
    disk.crash(now=acked)  # an honest disk keeps what it acknowledged
    assert honest.get("vote") == 2


def test_group_commit_shares_one_fsync() -> None:
    disk = Disk(Storage(), random.Random(0), constant(5.0), group_commit=True)
    first = disk.write((Put("a", 1),), now=0.0)
    second = disk.write((Put("b", 1),), now=1.0)
    third = disk.write((Put("c", 1),), now=2.0)
    assert (first, second, third) == (5.0, 10.0, 10.0)
    assert disk.fsyncs == 2


# ------------------------------------------------------------------ the spec
def test_disk_spec_presets_and_replay() -> None:
    assert FaultsConfig.model_validate({}).disk is None
    spinning = DiskSpec(preset="spinning")
    draws = [make_disk(spinning, Storage(), derive_rng(7, "disk", 0)).latency(random.Random(3))  # type: ignore[union-attr]
             for _ in range(2)]
    assert draws[0] == draws[1] and 5.0 <= draws[0] <= 15.0
    assert DiskSpec().fsync_latency().high_ms == 1.0  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        DiskSpec.model_validate({"preset": "floppy"})


# ------------------------------------------------------------------ the driver
def _with_disk(config: Any, seed: int, **disk: Any) -> Any:
    raw = config.model_dump(by_alias=True, exclude_none=True)
    rng = derive_rng(seed, "disk-choice")
    raw["faults"]["disk"] = {"preset": rng.choice(["ssd", "spinning"]), "torn_writes": True,
                             "group_commit": rng.random() < 0.5, **disk}
    return validate_config(raw, f"disk seed {seed}")


def test_sends_wait_for_the_fsync_and_die_with_a_crash() -> None:
    from workbench.runtime.sim import simulate

    base = composed_scenario("raft", 3)
    raw = base.model_dump(by_alias=True, exclude_none=True)
    raw["faults"] = {"disk": {"fsync": {"dist": "constant", "ms": 10.0}}}
    slow = simulate(validate_config(raw, "disk"))
    raw["faults"] = {}
    fast = simulate(validate_config(raw, "no disk"))

    def median_ok(result: Any) -> float:
        invoked: dict[int, float] = {}
        spans = []
        for e in result.history:
            if e["type"] == "invoke":
                invoked[e["process"]] = e["time"]
            elif e["type"] == "ok" and e["f"] == "write":
                spans.append(e["time"] - invoked[e["process"]])
        spans.sort()
        return spans[len(spans) // 2]

    # A write commits after the leader's fsync and a follower quorum's: >= 2 fsyncs slower.
    assert median_ok(slow) >= median_ok(fast) + 20.0


SEEDS = {"raft": 3, "paxos": 3, "eventual": 2}


@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_unmodified_protocols_survive_the_disk_model_slice(protocol: str) -> None:
    start = {"raft": 70_000, "paxos": 71_000, "eventual": 72_000}[protocol]
    findings = []
    for seed in range(start, start + search_seeds(SEEDS[protocol])):
        finding = check_seed(_with_disk(composed_scenario(protocol, seed), seed))
        if finding is not None:
            findings.append(f"{protocol} {finding}")
    assert not findings, "\n".join(findings)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", sorted(SEEDS))
def test_unmodified_protocols_survive_the_disk_model_1000_seeds(protocol: str) -> None:
    start = {"raft": 80_000, "paxos": 81_000, "eventual": 82_000}[protocol]
    findings = []
    for seed in range(start, start + search_seeds(1000)):
        finding = check_seed(_with_disk(composed_scenario(protocol, seed), seed))
        if finding is not None:
            findings.append(f"{protocol} {finding}")
    assert not findings, "\n".join(findings)


# ------------------------------------------------------------------ the durability study
def test_durability_table_labels_disks_and_computes_throughput() -> None:
    import pandas as pd

    from workbench.studies.durability import disk_label, durability_table

    summary = pd.DataFrame({
        "protocol": ["raft", "raft"], "faults.disk": [None, '{"preset": "spinning", "group_commit": true}'],
        "ok": [600, 80], "duration_s": [10, 10],
        "latency_p50_ms": [4.4, 98.0], "latency_p99_ms": [4.4, 149.0]})
    table = durability_table(summary)
    assert table["disk"].tolist() == ["off", "spinning +group"]
    assert table["throughput_ops_s"].tolist() == [60.0, 8.0]
    assert disk_label('{"fsync": {"dist": "constant", "ms": 10}}') == "fsync 10"
