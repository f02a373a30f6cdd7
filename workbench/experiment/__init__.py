"""Orchestration: what to run and running it.

- `config`: the experiment file's pydantic models; loading, `--set` overrides and
  `resolve`/`config_from` (the Python API's way in);
- `dotted`: the one dotted-path walker (`--set`, keyword overrides, sweep grids);
- `run`: one experiment on its runtime (sim, Ray, external), measured, and written;
- `plan`: a sweep's grid expanded into validated runs;
- `execute`: a plan run serially or as Ray tasks (`runtime.ray_session`) into the
  result store (`workbench.results`), resumably.

This package re-exports nothing: its modules are imported by their full names, so no
submodule import can shadow a name of the package (see `workbench/__init__.py`).
"""
