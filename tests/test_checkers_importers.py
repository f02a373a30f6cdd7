"""History importers (Jepsen etcd logs, EDN kv logs, history.edn, JSON Lines) and the EDN reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import edn_format
import pytest
from hypothesis import given, settings, strategies as st

from workbench.checkers.linearizability import check_linearizability
from workbench.errors import HistoryFormatError
from workbench.history import edn
from workbench.history.events import write_jsonl
from workbench.history.importers import detect_format, load_history, normalize_format

DATA = Path(__file__).parent / "data"
PORCUPINE = DATA / "porcupine"
ETCD = sorted((PORCUPINE / "jepsen").glob("etcd_*.log"))
KV = sorted((PORCUPINE / "kv").glob("*.txt"))


# --- Jepsen etcd logs ------------------------------------------------------------------------

def test_etcd_corpus_counts_match_verdicts_md() -> None:
    invokes: Counter[str] = Counter()
    completions: Counter[tuple[str, str, str]] = Counter()
    for path in ETCD:
        events, model = load_history(path)
        assert model == "cas-register"
        for e in events:
            if e["type"] == "invoke":
                invokes[e["f"]] += 1
            else:
                shown = "nil" if e["f"] == "read" and e["value"] is None and e["type"] == "ok" else ""
                completions[(e["type"], e["f"], shown)] += 1
    assert invokes == {"read": 2939, "write": 2748, "cas": 2836}
    assert completions[("ok", "read", "nil")] == 203
    assert completions[("ok", "read", "")] == 2719
    assert completions[("ok", "write", "")] == 2122
    assert completions[("ok", "cas", "")] == 431
    assert completions[("fail", "cas", "")] == 1748
    assert completions[("info", "cas", "")] == 657
    assert completions[("info", "write", "")] == 626
    assert completions[("fail", "read", "")] == 17


def test_etcd_line_fields() -> None:
    events, _ = load_history(PORCUPINE / "jepsen" / "etcd_000.log")
    assert events[0] == {"process": 0, "type": "invoke", "f": "read", "key": None,
                         "value": None, "time": 1.0}
    cas = next(e for e in events if e["f"] == "cas")
    assert isinstance(cas["value"], list) and len(cas["value"]) == 2
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_etcd_space_separated_files() -> None:
    events, _ = load_history(PORCUPINE / "jepsen" / "etcd_100.log")
    assert any(e["type"] == "fail" and e["f"] == "read" for e in events)
    assert all(e["value"] is None for e in events if e["type"] in ("info", "fail")
               and e["f"] != "cas")


def test_nemesis_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
                    "INFO  jepsen.util - 0\t:invoke\t:write\t3\n"
                    "INFO  jepsen.util - 0\t:ok\t:write\t3\n")
    events, model = load_history(path)
    assert [e["type"] for e in events] == ["invoke", "ok"] and events[0]["time"] == 2.0


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - x\t:ok\t:write\t3\n", 2, "process"),
    ("INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.core - hello\n", 2, "Jepsen op line"),
    ("INFO  jepsen.util - 0\t:invoke\t:write\t[1 2\n", 1, "bad value"),
    ("INFO  jepsen.util - 0\t:begin\t:write\t3\n", 1, "type"),
    ("INFO  jepsen.util - 0\t:invoke\t:frob\t3\n", 1, "operation"),
])
def test_bad_etcd_lines(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.log"
    path.write_text(text)
    with pytest.raises(HistoryFormatError) as info:
        load_history(path)
    assert info.value.line == line and str(path) in str(info.value)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


# --- EDN kv logs and history.edn -------------------------------------------------------------

@pytest.mark.parametrize("path", KV, ids=[p.name for p in KV])
def test_kv_logs(path: Path) -> None:
    events, model = load_history(path)
    assert model == "kv"
    lines = path.read_text().splitlines()
    assert len(events) == len(lines)
    for line, event in zip(lines[:200], events[:200], strict=False):
        parsed = edn_format.loads(line)  # the reference EDN parser agrees
        assert event["process"] == parsed[edn_format.Keyword("process")]
        assert event["f"] == parsed[edn_format.Keyword("f")].name
        assert event["key"] == parsed[edn_format.Keyword("key")]
        assert event["value"] == parsed[edn_format.Keyword("value")]
    assert all(e["time"] == i for i, e in enumerate(events, start=1))


def test_jepsen_history_edn_fixture() -> None:
    events, model = load_history(DATA / "jepsen" / "history.edn")
    assert model == "cas-register"
    assert len(events) == 14  # nemesis ops and the #_ discarded op skipped
    assert {e["process"] for e in events} == {0, 1, 2, 3, 5}
    assert events[0]["time"] == 1.0 and events[5]["time"] == 6.5  # ns -> ms
    assert events[5]["type"] == "ok" and events[5]["value"] == [1, 2]  # the record op
    assert check_linearizability(events, model).verdict == "linearizable"


def test_edn_one_op_per_line_without_vector(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text('{:process 0, :type :invoke, :f :add, :value 1}\n'
                    '{:process 0, :type :ok, :f :add, :value 1}\n'
                    '{:process 1, :type :invoke, :f :read, :value nil}\n'
                    '{:process 1, :type :ok, :f :read, :value #{1}}\n')
    events, model = load_history(path)
    assert model == "set" and events[-1]["value"] == [1]


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ('[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok :f :read, :value}\n]', 2, "even"),
    ('[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok :f :read, :value\n]', 3, "closed by"),
    ('[{:process 0, :type :invoke, :f :read}\n 7]', 2, "op map"),
    ('[{:process 0, :type :invoke, :f :read}\n {:process 0, :f :read}]', 2, ":type"),
    ('{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :time "x"}', 2, ":time"),
    ('{:process 0, :type :invoke, :f :read}\n{:process 0, :type :ok, :f :read, :value "x}', 2, "EDN"),
    ('[{:process 0, :type :invoke, :f :read}\n', 1, "never closed"),
])
def test_bad_edn(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = tmp_path / "bad.edn"
    path.write_text(text)
    with pytest.raises(HistoryFormatError) as info:
        load_history(path)
    assert info.value.line == line, str(info.value)
    assert fragment in str(info.value)


# --- JSON Lines, detection, formats ----------------------------------------------------------

def test_jsonl_round_trip_and_model_suggestion(tmp_path: Path) -> None:
    events = [{"process": 0, "type": "invoke", "f": "write", "key": "a", "value": 1, "time": 0.5},
              {"process": 0, "type": "ok", "f": "write", "key": "a", "value": 1, "time": 1.5}]
    path = tmp_path / "run.jsonl"
    write_jsonl(events, path)
    loaded, model = load_history(path)
    assert loaded == events and model == "register"
    write_jsonl([*events, {**events[0], "f": "cas", "value": [1, 2]}], path)
    assert load_history(path)[1] == "cas-register"
    write_jsonl([{**events[0], "f": "add"}], path)
    assert load_history(path)[1] == "set"


def test_detection_and_forcing(tmp_path: Path) -> None:
    assert detect_format('{"process": 0}') == "jsonl"
    assert detect_format("; comment\n{:process 0}") == "edn"
    assert detect_format("\n[{:process 0}]") == "edn"
    assert detect_format("INFO  jepsen.util - 0\t:invoke\t:read\tnil") == "jepsen-log"
    assert detect_format("", "x.log") == "jepsen-log"
    assert normalize_format("jepsen-etcd-log") == "jepsen-log"
    assert normalize_format("kv-edn-line") == "edn"
    path = tmp_path / "weird.txt"
    path.write_text("hello\n")
    with pytest.raises(HistoryFormatError, match="weird.txt:1: cannot tell"):
        load_history(path)
    with pytest.raises(HistoryFormatError, match="unknown history format"):
        load_history(path, "csv")
    with pytest.raises(HistoryFormatError, match="Jepsen op line"):
        load_history(path, "jepsen-log")
    with pytest.raises(HistoryFormatError, match="cannot read"):
        load_history(tmp_path / "missing.log")


# --- the EDN reader --------------------------------------------------------------------------

def test_edn_reader_values() -> None:
    value = edn.loads('{:a [1 -2 +3 4.5 -1e3 7N 1.5M nil true false], "s" "q\\"\\n\\u00e9", '
                      ':set #{1 2}, :sym foo/bar, :c \\x, :nested {[1 2] (3 4)}} ; tail comment')
    assert value["a"] == [1, -2, 3, 4.5, -1000.0, 7, 1.5, None, True, False]
    assert value["s"] == 'q"\né'
    assert value["set"] == frozenset({1, 2})
    assert isinstance(value["sym"], edn.Symbol) and value["sym"] == "foo/bar"
    assert value["c"] == "x"
    assert value["nested"] == {(1, 2): [3, 4]}
    assert isinstance(next(iter(value)), edn.Keyword) and repr(edn.Keyword("a")) == ":a"
    assert edn.loads("#_ 1 #inst \"2020\" ") == "2020"
    assert edn.read_forms("[1 [2] 3] [4]", depth=1) == [(1, 1), (3, [2]), (7, 3), (11, 4)]


@pytest.mark.parametrize("text", ["[1 2", "]", "{:a}", "(1]", "1 2", ":", "1x", "[#_]", "\"abc"])
def test_edn_reader_errors(text: str) -> None:
    with pytest.raises(edn.EdnError):
        edn.loads(text)


def _from_edn_format(value: Any) -> Any:
    if isinstance(value, edn_format.Keyword):
        return ("kw", value.name)
    if isinstance(value, edn_format.Symbol):
        return ("sym", value.name)
    if isinstance(value, dict | edn_format.ImmutableDict):
        return {_from_edn_format(k): _from_edn_format(v) for k, v in value.items()}
    if isinstance(value, list | tuple | edn_format.ImmutableList):
        return [_from_edn_format(v) for v in value]
    if isinstance(value, frozenset):
        return frozenset(_from_edn_format(v) for v in value)
    return value


def _from_ours(value: Any) -> Any:
    if isinstance(value, edn.Keyword):
        return ("kw", str(value))
    if isinstance(value, edn.Symbol):
        return ("sym", str(value))
    if isinstance(value, dict):
        return {_from_ours(k): _from_ours(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_ours(v) for v in value]
    if isinstance(value, frozenset):
        return frozenset(_from_ours(v) for v in value)
    return value


_ATOMS = (st.none() | st.booleans() | st.integers(-10**12, 10**12)
          | st.text(st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("\n\t"),
                    max_size=12)
          | st.from_regex(r"[a-z][a-z0-9\-]{0,8}", fullmatch=True).map(edn_format.Keyword))
_EDN_VALUES = st.recursive(
    _ATOMS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True).map(edn_format.Keyword),
                      inner, max_size=4)
    | st.frozensets(st.integers(0, 20), max_size=4),
    max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(value=_EDN_VALUES)
def test_edn_reader_agrees_with_edn_format(value: Any) -> None:
    text = edn_format.dumps(value)
    assert _from_ours(edn.loads(text)) == _from_edn_format(edn_format.loads(text))
