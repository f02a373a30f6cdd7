"""CAP workbench: run and measure CAP experiments.

The public surface — what notebooks, the README and `workbench.demo` use — is the names in
`__all__`, reached as `workbench.<name>`:

- `run`, `sweep`, `load`, `check` (`workbench.api`), the loaded `Run` and `Sweep`
  (`workbench.results.load`), and `config_from` / `load_config` (`workbench.experiment.config`);
- the pipelines and plots the notebooks chain: the modules `pipelines`, `plots`,
  `pbs_plots`, and the functions named below (`workbench.analysis`, `workbench.checkers`);
- the studies `fig16` and `pbs_study` (`workbench.studies`).

Everything else is internal and may move. Names load lazily (PEP 562), so importing a
protocol core never pulls in pandas or Ray. No submodule has a public name, so
`import workbench.<x>` can never replace one of these attributes (`workbench.sweep` was
once both a function and a module, and which one you got depended on import order).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, str | None]] = {
    # name: (module, attribute; None = the module itself)
    "run": ("workbench.api", "run"),
    "sweep": ("workbench.api", "sweep"),
    "load": ("workbench.api", "load"),
    "check": ("workbench.api", "check"),
    "Run": ("workbench.results.load", "Run"),
    "Sweep": ("workbench.results.load", "Sweep"),
    "config_from": ("workbench.experiment.config", "config_from"),
    "load_config": ("workbench.experiment.config", "load_config"),
    "pipelines": ("workbench.analysis.pipelines", None),
    "plots": ("workbench.analysis.plots", None),
    "pbs_plots": ("workbench.analysis.pbs_plots", None),
    "aggregate_seeds": ("workbench.analysis.aggregate", "aggregate_seeds"),
    "wide": ("workbench.analysis.aggregate", "wide"),
    "paired_differences": ("workbench.analysis.aggregate", "paired_differences"),
    "partition_intervals": ("workbench.analysis.phases", "partition_intervals"),
    "stale_reads": ("workbench.analysis.staleness", "stale_reads"),
    "staleness_summary": ("workbench.analysis.staleness", "staleness_summary"),
    "stale_fraction_per_run": ("workbench.analysis.staleness", "stale_fraction_per_run"),
    "write_report": ("workbench.analysis.report", "write_report"),
    "summary_text": ("workbench.analysis.summary_text", "summary_text"),
    "consistency_vs_t": ("workbench.checkers.pbs", "consistency_vs_t"),
    "fig16": ("workbench.studies.fig16", None),
    "pbs_study": ("workbench.studies.pbs", None),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # cached: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
