"""`protocol: external`: Maelstrom node programs run by the workbench, in real time.

Each run is a few seconds of wall time with real processes; assertions are about
guarantees (linearizable or not, every acknowledged element read everywhere, a clear
error, nothing left running), never about timing. Every run names its seed.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment, write_run
from workbench.runtime.external import ExternalNodeError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "maelstrom"
BAD = Path(__file__).resolve().parent / "maelstrom_nodes"


def experiment(command: list[str], workload: str, *, nodes: int = 3, duration_s: float = 2.5,
               partition: tuple[float, float] | None = None, **external: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": f"ext-{workload}", "protocol": "external", "seed": 7, "nodes": nodes,
        "duration_s": duration_s,
        "external": {"command": command, "workload": workload, **external},
        "workload": {"clients": 2 * nodes, "think_ms": 10, "timeout_ms": 400, "start_s": 0.3,
                     "final_reads_s": 0.8, "mix": {"read": 0.5, "write": 0.5, "cas": 0}},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "check": {"max_seconds": 20},
    }
    if partition:
        raw["faults"] = {"partitions": [{"shape": "majority-minority", "at": partition[0],
                                         "duration": partition[1]}]}
    return raw


def example(name: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name)]


NODE_PROGRAMS = (str(EXAMPLES), str(BAD), "workbench.maelstrom")
"""What a node process runs: the check ignores the session's Ray processes (a raylet
started by an earlier `ray` test is this process's child too)."""


def no_children_left() -> list[str]:
    left = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(proc.cmdline())
            if proc.status() != psutil.STATUS_ZOMBIE and any(p in command for p in NODE_PROGRAMS):
                left.append(command)
    return left


def run(raw: dict[str, Any]) -> dict[str, Any]:
    output = run_experiment(validate_config(raw))
    assert no_children_left() == [], f"seed {raw['seed']}: node processes outlived the run"
    return output.summary


def test_echo_node_answers_every_echo(tmp_path: Path) -> None:
    raw = experiment(example("echo.py"), "echo")
    output = run_experiment(validate_config(raw))
    summary = output.summary
    assert summary["ok"] > 20 and summary["info"] == 0, f"seed {raw['seed']}"
    assert summary["echo_mismatches"] == 0 and summary["final_valid"] is True
    assert summary["runtime"] == "external" and summary["malformed_lines"] == 0
    folder = write_run(output, tmp_path / "run", report=False)
    assert {"history.jsonl", "summary.json", "ops.parquet", "trace.jsonl"} <= {p.name for p in folder.iterdir()}
    assert (folder / "logs" / "n1.stderr.log").exists() and (folder / "logs" / "harness.log").exists()
    assert no_children_left() == []


def test_gossiping_broadcast_reaches_every_node_after_a_partition() -> None:
    """Through a lossy, duplicating, reordering network and a majority-minority cut."""
    raw = experiment(example("broadcast.py"), "broadcast", nodes=5, duration_s=4, partition=(0.8, 1.5))
    raw["network"].update(loss=0.1, duplicate=0.1, reorder=0.1, reorder_delay_ms=20)
    output = run_experiment(validate_config(raw))
    assert no_children_left() == []
    summary, stats = output.summary, output.result.stats
    assert summary["ok"] > 20, f"seed {raw['seed']}"
    assert summary["messages_sent"] > 0, "the nodes gossiped through the bridge"
    assert stats["messages_dropped"] > 0 and stats["messages_delivered"] > 0
    assert summary["partitions"] == 1
    assert summary["final_read_misses"] == 0 and summary["nodes_without_final_read"] == 0
    assert summary["final_valid"] is True and summary["lost_adds"] == 0
    assert summary["stable_latency_p50_ms"] is not None


def test_g_set_and_g_counter_converge() -> None:
    gset = run(experiment(example("g_set.py"), "g-set", duration_s=2.5))
    assert gset["final_valid"] is True and gset["ok"] > 20
    counter = run(experiment(example("g_counter.py"), "g-counter", duration_s=2.5))
    low, high = counter["counter_bounds"]
    assert 0 < low <= high and counter["counter_bad_reads"] == 0 and counter["final_valid"] is True


def test_a_timed_out_read_does_not_turn_the_counter_reads_into_bad_ones() -> None:
    """An info read has no result, so the frame's `result` column of ints becomes float64
    and 3 reads as 3.0; the g-counter check judged every such read "not an int" (a
    sweep under `make test` beside a loaded suite: final_valid False, 3 bad reads of 0)."""
    import pandas as pd

    from workbench.maelstrom.checks import counter_check

    rows = [("add", "ok", 3, None, 0, 1.0), ("read", "info", None, None, 1, 2.0),
            ("read", "ok", None, 3, 0, 5.0), ("read", "ok", None, 3, 1, 6.0),
            ("read", "ok", None, 2, 2, 7.0)]
    frame = pd.DataFrame(rows, columns=["f", "type", "value", "result", "process", "invoke_time"])
    assert frame["result"].dtype == "float64"
    verdict = counter_check(frame, nodes=3)
    assert verdict["counter_bounds"] == [3, 3]
    assert verdict["counter_bad_reads"] == 1 and verdict["final_valid"] is False  # node 2 read 2
    frame.loc[4, "result"] = 3.0
    assert counter_check(frame, nodes=3)["final_valid"] is True
    frame.loc[4, "result"] = 3.5
    assert counter_check(frame, nodes=3)["counter_bad_reads"] == 1


def test_lin_kv_proxy_through_the_lin_kv_service_is_linearizable() -> None:
    raw = experiment(example("lin_kv_proxy.py"), "lin-kv", duration_s=2.5, partition=(0.8, 1.0))
    summary = run(raw)
    assert summary["ok"] > 20 and summary["linearizable"] is True, f"seed {raw['seed']}"


def test_a_proxy_to_the_seq_kv_service_is_not_linearizable() -> None:
    """seq-kv serves stale reads (sequential, not linearizable): the checker sees them.

    A read seq-kv serves from the past is a violation only if the write it missed had
    completed before the read began. On a busy machine ops stretch (p50 45 ms against
    10 ms of think time at load 45) and overlap, and every stale read can then be one
    concurrency explains: seed 7 was linearizable under `make test-loaded`, with no
    real-time stale read in it. So a linearizable verdict is judged against the run's
    own evidence: a run with a real-time stale read (checkers/staleness.py, which never
    calls stale what concurrency could explain) must be found non-linearizable."""
    raw = experiment([*example("lin_kv_proxy.py"), "seq-kv"], "lin-kv", duration_s=2.5)
    summary = run(raw)
    assert summary["ok"] > 20, f"seed {raw['seed']}"
    # Most runs also show other violations (one client reads a newer value, a later one
    # an older): found, the test holds. Only a run the checker passes must show that
    # nothing in it was stale in real time.
    if summary["linearizable"] is not False and not summary["stale_read_fraction"]:
        pytest.skip(f"seed {raw['seed']}: no read was stale in real time (latency p50 "
                    f"{summary['latency_p50_ms']:.0f} ms: ops overlapped), nothing to catch")
    assert summary["linearizable"] is False, f"seed {raw['seed']}: a stale read went unnoticed"


def test_broken_lin_kv_is_caught_under_a_partition() -> None:
    raw = experiment(example("broken_lin_kv.py"), "lin-kv", nodes=5, duration_s=4, partition=(1.0, 2.0))
    summary = run(raw)
    assert summary["linearizable"] is False, f"seed {raw['seed']}: stale local reads went unnoticed"
    assert summary["final_valid"] is False


def test_our_raft_as_an_external_node_is_cp_under_cap_partition() -> None:
    """`python -m workbench.maelstrom raft` under the workbench's own external runtime:
    linearizable, and the minority side answers nothing (cap_partition, shortened)."""
    command = ["{python}", "-m", "workbench.maelstrom", "raft"]
    # A busy machine can take seconds to start five interpreters: init gets time.
    raw = experiment(command, "lin-kv", nodes=5, duration_s=8, partition=(3.0, 3.0), init_timeout_s=30)
    raw["workload"].update(start_s=1.0, timeout_ms=500)
    summary = run(raw)
    assert summary["linearizable"] is True, f"seed {raw['seed']}"
    assert summary["availability_minority"] == 0, f"seed {raw['seed']}"
    assert summary["availability_majority"] > 0.5 and summary["ok"] > 50


# ---------------------------------------------------------------- bad nodes
def test_a_node_that_exits_at_once_is_a_clear_error() -> None:
    raw = experiment([sys.executable, str(BAD / "exits_at_once.py")], "echo")
    started = time.monotonic()
    with pytest.raises(ExternalNodeError, match=r"exited with code 3 before answering init.*giving up"):
        run_experiment(validate_config(raw))
    assert time.monotonic() - started < 30  # at once: not after the 10 s init timeout
    assert no_children_left() == []


def test_a_node_that_never_answers_init_is_a_clear_error() -> None:
    raw = experiment([sys.executable, str(BAD / "never_inits.py")], "echo", init_timeout_s=1)
    with pytest.raises(ExternalNodeError, match=r"did not answer init within 1 s"):
        run_experiment(validate_config(raw))
    assert no_children_left() == []


def test_a_missing_program_is_a_clear_error() -> None:
    raw = experiment(["/no/such/node-binary"], "echo")
    with pytest.raises(ExternalNodeError, match=r"external.command: cannot start '/no/such/node-binary'"):
        run_experiment(validate_config(raw))


def test_garbage_lines_are_counted_not_fatal() -> None:
    raw = experiment([sys.executable, str(BAD / "garbage.py")], "echo", duration_s=2)
    summary = run(raw)
    assert summary["ok"] > 10 and summary["final_valid"] is True, f"seed {raw['seed']}"
    # Per echo: not JSON, no dest, unknown dest, not an object.
    assert summary["malformed_lines"] >= 4 * summary["ok"]


def test_a_node_flooding_stdout_does_not_hang_the_run() -> None:
    raw = experiment([sys.executable, str(BAD / "floods.py")], "echo", duration_s=2, grace_s=0.5)
    summary = run(raw)  # returns at all: the flood neither hangs the reader nor the run
    assert summary["malformed_lines"] > 1000, f"seed {raw['seed']}"
    assert summary["info"] > 0  # the flooder never answers its clients


def test_crash_is_kill_9_and_restart_a_fresh_initialised_process_pause_is_sigstop() -> None:
    raw = experiment(example("g_counter.py"), "g-counter", duration_s=3)
    raw["faults"] = {"nodes": [{"kind": "crash", "node": 0, "at": 0.6, "duration": 0.6},
                               {"kind": "pause", "node": 1, "at": 0.6, "duration": 0.6}]}
    output = run_experiment(validate_config(raw))
    assert no_children_left() == []
    kinds = [r["kind"] for r in output.result.trace]
    assert {"crash", "restart", "pause", "resume"} <= set(kinds), f"seed {raw['seed']}"
    assert "node_exit" not in kinds and "init_failed" not in kinds  # a crash is not an exit
    restart = next(r["time"] for r in output.result.trace if r["kind"] == "restart")
    ops = output.ops
    after = ops[(ops["process"] % 3 == 0) & (ops["invoke_time"] > restart + 200)]
    assert (after["type"] == "ok").any(), "the restarted node serves its clients again"
    assert (ops["type"] == "info").any(), "ops at the crashed or paused node went unanswered"
    logs = output.result.files["logs/n1.stderr.log"].decode()
    assert "incarnation 2" in logs


@pytest.mark.parametrize(("change", "message"), [
    ({"external": None}, "external: required field is missing"),
    ({"runtime": "ray", "ray": {"time_scale": 2}}, "ray.time_scale: external nodes run on their own OS clock"),
    ({"faults": {"clocks": [{"node": 0, "offset_ms": 5}]}}, "faults.clocks: external nodes read their own"),
])
def test_external_config_errors_are_one_line(change: dict[str, Any], message: str) -> None:
    from workbench.errors import ConfigError

    raw = {**experiment(example("echo.py"), "echo"), **change}
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


@pytest.mark.ray
def test_a_sweep_of_external_runs_fans_out_as_ray_tasks(ray_session: None, tmp_path: Path) -> None:
    """Each run is a Ray task running the asyncio runtime; its node processes are the
    worker's children and are gone when the task returns."""
    from workbench.experiment.execute import run_sweep
    from workbench.experiment.plan import plan_sweep

    raw = experiment(example("g_counter.py"), "g-counter", duration_s=1.5)
    raw["sweep"] = {"grid": {"network.loss": [0.0, 0.2]}, "seeds": 1}
    result = run_sweep(plan_sweep(raw), out=tmp_path / "sweep", workers=2, progress=False)
    frame = result.frame
    assert len(frame) == 2 and (frame["status"] == "ok").all(), frame.get("error")
    assert frame["final_valid"].all() and (frame["runtime"] == "external").all()
    runs = sorted((tmp_path / "sweep" / "runs").iterdir())
    assert all((run / "logs" / "n1.stderr.log").exists() for run in runs)
