"""Histories: the JSON Lines event log of DESIGN.md, its one-row-per-op frame, importers.

Names are re-exported lazily: the frame needs pandas, and processes that only record
events (Ray actors hosting clients) should not pay for importing it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "read_jsonl": "workbench.history.events",
    "write_jsonl": "workbench.history.events",
    "FRAME_COLUMNS": "workbench.history.frame",
    "history_to_frame": "workbench.history.frame",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench.history' has no attribute {name!r}")
