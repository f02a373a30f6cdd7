"""`workbench report DIR`: one self-contained HTML file for a run folder or a sweep folder.

Self-contained means one file to mail or attach to a paper's artefact: the CSS is
inline and every plot is a base64 PNG in an <img> tag, so it opens anywhere offline.
The content is computed by the analysis pipelines from the files in the folder, never
from memory, so `report` on an old folder shows what `run` showed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from workbench.analysis import plots
from workbench.analysis.aggregate import aggregate_seeds
from workbench.analysis.convergence import convergence_times
from workbench.analysis.leadership import leadership_summary
from workbench.analysis.metric_docs import METRICS_DOC, metric_docs
from workbench.analysis.phases import partition_intervals
from workbench.analysis.pipelines import (
    by_node,
    by_phase,
    by_phase_over_runs,
    latency_over_time,
    with_side,
)
from workbench.analysis.staleness import stale_fraction_per_run, stale_reads, staleness_summary
from workbench.analysis.trace import trace_frame
from workbench.checkers.visibility import visibility_lags
from workbench.results.load import Run, Sweep, load
from workbench.results.store import atomic_write_bytes

TEMPLATES = Path(__file__).resolve().parent / "templates"
VERDICT_PATTERN = re.compile(
    r"linearizab|stale|behind|converg|visibility|lost|never_read|session|monoton|read_your|writes_follow"
    r"|violation|anomal"
)
"""Summary keys that are checker verdicts (the checkers add them; the report shows whatever is there)."""
BAD_WHEN_POSITIVE = re.compile(r"stale_read|violation|lost|anomal")
"""Counts and rates of anomalies: zero is the good answer."""
SWEEP_METRICS = ["availability", "availability_partitioned", "availability_minority",
                 "availability_majority", "latency_p50_ms", "latency_p99_ms", "timeout_fraction",
                 "messages_per_s", "stale_read_fraction", "linearizable", "convergence_ms",
                 "visibility_p50_ms", "leader_changes"]
EXPLORER = "explorer.html"
"""Hook for the interactive run explorer (issue 18 item 7, a separate page): when a run
folder holds this file, the run report links to it at the top."""


# ---------------------------------------------------------------- helpers
def _table(frame: pd.DataFrame, index: bool = False) -> Markup:
    """An HTML table (cells escaped by pandas) that jinja may insert as is."""
    return Markup(frame.to_html(index=index, na_rep="–", float_format=_number, border=0,
                                classes="table", escape=True))


def _number(value: float) -> str:
    return f"{value:.4g}"


def _short(value: float) -> str:
    """Three significant digits, but whole numbers from 1000 up (4244, not 4.24e+03)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _image(draw: Callable[[], Any], caption: str) -> dict[str, str] | None:
    """Draw one plot and embed it; a plot that cannot be drawn is a note, not a failed report."""
    try:
        png = plots.to_png(draw())
    except Exception as exc:  # noqa: BLE001 - one bad plot must not cost the whole report
        return {"caption": caption, "error": f"{type(exc).__name__}: {exc}"}
    return {"caption": caption, "png": base64.b64encode(png).decode("ascii")}


def _verdict(key: str, value: Any) -> dict[str, str]:
    """A verdict row; `state` (good / bad / unknown / info) colours it."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        # linearizable: None means the checker ran out of budget; elsewhere "not applicable"
        # (lost adds of a register workload) or "never happened" (no heal to converge after).
        unknown = key.startswith("linearizab")
        state, text = ("unknown", "unknown") if unknown else ("info", "n/a")
    elif isinstance(value, bool | np.bool_):
        state, text = ("good" if value else "bad"), str(bool(value)).lower()
    elif isinstance(value, int | float | np.integer | np.floating):
        bad_when_positive = BAD_WHEN_POSITIVE.search(key) is not None
        state = ("bad" if value > 0 else "good") if bad_when_positive else "info"
        text = _number(float(value)) if isinstance(value, float | np.floating) else str(value)
    else:
        state, text = "info", str(value)
    return {"check": key, "value": text, "state": state}


def verdicts(summary: dict[str, Any]) -> list[dict[str, str]]:
    return [_verdict(k, v) for k, v in summary.items() if VERDICT_PATTERN.search(k)]


def sweep_verdicts(runs: pd.DataFrame, by: list[str]) -> list[dict[str, str]]:
    """Per setting: in how many runs the history was linearizable, and the mean stale-read rate."""
    rows: list[dict[str, str]] = []
    for setting, group in runs.groupby(by, sort=True, dropna=False) if by else [((), runs)]:
        label = ", ".join(f"{k}={v}" for k, v in zip(by, setting if isinstance(setting, tuple) else (setting,),
                                                        strict=True))
        if "linearizable" in group.columns:
            verdict = group["linearizable"]
            yes, no = int(verdict.eq(True).sum()), int(verdict.eq(False).sum())
            state = "bad" if no else ("good" if yes == len(group) else "unknown")
            rows.append({"check": f"linearizable [{label}]", "state": state,
                         "value": f"{yes} of {len(group)} runs" + (f", {len(group) - yes - no} unknown"
                                                                    if yes + no < len(group) else "")})
        if "stale_read_fraction" in group.columns:
            rows.append(_verdict(f"stale_read_fraction [{label}], mean",
                                 float(pd.to_numeric(group["stale_read_fraction"]).mean())))
    return rows


def _nodes(run: Run) -> int:
    """The cluster size: from the config, else the highest node id the trace names."""
    if "nodes" in run.raw_config:
        return int(run.raw_config["nodes"])
    seen = [int(r["node"]) for r in run.trace_records or [] if isinstance(r.get("node"), int)]
    return max(seen) + 1 if seen else 0


def _display_folder(folder: Path) -> str:
    """The folder as the reader will find it: the runner renders the report inside its
    hidden staging folder (`.name.stage-xyz`) just before renaming it to `name`."""
    staged = re.fullmatch(r"\.(.+)\.stage-[^/]+", folder.name)
    return str(folder.parent / staged.group(1)) if staged else str(folder)


def _config_text(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False) if config else "(no config.yaml)"


# ---------------------------------------------------------------- a run
def run_context(run: Run) -> dict[str, Any]:
    ops = with_side(run.ops)
    intervals = partition_intervals(run.trace_records or [], run.duration_ms)
    # Without apply records the version order falls back to completion order.
    reads = stale_reads(ops, run.trace_records if run.trace_complete else None)
    summary = dict(run.summary)
    if "stale_read_fraction" not in summary and len(reads):
        summary["stale_read_fraction"] = float(reads["stale"].mean())
    sections = [
        ("Availability and latency by phase and side",
         "One row per phase (before / during / between / after the faults) and side (majority, minority, "
         "or ambiguous where the cut leaves no clean minority), for the ops invoked then. availability = "
         "ok / invoked; latency_ok_* over ok ops; latency_p50/p99_ms count timed-out ops as at least "
         "their timeout.", _table(by_phase(ops, by=[]))),
        ("Availability per node during the faults",
         "What each node's clients saw while a fault was active: which nodes actually served "
         "(beside the per-side figures, which label the network state).",
         _table(_during(by_node(ops, by=[])))),
    ]
    if len(reads):
        sections.append(("Staleness by phase and side (analysis)",
                         "Reads that missed a write acknowledged before the read began (real-time "
                         "definition), per phase and side.",
                         _table(staleness_summary(reads, by=["phase", "side"]))))
    if run.trace_records is not None:
        trace = trace_frame(run.trace_records)
        if run.trace_complete:  # convergence needs the replicas' digest samples
            healed = convergence_times(trace, intervals)
            if len(healed):
                sections.append(("Convergence after each heal",
                                 "Time from each heal until every replica's state digest agreed.",
                                 _table(healed)))
        if trace["kind"].eq("leader").any():
            sections.append(("Leadership", "Leader changes and the time without an effective leader, "
                             "from the trace's leader records.",
                             _table(leadership_summary(trace, run.duration_ms))))
    images = [
        _image(lambda: plots.timeline(ops, intervals), "Timeline: each op on its client's row "
               "(green ok, red fail, orange info); partitions shaded"),
        _image(lambda: plots.availability_by_phase(by_phase(ops, by=[]), hue=None),
               "Availability (ok / invoked) per phase and side, over the ops invoked then; one run, "
               "so no interval"),
        _image(lambda: plots.latency_over_time(latency_over_time(ops, _bin_ms(run.duration_ms), by=[]),
                                               hue=None, intervals=intervals),
               "Median latency per time bin of invoke time, timed-out ops counted at their timeout; "
               "partitions shaded"),
        _image(lambda: plots.latency_cdf(ops, hue="phase"),
               "Latency CDF of ok ops per phase (timed-out ops are not in it: see timeout_fraction)"),
    ]
    if len(reads):
        images.append(_image(lambda: plots.staleness_distribution(reads, hue="side"),
                             "How far behind the stale reads were, per side"))
    # Register workloads only: a set's adds carry no version order to lag behind.
    registers = run.trace_complete and not ops["f"].eq("add").any()
    lags = visibility_lags(run.trace_records or [], _nodes(run)) if registers else None
    if lags is not None and len(lags):
        images.append(_image(lambda: plots.replication_lag(lags, intervals),
                             "Replication lag of each write: until every replica held it "
                             "(or a newer version); partitions shaded"))
    title = f"{summary.get('name', run.path.name)}: {summary.get('protocol', '?')}, seed {summary.get('seed', '?')}"
    docs = metric_docs()
    shown = {k: v for k, v in summary.items() if not k.endswith("_censored")}
    summary_frame = pd.DataFrame({"metric": list(shown),
                                  "value": [_summary_cell(k, v, summary) for k, v in shown.items()],
                                  "unit": [docs.get(k, {}).get("unit", "") for k in shown],
                                  "meaning": [docs.get(k, {}).get("short", "") for k in shown]})
    explorer = run.path / EXPLORER
    sections, captions = _split_captions(sections)
    return {"kind": "run", "title": title, "captions": captions, "folder": _display_folder(run.path), "config": _config_text(run.raw_config),
            "summary": _table(summary_frame), "verdicts": verdicts(summary), "sections": sections,
            "images": [i for i in images if i], "glossary": _glossary(docs, summary),
            "metrics_doc": METRICS_DOC.as_uri() if METRICS_DOC.is_file() else None,
            "explorer": EXPLORER if explorer.is_file() else None,
            "warnings": _warnings_of(summary)}


def _warnings_of(summary: dict[str, Any]) -> list[str]:
    """The run's `warnings` (a list in summary.json; one '; '-joined text in a sweep's
    summary.parquet), as lines for the page."""
    warnings = summary.get("warnings")
    if isinstance(warnings, str):
        return [w for w in warnings.split("; ") if w]
    if isinstance(warnings, list | tuple | np.ndarray):
        return [str(w) for w in warnings]
    return []


def _split_captions(sections: list[tuple[str, str, Markup]]) -> tuple[list[tuple[str, Markup]], dict[str, str]]:
    """(heading, table) pairs, as callers of the context read them, and heading -> caption."""
    return [(heading, table) for heading, _, table in sections], {h: c for h, c, _ in sections}


def _during(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["phase"].astype(str).eq("during")].reset_index(drop=True) if "phase" in frame else frame


def _summary_cell(key: str, value: Any, summary: dict[str, Any]) -> str:
    """A summary value as text; a censored latency percentile reads ">= value"."""
    text = _cell(value)
    return f">= {text}" if summary.get(key.removesuffix("_ms") + "_censored") else text


def _glossary(docs: dict[str, dict[str, str]], fields: Any) -> list[dict[str, str]]:
    """Definitions of the fields on this page, from docs/metrics.md; fields that share an
    entry (availability_majority / _minority / _ambiguous) are listed once, together."""
    entries: dict[int, dict[str, Any]] = {}
    for key in dict.fromkeys(fields):
        if key in docs:
            entries.setdefault(id(docs[key]), {**docs[key], "fields": []})["fields"].append(key)
    return [{**entry, "field": ", ".join(entry["fields"])} for entry in entries.values()]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _number(value)
    return "–" if value is None else str(value)


def _bin_ms(duration_ms: float) -> float:
    # About 80 bins over a run: fine enough to see a partition's edges, coarse enough to be smooth.
    return max(duration_ms / 80.0, 1.0)


# ---------------------------------------------------------------- a sweep
def _settings(sweep: Sweep) -> tuple[str, str | None, list[str]]:
    """(hue, label, grouping columns) for a sweep's plots and aggregate tables."""
    frame = sweep.summary
    by = [g for g in sweep.grid_paths if g in frame.columns]
    if "protocol" in frame.columns and "protocol" not in by:
        by = ["protocol", *by]
    varying = [c for c in by if frame[c].nunique(dropna=False) > 1] or by[:1] or ["protocol"]
    hue = "protocol" if "protocol" in varying else varying[0]
    others = [c for c in varying if c != hue]
    return hue, (others[0] if others else None), by


def _add_staleness(summary: pd.DataFrame, all_ops: pd.DataFrame) -> pd.DataFrame:
    """Fill stale_read_fraction from the ops when the runs' summaries lack it."""
    if "stale_read_fraction" in summary.columns or all_ops.empty or "run_id" not in summary:
        return summary
    reads = stale_reads(all_ops)
    if reads.empty:
        return summary
    per_run = stale_fraction_per_run(reads).rename(columns={"stale_fraction": "stale_read_fraction"})
    return summary.merge(per_run, on="run_id", how="left")


def sweep_context(sweep: Sweep) -> dict[str, Any]:
    all_ops = sweep.ops()
    summary = _add_staleness(sweep.summary, all_ops)
    ok = summary[summary["status"].eq("ok")] if "status" in summary.columns else summary
    hue, label, by = _settings(sweep)
    metrics = [m for m in SWEEP_METRICS if m in ok.columns]
    aggregated = aggregate_seeds(ok, metrics, by=by) if len(ok) and by else pd.DataFrame()
    shown = [c for c in ["run_id", *sweep.grid_paths, "seed", "status", "error", *metrics] if c in summary.columns
             and not (c == "error" and summary[c].isna().all())]  # an all-empty error column only takes room
    verdict_columns = [c for c in summary.columns if VERDICT_PATTERN.search(c)]
    sections = []
    if len(aggregated):
        sections.append((f"Mean and 95% interval over seeds, by {', '.join(by)}",
                         "Each cell: the mean over seeds, its 95% interval in brackets (Wilson for yes/no "
                         "metrics such as linearizable, Student's t clipped to [0, 1] for fractions, t "
                         "otherwise), and n, the runs with a value; 'unknown' counts runs whose value is "
                         "missing (a check that gave up). One seed gives no interval ('n=1').",
                         _table(_compact(aggregated, by))))
    if verdict_columns:
        sections.append(("Checker verdicts per run", "The consistency checkers' figures of every run.",
                         _table(summary[["run_id", *verdict_columns]])))
    failed = summary[summary["status"].ne("ok")] if "status" in summary.columns else summary.iloc[0:0]
    if len(failed):
        sections.append(("Failed runs", "Runs that raised; the sweep went on without them.",
                         _table(failed[["run_id", "error"]])))
    ops = with_side(all_ops) if len(all_ops) else all_ops
    if len(ops):
        columns = [c for c in by if c in ops.columns and c in summary.columns]
        ops = ops.assign(setting=_setting_labels(ops, columns, order=summary))
    images = []
    y = "stale_read_fraction" if "stale_read_fraction" in ok.columns else None
    if y is None and "linearizable" in ok.columns:
        ok = ok.assign(non_linearizable=1.0 - pd.to_numeric(ok["linearizable"], errors="coerce"))
        y = "non_linearizable"
    seeds = int(ok.groupby(by, dropna=False).size().min()) if len(ok) and by else len(ok)
    spread = "mean over seeds with 95% interval" if seeds >= 2 else "n=1: one seed per setting, no interval"
    x = plots.cap_plane_x(ok) if len(ok) else "availability_partitioned"
    if y and x in ok.columns and ok[x].notna().any():
        measure = ("the share of client-time during partitions in which requests were answered ok "
                   "(time-weighted, docs/metrics.md)" if x == "availability_time_partitioned"
                   else "ok / invoked over ops invoked during a partition")
        images.append(_image(lambda: plots.cap_plane(ok, x=x, y=y, hue=hue, label=label, by=by),
                             f"The CAP plane: availability ({measure}) against "
                             f"{plots._label(y)}; one point per setting (every grid parameter), {spread}"))
    for parameter in _numeric_parameters(ok, by):
        images.append(_image(lambda p=parameter: plots.metric_vs_parameter(
            ok, x=p, y="latency_p50_ms", hue=hue if hue != p else label),
            f"Median latency (timeouts counted at the timeout) against {plots._label(parameter)}, {spread}"))
    if len(ops):
        images.append(_image(lambda: plots.availability_by_phase(by_phase_over_runs(ops, by=["setting"]),
                                                                 hue="setting"),
                             f"Availability by phase and side per setting: computed per run, then "
                             f"averaged over runs ({spread})"))
        images.append(_image(lambda: plots.latency_cdf(ops, hue="setting"),
                             "Latency CDF of ok ops, per setting, all seeds pooled"))
        reads = stale_reads(ops)
        if len(reads):
            images.append(_image(lambda: plots.staleness_distribution(reads, hue="setting"),
                                 "How far behind the stale reads were, per setting, all seeds pooled"))
    counts = summary["status"].value_counts().to_dict() if "status" in summary.columns else {}
    title = f"sweep {sweep.config.get('name', sweep.path.name)}: {len(summary)} runs"
    docs = metric_docs()
    run_reports = [{"run_id": run_id, "href": f"runs/{run_id}/report.html"}
                   for run_id, path in sweep.runs.items() if (path / "report.html").is_file()]
    sections, captions = _split_captions(sections)
    # Each run's warnings, named by run: a sweep page must not hide that a run measured the
    # machine rather than the protocol (e.g. timer slip past its limit, issue 17 item 4).
    warnings = [f"{row['run_id']}: {w}" for _, row in summary.iterrows()
                for w in _warnings_of(row.to_dict())] if "warnings" in summary.columns else []
    return {"kind": "sweep", "title": title, "warnings": warnings, "captions": captions, "folder": _display_folder(sweep.path),
            "config": _config_text(sweep.config), "summary": _table(summary[shown]),
            "glossary": _glossary(docs, [*metrics, *verdict_columns]), "run_reports": run_reports,
            "metrics_doc": METRICS_DOC.as_uri() if METRICS_DOC.is_file() else None,
            "verdicts": [{"check": f"runs {status}", "value": str(n),
                          "state": "good" if status == "ok" else "bad"} for status, n in counts.items()]
            + sweep_verdicts(ok, by),
            "sections": sections, "images": [i for i in images if i]}


def _compact(aggregated: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per setting, one column per metric, cells "mean [low, high] n=3": readable at a glance.

    With one seed the cell says "n=1" and gives no interval; missing values are counted
    ("2 unknown") beside n, so a rate never hides the verdicts it lacks.
    """
    def cell(row: pd.Series) -> str:
        unknown = f", {row['unknown']} unknown" if row.get("unknown", 0) else ""
        if pd.isna(row["mean"]):
            return f"– (n=0{unknown})"
        if pd.isna(row["ci_low"]) or pd.isna(row["ci_high"]):
            return f"{_short(row['mean'])} (n={row['n']}{unknown})"
        return f"{_short(row['mean'])} [{_short(row['ci_low'])}, {_short(row['ci_high'])}] (n={row['n']}{unknown})"

    return (aggregated.assign(cell=aggregated.apply(cell, axis=1))
            .pivot(index=by, columns="metric", values="cell")
            .reindex(columns=list(dict.fromkeys(aggregated["metric"])))
            .reset_index()
            .rename_axis(columns=None))


def _numeric_parameters(runs: pd.DataFrame, by: list[str]) -> list[str]:
    """Swept parameters with numeric values worth a line plot (three or more values)."""
    return [c for c in by if c in runs.columns and pd.api.types.is_numeric_dtype(runs[c])
            and runs[c].nunique() >= 3 and "latency_p50_ms" in runs.columns]


def _setting_labels(ops: pd.DataFrame, columns: list[str], order: pd.DataFrame | None = None) -> pd.Series:
    """"raft, 5"-style labels of each op's setting, ordered as the settings first appear in `order`."""
    if not columns:
        return pd.Series("all", index=ops.index)

    def labels(frame: pd.DataFrame) -> pd.Series:
        # Column-wise string concatenation: a row-wise join is ~100x slower on 10^5 ops.
        label = frame[columns[0]].astype(str)
        for column in columns[1:]:
            label = label + ", " + frame[column].astype(str)
        return label

    label = labels(ops)
    first = list(dict.fromkeys(labels(order))) if order is not None else []
    categories = first + sorted(set(label.unique()) - set(first))
    return pd.Series(pd.Categorical(label, categories=categories, ordered=True), index=ops.index)


# ---------------------------------------------------------------- rendering
def render_report(folder: str | Path) -> str:
    results = load(folder)
    context = run_context(results) if isinstance(results, Run) else sweep_context(results)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2").render(**context)


def write_report(folder: str | Path, path: str | Path | None = None) -> Path:
    """Render the report of a run or sweep folder to `path` (default folder/report.html), atomically."""
    folder = Path(folder)
    path = Path(path) if path is not None else folder / "report.html"
    if (path.parent.resolve() == folder.resolve() and (folder / "history.jsonl").is_file()
            and not (folder / EXPLORER).exists()):
        from workbench.analysis.explorer import write_explorer

        write_explorer(folder)  # every run report gets its interactive explorer beside it
    html = render_report(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, html.encode("utf-8"))  # the store's: also readable like any file
    return path
