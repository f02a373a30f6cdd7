"""Figure 16 keeps never-elected trials (issue 19 item 7) and writes to its own folder."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from workbench.errors import UserInputError
from workbench.studies import fig16


def trials(times: list[float], elected: list[bool], cap: float = 600_000.0) -> pd.DataFrame:
    return pd.DataFrame({"range": "150-150", "time_ms": [t if e else math.nan for t, e in zip(times, elected,
                                                                                              strict=True)],
                         "elected": elected, "cap_ms": cap, "messages": 1})


def test_a_never_elected_trial_is_plus_infinity_not_dropped() -> None:
    frame = trials([100.0] * 99 + [0.0], [True] * 99 + [False])
    reference = pd.DataFrame({"range": "150-150", "time_ms": [100.0] * 100})
    row = fig16.summary(frame, reference).iloc[0]
    assert row["censored"] == 1 and row["elected"] == 99
    assert math.isinf(row["max_ms"]) and math.isinf(row["p99_ms"]) and row["median_ms"] == 100.0
    assert row["ks_distance"] == pytest.approx(0.01)  # dropping it gave 0
    text = fig16.format_summary(fig16.summary(frame, reference))
    assert "> 600000" in text


def test_output_paths_refuse_the_committed_data(tmp_path: Path) -> None:
    with pytest.raises(UserInputError):
        fig16.output_paths(fig16.COMMITTED)
    with pytest.raises(UserInputError):
        fig16.output_paths(fig16.COMMITTED / "trials.parquet")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserInputError):
        fig16.output_paths(tmp_path / "file")
    assert fig16.output_paths(tmp_path / "out") == (tmp_path / "out", tmp_path / "out" / "trials.parquet")
    assert fig16.output_paths(tmp_path / "t.parquet") == (tmp_path, tmp_path / "t.parquet")


def test_fig16_writes_table_and_figure_into_its_folder(tmp_path: Path) -> None:
    before = (fig16.COMMITTED / "trials.parquet").stat().st_mtime_ns
    fig16.main(ranges=["150-300"], trials=3, out=tmp_path / "fig", workers=1, echo=lambda *_: None)
    assert {p.name for p in (tmp_path / "fig").iterdir()} >= {"trials.parquet", "comparison.csv", "cdf.png"}
    assert (tmp_path / "fig" / "cdf.png").read_bytes()[:4] == b"\x89PNG"
    assert (fig16.COMMITTED / "trials.parquet").stat().st_mtime_ns == before
