"""Every plot function: the axes carry the expected labels and exactly the input's data."""

from __future__ import annotations

import random

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.container import ErrorbarContainer

from workbench.analysis import plots
from workbench.analysis.pipelines import by_phase, latency_over_time
from workbench.analysis.staleness import stale_reads

matplotlib.use("Agg")


def ops_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        invoke = rng.uniform(0, 6000)
        kind = rng.choices(["ok", "fail", "info"], [0.75, 0.15, 0.1])[0]
        complete = invoke + rng.uniform(1, 50) if rng.random() > 0.05 else np.nan
        phase = "before" if invoke < 2000 else "during" if invoke < 4000 else "after"
        rows.append({"protocol": rng.choice(["raft", "eventual"]), "op": i, "process": rng.randrange(8),
                     "f": "read", "key": "k", "value": None, "type": kind, "result": None,
                     "invoke_time": invoke, "complete_time": complete,
                     "latency_ms": complete - invoke if kind != "info" else np.nan,
                     "phase": phase, "partitioned": phase == "during",
                     "minority": phase == "during" and rng.random() < 0.4})
    return pd.DataFrame(rows)


INTERVALS = pd.DataFrame({"fault_id": [0, 1], "shape": ["halves", "isolate"], "start": [2000.0, 4500.0],
                          "end": [4000.0, 5000.0], "minority": [(3, 4), (0,)]})


def partition_patches(ax) -> list:
    return [p for p in ax.patches if p.get_gid() == "partition"]


# ---------------------------------------------------------------- CAP plane
def test_cap_plane_one_point_per_protocol_at_the_seed_mean_with_ci() -> None:
    rng = np.random.default_rng(1)
    runs = pd.DataFrame({"protocol": np.repeat(["eventual", "raft", "paxos"], 3), "seed": [1, 2, 3] * 3,
                         "availability_partitioned": rng.uniform(0, 1, 9),
                         "stale_read_fraction": rng.uniform(0, 0.5, 9)})
    ax = plots.cap_plane(runs)
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 3  # one per protocol, each in the protocol's fixed colour
    for collection in points:
        protocol = collection.get_gid().split(":")[1]
        assert matplotlib.colors.to_hex(collection.get_facecolor()[0]) == plots.PROTOCOL_COLORS[protocol].lower()
    offsets = np.concatenate([c.get_offsets() for c in points])
    means = runs.groupby("protocol")[["availability_partitioned", "stale_read_fraction"]].mean()
    assert sorted(map(tuple, np.round(offsets, 9))) == sorted(map(tuple, np.round(means.to_numpy(), 9)))
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 3
    assert ax.get_xlabel() == "availability during partition (per op)"  # no time-weighted column: old results
    assert ax.get_ylabel() == "stale-read fraction"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["raft", "paxos", "eventual"]


def test_cap_plane_uses_time_weighted_availability_by_default() -> None:
    runs = pd.DataFrame({"protocol": ["raft", "eventual"], "availability_partitioned": [0.1, 1.0],
                         "availability_time_partitioned": [0.6, 1.0], "stale_read_fraction": [0.0, 0.4]})
    ax = plots.cap_plane(runs)
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert sorted(offsets[:, 0].tolist()) == [0.6, 1.0]
    assert ax.get_xlabel().startswith("availability during partition\n(share of client-time")


def test_cap_plane_single_runs_have_no_error_bars_and_labels_settings() -> None:
    runs = pd.DataFrame({"protocol": ["raft"] * 4, "raft.read_mode": ["log", "read_index", "lease", "follower"],
                         "availability_partitioned": [0.6, 0.6, 0.62, 0.9],
                         "non_linearizable": [0.0, 0.0, 0.0, 1.0]})
    ax = plots.cap_plane(runs, y="non_linearizable", label="raft.read_mode")
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert len(offsets) == 4
    assert sorted(offsets[:, 1].tolist()) == [0.0, 0.0, 0.0, 1.0]
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert sorted(t.get_text() for t in ax.texts
                  if t.get_text()[:3] not in ("CP:", "AP:") and not t.get_text().startswith("point labels")) == sorted(
        runs["raft.read_mode"])
    assert ax.get_ylabel() == "non-linearizable runs (fraction)"


def test_metric_vs_parameter_one_line_per_protocol_through_the_means() -> None:
    rng = np.random.default_rng(2)
    runs = pd.DataFrame({"protocol": np.repeat(["raft", "eventual"], 6),
                         "network.latency.ms": np.tile([1, 1, 5, 5, 20, 20], 2), "seed": np.tile([1, 2], 6),
                         "latency_p50_ms": rng.uniform(0, 100, 12)})
    ax = plots.metric_vs_parameter(runs, x="network.latency.ms")
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert set(bars) == {"raft", "eventual"}
    for protocol, container in bars.items():
        means = runs[runs["protocol"] == protocol].groupby("network.latency.ms")["latency_p50_ms"].mean()
        line = container.lines[0]  # the data line (the others are caps and bars)
        np.testing.assert_allclose(np.asarray(line.get_xdata(), float), means.index)
        np.testing.assert_allclose(np.asarray(line.get_ydata(), float), means.to_numpy())
        assert len(container.lines[2][0].get_segments()) == 3  # one CI bar per parameter value
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("one-way link latency (ms)",
                                                  "median latency (ms)\ntimeouts counted at the timeout")


# ---------------------------------------------------------------- timeline
def test_timeline_one_segment_per_op_by_outcome_and_partitions_shaded() -> None:
    ops = ops_frame()
    ax = plots.timeline(ops, INTERVALS)
    collections = {c.get_gid(): c for c in ax.collections if isinstance(c, LineCollection)}
    assert set(collections) == {"ok", "fail", "info"}
    for outcome, collection in collections.items():
        chosen = ops[ops["type"] == outcome]
        segments = collection.get_segments()
        assert len(segments) == len(chosen)
        starts = np.array([s[0] for s in segments])
        np.testing.assert_allclose(starts[:, 0], chosen["invoke_time"] / 1000.0)
        np.testing.assert_allclose(starts[:, 1], chosen["process"])
        ends = np.array([s[1][0] for s in segments])
        assert (ends >= starts[:, 0]).all()
    assert len(partition_patches(ax)) == len(INTERVALS)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "process")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == [f"{k} ({(ops['type'] == k).sum()})" for k in ("ok", "fail", "info")]


def test_timeline_without_partitions_has_no_shading() -> None:
    ax = plots.timeline(ops_frame(30))
    assert partition_patches(ax) == []


def test_replication_lag_one_point_per_write_and_a_mark_per_unreached_one() -> None:
    lags = pd.DataFrame({"key": ["k"] * 4, "version": [1, 2, 3, 4],
                         "first_ms": [500.0, 1500.0, 2500.0, 3000.0],
                         "everywhere_ms": [503.0, 2900.0, 2504.0, np.nan],
                         "lag_ms": [3.0, 1400.0, 4.0, np.nan], "replicas": [3, 3, 3, 2]})
    ax = plots.replication_lag(lags, INTERVALS)
    reached, never = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(reached.get_offsets(), [[0.5, 3.0], [1.5, 1400.0], [2.5, 4.0]])
    np.testing.assert_allclose(never.get_offsets()[:, 0], [3.0])
    assert never.get_offsets()[0, 1] > 1400.0  # above every reached write
    assert len(partition_patches(ax)) == len(INTERVALS)


# ---------------------------------------------------------------- latency
def test_latency_over_time_one_line_per_protocol_with_the_binned_values() -> None:
    binned = latency_over_time(ops_frame(), bin_ms=1000, by=["protocol"])
    ax = plots.latency_over_time(binned, intervals=INTERVALS)
    lines = [line for line in ax.get_lines() if len(line.get_xdata())]
    assert len(lines) == 2
    drawn = sorted((tuple(line.get_xdata()), tuple(np.round(line.get_ydata(), 9))) for line in lines)
    want = sorted((tuple(g["time_s"]), tuple(np.round(g["latency_p50_ms"], 9)))
                  for _, g in binned.groupby("protocol"))
    assert drawn == want
    assert len(partition_patches(ax)) == 2
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (s)", "median latency (ms)\ntimeouts counted at the timeout")


@pytest.mark.parametrize("hue", ["protocol", "phase"])
def test_latency_cdf_one_step_line_per_group_over_the_ok_latencies(hue: str) -> None:
    ops = ops_frame()
    ax = plots.latency_cdf(ops, hue=hue)
    ok = ops[(ops["type"] == "ok") & ops["latency_ms"].notna()]
    lines = ax.get_lines()
    assert len(lines) == ok[hue].nunique()
    # seaborn starts each ECDF at -inf, which the log scale maps to 0; the rest is the
    # sample, round-tripped through log10 (hence allclose)
    drawn = sorted((np.sort(x[np.isfinite(x) & (x > 0)])
                    for x in (np.asarray(line.get_xdata()) for line in lines)), key=lambda a: (len(a), a[0]))
    want = sorted((np.sort(g["latency_ms"].to_numpy()) for _, g in ok.groupby(hue)), key=lambda a: (len(a), a[0]))
    for got, expected in zip(drawn, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert all(line.get_ydata()[-1] == pytest.approx(1.0) for line in lines)
    assert ax.get_xscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("latency (ms)", "fraction of ok ops")


def test_latency_cdf_keeps_a_categorical_hue_order() -> None:
    ops = ops_frame().assign(setting=lambda f: pd.Categorical(
        f["protocol"].map({"raft": "raft, 20", "eventual": "eventual, 5"}),
        categories=["eventual, 5", "raft, 20", "paxos, 1"], ordered=True))
    ax = plots.latency_cdf(ops, hue="setting")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["eventual, 5", "raft, 20"]


# ---------------------------------------------------------------- staleness
def stale_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 120
    return pd.DataFrame({"protocol": rng.choice(["eventual", "raft"], n), "stale": rng.random(n) < 0.6,
                         "versions_behind": rng.integers(1, 5, n).astype(float),
                         "ms_behind": rng.exponential(20, n)})


@pytest.mark.parametrize("x", ["ms_behind", "versions_behind"])
def test_staleness_histogram_counts_exactly_the_stale_reads(x: str) -> None:
    reads = stale_frame()
    ax = plots.staleness_distribution(reads, x=x)
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == reads["stale"].sum()
    by_color: dict[tuple, float] = {}
    for patch in ax.patches:
        by_color[patch.get_facecolor()] = by_color.get(patch.get_facecolor(), 0) + patch.get_height()
    assert sorted(by_color.values()) == sorted(reads[reads["stale"]].groupby("protocol").size().tolist())
    assert ax.get_ylabel() == "stale reads"
    assert ax.get_xlabel() == plots.LABELS[x]


def test_staleness_of_a_real_history_and_of_none() -> None:
    rows = [{"protocol": "p", "op": 0, "process": 0, "f": "write", "key": "k", "value": 1, "type": "ok",
             "result": None, "invoke_time": 0.0, "complete_time": 1.0, "latency_ms": 1.0},
            {"protocol": "p", "op": 1, "process": 1, "f": "read", "key": "k", "value": None, "type": "ok",
             "result": None, "invoke_time": 5.0, "complete_time": 6.0, "latency_ms": 1.0}]
    ax = plots.staleness_distribution(stale_reads(pd.DataFrame(rows)))
    assert sum(p.get_height() for p in ax.patches) == 1
    empty = plots.staleness_distribution(stale_frame().assign(stale=False))
    assert len(empty.patches) == 0 and "no stale reads" in [t.get_text() for t in empty.texts]


# ---------------------------------------------------------------- availability by phase
def test_availability_by_phase_one_bar_per_group() -> None:
    stats = by_phase(ops_frame(), by=["protocol"])
    ax = plots.availability_by_phase(stats)
    bars = [p for p in ax.patches if p.get_height() > 0 or p.get_width() > 0]
    assert len(bars) == len(stats)
    assert sorted(np.round([b.get_height() for b in bars], 9)) == sorted(np.round(stats["availability"], 9))
    assert ax.get_ylabel() == "availability (ok / invoked)"
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "before / majority", "during / majority", "during / minority", "after / majority"]


# ---------------------------------------------------------------- Raft Figure 16
def test_election_cdf_ours_solid_paper_dashed(tmp_path) -> None:
    paper = tmp_path / "fig16.csv"
    paper.write_text("Follower Timeouts, Cumulative Percent, Time to elect Leader\n"
                     "150-300,0.25,180.5\n150-300,0.75,260.0\n150-155,0.5,400.0\n12-24,0.5,30.0\n")
    ours = pd.DataFrame({"range": ["150-300"] * 3 + ["150-155"] * 2, "time_ms": [200.0, 150.0, 300.0, 500.0, 900.0]})
    ax = plots.election_cdf(ours, paper)
    lines = {line.get_gid(): line for line in ax.get_lines()}
    assert set(lines) == {"ours:150-155", "ours:150-300", "paper:150-155", "paper:150-300"}
    assert sorted(set(lines["ours:150-300"].get_xdata())) == [150.0, 200.0, 300.0]
    assert sorted(set(lines["paper:150-300"].get_xdata())) == [180.5, 260.0]
    assert lines["paper:150-300"].get_linestyle() == "--"
    assert lines["ours:150-300"].get_linestyle() == "-"
    assert lines["ours:150-300"].get_color() == lines["paper:150-300"].get_color()
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "time without leader (ms)"


def test_read_fig16_reference_of_the_paper_csv() -> None:
    reference = plots.read_fig16_reference()  # data/reference/raft-fig16/ongaro_fig16.csv
    counts = reference.groupby("range").size()
    assert counts["150-300"] == 1000 and counts["150-150"] == 100
    # the paper's text: 12-24 ms timeouts elect a leader in 35 ms on average
    assert reference.loc[reference["range"] == "12-24", "time_ms"].mean() == pytest.approx(35, abs=3)


def test_png_export_is_a_png() -> None:
    png = plots.to_png(plots.timeline(ops_frame(20)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- labels, palette, intervals (issue 18 item 6, 19 item 5)
def test_axis_labels_carry_units_and_legends_sort_numerically() -> None:
    assert plots._label("faults.partitions.0.duration") == "partition duration (s)"
    assert plots._label("raft.election_timeout_max_ms") == "election timeout max (ms)"
    assert plots.level_order(pd.Series(["10", "20", "5"])) == ["5", "10", "20"]
    assert plots.level_order(pd.Series(["eventual", "raft", "paxos"])) == ["raft", "paxos", "eventual"]


def test_settings_of_one_protocol_share_its_hue() -> None:
    colors = plots.palette_for(["raft, 5", "raft, 10", "eventual, 5"])
    assert matplotlib.colors.to_hex(colors["raft, 5"]) == plots.PROTOCOL_COLORS["raft"].lower()
    assert matplotlib.colors.to_hex(colors["eventual, 5"]) == plots.PROTOCOL_COLORS["eventual"].lower()
    assert colors["raft, 10"] != colors["raft, 5"]


def test_single_seed_points_get_no_error_bar() -> None:
    runs = pd.DataFrame({"protocol": ["raft"] * 3, "network.latency.ms": [1, 5, 5], "seed": [1, 1, 2],
                         "latency_p50_ms": [1.0, 2.0, 4.0]})
    ax = plots.metric_vs_parameter(runs, x="network.latency.ms")
    container = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    segments = container.lines[2][0].get_segments()
    assert len(segments[0]) == 0 or np.isnan(np.asarray(segments[0], float)).all()  # n = 1: nothing drawn
    assert np.isfinite(np.asarray(segments[1], float)).all()  # n = 2: a real bar


def test_cap_plane_keeps_every_grid_parameter_apart() -> None:
    runs = pd.DataFrame({"protocol": ["raft"] * 4, "seed": [1, 2, 1, 2], "d": [5, 5, 20, 20],
                         "availability_partitioned": [0.9, 0.9, 0.5, 0.5], "stale_read_fraction": [0.0] * 4})
    ax = plots.cap_plane(runs, by=["d"])
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert sorted(offsets[:, 0].tolist()) == [0.5, 0.9]  # not one point at 0.7


def test_setting_labels_sort_by_protocol_then_number() -> None:
    levels = ["eventual, 10", "raft, 20", "eventual, 5", "raft, 5"]
    assert plots.level_order(pd.Series(levels)) == ["raft, 5", "raft, 20", "eventual, 5", "eventual, 10"]
