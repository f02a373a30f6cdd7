"""CAP workbench: run and measure CAP experiments.

The notebook-facing API (`run`, `sweep`, `load`) lives in `workbench.api` and is
re-exported here lazily so that importing a protocol core never pulls in pandas or Ray.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run", "sweep", "load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from workbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
