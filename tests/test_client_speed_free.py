"""Figures that do not move with client speed (issue 19 item 3): `stale_read_fraction`
and `messages_per_op` move with think_ms; `stale_read_settled_fraction` and
`messages_per_ok_op` compare across it. Tolerances follow from the definitions: a
proportion's own 95% interval, and the background traffic no op causes."""

from __future__ import annotations

from typing import Any

from conftest import ROOT

from workbench.analysis.aggregate import wilson_interval
from workbench.experiment.config import load_config
from workbench.experiment.run import run_experiment


def _eventual(think_ms: float, partition: bool) -> dict[str, Any]:
    """The eventual store on cap_partition's cluster: 8 s, {0,1,2} | {3,4} from 2 s to
    6 s; without the cut, 4 s."""
    changes = ["protocol=eventual", f"workload.think_ms={think_ms}", "check.linearizability=false"]
    changes += (["duration_s=8", "faults.partitions.0.at=2", "faults.partitions.0.duration=4"] if partition
                else ["duration_s=4", "faults.partitions=[]"])
    return run_experiment(load_config(ROOT / "experiments" / "cap_partition.yaml", changes)).summary


def _interval(summary: dict[str, Any], fraction: str, count: str) -> tuple[float, float]:
    n = int(summary[count])
    return wilson_interval(round(summary[fraction] * n), n)


def test_stale_reads_move_with_think_time_settled_staleness_does_not() -> None:
    """think_ms 0 (a local store then takes ~20 ops per ms) against 100."""
    quiet = {think: _eventual(think, partition=False) for think in (0.0, 100.0)}
    # Real-time staleness is the chance a read lands while a newer write is in flight:
    # the write rate.
    assert quiet[0.0]["stale_read_fraction"] > 0.05 > quiet[100.0]["stale_read_fraction"], quiet
    # Judged against versions 100 ms old, a connected store is never stale, at any speed.
    assert quiet[0.0]["stale_read_settled_fraction"] == quiet[100.0]["stale_read_settled_fraction"] == 0.0, quiet
    assert min(s["stale_read_settled_reads"] for s in quiet.values()) > 100

    cut = {think: _eventual(think, partition=True) for think in (0.0, 100.0)}
    low_fast, high_fast = _interval(cut[0.0], "stale_read_settled_fraction", "stale_read_settled_reads")
    low_slow, high_slow = _interval(cut[100.0], "stale_read_settled_fraction", "stale_read_settled_reads")
    # One quantity at both speeds: the 95% intervals overlap. It is the partition's
    # share: half the run cut, and each side misses the other's writes (0.5 x (0.4 x 0.6
    # + 0.6 x 0.4) = 0.24 when both sides write at the same rate).
    assert low_fast <= high_slow and low_slow <= high_fast, cut
    assert low_fast > 0.15 and low_slow > 0.15, cut


def test_messages_per_op_moves_with_think_time_messages_per_ok_op_does_not() -> None:
    """Raft under the cut: refused minority ops send nothing, so messages_per_op falls
    as refusals speed up. Per ok op the only client-speed term left is the background
    traffic (a heartbeat to and a reply from each follower every heartbeat_ms), spread
    over fewer ok ops at the slower speed: that is the tolerance."""
    runs = {}
    for think in (0.0, 100.0):
        config = load_config(ROOT / "experiments" / "cap_partition.yaml", [
            "protocol=raft", f"workload.think_ms={think}", "duration_s=9",
            "faults.partitions.0.at=2", "faults.partitions.0.duration=5", "check.linearizability=false"])
        runs[think] = (config, run_experiment(config).summary)
    (config, fast), (_, slow) = runs[0.0], runs[100.0]
    assert slow["messages_per_op"] > 3 * fast["messages_per_op"], (fast, slow)
    background = 2 * (config.nodes - 1) * config.duration_ms / config.raft.heartbeat_ms
    tolerance = background / min(fast["ok"], slow["ok"])
    assert abs(fast["messages_per_ok_op"] - slow["messages_per_ok_op"]) <= tolerance, (fast, slow, tolerance)
    assert tolerance < 0.5 * slow["messages_per_ok_op"]  # the bound still says something
