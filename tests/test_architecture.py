"""Dependencies point one way (DESIGN.md): protocol cores are sans-IO."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PROTOCOLS = sorted((ROOT / "workbench" / "protocols").rglob("*.py"))  # packages too (raft/, paxos/, common/)
ALLOWED_PREFIXES = ("workbench.core", "workbench.protocols")
FORBIDDEN_STDLIB = {"time", "asyncio", "threading", "socket", "datetime", "os", "subprocess"}


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: str(p.relative_to(ROOT / "workbench" / "protocols")))
def test_protocol_cores_import_only_stdlib_and_core(path: Path) -> None:
    for name in imported_modules(path):
        top = name.split(".")[0]
        if top == "workbench":
            assert name.startswith(ALLOWED_PREFIXES), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {name}"
            assert top not in FORBIDDEN_STDLIB, f"{path.name} imports {name}: cores get `now`, never a clock"


@pytest.mark.parametrize("path", PROTOCOLS, ids=lambda p: str(p.relative_to(ROOT / "workbench" / "protocols")))
def test_protocol_cores_use_the_injected_rng(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random":
            assert node.attr == "Random", f"{path.name}:{node.lineno} uses random.{node.attr}; use self.rng"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom ray import remote\n")
    assert imported_modules(bad) == ["time", "ray"]


# Public functions with more than three parameters take them by keyword (DESIGN.md house
# rule 8; issue 16): `f(frame, *, x, y, hue=None)`, so a call names what it passes and a
# parameter can be added or reordered without silently shifting the ones after it.
# "Public" is a name without a leading underscore, at module level or in a public class;
# nested functions are local. Exempt are the hot-path interfaces called once per
# message, timer or checked operation, where a positional call is part of the speed
# budget (benchmarks/raft_sim.py, benchmarks/checker.py):
#   - the runtime Transport's `schedule(at, node, name, token)` and every transport's
#     implementation of it (runtime/driver.py, sim.py, stepped.py, realtime_node.py, ...);
#   - `Node.reply(process, seq, ok, value, error)` in protocols/base.py, called by every
#     core for every client reply;
#   - the checker models' `step` and `encode` (checkers/models.py), called per search step.
MAX_POSITIONAL = 3
HOT_PATH_POSITIONAL = {
    ("workbench/protocols/base.py", "reply"),
    ("workbench/checkers/models.py", "step"),
    ("workbench/checkers/models.py", "encode"),
}
TRANSPORT_SCHEDULE = ["at", "node", "name", "token"]


def positional_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)
    if method and not static and names[:1] in (["self"], ["cls"]):
        names = names[1:]
    return names


def too_many_positional(source: str, path: str) -> list[str]:
    """`path:line qualname (n positional)` for each public function of `source` that takes
    more than MAX_POSITIONAL parameters positionally and is not an exempt hot path."""
    found: list[str] = []

    def visit(body: list[ast.stmt], prefix: str, method: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                names = positional_parameters(node, method)
                exempt = (path, node.name) in HOT_PATH_POSITIONAL or (
                    method and node.name == "schedule" and names == TRANSPORT_SCHEDULE)
                if len(names) > MAX_POSITIONAL and not exempt:
                    found.append(f"{path}:{node.lineno} {prefix}{node.name} ({len(names)} positional)")

    visit(ast.parse(source).body, "", False)
    return found


def test_public_functions_take_more_than_three_parameters_by_keyword() -> None:
    found = []
    for path in sorted((ROOT / "workbench").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        found += too_many_positional(path.read_text(), relative)
    assert not found, ("make the parameters after the first few keyword-only "
                       "(def f(frame, *, x, y)):\n" + "\n".join(found))


def test_the_keyword_only_check_catches_a_positional_signature() -> None:
    source = (
        "def plot(frame, x, y, hue, ax=None): ...\n"
        "def fine(frame, x, *, y, hue=None, ax=None): ...\n"
        "def _private(a, b, c, d): ...\n"
        "class Host:\n"
        "    def schedule(self, at, node, name, token): ...\n"
        "    def send(self, src, dst, message, extra): ...\n"
        "    @staticmethod\n"
        "    def static(a, b, c, d): ...\n"
        "class _Private:\n"
        "    def add(self, a, b, c, d): ...\n"
        "def outer(a):\n"
        "    def inner(a, b, c, d): ...\n"
    )
    assert [f.split(" ", 1)[1] for f in too_many_positional(source, "m.py")] == [
        "plot (5 positional)", "Host.send (4 positional)", "Host.static (4 positional)"]
    assert too_many_positional("def reply(self, process, seq, ok, value): ...\n",
                               "workbench/protocols/base.py") == []
