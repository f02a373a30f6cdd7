"""The notebook API: `workbench.run`, `workbench.sweep`, `workbench.load`, `workbench.check`.

```python
import workbench
r = workbench.run("experiments/cap_partition.yaml", protocol="raft", raft__read_mode="lease")
r.ops            # one row per operation (DataFrame)
r.summary        # the run's metrics (dict); r.frame() is the same as a one-row DataFrame
r.history        # the event log (list of dicts, DESIGN.md's format); r.trace: fault/protocol facts
df = workbench.sweep("experiments/cap_sweep.yaml", workers=2)   # summary frame, one row per run
s = workbench.load("data/sweeps/cap_sweep")
s.summary, s.ops()      # the same frame; every run's ops concatenated, with run_id + grid columns
```

Keyword overrides use `__` for nesting (`raft__read_mode="follower"`), as `config_from` does.
This module only wires the layers together: configs resolve in `experiment.config`, runs
and sweeps execute in `experiment`, folders are written and read in `results`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import RunWarning
from workbench.experiment.config import ConfigSource, resolve, validate_config
from workbench.results.load import Run, Sweep, load

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Run", "Sweep", "check", "load", "run", "sweep"]


def run(config_or_path: ConfigSource, *, out: str | Path | None = None, report: bool = False,
        force: bool = False, **overrides: Any) -> Run:
    """Run one experiment in this process; with `out`, also write its result folder.

    `out` must be new or empty; `force=True` replaces a result folder the workbench wrote
    (never a folder of yours). The path is checked before the run starts.
    """
    from workbench.experiment.run import run_experiment, write_run
    from workbench.outputs import guard_output_dir

    raw, name = resolve(config_or_path, overrides)
    raw.pop("sweep", None)  # a sweep file runs its base experiment
    config = validate_config(raw, name)
    if out is not None:
        guard_output_dir(out, force=force, option="out")
    output = run_experiment(config)
    path = write_run(output, out, report=report, force=force) if out is not None else None
    for message in output.summary.get("warnings", []):
        warnings.warn(message, RunWarning, stacklevel=2)  # shown once per message in Jupyter
    return Run(config=output.config, ops=output.ops, summary=output.summary,
               history=output.result.history, trace=output.result.trace, path=path)


def sweep(config_or_path: ConfigSource, *, out: str | Path | None = None,
          workers: int | None = None, address: str | None = None, history: bool = False,
          retry_errors: bool = True, progress: bool = True, report: bool = False,
          force: bool = False, yes: bool = False, **overrides: Any) -> pd.DataFrame:
    """Run a sweep (resuming one already in `out`) and return its summary frame.

    Ray is started if needed and left running for the next sweep of the session;
    Ctrl-C stops the sweep, keeps finished runs and re-raises KeyboardInterrupt.
    `force=True` replaces a sweep folder of another experiment that the workbench wrote;
    a grid of more than 10,000 runs is refused unless `yes=True`.
    """
    from workbench.experiment.execute import run_sweep, write_sweep_report
    from workbench.experiment.plan import MAX_RUNS, plan_sweep

    raw, name = resolve(config_or_path, overrides)
    plan = plan_sweep(raw, name, max_runs=None if yes else MAX_RUNS)
    result = run_sweep(plan, out=out, workers=workers, address=address, keep_history=history,
                       retry_errors=retry_errors, progress=progress, keep_ray=True, force=force)
    if result.interrupted:
        raise KeyboardInterrupt(f"sweep interrupted; finished runs are kept in {result.path}")
    if report and (note := write_sweep_report(result.path)):
        print(note)
    return result.frame


def check(history: str | Path | list[dict[str, Any]], *, model: str | None = None,
          format: str | None = None, max_seconds: float | None = 30.0) -> Any:
    """Check a history for linearizability: a file (JSON Lines, a Jepsen log or EDN, as
    `workbench check` reads it) or a list of events in DESIGN.md's format. `model`
    defaults to the one the history's ops suggest (cas-register, set, kv, register);
    returns the checker's `LinearizabilityResult` (`.linearizable`: True/False/None)."""
    from workbench.checkers.linearizability import check_linearizability
    from workbench.history.importers import load_history, suggest_model

    if isinstance(history, list):
        events, suggested = history, suggest_model(history)
    else:
        events, suggested = load_history(history, format)
    return check_linearizability(events, model=model or suggested, max_seconds=max_seconds)
