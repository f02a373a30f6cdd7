"""The `workbench check` command body: output, exit codes, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from workbench.checkers.check_command import check_files

DATA = Path(__file__).parent / "data" / "porcupine"
GOOD = str(DATA / "jepsen" / "etcd_005.log")
BAD = str(DATA / "jepsen" / "etcd_000.log")
KV_BAD = str(DATA / "kv" / "c10-bad.txt")


def run(files: list[str], **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = {"model": None, "fmt": None, "as_json": False, "max_seconds": None, **options}
    code = check_files(files, out=out, err=err, **args)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


def test_linearizable_file_exits_0() -> None:
    code, out, err = run([GOOD])
    assert code == 0 and err == ""
    assert out.startswith(f"{GOOD}: linearizable (79 ops, model cas-register")


def test_violation_exits_1_with_readable_witness() -> None:
    code, out, _ = run([GOOD, BAD])
    assert code == 1
    assert f"{BAD}: not linearizable" in out
    assert "longest linearizable prefix" in out and "none of these can be placed next" in out
    code, out, _ = run([KV_BAD])
    assert code == 1 and "key '" in out


def test_json_lines() -> None:
    code, out, _ = run([GOOD, BAD], as_json=True)
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [GOOD, BAD]
    assert [r["verdict"] for r in records] == ["linearizable", "not linearizable"]
    assert all(set(r) == {"file", "verdict", "ops", "ms"} for r in records)
    assert records[0]["ops"] == 79 and records[0]["ms"] >= 0


def test_unknown_exits_3_and_violation_wins() -> None:
    assert run([GOOD], max_seconds=0.0)[0] == 3
    code, out, _ = run([str(DATA / "jepsen" / "etcd_007.log")], max_seconds=0.0)
    assert code == 3 and "budget ran out" in out


def test_bad_input_exits_2_before_printing(tmp_path: Path) -> None:
    bad = tmp_path / "broken.log"
    bad.write_text("INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\n")
    code, out, err = run([GOOD, str(bad)])
    assert code == 2 and out == ""
    assert err.strip() == f"workbench: error: {bad}:2: not a Jepsen op line ('... jepsen.util - PROCESS TYPE F VALUE')"
    code, out, err = run([GOOD], model="register")  # etcd logs have cas
    assert code == 2 and out == "" and "model 'register' has no operation 'cas'" in err
    assert GOOD in err and err.count("\n") == 1
    code, out, err = run([GOOD], model="queue")
    assert code == 2 and "unknown model 'queue'" in err
    code, out, err = run([GOOD], fmt="csv")
    assert code == 2 and "unknown history format" in err


def test_forced_format_and_model() -> None:
    code, out, _ = run([str(DATA / "kv" / "c01-ok.txt")], fmt="kv", model="kv", as_json=True)
    assert code == 0 and json.loads(out)["verdict"] == "linearizable"


def test_runs_in_a_subprocess() -> None:
    script = ("import sys; from workbench.checkers.check_command import check_files; "
              f"sys.exit(check_files([{BAD!r}], model=None, fmt=None, as_json=True, max_seconds=None))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and json.loads(proc.stdout)["verdict"] == "not linearizable"


def test_an_empty_history_is_empty_not_linearizable(tmp_path: Path) -> None:
    empty = tmp_path / "h.jsonl"
    empty.write_text("")
    code, out, err = run([str(empty)])
    assert code == 3 and out.strip() == f"{empty}: empty (no operations to check)" and err == ""
    code, out, _ = run([str(empty)], as_json=True)
    assert code == 3 and '"verdict": "empty"' in out
