"""A reference (issue 18 item 4): `workbench config --schema`, docs/config.md in sync, and a
new user's path: an experiment file written from the schema output alone runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cli_harness import run_cli
from conftest import ROOT

from workbench.errors import ConfigError
from workbench.experiment.config import ExperimentConfig, validate_config
from workbench.schema import render_markdown, walk


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def test_docs_config_md_is_in_sync() -> None:
    written = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert written == render_markdown(), (
        "docs/config.md is stale: regenerate it with "
        "`.venv/bin/workbench config --schema --markdown > docs/config.md`")


def _leaf_paths(value: object, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_leaf_paths(v, f"{prefix}{k}.") for k, v in value.items())) if value else set()
    return {prefix.rstrip(".")}


def test_every_field_has_a_meaning_and_every_default_leaf_is_listed() -> None:
    rows = walk()
    assert all(r.meaning for r in rows), [r.path for r in rows if not r.meaning]
    paths = {re.sub(r" \([a-z_]+: [a-z]+\)", "", r.path) for r in rows}
    defaults = ExperimentConfig.model_validate({"protocol": "raft"}).model_dump(mode="json", by_alias=True)
    assert _leaf_paths(defaults) - {"sweep"} <= paths
    units = {r.path: r.unit for r in rows}
    assert units["raft.election_timeout_min_ms"] == "ms" and units["faults.partitions[].at"] == "s"
    assert units["workload.zipf_s"] == ""


@pytest.mark.parametrize(("latency", "expected"), [
    ({"ms": 3}, "network.latency: missing key 'dist', which chooses the kind (one of: constant, uniform, "
                "exponential, lognormal, pareto, mixture)"),
    ({"dist": "gauss"}, "network.latency: dist: 'gauss' is not allowed (one of: constant, uniform,"),
])
def test_tagged_union_errors_name_the_key_and_its_choices(latency: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate_config({"protocol": "raft", "network": {"latency": latency}}, "x.yaml")
    assert expected in str(error.value)


def _value_for(type_text: str) -> object:
    first = type_text.split(" | ")[0]
    return {"int": 1, "number": 1.0, "bool": False, "text": "x"}.get(first, first)


def test_a_new_users_experiment_from_the_schema_alone_runs(tmp_path: Path, cli) -> None:
    """Read only `workbench config --schema`: fill the required top-level fields with the
    first allowed value, shorten the run, pick a constant latency from its tagged line."""
    schema = cli("config", "--schema")
    assert schema.code == 0
    line = re.compile(r"^(?P<path>[^\s:\[]+(?: \((?P<tag>[a-z_]+: [a-z]+)\))?(?:\.[\w.]+)?)"
                      r"(?: \[(?P<unit>[^\]]+)\])?: (?P<type>.+) = (?P<default>.*)$")
    experiment: dict = {}
    latency_ms_line = None
    for text in schema.out.splitlines():
        if not (match := line.match(text)):
            continue
        path, kind, default = match["path"], match["type"], match["default"]
        if default == "required" and "." not in path:
            experiment[path] = _value_for(kind)
        if path.startswith("network.latency (dist: constant)."):
            latency_ms_line = (path, match["unit"])
    assert experiment == {"protocol": "eventual"}, "the only required field is the protocol"
    assert latency_ms_line == ("network.latency (dist: constant).ms", "ms")
    assert "duration_s [s]: number" in schema.out and "nodes: int" in schema.out
    experiment.update({"duration_s": 2, "nodes": 3, "network": {"latency": {"dist": "constant", "ms": 2}}})
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(experiment))
    result = cli("run", str(path), "--out", str(tmp_path / "out"), "--no-report")
    assert result.code == 0, result.err
    assert (tmp_path / "out" / "summary.json").is_file()
