"""Read docs/metrics.md, the methodology page, into {field: {definition, unit, ...}}.

The page is the one place a summary field is defined (issue 19 item 7); the report
shows its definitions beside the numbers, and a test fails when a summary field has
no entry. Format of an entry (several fields may share one heading):

    ### `latency_p50_ms`, `latency_p99_ms`
    - **Definition:** ...
    - **Unit:** ms
    - **Ops counted:** ...
    - **Known biases:** ...
    - **Pinned by:** tests/test_analysis_latency.py
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
_HEADING = re.compile(r"^###\s+(.*)$")
_FIELD = re.compile(r"`([A-Za-z0-9_.]+)`")
_SENTENCE_END = re.compile(r"(?<!i\.e)(?<!e\.g)\.\s")
_ITEM = re.compile(r"^-\s+\*\*(.+?):\*\*\s*(.*)$")
KEYS = {"definition": "definition", "unit": "unit", "ops counted": "ops", "known biases": "biases",
        "pinned by": "pinned_by"}


def parse_metric_docs(text: str) -> dict[str, dict[str, str]]:
    """Field -> {definition, unit, ops, biases, pinned_by, short} for every `###` entry."""
    docs: dict[str, dict[str, str]] = {}
    fields: list[str] = []
    entry: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            fields, entry, last = _FIELD.findall(heading.group(1)), {}, None
            for field in fields:
                docs[field] = entry
            continue
        item = _ITEM.match(line.strip())
        if item and fields:
            last = KEYS.get(item.group(1).strip().lower())
            if last:
                entry[last] = item.group(2).strip()
        elif fields and last and line.startswith("  ") and line.strip():
            entry[last] += " " + line.strip()  # a bullet continued on the next line
        elif not line.strip():
            last = None
    for entry in docs.values():
        for key in list(entry):
            entry[key] = entry[key].replace("`", "")  # Markdown code marks; the report shows plain text
        entry["short"] = _SENTENCE_END.split(entry.get("definition", ""), maxsplit=1)[0].rstrip(".")
    return docs


@cache
def metric_docs(path: Path = METRICS_DOC) -> dict[str, dict[str, str]]:
    """The parsed page ({} when it is not there, e.g. an installed wheel without docs/)."""
    return parse_metric_docs(path.read_text(encoding="utf-8")) if path.is_file() else {}
