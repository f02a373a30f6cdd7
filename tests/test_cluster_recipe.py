"""docs/cluster.md, run on one machine: a head and two workers (`ray_start`, 1 CPU each,
on loopback, with a token), a sweep and a fault search with `--address`, the results
collected from summary.parquet, then every node stopped by its pid.

Marked slow: starting three raylets as separate processes takes minutes on a loaded
2-core machine. `make test-slow` runs it."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import ROOT
from ray_support import free_port_for_test

pytestmark = [pytest.mark.ray, pytest.mark.slow]

PY = sys.executable
START_S = 600  # a node's start on a machine at load 40
SMALL_SWEEP = """\
name: recipe_sweep
protocol: eventual
seed: 1
nodes: 3
duration_s: 4
workload: {clients: 3, think_ms: 20}
faults:
  partitions: [{shape: majority-minority, at: 1, duration: 2}]
sweep:
  grid: {protocol: [eventual, raft]}
  seeds: 2
"""


class Node:
    """One `python -m workbench.runtime.ray_start ...` in the foreground, as in the recipe."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([PY, "-m", "workbench.runtime.ray_start", *args], env=env,
                                     cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_up(self) -> str:
        seen: list[str] = []
        for _ in range(START_S):
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError("node exited:\n" + "".join(seen)) from None
                continue
            seen.append(line)
            if " up (" in line:
                return line
        raise AssertionError("node not up:\n" + "".join(seen))

    def stop(self) -> int:
        children: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        gone, alive = psutil.wait_procs(children, timeout=60)
        assert not alive, f"left running: {alive}"
        return code


@pytest.fixture
def recipe_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "token" / "ray_auth_token")
    yield env


def workbench(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "workbench.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)


def test_cluster_recipe_on_one_machine(recipe_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port_for_test()
    address = f"127.0.0.1:{port}"
    head = Node(["head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                 "--num-cpus", "1", "--new-token"], recipe_env)
    nodes = [head]
    try:
        head.wait_up()
        token = Path(recipe_env["RAY_AUTH_TOKEN_PATH"])
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        for _ in range(2):
            nodes.append(Node(["worker", "--address", address, "--node-ip-address", "127.0.0.1",
                               "--num-cpus", "1"], recipe_env))
        for node in nodes[1:]:
            node.wait_up()

        sweep_file = tmp_path / "recipe_sweep.yaml"
        sweep_file.write_text(SMALL_SWEEP)
        done = workbench(recipe_env, "sweep", str(sweep_file), "--address", address,
                         "--out", str(tmp_path / "sweep"), "--no-report")
        assert done.returncode == 0, done.stderr[-3000:]
        search = workbench(recipe_env, "sweep", "experiments/fault_search.yaml", "--address", address,
                           "--out", str(tmp_path / "search"), "--no-report",
                           "--set", "sweep.seeds=2", "--set", "duration_s=6",
                           "--set", "faults.nemesis.stop=4")
        assert search.returncode in (0, 1), search.stderr[-3000:]  # 1: a run failed its check

        summary = pd.read_parquet(tmp_path / "sweep" / "summary.parquet")
        assert len(summary) == 4 and (summary["status"] == "ok").all()
        assert summary["ray_node_id"].nunique() > 1, summary["ray_node_id"].tolist()
        found = pd.read_parquet(tmp_path / "search" / "summary.parquet")
        assert len(found) == 4 and "linearizable" in found.columns

        # Without the token the driver is refused with one line, not a traceback.
        no_token = {**recipe_env, "RAY_AUTH_TOKEN_PATH": str(tmp_path / "nothing")}
        refused = workbench(no_token, "sweep", str(sweep_file), "--address", address,
                            "--out", str(tmp_path / "refused"), "--no-report")
        assert refused.returncode == 2 and "needs its token" in refused.stderr
        assert "Traceback" not in refused.stderr and not (tmp_path / "refused").exists()
    finally:
        codes = [node.stop() for node in reversed(nodes)]
    assert codes == [0] * len(nodes)
