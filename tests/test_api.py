"""The notebook API: workbench.run / sweep / load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import tiny_experiment

import workbench
from workbench.errors import ConfigError, UserInputError
from workbench.results.load import Run, Sweep

BASE: dict[str, Any] = tiny_experiment(name="api", seed=3)


@pytest.fixture(scope="module")
def one_run() -> Run:
    return workbench.run(BASE, workload__think_ms=10, faults__partitions__0__duration=0.5)


def test_run_exposes_ops_summary_history_trace_and_frame(one_run: Run) -> None:
    run = one_run
    assert run.config.workload.think_ms == 10  # `__` nests, list indices included
    assert run.config.faults.partitions[0].duration == 0.5
    assert len(run.ops) == run.summary["ops"] > 0
    assert {"op", "type", "latency_ms", "protocol", "seed"} <= set(run.ops.columns)
    assert run.history[0]["type"] == "invoke"
    assert any(r["kind"] == "partition_start" for r in run.trace)
    frame = run.frame()
    assert len(frame) == 1 and frame.loc[0, "ops"] == run.summary["ops"]
    assert run.path is None


def test_run_from_a_file_with_overrides_and_bad_overrides(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({**BASE, "sweep": {"grid": {"seed": [1]}}}))
    run = workbench.run(path, seed=9, out=tmp_path / "run")
    assert run.summary["seed"] == 9 and run.path == tmp_path / "run"
    with pytest.raises(ConfigError, match="raft.read_mod"):
        workbench.run(path, raft__read_mod="lease")


def test_load_a_run_folder_round_trips(tmp_path: Path) -> None:
    run = workbench.run(BASE, out=tmp_path / "run")
    loaded = workbench.load(tmp_path / "run")
    assert isinstance(loaded, Run)
    assert loaded.summary == run.summary
    pd.testing.assert_frame_equal(loaded.ops, run.ops, check_dtype=False)
    assert loaded.history == run.history and len(loaded.trace) == len(run.trace)
    assert loaded.config.seed == 3


def test_sweep_then_load_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    spec = {**BASE, "sweep": {"grid": {"faults.partitions.0.duration": [0.5, 1]}, "seeds": 2}}
    frame = workbench.sweep(spec, out=out, workers=1, progress=False)
    assert len(frame) == 4 and (frame["status"] == "ok").all()

    loaded = workbench.load(out)
    assert isinstance(loaded, Sweep) and len(loaded) == 4
    pd.testing.assert_frame_equal(loaded.summary, frame)
    ops = loaded.ops()
    assert list(ops.columns[:2]) == ["run_id", "faults.partitions.0.duration"]
    assert len(ops) == frame["ops"].sum()
    assert ops.groupby("run_id").size().to_dict() == frame.set_index("run_id")["ops"].to_dict()
    assert set(ops.groupby("run_id")["seed"].first()) == {3, 4}
    lean = loaded.ops(columns=["type", "latency_ms"])
    assert list(lean.columns) == ["run_id", "faults.partitions.0.duration", "type", "latency_ms"]

    one = loaded.run(frame.loc[0, "run_id"])
    assert one.summary["ops"] == frame.loc[0, "ops"]
    with pytest.raises(UserInputError, match="history.jsonl"):
        _ = one.history  # sweeps keep histories only when asked (history=True)

    # Overrides apply to the base; a changed base is refused for the same folder.
    with pytest.raises(ConfigError, match="duration_s differs"):
        workbench.sweep(spec, out=out, workers=1, progress=False, duration_s=3)


def test_load_refuses_what_is_not_a_result(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a run or sweep folder"):
        workbench.load(tmp_path)


def test_workbench_sweep_is_always_the_function() -> None:
    """No module is named like a public name, so no import can swap one for a module."""
    import importlib
    import pkgutil

    from workbench import api

    assert workbench.sweep is api.sweep and callable(workbench.sweep)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("workbench.sweep")  # there is no such module any more
    public = set(workbench.__all__)
    modules = {m.name.rsplit(".", 1)[-1] for m in pkgutil.iter_modules(workbench.__path__)}
    assert not public & modules, "a submodule named like a public name could replace it"
    for name in ("experiment", "results", "experiment.execute", "experiment.plan",
                 "experiment.run", "results.load"):
        importlib.import_module(f"workbench.{name}")
    assert workbench.sweep is api.sweep and workbench.run is api.run and workbench.load is api.load


def test_the_public_surface_resolves_every_name() -> None:
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name
    assert "sweep" in dir(workbench)
    with pytest.raises(AttributeError):
        _ = workbench.no_such_name


def test_a_summary_older_than_its_run_folders_is_rebuilt_on_load(tmp_path: Path) -> None:
    """A sweep killed between a run's folder and the summary rewrite leaves summary.parquet
    one run behind (here: one seed of two). `workbench.load` and `workbench report` read
    through the one reader, which rebuilds it from the folders, so both show both runs."""
    import os

    from workbench.analysis.report import render_report
    from workbench.results.store import SweepStore, atomic_write_bytes

    out = tmp_path / "sweep"
    spec = {**BASE, "sweep": {"grid": {"faults.partitions.0.duration": [0.5]}, "seeds": 1}}
    workbench.sweep(spec, out=out, workers=1, progress=False)
    behind = (out / "summary.parquet").read_bytes()
    spec["sweep"]["seeds"] = 2
    full = workbench.sweep(spec, out=out, workers=1, progress=False)
    assert len(full) == 2
    atomic_write_bytes(out / "summary.parquet", behind)  # what the kill leaves behind
    runs_mtime = (out / "runs").stat().st_mtime_ns
    os.utime(out / "summary.parquet", ns=(runs_mtime - 10**9, runs_mtime - 10**9))
    assert len(pd.read_parquet(out / "summary.parquet")) == 1 and SweepStore(out).summary_is_stale()

    loaded = workbench.load(out)
    pd.testing.assert_frame_equal(loaded.summary, full, check_dtype=False)
    assert len(loaded.ops()) == full["ops"].sum()
    assert "2 runs" in render_report(out)  # the report's title counts the summary's rows

    # A retried run keeps its id but not its record: the stale summary says error.
    stale = full.assign(status="error")
    stale.to_parquet(out / "summary.parquet", index=False)
    os.utime(out / "summary.parquet", ns=(runs_mtime - 10**9, runs_mtime - 10**9))
    assert (workbench.load(out).summary["status"] == "ok").all()


def test_notebooks_demo_and_readme_use_only_the_public_surface() -> None:
    """`import workbench` / `from workbench import <public names>` and `workbench.<public
    name>` only: what `workbench.__all__` lists can be relied on, the rest may move."""
    import ast
    import json
    import re

    root = Path(__file__).resolve().parent.parent
    sources = {"workbench/demo.py": (root / "workbench" / "demo.py").read_text()}
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        sources[notebook.name] = "\n".join(line for text in code for line in text.splitlines()
                                           if not line.lstrip().startswith(("%", "!")))
    readme = (root / "README.md").read_text()
    sources["README.md"] = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    public = set(workbench.__all__)
    for where, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
                assert node.module == "workbench", f"{where}: from {node.module} import ..."
                assert {a.name for a in node.names} <= public, f"{where}: {ast.unparse(node)}"
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("workbench")]
                assert all(n == "workbench" for n in names), f"{where}: {ast.unparse(node)}"
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id == "workbench"):
                assert node.attr in public, f"{where}: workbench.{node.attr} is not public"
