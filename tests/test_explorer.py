"""The interactive run explorer: its data, and the page itself in a real headless browser.

The browser test needs Debian's `chromium` (`.ci/run` installs it when missing); on a
machine without one it is skipped with the reason printed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import tiny_experiment

from workbench.analysis.explorer import (
    explorer_data,
    fault_intervals,
    render_explorer,
    write_explorer,
)
from workbench.experiment.config import validate_config
from workbench.experiment.run import run_experiment, write_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI sets this after installing chromium: there, a missing browser is a failure, not a skip.
REQUIRE_BROWSER = os.environ.get("WORKBENCH_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def eventual_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sim run of the eventual store under a partition: not linearizable."""
    config = validate_config(tiny_experiment(name="explorer", duration_s=3,
                                             workload={"clients": 10, "think_ms": 5}))
    out = tmp_path_factory.mktemp("runs") / "eventual"
    write_run(run_experiment(config), out)
    return out


def test_fault_intervals_pair_starts_with_ends() -> None:
    trace = [
        {"time": 10.0, "kind": "partition_start", "fault_id": 0, "shape": "halves", "groups": [[0, 1], [2]]},
        {"time": 12.0, "kind": "crash", "fault_id": 1, "node": 2},
        {"time": 30.0, "kind": "partition_end", "fault_id": 0},
        {"time": 40.0, "kind": "pause", "fault_id": 2, "node": 1},
    ]
    intervals = fault_intervals(trace, end_ms=100.0)
    assert [(f["kind"], f["start"], f["end"], f["nodes"]) for f in intervals] == [
        ("partition", 10.0, 30.0, [0, 1, 2]), ("crash", 12.0, 100.0, [2]), ("pause", 40.0, 100.0, [1])]
    assert intervals[0]["label"] == "halves 0,1 | 2"


def test_data_carries_ops_faults_leaders_and_the_witness() -> None:
    history = [
        {"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 1, "time": 0.0},
        {"process": 0, "type": "ok", "f": "write", "key": "x", "value": 1, "time": 1.0},
        {"process": 1, "type": "invoke", "f": "read", "key": "x", "value": None, "time": 2.0},
        {"process": 1, "type": "ok", "f": "read", "key": "x", "value": 7, "time": 3.0},
    ]
    trace = [{"time": 0.5, "kind": "leader", "node": 0, "term": 1}]
    data = explorer_data(history, trace, nodes=2, end_ms=10.0)
    assert data["verdict"] == "not linearizable"
    assert data["witness"] == {"key": "x", "prefix": [0], "unplaceable": [1]}
    assert [(o["id"], o["node"], o["type"]) for o in data["ops"]] == [(0, 0, "ok"), (1, 1, "ok")]
    assert data["leaders"] == [{"node": 0, "term": 1, "start": 0.5, "end": 10.0}]


def test_page_is_self_contained_and_escapes_script_ends() -> None:
    history = [{"process": 0, "type": "invoke", "f": "write", "key": "</script><b>", "value": 1, "time": 0.0},
               {"process": 0, "type": "ok", "f": "write", "key": "</script><b>", "value": 1, "time": 1.0}]
    html = render_explorer(explorer_data(history, [], nodes=1, end_ms=5.0))
    assert not re.search(r"""(src|href)=["']https?:""", html), "no CDN, no remote resources"
    payload = html.split('id="run-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(payload)["ops"][0]["key"] == "</script><b>"


def test_written_beside_the_run(eventual_run: Path) -> None:
    path = write_explorer(eventual_run)
    assert path == eventual_run / "explorer.html"
    html = path.read_text()
    data = json.loads(html.split('id="run-data">', 1)[1].split("</script>", 1)[0])
    assert data["verdict"] == "not linearizable" and data["witness"]["unplaceable"]
    assert any(f["kind"] == "partition" for f in data["faults"])
    assert len(data["ops"]) == len(set(o["id"] for o in data["ops"])) > 50


@pytest.mark.skipif(CHROMIUM is None and not REQUIRE_BROWSER, reason="no chromium on this machine (apt-get install chromium); "
                                               ".ci/run installs it")
def test_explorer_in_a_headless_browser(eventual_run: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "WORKBENCH_REQUIRE_BROWSER=1 but no chromium on PATH"
    path = write_explorer(eventual_run)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready=true]")
            ops = page.locator("rect.op")
            assert ops.count() > 50, "the ops are drawn"
            assert page.locator("rect.fault").count() >= 1, "the partition is shaded"
            assert page.locator("#verdict").inner_text() == "not linearizable"
            assert page.locator("rect.op.stuck").count() >= 1, "the unplaceable ops are highlighted"
            # click an op: its details are pinned in the side panel
            target = page.locator("rect.op.stuck").first
            op_id = target.get_attribute("data-op")
            target.click(force=True)
            text = page.locator("#details").inner_text()
            assert text.startswith(f"op {op_id} ") and "cannot be placed next" in text
            assert page.locator(f'rect.op.selected[data-op="{op_id}"]').count() == 1
            # zoom in with the wheel: fewer ops stay in view
            before = ops.count()
            page.mouse.move(700, 300)
            for _ in range(8):
                page.mouse.wheel(0, -200)
            page.wait_for_function(f"document.querySelectorAll('rect.op').length < {before}")
            page.locator("#reset").click()
            page.wait_for_function(f"document.querySelectorAll('rect.op').length == {before}")
        finally:
            browser.close()


def test_every_run_report_links_its_explorer_and_shows_warnings(tmp_path: Path) -> None:
    """`run --report`: explorer.html beside report.html, linked from it; the summary's
    warnings (here: a partition scheduled after the run) are on the page."""
    raw = tiny_experiment(name="linked")
    raw["faults"]["partitions"].append({"shape": "halves", "at": 30, "duration": 1})
    out = write_run(run_experiment(validate_config(raw)), tmp_path / "run", report=True)
    html = (out / "report.html").read_text()
    assert (out / "explorer.html").is_file()
    assert 'id="explorer" href="explorer.html"' in html
    assert 'id="warnings"' in html and "faults.partitions[1] starts at 30 s" in html
