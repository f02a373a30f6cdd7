"""Histories: the JSON Lines event log of DESIGN.md, its one-row-per-op frame, importers."""

from workbench.history.events import read_jsonl, write_jsonl
from workbench.history.frame import FRAME_COLUMNS, history_to_frame

__all__ = ["FRAME_COLUMNS", "history_to_frame", "read_jsonl", "write_jsonl"]
