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

_FUNCTIONS: dict[str, list[str]] = {
    # module: the names it exports here
    "workbench.api": ["run", "sweep", "load", "check"],
    "workbench.results.load": ["Run", "Sweep"],
    "workbench.experiment.config": ["config_from", "load_config"],
    "workbench.analysis.aggregate": ["aggregate_seeds", "wide", "paired_differences"],
    "workbench.analysis.phases": ["partition_intervals"],
    "workbench.analysis.staleness": ["stale_reads", "staleness_summary", "stale_fraction_per_run"],
    "workbench.analysis.report": ["write_report"],
    "workbench.analysis.summary_text": ["summary_text"],
    "workbench.checkers.pbs": ["consistency_vs_t"],
}
_MODULES: dict[str, str] = {
    # name: the module exported whole
    "pipelines": "workbench.analysis.pipelines",
    "plots": "workbench.analysis.plots",
    "pbs_plots": "workbench.analysis.pbs_plots",
    "fig16": "workbench.studies.fig16",
    "pbs_study": "workbench.studies.pbs",
}
_EXPORTS: dict[str, tuple[str, str | None]] = {
    **{name: (module, name) for module, names in _FUNCTIONS.items() for name in names},
    **{name: (module, None) for name, module in _MODULES.items()},
}
"""name -> (module, attribute; None = the module itself)"""

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
