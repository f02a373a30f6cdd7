"""docs/metrics.md documents every summary field (issue 19 item 7)."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_experiment
from workbench.analysis.metric_docs import METRICS_DOC, metric_docs, parse_metric_docs
from workbench.checkers.summary import SUMMARY_KEYS
from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment

SWEEP_FIELDS = ("run_id", "status", "error")
REQUIRED = ("definition", "unit", "ops", "biases", "pinned_by")


@pytest.fixture(scope="module")
def summary_fields() -> set[str]:
    fields = set(SUMMARY_KEYS) | set(SWEEP_FIELDS)
    for workload in ({"kind": "register"}, {"kind": "set"}):
        raw = tiny_experiment(workload={"clients": 5, "think_ms": 20, **workload})
        fields |= set(run_experiment(validate_config(raw)).summary)
    return fields


def test_every_summary_field_has_a_complete_entry(summary_fields: set[str]) -> None:
    docs = metric_docs(METRICS_DOC)
    missing = sorted(summary_fields - set(docs))
    assert not missing, f"summary fields without an entry in docs/metrics.md: {missing}"
    incomplete = {f: [k for k in REQUIRED if not docs[f].get(k)] for f in summary_fields}
    assert not {f: k for f, k in incomplete.items() if k}, incomplete


def test_the_parser_reads_shared_headings_and_continued_bullets() -> None:
    docs = parse_metric_docs("### `a`, `b`\n- **Definition:** First. Second.\n  more\n- **Unit:** ms\n\n"
                             "### `c`\n- **Unit:** s\n")
    assert docs["a"] is docs["b"] and docs["a"]["definition"] == "First. Second. more"
    assert docs["a"]["short"] == "First" and docs["a"]["unit"] == "ms" and docs["c"]["unit"] == "s"
