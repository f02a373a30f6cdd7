"""The HTML report of a run folder and of a sweep folder, parsed back."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from test_analysis_support import make_run_folder, make_sweep_folder, run_output, small_config

from workbench.analysis.report import render_report, write_report
from workbench.errors import UserInputError

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Tables (header + rows of cell text, with each row's class), images and headings."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_h2 = False
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "header": [], "rows": [], "row_classes": []})
        elif tag == "tr":
            self._row = []
            self.tables[-1]["row_classes"].append(attrs.get("class", ""))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "h2":
            self._in_h2, self._text = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
                table["row_classes"].pop()
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "h2":
            self._in_h2 = False
            self.headings.append("".join(self._text).strip())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_h2:
            self._text.append(data)

    def table(self, first_header: str, containing: str | None = None) -> dict:
        for table in self.tables:
            if table["header"][:1] == [first_header] and (
                    containing is None or containing in table["header"]):
                return table
        raise AssertionError(f"no table starting with {first_header!r}: "
                             f"{[t['header'][:3] for t in self.tables]}")


def assert_embedded_pngs(page: Page, at_least: int) -> None:
    assert len(page.images) >= at_least
    for image in page.images:
        prefix = "data:image/png;base64,"
        assert image["src"].startswith(prefix), "images must be embedded, not linked"
        assert base64.b64decode(image["src"][len(prefix):])[:8] == PNG
        assert image["alt"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("run") / "eventual")


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sweep_folder(tmp_path_factory.mktemp("sweep") / "cap", {"protocol": ["eventual", "raft"]})


def test_run_report_has_summary_table_plots_and_verdicts(run_folder: Path) -> None:
    path = write_report(run_folder)
    assert path == run_folder / "report.html"
    assert not [p for p in run_folder.iterdir() if p.name.startswith(".") and p.name != ".workbench-output"], \
        "temp file left behind"
    page = Page(path.read_text(encoding="utf-8"))
    summary = json.loads((run_folder / "summary.json").read_text())

    table = page.table("metric", "value")
    values = {row[0]: row[1] for row in table["rows"]}
    meaning = {row[0]: row[3] for row in table["rows"]}
    assert table["header"] == ["metric", "value", "unit", "meaning"]
    assert meaning["availability_minority"].startswith("ok / invoked")  # from docs/metrics.md
    assert values["protocol"] == "eventual"
    assert values["ops"] == str(summary["ops"])
    assert float(values["availability"]) == pytest.approx(summary["availability"], rel=1e-3)

    verdicts = page.table("check", "result")
    checks = dict(zip([r[0] for r in verdicts["rows"]], verdicts["row_classes"], strict=True))
    assert "stale_read_fraction" in checks  # an eventual store under partition reads stale
    assert checks["stale_read_fraction"] == "verdict-bad"
    if "linearizable" in summary:  # the checkers' verdicts, once they are in the summary
        assert checks["linearizable"] == ("verdict-good" if summary["linearizable"] else "verdict-bad")
        assert checks["ryw_violations"] in ("verdict-good", "verdict-bad")

    phases = page.table("phase", "availability")
    assert [r[0] for r in phases["rows"]] == ["before", "during", "during", "after"]
    assert_embedded_pngs(page, at_least=5)  # timeline, phases, latency x2, staleness
    assert any(i["alt"].startswith("Timeline") for i in page.images)
    assert "Configuration" in page.headings and "Checker verdicts" in page.headings


def test_runner_writes_the_report_of_a_raft_run_with_leadership(tmp_path: Path) -> None:
    from workbench.experiment.run import write_run

    folder = write_run(run_output(small_config(protocol="raft")), tmp_path / "raft", report=True)
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f"run folder: {folder}<" in html  # not the staging folder it was written in
    page = Page(html)
    assert "Leadership" in page.headings
    assert any(i["alt"].startswith("Replication lag") for i in page.images)
    leadership = page.table("leader_changes")
    assert int(leadership["rows"][0][0]) >= 1
    assert_embedded_pngs(page, at_least=4)


def test_sweep_report_has_runs_aggregates_cap_plane_and_verdicts(sweep_folder: Path) -> None:
    path = write_report(sweep_folder, sweep_folder / "out" / "r.html")
    page = Page(path.read_text(encoding="utf-8"))
    summary = pd.read_parquet(sweep_folder / "summary.parquet")

    runs = page.table("run_id", "status")
    assert sorted(r[0] for r in runs["rows"]) == sorted(summary["run_id"])
    assert {r[runs["header"].index("status")] for r in runs["rows"]} == {"ok"}

    aggregated = page.table("protocol", "availability")
    assert [r[0] for r in aggregated["rows"]] == ["eventual", "raft"]
    assert all("(n=2" in cell for cell in aggregated["rows"][0][1:3])  # 2 seeds each

    verdicts = page.table("check", "result")
    rows = dict(zip([r[0] for r in verdicts["rows"]], zip([r[1] for r in verdicts["rows"]],
                                                          verdicts["row_classes"], strict=True), strict=True))
    assert rows["runs ok"] == (str(len(summary)), "verdict-good")
    if "linearizable" in summary.columns:  # the checkers' verdicts, per setting
        assert rows["linearizable [protocol=raft]"] == ("2 of 2 runs", "verdict-good")
        assert rows["linearizable [protocol=eventual]"][1] == "verdict-bad"
    assert rows["stale_read_fraction [protocol=eventual], mean"][1] == "verdict-bad"
    assert rows["stale_read_fraction [protocol=raft], mean"] == ("0", "verdict-good")
    assert any(i["alt"].startswith("The CAP plane") for i in page.images)
    assert_embedded_pngs(page, at_least=3)


def test_sweep_report_lists_failed_runs_escaped(sweep_folder: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(sweep_folder, tmp_path / "copy"))
    summary = pd.read_parquet(copy / "summary.parquet")
    failed = summary.iloc[:1].assign(run_id="broken-s9", status="error", error="ValueError: <b>boom</b>")
    pd.concat([summary, failed], ignore_index=True).to_parquet(copy / "summary.parquet", index=False)
    html = render_report(copy)
    assert "<b>boom</b>" not in html and "&lt;b&gt;boom&lt;/b&gt;" in html
    page = Page(html)
    failed = next(t for t in page.tables if t["header"] == ["run_id", "error"])
    assert failed["rows"] == [["broken-s9", "ValueError: <b>boom</b>"]]
    verdicts = page.table("check", "result")
    assert verdicts["row_classes"][[r[0] for r in verdicts["rows"]].index("runs error")] == "verdict-bad"


def test_a_folder_without_results_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    with pytest.raises(UserInputError, match="no results here"):
        write_report(tmp_path)
    assert list(tmp_path.iterdir()) == []

    from workbench import cli

    monkeypatch.setattr(sys, "argv", ["workbench", "report", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("workbench: error: ") and "missing" in err


def test_report_command_writes_the_file(run_folder: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from workbench import cli

    out = tmp_path / "report.html"
    monkeypatch.setattr(sys, "argv", ["workbench", "report", str(run_folder), "--out", str(out)])
    cli.main()
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert str(out) in capsys.readouterr().out


def test_sweep_report_where_every_run_failed(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "config.yaml").write_text(
        "name: x\nprotocol: raft\nsweep: {grid: {protocol: [raft, paxos]}, seeds: 1}\n")
    pd.DataFrame({"run_id": ["raft-s1", "paxos-s1"], "protocol": ["raft", "paxos"], "status": "error",
                  "error": ["RuntimeError: boom", "RuntimeError: bang"], "seed": 1}).to_parquet(
        tmp_path / "summary.parquet")
    page = Page(render_report(tmp_path))
    failed = next(t for t in page.tables if t["header"] == ["run_id", "error"])
    assert failed["rows"] == [["raft-s1", "RuntimeError: boom"], ["paxos-s1", "RuntimeError: bang"]]
    assert page.table("check", "result")["rows"] == [["runs error", "2"]]
    assert page.images == []


def test_run_report_links_the_metrics_page_and_explains_each_table(run_folder: Path) -> None:
    html = render_report(run_folder)
    assert "docs/metrics.md" in html and 'id="glossary"' in html
    page = Page(html)
    assert "What the figures mean" in page.headings
    assert html.count('<p class="caption">') >= len(page.tables)  # one caption per table
    assert all(i["alt"] for i in page.images)  # and per plot
    # The explorer link shows exactly when the folder has its explorer.html (every run
    # report writes one beside it).
    assert ('id="explorer"' in html) == (run_folder / "explorer.html").is_file()


def test_run_report_links_the_explorer_when_present(run_folder: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(run_folder, tmp_path / "run"))
    (copy / "explorer.html").write_text("<html></html>")
    assert 'href="explorer.html"' in render_report(copy)


def test_single_seed_sweep_cells_say_n_1_without_interval(tmp_path: Path) -> None:
    folder = make_sweep_folder(tmp_path / "one", {"protocol": ["eventual"]}, seeds=1)
    page = Page(render_report(folder))
    aggregated = page.table("protocol", "availability")
    cells = aggregated["rows"][0][1:]
    assert all("n=1" in c and "[" not in c for c in cells if not c.startswith("–"))


def test_sweep_report_names_each_runs_warnings(sweep_folder: Path, tmp_path: Path) -> None:
    """A sweep page lists every run's warnings by run (issue 17: a Ray run whose timers
    slipped measured the machine, and the sweep's reader must see which one)."""
    assert 'id="warnings"' not in render_report(sweep_folder)  # these runs have none
    copy = Path(shutil.copytree(sweep_folder, tmp_path / "copy"))
    summary = pd.read_parquet(copy / "summary.parquet")
    slipped = "timer slip p99 120 ms exceeds 37.5 ms, <figures> measure the machine"
    summary["warnings"] = [slipped if i == 1 else "" for i in range(len(summary))]
    summary.to_parquet(copy / "summary.parquet", index=False)
    html = render_report(copy)
    assert "<figures>" not in html and 'id="warnings"' in html
    run_id = summary["run_id"].iloc[1]
    assert f"<li>{run_id}: timer slip p99 120 ms exceeds 37.5 ms, &lt;figures&gt; measure the machine</li>" in html
    assert html.count("timer slip p99") == 1
