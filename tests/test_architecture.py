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
