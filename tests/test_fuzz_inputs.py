"""No traceback for any input (issue 18 item 2): hypothesis over random bytes, random
structured EDN / JSON Lines / Jepsen logs / YAML, and mutations of real histories.

Every input must give a result, or a `UserInputError` whose message is one line (the
CLI prints it as `workbench: error: ...` and exits 2). Any other exception fails.

`make test` runs 100 inputs per importer and for the YAML (derandomized: the same ones every
time; `WORKBENCH_FUZZ_EXAMPLES=N` for more);
`make test-slow` runs 10,000 per importer (`@pytest.mark.slow`). A failure prints the
falsifying input and a `@reproduce_failure` blob to replay it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import DATA
from hypothesis import HealthCheck, given, settings, strategies as st

from workbench.checkers.check_command import check_files
from workbench.errors import UserInputError
from workbench.experiment.config import parse_yaml, validate_config

FAST = int(os.environ.get("WORKBENCH_FUZZ_EXAMPLES", 100))
SLOW = 10_000
FORMATS = ("jsonl", "jepsen-log", "edn")
REAL = {
    "jsonl": [],  # filled from the EDN samples below, converted (the repo has no .jsonl sample)
    "jepsen-log": sorted((DATA / "porcupine" / "jepsen").glob("etcd_01*.log"))[:3],
    "edn": [DATA / "jepsen" / "history.edn", DATA / "porcupine" / "kv" / "c01-ok.txt",
            DATA / "porcupine" / "kv" / "c01-bad.txt"],
}


def _jsonl_sample() -> bytes:
    from workbench.history.importers import load_history

    events, _ = load_history(DATA / "porcupine" / "kv" / "c01-ok.txt")
    return "".join(json.dumps(e) + "\n" for e in events).encode()


SAMPLES: dict[str, list[bytes]] = {fmt: [p.read_bytes() for p in paths] for fmt, paths in REAL.items()}
SAMPLES["jsonl"] = [_jsonl_sample()]


def one_line_or_result(data: bytes, fmt: str | None, tmp: Path) -> None:
    """Run `workbench check` on `data`; exit 0/1/3 with output, or exit 2 with one line."""
    path = tmp / "history.txt"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    code = check_files([str(path)], model=None, fmt=fmt, as_json=False, max_seconds=0.2, out=out, err=err)
    if code == 2:
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("workbench: error: "), err.getvalue()
        assert len(lines[0]) < 2_000, "an error line stays readable"
        assert out.getvalue() == ""
    else:
        assert code in (0, 1, 3) and err.getvalue() == "", (code, err.getvalue())


# ---------------------------------------------------------------- strategies
_atoms = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
_keywords = st.sampled_from([":invoke", ":ok", ":fail", ":info", ":read", ":write", ":cas", ":add",
                             ":get", ":put", ":append", ":process", ":type", ":f", ":value", ":time",
                             ":nemesis", ":key", ":x"])


def _edn(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value.startswith(":") else json.dumps(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "##NaN"
    if isinstance(value, list):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "#{" + " ".join(_edn(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + " ".join(f"{_edn(k)} {_edn(v)}" for k, v in value.items()) + "}"
    return str(value)


def _edn_collections(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
                     st.dictionaries(st.one_of(_keywords, st.integers(0, 5)), inner, max_size=4))


_values = st.recursive(st.one_of(_atoms, _keywords), _edn_collections, max_leaves=12)
_process = st.one_of(st.integers(-2, 6), st.just(":nemesis"), _values)
_op = st.fixed_dictionaries(
    {":process": _process, ":type": st.one_of(_keywords, _values), ":f": st.one_of(_keywords, _values)},
    optional={":value": _values, ":key": _values, ":time": st.one_of(st.integers(0, 10**12), _values)})


@st.composite
def edn_history(draw: st.DrawFn) -> bytes:
    ops = draw(st.lists(_op, max_size=12))
    body = "\n".join(_edn(op) for op in ops)
    if draw(st.booleans()):
        body = "[" + body + "]"
    return body.encode()


def _json_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k).lstrip(":"): _json_value(v) for k, v in value.items()}
    if isinstance(value, str):
        return value.lstrip(":")
    return value


@st.composite
def jsonl_history(draw: st.DrawFn) -> bytes:
    ops = draw(st.lists(_op, max_size=12))
    return "".join(json.dumps(_json_value(op)) + "\n" for op in ops).encode()


@st.composite
def jepsen_log(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        process = draw(st.one_of(st.integers(0, 5).map(str), st.just(":nemesis"), st.text(max_size=3)))
        kind = draw(st.sampled_from([":invoke", ":ok", ":fail", ":info", ":x", ""]))
        f = draw(st.sampled_from([":read", ":write", ":cas", ":y"]))
        value = _edn(draw(_values))
        sep = draw(st.sampled_from(["\t", " ", "  "]))
        lines.append(f"INFO  jepsen.util - {process}{sep}{kind}{sep}{f}{sep}{value}")
    return "\n".join(lines).encode()


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    """A real history with a few edits: delete, duplicate or overwrite a span, insert
    random bytes or deep brackets, cut it short."""
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        size = draw(st.integers(0, 64))
        action = draw(st.sampled_from(["delete", "duplicate", "insert", "overwrite", "nest", "cut"]))
        if action == "delete":
            del data[at:at + size]
        elif action == "duplicate":
            data[at:at] = data[at:at + size]
        elif action == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(chunk)] = chunk
        elif action == "nest":
            depth = draw(st.sampled_from([50, 150, 5_000]))
            opener = draw(st.sampled_from([b"[", b"{", b"(", b"#{"]))
            data[at:at] = opener * depth
        else:
            del data[at:]
    return bytes(data)


def inputs(fmt: str) -> st.SearchStrategy[bytes]:
    structured = {"jsonl": jsonl_history(), "jepsen-log": jepsen_log(), "edn": edn_history()}[fmt]
    return st.one_of(st.binary(max_size=256), structured, mutated(SAMPLES[fmt]))


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, derandomize=examples == FAST,
                    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                            HealthCheck.function_scoped_fixture])


def _fuzz_importer(fmt: str, examples: int, tmp: Path) -> None:
    @fuzz_settings(examples)
    @given(data=inputs(fmt), forced=st.booleans())
    def check(data: bytes, forced: bool) -> None:
        one_line_or_result(data, fmt if forced else None, tmp)

    check()


@pytest.mark.parametrize("fmt", FORMATS)
def test_importer_never_raises(fmt: str, tmp_path: Path) -> None:
    _fuzz_importer(fmt, FAST, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_importer_never_raises_10000(fmt: str, tmp_path: Path) -> None:
    _fuzz_importer(fmt, SLOW, tmp_path)


# ---------------------------------------------------------------- the experiment YAML
_yaml_keys = st.sampled_from(["name", "protocol", "nodes", "duration_s", "seed", "network", "latency",
                              "dist", "ms", "faults", "partitions", "shape", "at", "duration",
                              "workload", "mix", "raft", "paxos", "sweep", "grid", "x"])


def _yaml_collections(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(inner, max_size=3), st.dictionaries(_yaml_keys, inner, max_size=4))


_yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=6),
              st.sampled_from(["raft", "paxos", "eventual", "constant", "uniform", "halves"])),
    _yaml_collections, max_leaves=15)
_yaml_docs = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(_yaml_keys, _yaml_values, max_size=6).map(
        lambda d: yaml.safe_dump(d).encode()),
    st.builds(lambda d, cut: yaml.safe_dump(d).encode()[:cut],
              st.dictionaries(_yaml_keys, _yaml_values, max_size=6), st.integers(0, 200)),
    st.sampled_from([b"a: " + b"[" * 200_000, b"- " * 5_000, b"a: &a [1]\nb: *a\n"]))


def _load_experiment(data: bytes) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # read_yaml's own branch; the binary-file test below covers it
    try:
        validate_config(parse_yaml(text, "exp.yaml"), "exp.yaml")
    except UserInputError as exc:
        assert "\n" not in str(exc), str(exc)


@fuzz_settings(FAST)
@given(data=_yaml_docs)
def test_experiment_yaml_never_raises(data: bytes) -> None:
    _load_experiment(data)


@pytest.mark.slow
@fuzz_settings(SLOW)
@given(data=_yaml_docs)
def test_experiment_yaml_never_raises_10000(data: bytes) -> None:
    _load_experiment(data)


@pytest.mark.parametrize("data", [
    b'jepsen.util0\tinvoke\twrite\t{}',  # a map as a register value (unhashable in the checker)
    b'{"process":0,"type":[],"f":""}',  # a list as the op type
    b'{:process 0 :type :invoke :f :write :key {:a 1} :value 1}',  # a map as the key
    b'{:process 0 :type :invoke :f :add :value #{1 {}}}',
])
def test_inputs_found_by_fuzzing(data: bytes, tmp_path: Path) -> None:
    one_line_or_result(data, None, tmp_path)


@pytest.mark.parametrize("data", [
    b'{"process": 0, "type": "invoke", "f": "read", "value": null}\n'
    b'{"process": 0, "type": "ok", "f": "read", "value": true}\n'
    b'{"process": 1, "type": "invoke", "f": "add", "value": 1}\n',  # a set read returning a bool
    b'{"process": 0, "type": "invoke", "f": "get", "value": null, "key": 1}\n'
    b'{"process": 0, "type": "ok", "f": "get", "value": [1], "key": 1}\n'
    b'{"process": 1, "type": "invoke", "f": "append", "value": "x", "key": 1}\n',  # a kv get returning a list
])
def test_results_a_model_cannot_hold_are_named(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(data)
    err = io.StringIO()
    assert check_files([str(path)], model=None, fmt=None, as_json=False, max_seconds=0.2,
                       out=io.StringIO(), err=err) == 2
    assert "result" in err.getvalue() and err.getvalue().count("\n") == 1
