"""Seaborn plots of tidy frames. Each function draws into `ax` (or a new Figure) and returns the Axes.

No function touches pyplot: figures are `matplotlib.figure.Figure` objects, so the
library never needs a display, opens no global state, and leaks no figures in long
sweeps; in a notebook show one with `ax.figure`. Partition intervals (from
`phases.partition_intervals`) are shaded grey wherever time is on the x axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors as matplotlib_colors
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from workbench.analysis.aggregate import aggregate_seeds, wide

PROTOCOL_COLORS = {"raft": "#0072B2", "paxos": "#D55E00", "eventual": "#009E73", "quorum": "#CC79A7"}
"""One fixed colour per protocol on every plot and page (Okabe & Ito's colour-blind-safe
set): the CAP plane and the by-phase chart used to colour the same protocol differently."""
PROTOCOL_ORDER = list(PROTOCOL_COLORS)
OUTCOME_COLORS = {"ok": "#2a9d3c", "fail": "#d62728", "info": "#ff9f1c"}
"""Jepsen's colours: ok green, fail red, info (unknown) orange."""
PARTITION_COLOR = "0.55"
LABELS = {
    "availability_partitioned": "availability during partition (per op)",
    "availability_time_partitioned": "availability during partition\n(share of client-time served)",
    "availability": "availability",
    "stale_read_fraction": "stale-read fraction",
    "stale_fraction": "stale-read fraction",
    "non_linearizable": "non-linearizable runs (fraction)",
    "latency_ms": "latency (ms)",
    "latency_p50_ms": "median latency (ms)\ntimeouts counted at the timeout",
    "latency_p99_ms": "p99 latency (ms)\ntimeouts counted at the timeout",
    "latency_ok_p50_ms": "median latency of ok ops (ms)",
    "latency_ok_p99_ms": "p99 latency of ok ops (ms)",
    "messages_per_s": "messages per second",
    "messages_per_op": "messages per op",
    "timeout_fraction": "timed-out ops (fraction)",
    "ms_behind": "behind the newest acknowledged version (ms)",
    "versions_behind": "versions behind",
}
REFERENCE_FIG16 = Path(__file__).resolve().parents[2] / "data" / "reference" / "raft-fig16" / "ongaro_fig16.csv"


def _axes(ax: Axes | None, size: tuple[float, float] = (7.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


PARAMETER_LABELS = {
    "faults.partitions.0.duration": "partition duration (s)",
    "faults.partitions.0.at": "partition start (s)",
    "network.latency.ms": "one-way link latency (ms)",
    "workload.think_ms": "client think time (ms)",
    "workload.timeout_ms": "client timeout (ms)",
    "workload.clients": "clients",
    "workload.rate": "arrival rate (ops/s per client)",
    "raft.read_mode": "Raft read mode",
    "raft.election_timeout_min_ms": "election timeout min (ms)",
    "duration_s": "run length (s)",
    "nodes": "nodes",
}
"""The units dictionary for swept config paths on axes and legends (issue 18 item 6)."""
UNIT_SUFFIXES = {"_ms": "ms", "_s": "s"}


def _label(column: str) -> str:
    """A readable axis label with its unit: a metric, a known config path, or a path
    whose last part ends in _ms / _s (fault times are seconds, DESIGN.md)."""
    if column in LABELS:
        return LABELS[column]
    if column in PARAMETER_LABELS:
        return PARAMETER_LABELS[column]
    last = column.rsplit(".", 1)[-1]
    for suffix, unit in UNIT_SUFFIXES.items():
        if last.endswith(suffix):
            return f"{last[: -len(suffix)].replace('_', ' ')} ({unit})"
    if column.startswith("faults.") and last in ("at", "duration", "every"):
        return f"{column.split('.')[1].rstrip('s')} {last} (s)"
    return last.replace("_", " ")


def _part_key(text: str) -> tuple[int, float, str]:
    if text in PROTOCOL_ORDER:
        return (0, PROTOCOL_ORDER.index(text), text)
    try:
        return (1, float(text), text)
    except ValueError:
        return (2, 0.0, text)


def _sort_key(value: object) -> tuple[tuple[int, float, str], ...]:
    """Protocols in their fixed order, numbers by value (5 before 10 before 20), then text;
    a setting label "raft, 10" part by part."""
    return tuple(_part_key(part.strip()) for part in str(value).split(","))


def level_order(values: pd.Series | list) -> list:
    """Distinct levels in legend order: a categorical's own order, else `_sort_key`."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    return sorted(pd.unique(pd.Series(values).dropna()), key=_sort_key)


def palette_for(levels: list) -> dict:
    """Colours for hue levels: a protocol (or a "protocol, ..." setting label) keeps its
    protocol's colour, lighter for each further setting of it; anything else gets a
    colour-blind palette in legend order."""
    colors: dict = {}
    by_protocol: dict[str, list] = {}
    for level in levels:
        head = str(level).split(",")[0].strip()
        if head in PROTOCOL_COLORS:
            by_protocol.setdefault(head, []).append(level)
    others = [lv for lv in levels if str(lv).split(",")[0].strip() not in PROTOCOL_COLORS]
    for protocol, members in by_protocol.items():
        base = np.array(matplotlib_colors.to_rgb(PROTOCOL_COLORS[protocol]))
        for i, level in enumerate(members):
            blend = 0.55 * i / max(len(members) - 1, 1) if len(members) > 1 else 0.0
            colors[level] = tuple(base + (1.0 - base) * blend)
    for level, color in zip(others, sns.color_palette("colorblind", n_colors=max(len(others), 1)), strict=False):
        colors[level] = color
    return colors


def _labels(values: pd.Series) -> pd.Series:
    """Hue levels as text (seaborn would colour numbers on a continuous scale), keeping a
    categorical's order and dropping levels absent here."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.remove_unused_categories().cat.rename_categories(str)
    return values.astype(str)


def _hue_style(data: pd.DataFrame, hue: str | None) -> dict:
    """seaborn's hue_order and palette from `level_order` / `palette_for`, so every plot
    orders legends the same way and colours a protocol the same."""
    if hue is None or hue not in data.columns:
        return {}
    levels = level_order(data[hue])
    return {"hue_order": levels, "palette": palette_for(levels)}


def shade_partitions(ax: Axes, intervals: pd.DataFrame | None, scale: float = 1.0) -> list[Patch]:
    """Grey spans for partitions (`start`/`end` in ms, divided by `scale` for the x unit)."""
    if intervals is None or intervals.empty:
        return []
    spans = [ax.axvspan(start / scale, end / scale, color=PARTITION_COLOR, alpha=0.18, lw=0,
                        gid="partition", label="partition" if i == 0 else "_nolegend_")
             for i, (start, end) in enumerate(intervals[["start", "end"]].itertuples(index=False))]
    return spans


# ---------------------------------------------------------------- the CAP plane
def cap_plane(runs: pd.DataFrame, x: str | None = None, y: str = "stale_read_fraction",
              hue: str = "protocol", label: str | None = None, by: list[str] | None = None,
              confidence: float = 0.95, ax: Axes | None = None) -> Axes:
    """Availability under partition (x) against a consistency-violation rate (y).

    x defaults to the time-weighted `availability_time_partitioned` (issue 14 item 2:
    per-op availability rewards failing fast), or per-op `availability_partitioned` for
    results written before that field existed.

    One point per setting: every column of `hue`, `label` and `by` (pass all grid
    parameters: a swept parameter averaged as if it were a seed blurs the settings into
    one point). With several seeds the point is the mean with its interval in both
    directions (`aggregate.metric_interval`); a single seed has no bar. Points carry
    their non-hue settings as text. The ideal corner (1, 0) is what CAP rules out
    during a partition.
    """
    if x is None:
        x = cap_plane_x(runs)
    ax = _axes(ax, (7.5, 5.0))
    keys = [c for c in dict.fromkeys([hue, *([label] if label else []), *(by or [])]) if c in runs.columns]
    points = wide(aggregate_seeds(runs, [x, y], keys, confidence), keys).dropna(subset=[x, y])
    levels = level_order(points[hue].astype(str))
    colors = palette_for(levels)
    for level in levels:
        chosen = points[points[hue].astype(str) == level]
        ax.scatter(chosen[x], chosen[y], s=70, color=colors[level], label=level, zorder=3,
                   edgecolor="white", linewidth=0.5, gid=f"{hue}:{level}")
    others = [c for c in keys if c != hue]
    y_span = float(np.nanmax(points[y]) - np.nanmin(points[y])) or 1.0 if len(points) else 1.0
    placed: list[tuple[float, float, int]] = []  # (x, y, slot) of labels already drawn
    for row in points.to_dict("records"):
        xerr, yerr = _half_widths(row, x), _half_widths(row, y)
        if xerr is not None or yerr is not None:
            ax.errorbar(row[x], row[y], xerr=xerr, yerr=yerr, fmt="none", ecolor="0.3",
                        elinewidth=1, capsize=3, zorder=2, gid="ci")
        if others:
            # Points of different settings often sit on top of each other (every CP
            # protocol near (0.5, 0)): stack their labels instead of overprinting them.
            near = {slot for px, py, slot in placed
                    if abs(px - row[x]) < 0.08 and abs(py - row[y]) < 0.04 * y_span}
            slot = next(k for k in range(len(placed) + 1) if k not in near)
            placed.append((row[x], row[y], slot))
            ax.annotate(", ".join(str(row[c]) for c in others), (row[x], row[y]), textcoords="offset points",
                        xytext=(6, 4 + 9 * slot), fontsize=7, color=colors[str(row[hue])])
    ax.set(xlim=(-0.05, 1.05), xlabel=_label(x), ylabel=_label(y))
    ax.set_title("The CAP plane: availability vs consistency during a partition", pad=16)
    ax.set_ylim(bottom=-0.02)
    # Corner hints, kept off where points gather (a CP system sits low, an AP one far right).
    ax.annotate("CP: refuses ops, stays consistent", (0.01, 1.01), xycoords="axes fraction", fontsize=7,
                color="0.45", va="bottom")
    ax.annotate("AP: serves ops, may read stale", (0.99, 1.01), xycoords="axes fraction", fontsize=7,
                color="0.45", va="bottom", ha="right")
    if others:
        ax.text(1.0, -0.13, "point labels: " + ", ".join(_label(c) for c in others), transform=ax.transAxes,
                ha="right", fontsize=7, color="0.35")
    ax.legend(title=_label(hue), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


def cap_plane_x(runs: pd.DataFrame) -> str:
    """The CAP plane's availability: time-weighted when the runs have it (module docstring of
    `analysis/availability_time.py`), else per op (results older than the field)."""
    time_weighted = "availability_time_partitioned"
    if time_weighted in runs.columns and runs[time_weighted].notna().any():
        return time_weighted
    return "availability_partitioned"


def _half_widths(row: dict, metric: str) -> np.ndarray | None:
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return None
    return np.array([[row[metric] - low], [high - row[metric]]])


def metric_vs_parameter(runs: pd.DataFrame, x: str, y: str = "latency_p50_ms", hue: str | None = "protocol",
                        confidence: float = 0.95, log: bool = False, ax: Axes | None = None) -> Axes:
    """Mean of metric `y` against a swept numeric parameter `x`, one line per `hue`, CI bars.

    E.g. median latency against the link latency per protocol: PACELC's "else" branch.
    A point of one seed has no bar (its interval is NaN, never drawn as zero width).
    """
    ax = _axes(ax)
    hue = hue if hue in runs.columns and hue != x else None
    by = [x] + ([hue] if hue else [])
    points = wide(aggregate_seeds(runs, [y], by, confidence), by).sort_values(by)
    levels = level_order(points[hue].astype(str)) if hue else [None]
    colors = palette_for(levels) if hue else {None: "0.2"}
    for level in levels:
        group = points[points[hue].astype(str) == level] if hue else points
        low = (group[y] - group[f"{y}_ci_low"]).to_numpy(dtype=float)
        high = (group[f"{y}_ci_high"] - group[y]).to_numpy(dtype=float)
        ax.errorbar(group[x].to_numpy(dtype=float), group[y].to_numpy(dtype=float), yerr=[low, high],
                    marker="o", capsize=3, color=colors[level], label=str(level) if hue else y,
                    gid=f"{hue}:{level}" if hue else y)
    if log:
        ax.set_xscale("log")
    ax.set(xlabel=_label(x), ylabel=_label(y), title=f"{_label(y).splitlines()[0]} by {_label(x)}")
    ax.legend(title=_label(hue) if hue else None, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    return ax


# ---------------------------------------------------------------- the Jepsen timeline
def timeline(ops: pd.DataFrame, intervals: pd.DataFrame | None = None, ax: Axes | None = None,
             linewidth: float = 3.0) -> Axes:
    """Each op a bar from invoke to completion on its process's row, coloured by outcome.

    Times are in seconds. An op never completed runs to the end of the history.
    Failures and infos are drawn over the oks, so rare ones stay visible.
    """
    ax = _axes(ax, (10.0, 4.5))
    times = ops[["invoke_time", "complete_time"]].to_numpy(dtype=float)
    begin, end = (np.nanmin(times), np.nanmax(times)) if len(ops) else (0.0, 0.0)
    # A 0.4 ms op on a 40 s axis is far below a pixel and Agg drops it: give every bar
    # at least 1/1500 of the window so a whole run reads as rows of ops, as in Jepsen.
    min_width = (end - begin) / 1000.0 / 1500.0
    handles = []
    for outcome, color in OUTCOME_COLORS.items():
        chosen = ops[ops["type"].eq(outcome)]
        start = chosen["invoke_time"].to_numpy(dtype=float) / 1000.0
        stop = chosen["complete_time"].fillna(end).to_numpy(dtype=float) / 1000.0
        stop = np.maximum(stop, start + min_width)
        y = chosen["process"].to_numpy(dtype=float)
        segments = np.stack([np.column_stack([start, y]), np.column_stack([stop, y])], axis=1)
        ax.add_collection(LineCollection(segments, colors=color, linewidths=linewidth,
                                         capstyle="butt", label=outcome, gid=outcome,
                                         zorder={"ok": 2, "info": 3, "fail": 4}[outcome]))
        handles.append(Line2D([], [], color=color, lw=linewidth, label=f"{outcome} ({len(chosen)})"))
    spans = shade_partitions(ax, intervals, scale=1000.0)
    if spans:
        handles.append(Patch(color=PARTITION_COLOR, alpha=0.3, label="partition"))
    ax.autoscale_view()
    if len(ops):
        margin = (end - begin) / 1000.0 * 0.01
        ax.set_xlim(begin / 1000.0 - margin, end / 1000.0 + margin)
        ax.set_ylim(ops["process"].min() - 1, ops["process"].max() + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # processes are whole numbers
    ax.set(xlabel="time (s)", ylabel="process", title="Timeline: ops per client")
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    return ax


# ---------------------------------------------------------------- latency
def latency_over_time(binned: pd.DataFrame, y: str = "latency_p50_ms", hue: str | None = "protocol",
                      intervals: pd.DataFrame | None = None, ax: Axes | None = None) -> Axes:
    """Latency per time bin (the frame of `pipelines.latency_over_time`), one line per `hue`."""
    ax = _axes(ax)
    hue = hue if hue in binned.columns else None
    data = binned.assign(**{hue: _labels(binned[hue])}) if hue else binned
    sns.lineplot(data=data, x="time_s", y=y, hue=hue, marker="o", markersize=3, ax=ax,
                 estimator=None, errorbar=None, **_hue_style(data, hue))
    shade_partitions(ax, intervals, scale=1000.0)
    ax.set(xlabel="time (s)", ylabel=_label(y), title="Latency over time")
    return ax


def latency_cdf(ops: pd.DataFrame, hue: str | None = "protocol", log: bool = True,
                ax: Axes | None = None) -> Axes:
    """ECDF of the latency of ok ops, one line per `hue` (a protocol, a phase, ...)."""
    ax = _axes(ax)
    ok = ops[ops["type"].eq("ok") & ops["latency_ms"].notna()]
    hue = hue if hue in ok.columns else None
    if hue is not None:
        ok = ok.assign(**{hue: _labels(ok[hue])})
    sns.ecdfplot(data=ok, x="latency_ms", hue=hue, log_scale=log and bool((ok["latency_ms"] > 0).all()),
                 ax=ax, **_hue_style(ok, hue))
    ax.set(xlabel=_label("latency_ms"), ylabel="fraction of ok ops", title="Latency CDF")
    return ax


def replication_lag(lags: pd.DataFrame, intervals: pd.DataFrame | None = None,
                    ax: Axes | None = None) -> Axes:
    """Each write's replication lag (`checkers.visibility.visibility_lags`) against when it
    first took effect: under a partition a consensus protocol's cut-off replicas fall
    behind (lag = time left until the heal), an eventual store's do not wait. Writes some
    replica never reached are marked at the top."""
    ax = _axes(ax)
    done = lags[lags["lag_ms"].notna()]
    ax.scatter(done["first_ms"] / 1000.0, done["lag_ms"], s=4, alpha=0.5, label="reached every replica")
    never = lags[lags["lag_ms"].isna()]
    if len(never):
        top = float(done["lag_ms"].max()) if len(done) else 1.0
        ax.scatter(never["first_ms"] / 1000.0, [top * 1.05] * len(never), s=8, marker="x",
                   color="tab:red", label="never reached every replica")
    shade_partitions(ax, intervals, scale=1000.0)
    if len(done) and (done["lag_ms"] > 0).any():
        ax.set_yscale("symlog", linthresh=1.0)
    ax.set(xlabel="time the write first took effect (s)", ylabel="replication lag (ms)",
           title="Replication lag of each write")
    ax.legend(loc="upper right", fontsize="small")
    return ax


# ---------------------------------------------------------------- staleness
def staleness_distribution(reads: pd.DataFrame, x: str = "ms_behind", hue: str | None = "protocol",
                           bins: int | str = 30, ax: Axes | None = None) -> Axes:
    """Histogram of how far behind the stale reads were (`staleness.stale_reads` output).

    `x="versions_behind"` counts missed writes (discrete bins); the default is time.
    """
    ax = _axes(ax)
    stale = reads[reads["stale"]] if "stale" in reads.columns else reads
    hue = hue if hue in stale.columns else None
    if stale.empty:
        ax.text(0.5, 0.5, "no stale reads", ha="center", va="center", transform=ax.transAxes)
    else:
        data = stale.assign(**{hue: _labels(stale[hue])}) if hue else stale
        discrete = x == "versions_behind"
        sns.histplot(data=data, x=x, hue=hue, multiple="dodge" if hue else "layer",
                     discrete=discrete, bins="auto" if discrete else bins, shrink=0.85, ax=ax,
                     **_hue_style(data, hue))
    ax.set(xlabel=_label(x), ylabel="stale reads", title=f"Staleness of stale reads ({len(stale)})")
    return ax


# ---------------------------------------------------------------- availability by phase
def availability_by_phase(stats: pd.DataFrame, hue: str | None = "protocol", ax: Axes | None = None) -> Axes:
    """Bars of availability per phase (and side), from `pipelines.by_phase` or, with an
    interval per bar, `pipelines.by_phase_over_runs` (bars of one run have none).

    Bars are drawn here rather than by seaborn so that colours follow the fixed
    protocol palette, groups keep phase order, numbers fit (rotated, and left out when
    the bars are too many to label), and the legend sits outside the bars.
    """
    columns = [c for c in ("phase", "side") if c in stats.columns]
    data = stats.assign(group=stats[columns].astype(str).agg(" / ".join, axis=1))
    groups = list(dict.fromkeys(data.sort_values(columns, kind="stable")["group"])) if columns else ["all"]
    hue = hue if hue in data.columns else None
    levels = level_order(data[hue].astype(str)) if hue else [None]
    colors = palette_for(levels) if hue else {None: PROTOCOL_COLORS["raft"]}
    ax = _axes(ax, (max(7.0, 1.1 * len(groups) * max(1, len(levels)) ** 0.5 + 2.5), 4.2))
    width = 0.8 / len(levels)
    label_bars = len(groups) * len(levels) <= 24
    for i, level in enumerate(levels):
        chosen = data if hue is None else data[data[hue].astype(str) == level]
        xs = np.array([groups.index(g) for g in chosen["group"]], dtype=float) + (i - (len(levels) - 1) / 2) * width
        heights = chosen["availability"].to_numpy(dtype=float)
        bars = ax.bar(xs, np.nan_to_num(heights), width * 0.92, color=colors[level],
                      label=str(level) if hue else None, gid=f"{hue}:{level}" if hue else "availability")
        if {"ci_low", "ci_high"} <= set(chosen.columns):
            low = heights - chosen["ci_low"].to_numpy(dtype=float)
            high = chosen["ci_high"].to_numpy(dtype=float) - heights
            ax.errorbar(xs, heights, yerr=[low, high], fmt="none", ecolor="0.25", elinewidth=1, capsize=2,
                        gid="ci")
        if label_bars:
            ax.bar_label(bars, labels=["–" if np.isnan(h) else f"{h:.2f}" for h in heights],
                         fontsize=6.5, padding=2, rotation=90 if len(levels) > 2 else 0)
    ax.set_xticks(range(len(groups)), groups, rotation=25 if len(groups) > 4 else 0,
                  ha="right" if len(groups) > 4 else "center", fontsize=8)
    ax.set(xlabel=" / ".join(columns), ylabel="availability (ok / invoked)", ylim=(0, 1.18),
           title="Availability by phase")
    if hue:
        ax.legend(title=_label(hue), loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


# ---------------------------------------------------------------- Raft Figure 16
def read_fig16_reference(path: str | Path = REFERENCE_FIG16) -> pd.DataFrame:
    """The paper's per-trial election times as a tidy frame: range, time_ms, source="paper"."""
    raw = pd.read_csv(path, skipinitialspace=True)
    return pd.DataFrame({"range": raw["Follower Timeouts"].astype(str).str.strip(),
                         "time_ms": raw["Time to elect Leader"].astype(float),
                         "source": "paper"})


def election_cdf(ours: pd.DataFrame, reference: pd.DataFrame | str | Path | None = REFERENCE_FIG16,
                 ax: Axes | None = None, log: bool = True) -> Axes:
    """Election-time CDFs per election-timeout range: ours solid, the Raft paper's dashed.

    `ours` has columns `range` (e.g. "150-300") and `time_ms`. Only ranges we ran are
    drawn from the reference, in the same colour (Ongaro & Ousterhout 2014, Figure 16).
    """
    ax = _axes(ax, (9.5, 4.8))
    ours = ours.assign(range=ours["range"].astype(str))
    if reference is not None and not isinstance(reference, pd.DataFrame):
        reference = read_fig16_reference(reference) if Path(reference).is_file() else None
    ranges = sorted(ours["range"].unique(), key=_range_key)
    palette = dict(zip(ranges, sns.color_palette(n_colors=max(len(ranges), 1)), strict=False))
    for name in ranges:
        trials = ours.loc[ours["range"].eq(name)]
        elected = trials["elected"].astype(bool) if "elected" in trials.columns else trials["time_ms"].notna()
        times = np.sort(trials.loc[elected, "time_ms"].dropna().to_numpy(dtype=float))
        # Over ALL trials: a never-elected one (censored, "> cap") keeps the curve below 1.
        censored = len(trials) - len(times)
        label = f"{name} ms (ours)" + (f", {censored} > cap" if censored else "")
        if len(times):
            ax.step(np.concatenate([[times[0]], times]), np.arange(len(times) + 1) / len(trials),
                    where="post", color=palette[name], lw=1.8, label=label, gid=f"ours:{name}")
        if reference is not None:
            paper = reference.loc[reference["range"].astype(str).eq(name), "time_ms"].dropna()
            if len(paper):
                ax.ecdf(paper.to_numpy(), color=palette[name], lw=1.2, ls="--",
                        label=f"{name} ms (paper)", gid=f"paper:{name}")
    if log:
        ax.set_xscale("log")
    ax.set(xlabel="time without leader (ms)", ylabel="cumulative fraction of trials",
           title="Leader election time (cf. Raft paper, Figure 16)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # off the curves
    return ax


def _range_key(name: str) -> tuple[float, float]:
    low, _, high = name.partition("-")
    try:
        return float(low), float(high or low)
    except ValueError:
        return float("inf"), float("inf")


def to_png(ax_or_fig: Axes | Figure, dpi: int = 110) -> bytes:
    """PNG bytes of the figure (Agg, no display), for the HTML report."""
    import io

    figure = ax_or_fig.figure if isinstance(ax_or_fig, Axes) else ax_or_fig
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()

