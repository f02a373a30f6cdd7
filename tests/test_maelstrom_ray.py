"""External nodes on `runtime: ray`: each node's process belongs to the Ray node actor
that spawned it (`runtime/external_ray.py`, `runtime/external_owner.py`).

The unmarked tests run the conductor's `ExternalRuntime` over `RemoteNode`s whose
"actors" are `ExternalNodeOwner`s in this process (fake handles, no Ray): the transport's
ordering, restarts and errors, quickly. The `ray` tests start real actors (a few
seconds of run each; actor start-up dominates) and check ownership with psutil: each
process's parent is its actor's worker, a restart re-spawns inside the same actor, and
nothing outlives a run, a failed init or a killed actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment
from workbench.runtime.external import ExternalNodeError, ExternalRuntime, python_argv
from workbench.runtime.external_owner import ExternalNodeOwner
from workbench.runtime.external_ray import RemoteNode
from workbench.runtime.result import RunResult

NODES = Path(__file__).resolve().parent / "maelstrom_nodes"
ECHO_PARENT = NODES / "echo_parent.py"


def experiment(script: Path, *, nodes: int = 3, duration_s: float = 2.5, runtime: str = "ray",
               **external: Any) -> dict[str, Any]:
    return {
        "name": "ext-ray", "protocol": "external", "runtime": runtime, "seed": 11, "nodes": nodes,
        "duration_s": duration_s,
        "external": {"command": [sys.executable, str(script)], "workload": "echo",
                     "init_timeout_s": 60, **external},
        "workload": {"clients": 2 * nodes, "think_ms": 10, "timeout_ms": 400, "start_s": 0.3,
                     "final_reads_s": 0.5},
        "network": {"latency": {"dist": "uniform", "low_ms": 1, "high_ms": 3}},
        "check": {"max_seconds": 20},
    }


def processes_running(script: Path) -> list[psutil.Process]:
    """Every live process on the machine running `script` (this worktree's path), wherever
    it was reparented to: an orphan is no longer anybody's descendant."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(script) in (proc.info["cmdline"] or []) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def assert_none_left(script: Path, seed: int, within_s: float = 20.0) -> None:
    """No process of `script` survives; bounded wait for the kernel to deliver a killed
    actor's PDEATHSIG (a run that ended normally has reaped them before it returned)."""
    deadline = time.monotonic() + within_s
    while (left := processes_running(script)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"seed {seed}: orphaned node processes {[p.pid for p in left]}"


def parents_in_logs(result: RunResult, name: str) -> list[tuple[int, int]]:
    """(parent pid, pid) per incarnation, as the node itself printed them."""
    log = result.files[f"logs/{name}.stderr.log"].decode()
    return [(int(words[1]), int(words[3])) for words in
            (line.split() for line in log.splitlines() if line.startswith("parent "))]


# --------------------------------------------------------------------------- in-process


class FakeHandle:
    """A Ray actor handle stand-in: `handle.method.remote(*args)` is a task on this loop."""

    def __init__(self, owner: ExternalNodeOwner) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> SimpleNamespace:
        method = getattr(self._owner, name)
        return SimpleNamespace(remote=lambda *args: asyncio.get_running_loop().create_task(method(*args)))


def run_in_process(raw: dict[str, Any], owner: type[ExternalNodeOwner] = ExternalNodeOwner,
                   ) -> tuple[RunResult, list[RemoteNode]]:
    config = validate_config({**raw, "runtime": "sim"})
    argv = python_argv(config.external.command)  # type: ignore[union-attr]

    def transport(name: str, *args: Any) -> RemoteNode:
        return RemoteNode(FakeHandle(owner(name, argv, 1 << 20)), 1, name, *args)

    with tempfile.TemporaryDirectory() as tmp:
        runtime = ExternalRuntime(config, Path(tmp), transport=transport)
        nodes = [node for node in runtime.nodes if isinstance(node, RemoteNode)]
        for node in nodes:
            node.on_lost = runtime.fail
        return asyncio.run(runtime.run()), nodes


def test_remote_transport_in_process_echoes_restarts_and_reaps() -> None:
    raw = experiment(ECHO_PARENT)
    raw["faults"] = {"nodes": [{"kind": "crash", "node": 0, "at": 0.6, "duration": 0.6},
                               {"kind": "pause", "node": 1, "at": 0.6, "duration": 0.6}]}
    result, nodes = run_in_process(raw)
    assert_none_left(ECHO_PARENT, raw["seed"], within_s=0)
    kinds = [r["kind"] for r in result.trace]
    assert {"crash", "restart", "pause", "resume"} <= set(kinds), f"seed {raw['seed']}"
    assert "node_exit" not in kinds and "init_failed" not in kinds
    oks = [e for e in result.history if e["type"] == "ok"]
    assert len(oks) > 50, f"seed {raw['seed']}"
    assert len(nodes[0].pids) == 2 and len(set(nodes[0].pids)) == 2  # a fresh process
    assert [len(n.pids) for n in nodes[1:]] == [1, 1]
    assert [pid for _, pid in parents_in_logs(result, "n1")] == nodes[0].pids
    assert result.stats["malformed_lines"] == 0


class LateExitReports(ExternalNodeOwner):
    """An owner whose exit reports trail the kill by longer than the crash lasts, as a
    Ray poll on a loaded machine did (`make test-loaded`: the killed incarnation's exit
    arrived after the restart fault and was counted as the node exiting on its own)."""

    async def poll(self, run: int) -> list[tuple[str, Any]] | None:
        events = await super().poll(run)
        if events and any(kind not in ("line", "malformed") for kind, _ in events):
            await asyncio.sleep(0.5)
        return events


class SlowKill(ExternalNodeOwner):
    """An owner slow around a kill, as a loaded machine's Ray calls are: requests written
    to the doomed incarnation queue behind the kill, and their batch goes out only after
    the restart's `start` (`make test-loaded`: they reached the new process before its
    init; the echo node, which learns its id from init, died: node_exit, init_failed)."""

    async def apply(self, commands: list[bytes | str]) -> None:
        if "kill" not in commands:
            return await super().apply(commands)
        await asyncio.sleep(0.5)  # > the clients' 400 ms timeout: each writes again meanwhile
        await super().apply(commands)
        await asyncio.sleep(0.5)
        return None


@pytest.mark.parametrize("owner", [LateExitReports, SlowKill])
def test_a_restart_behind_slow_ray_calls_is_clean(owner: type[ExternalNodeOwner]) -> None:
    """The crashed node is re-spawned once its exit is seen, answers init first and is
    ready after the restart: no node_exit, no init_failed, whichever Ray call is late."""
    raw = experiment(ECHO_PARENT)
    raw["faults"] = {"nodes": [{"kind": "crash", "node": 0, "at": 0.6, "duration": 0.1}]}
    result, nodes = run_in_process(raw, owner=owner)
    kinds = [r["kind"] for r in result.trace]
    assert "crash" in kinds, f"seed {raw['seed']}: {result.trace}"
    assert "node_exit" not in kinds and "init_failed" not in kinds, f"seed {raw['seed']}: {result.trace}"
    assert len(set(nodes[0].pids)) == 2
    restart = next(r["time"] for r in result.trace if r["kind"] == "restart")
    assert any(r["kind"] == "node_ready" and r["node"] == 0 and r["time"] > restart for r in result.trace)


def test_remote_transport_in_process_reports_a_node_that_exits_at_once() -> None:
    raw = experiment(NODES / "exits_at_once.py", nodes=2)
    with pytest.raises(ExternalNodeError, match=r"exited with code 3 before answering init.*giving up"):
        run_in_process(raw)
    assert_none_left(NODES / "exits_at_once.py", raw["seed"], within_s=0)


def test_remote_transport_in_process_a_missing_program_is_a_clear_error() -> None:
    raw = experiment(Path("/no/such/node-binary"), nodes=1)
    raw["external"]["command"] = ["/no/such/node-binary"]
    with pytest.raises(ExternalNodeError, match=r"external.command: cannot start '/no/such/node-binary'"):
        run_in_process(raw)


def test_external_on_ray_config_is_accepted_at_time_scale_one() -> None:
    assert validate_config(experiment(ECHO_PARENT)).runtime == "ray"


# --------------------------------------------------------------------------- on Ray


@pytest.mark.ray
def test_each_process_is_its_node_actors_child_and_restarts_inside_it(ray_session: None) -> None:
    raw = experiment(ECHO_PARENT, duration_s=3)
    raw["faults"] = {"nodes": [{"kind": "crash", "node": 0, "at": 0.6, "duration": 0.6},
                               {"kind": "pause", "node": 1, "at": 0.6, "duration": 0.6}]}
    output = run_experiment(validate_config(raw))
    assert_none_left(ECHO_PARENT, raw["seed"], within_s=0)
    result, summary = output.result, output.summary
    assert summary["runtime"] == "ray" and summary["echo_mismatches"] == 0, f"seed {raw['seed']}"
    actor_pids = [int(location.split(":")[1]) for location in result.stats["actor_locations"]]
    assert os.getpid() not in actor_pids and len(set(actor_pids)) == 3
    for i, name in enumerate(["n1", "n2", "n3"]):
        # What each incarnation printed itself: its parent is node i's actor, every time.
        seen = parents_in_logs(result, name)
        assert [parent for parent, _ in seen] == [actor_pids[i]] * len(seen), f"seed {raw['seed']}: {name}"
        assert [pid for _, pid in seen] == result.stats["node_pids"][name]
    assert len(set(result.stats["node_pids"]["n1"])) == 2, "the crashed node was re-spawned"
    kinds = [r["kind"] for r in result.trace]
    # On a failure, the records and the harness's own log say which node exited and when
    # (a loaded `make test-loaded` once saw node_exit then init_failed after the restart).
    faults = [r for r in result.trace if r["kind"] in ("crash", "restart", "node_exit", "init_failed", "node_ready")]
    harness = result.files.get("logs/harness.log", b"").decode(errors="replace")[-2000:]
    assert {"crash", "restart", "pause", "resume"} <= set(kinds) and "node_exit" not in kinds, (
        f"seed {raw['seed']}: {faults}\n{harness}")
    # Liveness is owed from the moment the re-spawned process answered init, not from the
    # restart fault: on a loaded machine the interpreter alone can take seconds to start.
    ready = [r["time"] for r in result.trace if r["kind"] == "node_ready" and r["node"] == 0]
    ops = output.ops
    at_node0 = ops[ops["process"] % 3 == 0]
    assert len(ready) <= 1 and all(t > next(r["time"] for r in result.trace if r["kind"] == "restart")
                                   for t in ready)
    if ready and ready[0] + 300 < at_node0["invoke_time"].max():  # else: ready too late to owe anything
        after = at_node0[at_node0["invoke_time"] > ready[0]]
        assert (after["type"] == "ok").any(), f"seed {raw['seed']}: the re-spawned node serves again"
    # The actors are killed at the end; their worker processes go with them.
    deadline = time.monotonic() + 20
    while any(psutil.pid_exists(pid) for pid in actor_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in actor_pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.ray
@pytest.mark.parametrize(("script", "options", "message"), [
    ("exits_at_once.py", {}, r"exited with code 3 before answering init.*giving up"),
    ("never_inits.py", {"init_timeout_s": 1}, r"did not answer init within 1 s"),
])
def test_bad_nodes_on_ray_give_the_clear_error_and_leave_nothing(
        ray_session: None, script: str, options: dict[str, Any], message: str) -> None:
    raw = experiment(NODES / script, nodes=2, **options)
    with pytest.raises(ExternalNodeError, match=message):
        run_experiment(validate_config(raw))
    assert_none_left(NODES / script, raw["seed"])


@pytest.mark.ray
def test_a_killed_node_actor_ends_the_run_with_one_line_and_no_orphans(ray_session: None) -> None:
    from workbench.runtime.ray_cluster import RayNodeLost

    raw = experiment(ECHO_PARENT, nodes=2, duration_s=30)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            run_experiment(validate_config(raw))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 300  # actor start-up on a loaded machine
    while len(procs := processes_running(ECHO_PARENT)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(procs) == 2, f"seed {raw['seed']}: the nodes never started"
    owner = procs[0].ppid()  # the node actor's worker process, started by this test's run
    assert owner != os.getpid()
    os.kill(owner, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the run went on after its actor died"
    assert failure and isinstance(failure[0], RayNodeLost), failure
    assert "lost an actor mid-run" in str(failure[0]) and "\n" not in str(failure[0])
    assert_none_left(ECHO_PARENT, raw["seed"])
    # The killed actor could not remove its log folder: the test does.
    for leftover in Path(tempfile.gettempdir()).glob(f"workbench-external-n*-{owner}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@pytest.mark.ray
def test_a_sweep_reuses_its_node_actors_and_kills_them_at_the_end(ray_session: None) -> None:
    """Inside `reusing_node_actors` (a serial sweep) the second run's nodes are spawned by
    the first run's actors; every run still reaps its processes, and the actors die at
    the end of the sweep."""
    from workbench.runtime.external_ray import reusing_node_actors

    raw = experiment(ECHO_PARENT, nodes=2, duration_s=1.5)
    with reusing_node_actors():
        first = run_experiment(validate_config(raw)).result
        assert_none_left(ECHO_PARENT, raw["seed"], within_s=0)
        second = run_experiment(validate_config({**raw, "seed": 12})).result
        assert_none_left(ECHO_PARENT, 12, within_s=0)
    assert not first.stats["actors_reused"] and second.stats["actors_reused"]
    assert second.stats["actor_locations"] == first.stats["actor_locations"]
    actor_pids = [int(location.split(":")[1]) for location in first.stats["actor_locations"]]
    for i, name in enumerate(["n1", "n2"]):
        assert [p for p, _ in parents_in_logs(second, name)] == [actor_pids[i]]
        assert second.stats["node_pids"][name] != first.stats["node_pids"][name]
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in actor_pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in actor_pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
