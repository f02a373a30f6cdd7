"""The one dotted-path walker behind `--set` overrides and sweep grids."""

from __future__ import annotations

from workbench.experiment import dotted

RESOLVED = {"raft": {"read_mode": "log"}, "faults": {"partitions": [{"at": 10.0, "duration": 20.0}]}}


def test_problem_names_the_first_missing_part() -> None:
    assert dotted.problem(RESOLVED, ["raft", "read_mode"]) is None
    assert dotted.problem(RESOLVED, ["faults", "partitions", "0", "at"]) is None
    assert dotted.problem(RESOLVED, ["raft", "read_mod"]) == "no field 'raft.read_mod' in the experiment config"
    assert dotted.problem(RESOLVED, ["faults", "partitions", "1", "at"]) == \
        "no item 'faults.partitions.1' (the list has 1 items)"
    assert dotted.problem(RESOLVED, ["faults", "partitions", "x"]) is not None
    assert dotted.problem(RESOLVED, ["raft", "read_mode", "deeper"]) is not None


def test_set_resolved_edits_in_place() -> None:
    tree = {"raft": {"read_mode": "log"}, "faults": {"partitions": [{"at": 1}]}}
    dotted.set_resolved(tree, ["faults", "partitions", "0", "at"], 5)
    dotted.set_resolved(tree, ["raft", "read_mode"], "lease")
    assert tree == {"raft": {"read_mode": "lease"}, "faults": {"partitions": [{"at": 5}]}}


def test_set_raw_creates_missing_sections_and_copies_lists() -> None:
    raw: dict = {"name": "x"}
    dotted.set_raw(raw, RESOLVED, ["raft", "read_mode"], value="lease")
    dotted.set_raw(raw, RESOLVED, ["faults", "partitions", "0", "at"], value=3)
    assert raw == {"name": "x", "raft": {"read_mode": "lease"},
                   "faults": {"partitions": [{"at": 3, "duration": 20.0}]}}
    assert RESOLVED["faults"]["partitions"][0]["at"] == 10.0  # the resolved tree is not touched


def test_set_keyword_overrides_and_sweep_grids_share_one_walker() -> None:
    """`--set`, the Python API's `a__b=` keywords and sweep grids name fields by the same
    dotted paths, checked by the same code: one message for one mistake."""
    import pytest

    from workbench.errors import ConfigError
    from workbench.experiment.config import apply_overrides, resolve, validate_config
    from workbench.experiment.plan import plan_sweep

    raw = {"protocol": "raft", "faults": {"partitions": [{"shape": "halves", "at": 1, "duration": 1}]}}
    resolved = validate_config(raw).model_dump(by_alias=True)
    for bad in ("faults.partitions.3.at", "raft.read_mod"):
        problem = dotted.problem(resolved, bad.split("."))
        assert problem is not None
        with pytest.raises(ConfigError) as by_set:
            apply_overrides(raw, [f"{bad}=1"])
        with pytest.raises(ConfigError) as by_keyword:
            resolve(raw, {bad.replace(".", "__"): 1})
        with pytest.raises(ConfigError) as by_grid:
            plan_sweep({**raw, "sweep": {"grid": {bad: [1]}}})
        for error in (by_set, by_keyword, by_grid):
            assert problem in str(error.value), (bad, str(error.value))
