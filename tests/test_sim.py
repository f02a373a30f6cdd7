"""The deterministic simulator: reproducibility, crash semantics, pauses, clocks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from conftest import ROOT

from workbench.core.messages import Message
from workbench.core.ops import ClientRequest
from workbench.experiment.config import load_config, validate_config
from workbench.history.events import dumps_event
from workbench.protocols.base import Node
from workbench.runtime.sim import Simulation, simulate

CAP = ROOT / "experiments" / "cap_partition.yaml"


def history_bytes(overrides: list[str]) -> bytes:
    config = load_config(CAP, ["duration_s=8", "faults.partitions.0.at=2",
                               "faults.partitions.0.duration=3", *overrides])
    return "".join(dumps_event(e) + "\n" for e in simulate(config).history).encode()


def test_same_file_and_seed_give_identical_history_bytes() -> None:
    first = history_bytes(["seed=7"])
    assert len(first) > 10_000
    assert history_bytes(["seed=7"]) == first


def test_a_different_seed_gives_a_different_history() -> None:
    assert history_bytes(["seed=7"]) != history_bytes(["seed=8"])


def test_randomized_faults_are_reproducible_too() -> None:
    nemesis = "faults.nemesis={mean_interval: 0.5, mean_duration: 0.5, crash: true, pause: true}"
    network = "network={latency: {dist: lognormal, median_ms: 3, sigma: 1}, loss: 0.05, duplicate: 0.05, reorder: 0.1}"
    assert history_bytes(["seed=3", nemesis, network]) == history_bytes(["seed=3", nemesis, network])


# ---------------------------------------------------------------- crash semantics
@dataclass(frozen=True, slots=True)
class Ping(Message):
    pass


@dataclass(frozen=True)
class ProbeOptions:
    pass


class ProbeNode(Node):
    """Counts requests twice: in durable storage and in a volatile field."""

    name: ClassVar[str] = "probe"
    boots: ClassVar[list[tuple[int, int, int]]] = []

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.volatile = 0
        ProbeNode.boots.append((self.id, self.storage.get("durable", 0), self.volatile))

    def start(self, now: float) -> None:
        self.set_timer("tick", 10)

    def on_timer(self, name: str, now: float) -> None:
        self.volatile += 1
        self.storage.put("durable", self.storage.get("durable", 0) + 1)
        self.set_timer("tick", 10)

    def on_message(self, src: int, message: Message, now: float) -> None:
        pass

    def on_client_request(self, request: ClientRequest, now: float) -> None:
        self.reply(request.process, request.seq, True, self.volatile)

    def state_digest(self) -> int:
        return self.volatile


def probe_config(**faults: Any) -> Any:
    return validate_config({"protocol": "eventual", "nodes": 3, "duration_s": 2, "faults": faults,
                            "workload": {"clients": 3, "start_s": 0.1}})


def test_crash_loses_volatile_state_only() -> None:
    ProbeNode.boots.clear()
    config = probe_config(nodes=[{"kind": "crash", "node": 1, "at": 0.5, "duration": 0.5}])
    sim = Simulation(config, node_factory=ProbeNode)
    result = sim.run()
    restarts = [boot for boot in ProbeNode.boots if boot[0] == 1]
    assert len(restarts) == 2, "node 1 boots, crashes, and is rebuilt once"
    _, durable_at_restart, volatile_at_restart = restarts[1]
    assert 45 <= durable_at_restart <= 51, "about 50 ticks of 10 ms were stored before the crash at 500 ms"
    assert volatile_at_restart == 0
    # The rebuilt node keeps counting from the durable value, not from zero.
    assert sim.storages[1].get("durable") == durable_at_restart + sim.nodes[1].volatile
    kinds = [(r["kind"], r.get("node")) for r in result.trace if r["kind"] in ("crash", "restart")]
    assert kinds == [("crash", 1), ("restart", 1)]


def test_requests_to_a_crashed_node_time_out_as_info() -> None:
    config = probe_config(nodes=[{"kind": "crash", "node": 0, "at": 0.5, "duration": 1.0}])
    history = Simulation(config, node_factory=ProbeNode).run().history
    down = [e for e in history if e["type"] == "info"]
    assert down and all(e["process"] % 3 == 0 for e in down)


def test_a_paused_node_runs_nothing_until_resumed() -> None:
    config = probe_config(nodes=[{"kind": "pause", "node": 2, "at": 0.5, "duration": 0.5}])
    sim = Simulation(config, node_factory=ProbeNode)
    sim.run()
    # 2000 ms of 10 ms ticks, minus the 500 ms pause (its one queued tick fires on resume).
    assert 140 <= sim.nodes[2].volatile <= 152
    assert sim.nodes[0].volatile >= 195


def test_clock_drift_changes_how_fast_a_node_sees_time_pass() -> None:
    config = validate_config({"protocol": "eventual", "nodes": 2, "duration_s": 2,
                              "faults": {"clocks": [{"node": 1, "drift": 1.0}]}})
    sim = Simulation(config, node_factory=ProbeNode)
    sim.run()
    # Node 1's clock runs twice as fast, so its 10 ms timers fire twice as often in real time.
    assert sim.nodes[1].volatile > 1.9 * sim.nodes[0].volatile


def test_message_counts_and_trace_are_recorded() -> None:
    config = load_config(CAP, ["duration_s=6", "faults.partitions.0.at=2", "faults.partitions.0.duration=2"])
    result = simulate(config)
    assert result.stats["messages_sent"] == sum(result.stats["sent_per_node"]) > 0
    assert result.stats["messages_delivered"] <= result.stats["messages_sent"] * 1.1
    starts = [r for r in result.trace if r["kind"] == "partition_start"]
    assert starts[0]["groups"] == [[0, 1, 2], [3, 4]] and starts[0]["minority"] == [3, 4]
    assert any(r["kind"] == "digest" for r in result.trace)


def test_experiment_files_parse() -> None:
    for path in sorted(Path(ROOT / "experiments").glob("*.yaml")):
        load_config(path)
