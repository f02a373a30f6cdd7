"""The same partition gives the same failure semantics under every protocol (issue 14,
"Must show": same request policy, same timeout meaning).

One scenario — 5 nodes, a majority-minority cut from 1.5 s to 4.5 s, clients beside
every node — under each protocol and each `no_leader` policy. Once the minority has
noticed that it lost the leader (an election timeout, and CheckQuorum / the lease for
a leader cut off with the minority: 1 s is ample for the 150-300 ms default), what
the minority's clients see is decided by the policy alone, not by the protocol:

- Raft and Multi-Paxos: every op ends `fail` (it definitely did not happen: it was
  handed to no leader), never `info`, never `ok`; answered at once under `fail`,
  after exactly `hold_ms` under `hold`;
- the leaderless stores (eventual, quorum) have no "no leader" state: the policy does
  not apply, and their histories are byte-identical under both policies.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from workbench.experiment.config import validate_config
from workbench.runtime.sim import simulate

AT_S, DURATION_S = 1.5, 3.0
SETTLED_MS = (AT_S + 1.0) * 1000  # the minority knows it has no leader by then
UNTIL_MS = (AT_S + DURATION_S) * 1000 - 600  # invoked early enough to end before the heal
HOLD_MS = 200.0
SEEDS = (1, 2)
CLIENT_HOP_MS = 0.25  # client <-> its node, each way
# policy name -> (workload.request_policy, how long a leaderless node keeps a request)
POLICIES = {"fail": ({"no_leader": "fail"}, 0.0), "hold": ({"no_leader": "hold", "hold_ms": HOLD_MS}, HOLD_MS)}


@functools.cache
def run(protocol: str, seed: int, policy_name: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The scenario's history and minority nodes (cached: tests share runs)."""
    policy = POLICIES[policy_name][0]
    config = validate_config({
        "protocol": protocol, "seed": seed, "nodes": 5, "duration_s": 6,
        "workload": {"clients": 10, "think_ms": 10, "timeout_ms": 500, "keys": 2,
                     "mix": {"read": 0.5, "write": 0.5, "cas": 0}, "request_policy": policy},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "faults": {"partitions": [{"shape": "majority-minority", "at": AT_S, "duration": DURATION_S}]},
        "sim": {"client_latency_ms": CLIENT_HOP_MS},
    })
    result = simulate(config)
    start = next(r for r in result.trace if r["kind"] == "partition_start")
    return result.history, start["minority"]


def minority_ops(history: list[dict[str, Any]], minority: list[int]) -> list[tuple[str, float]]:
    """(completion type, latency ms) of ops invoked on the minority side in the window."""
    open_: dict[int, float] = {}
    ops = []
    for event in history:
        process = event["process"]
        if event["type"] == "invoke":
            open_[process] = event["time"]
            continue
        invoked = open_.pop(process)
        if process % 5 in minority and SETTLED_MS <= invoked <= UNTIL_MS:
            ops.append((event["type"], event["time"] - invoked))
    return ops



@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("protocol", ["raft", "paxos"])
def test_a_minority_client_of_a_leader_based_protocol_sees_only_the_policy(protocol: str, policy: str) -> None:
    wait_ms = POLICIES[policy][1]
    for seed in SEEDS:
        history, minority = run(protocol, seed, policy)
        ops = minority_ops(history, minority)
        assert len(ops) >= 10, f"seed {seed}: the window holds minority ops"
        kinds = {kind for kind, _ in ops}
        assert kinds == {"fail"}, f"{protocol} seed {seed}: minority ops ended {kinds}"
        latencies = {round(latency - 2 * CLIENT_HOP_MS, 6) for _, latency in ops}
        assert latencies == {wait_ms}, f"{protocol} seed {seed}: latencies {sorted(latencies)[:5]}"


def test_both_leader_based_protocols_fail_the_same_share_of_minority_time() -> None:
    """Same policy => the same count of minority attempts in the window, within the
    think-time jitter: the protocols differ in how they lose a leader, not after."""
    counts = {}
    for protocol in ("raft", "paxos"):
        history, minority = run(protocol, 1, "hold")
        counts[protocol] = len(minority_ops(history, minority))
    # Each of 4 minority clients makes one attempt per hold_ms + think_ms in the window.
    window_ms = UNTIL_MS - SETTLED_MS
    expected = 4 * window_ms / (HOLD_MS + 10)
    for protocol, count in counts.items():
        assert abs(count - expected) <= 8, (protocol, count, expected)


@pytest.mark.parametrize("protocol", ["eventual", "quorum"])
def test_a_leaderless_store_never_meets_the_no_leader_policy(protocol: str) -> None:
    fail_history, _ = run(protocol, 1, "fail")
    hold_history, _ = run(protocol, 1, "hold")
    assert fail_history == hold_history


def test_retries_under_the_partition_keep_the_history_linearizable_and_back_off() -> None:
    """Raft with 3 retries, timeouts retried too: each retry is its own op (a minority
    client's fails come in bursts of 4 attempts spaced 20, 40, 80 ms), and the history
    of attempts, `info`s included, still checks linearizable."""
    from workbench.experiment.run import run_experiment

    raw = {
        "protocol": "raft", "seed": 4, "nodes": 5, "duration_s": 6,
        "workload": {"clients": 10, "think_ms": 10, "timeout_ms": 500, "keys": 2,
                     "mix": {"read": 0.5, "write": 0.5, "cas": 0},
                     "request_policy": {"retries": 3, "retry_timeouts": True}},
        "faults": {"partitions": [{"shape": "majority-minority", "at": AT_S, "duration": DURATION_S}]},
        "sim": {"client_latency_ms": 0},
    }
    out = run_experiment(validate_config(raw))
    assert out.summary["verdict"] == "linearizable", out.summary["verdict"]
    history = out.result.history
    minority = next(r for r in out.result.trace if r["kind"] == "partition_start")["minority"]
    gaps: dict[int, list[float]] = {}
    last_fail: dict[int, float] = {}
    for event in history:
        slot = event["process"] % 10
        if event["process"] % 5 not in minority or not SETTLED_MS <= event["time"] <= UNTIL_MS:
            continue
        if event["type"] == "invoke" and slot in last_fail:
            gaps.setdefault(slot, []).append(round(event["time"] - last_fail.pop(slot), 6))
        elif event["type"] == "fail":
            last_fail[slot] = event["time"]
    assert gaps, "minority clients retried"
    for slot, waits in gaps.items():
        # 20, 40, 80 (three retries), then think time before a fresh op, over and over.
        assert set(waits) <= {20.0, 40.0, 80.0, 10.0}, (slot, waits[:8])
        assert waits[:8] in ([20.0, 40.0, 80.0, 10.0] * 2, [40.0, 80.0, 10.0, 20.0] * 2,
                             [80.0, 10.0, 20.0, 40.0] * 2, [10.0, 20.0, 40.0, 80.0] * 2), (slot, waits[:8])
