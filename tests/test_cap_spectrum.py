"""experiments/cap_spectrum.yaml: the sweep's `cases` and the CAP plane of the spectrum."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from workbench.errors import ConfigError
from workbench.experiment.config import read_yaml
from workbench.experiment.execute import run_sweep
from workbench.experiment.plan import plan_sweep
from workbench.studies.cap_spectrum import draw, point_labels

SPECTRUM = ROOT / "experiments" / "cap_spectrum.yaml"


def test_cases_expand_to_one_run_per_point_without_duplicates() -> None:
    plan = plan_sweep(read_yaml(SPECTRUM), str(SPECTRUM))
    assert len(plan.runs) == 11
    assert plan.grid_paths == ["protocol", "quorum.r", "quorum.w", "quorum.sloppy"]
    protocols = [r.config.protocol for r in plan.runs]
    assert protocols.count("quorum") == 8 and {"raft", "paxos", "eventual"} <= set(protocols)
    quorum = {(r.config.quorum.r, r.config.quorum.w, r.config.quorum.sloppy)
              for r in plan.runs if r.config.protocol == "quorum"}
    assert quorum == {(r, w, s) for r, w in ((1, 1), (2, 2), (1, 3), (3, 1)) for s in (False, True)}
    # The same partition scenario for every point.
    assert len({r.config.faults.model_dump_json() for r in plan.runs}) == 1


def test_a_bad_case_path_is_one_clear_error() -> None:
    raw = read_yaml(SPECTRUM)
    raw["sweep"]["cases"].append({"quorum.rr": 1})
    with pytest.raises(ConfigError, match="sweep.cases: quorum.rr"):
        plan_sweep(raw, "x.yaml")


def test_a_short_spectrum_runs_and_draws_its_cap_plane(tmp_path: Path) -> None:
    raw = read_yaml(SPECTRUM)
    raw.update(duration_s=4, faults={"partitions": [{"shape": "majority-minority", "at": 1.0, "duration": 2}]})
    raw["sweep"]["cases"] = [c for c in raw["sweep"]["cases"]
                             if c.get("protocol") in ("raft", "eventual") or c.get("quorum.r") == 2]
    result = run_sweep(plan_sweep(raw, "short"), out=tmp_path / "sweep", workers=1, progress=False)
    frame = point_labels(result.frame)
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert set(frame["family"]) == {"raft", "eventual", "quorum strict", "quorum sloppy"}
    by = frame.set_index(["family", "point"])
    # Consensus is never stale; the eventual store always answers.
    assert by.loc[("raft", "raft"), "stale_read_fraction"] == 0
    assert by.loc[("eventual", "eventual"), "availability_partitioned"] == 1
    png = tmp_path / "plane.png"
    draw(result.frame, png)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_point_labels_name_each_configuration() -> None:
    frame = pd.DataFrame({"protocol": ["raft", "quorum", "quorum"], "quorum.r": [None, 1, 2],
                          "quorum.w": [None, 3, 2], "quorum.sloppy": [None, False, True]})
    labelled = point_labels(frame)
    assert labelled["family"].tolist() == ["raft", "quorum strict", "quorum sloppy"]
    assert labelled["point"].tolist() == ["raft", "R1W3", "R2W2"]
