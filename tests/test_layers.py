"""The layout's rules, checked on the source: imports run one way (``export``, ``clients`` and ``serving`` build
on ``deephash``, never the reverse), and modules stay small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# package → the first-party packages it may import (besides itself)
ALLOWED = {
    "deephash": set(),
    "export": {"deephash"},
    "clients": {"deephash"},
    "serving": {"deephash", "export", "clients"},
    "model_repository": {"deephash"},
}
FIRST_PARTY = set(ALLOWED) | {"tests", "benchmarks"}
MAX_LINES = 300


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    """Top-level names of every module the file imports, at any depth (imports inside functions count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_one_way(package):
    wrong = {}
    for path in _modules(package):
        above = (_imported_packages(path) & FIRST_PARTY) - ALLOWED[package] - {package}
        if above:
            wrong[str(path.relative_to(REPO))] = sorted(above)
    assert not wrong, f"{package} imports from layers it must not: {wrong}"


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from serving.service import X\n    import export.int8\n")
    assert _imported_packages(module) == {"os", "serving", "export"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_modules_stay_short(package):
    long = {str(path.relative_to(REPO)): len(path.read_text().splitlines()) for path in _modules(package)}
    assert not {name: lines for name, lines in long.items() if lines > MAX_LINES}
