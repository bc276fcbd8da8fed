"""``docs/architecture.md`` keeps up with the tree: its module tables name every package and module of the
layers (``deephash``, ``export``, ``clients``, ``serving``), one row each, and name nothing that does not exist.

A row of those tables is ``| `dotted.name` | its job |``: the first cell is one dotted name in backticks."""

from __future__ import annotations

import re

from tests.conftest import REPO

DOC = REPO / "docs" / "architecture.md"
SECTION = "## Modules and their one job"  # every table from this heading to the next ``## `` heading
LAYERS = ("deephash", "export", "clients", "serving")
NAME_CELL = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)`")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def tree_modules() -> set[str]:
    """Dotted names of every module under the layers' folders; a package is named by its ``__init__.py``."""
    names = set()
    for layer in LAYERS:
        for path in (REPO / layer).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def section_lines(text: str) -> list[str]:
    lines = text.splitlines()
    if SECTION not in lines:
        raise AssertionError(f"{DOC.relative_to(REPO)} has no line {SECTION!r}: the module tables are under it")
    start = lines.index(SECTION) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def table_rows(text: str) -> tuple[list[str], list[str]]:
    """The module names of the tables' rows, in order (duplicates kept), and the rows that are not of the form
    ``| `dotted.name` | job |``."""
    names, malformed = [], []
    for line in section_lines(text):
        if not line.startswith("|") or SEPARATOR.match(line):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "module":  # a header row
            continue
        match = NAME_CELL.fullmatch(cells[0])
        if match is None or len(cells) < 2 or not cells[1]:
            malformed.append(line)
        else:
            names.append(match.group(1))
    return names, malformed


def test_the_parser_reads_rows_and_refuses_malformed_ones():
    text = "\n".join(
        [
            "## Other",
            "| `deephash.outside` | not in the section |",
            SECTION,
            "### `deephash`",
            "| module | job |",
            "| --- | --- |",
            "| `deephash.codes` | packing |",
            "| `deephash.model.backbones`, `pooling` | two in one row |",
            "| deephash.mask | no backticks |",
            "| `deephash.bulk` |  |",
            "## Conventions",
            "| `deephash.after` | past the section |",
        ]
    )
    names, malformed = table_rows(text)
    assert names == ["deephash.codes"]
    assert [line.split("|")[1].strip() for line in malformed] == [
        "`deephash.model.backbones`, `pooling`",
        "deephash.mask",
        "`deephash.bulk`",
    ]


def test_rows_are_one_module_each():
    names, malformed = table_rows(DOC.read_text())
    assert not malformed, (
        f"rows of {DOC.relative_to(REPO)} under {SECTION!r} must read | `dotted.name` | its job |, one module "
        "per row; these do not:\n" + "\n".join(malformed)
    )
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"{DOC.relative_to(REPO)} has more than one row for: {', '.join(repeated)}"


def test_every_module_of_the_tree_has_a_row():
    names, _ = table_rows(DOC.read_text())
    missing = sorted(tree_modules() - set(names))
    assert not missing, (
        f"{DOC.relative_to(REPO)} has no row for these modules of the tree; add | `name` | its job | under "
        f"{SECTION!r}:\n" + "\n".join(missing)
    )


def test_every_row_names_a_module_of_the_tree():
    names, _ = table_rows(DOC.read_text())
    extra = sorted(set(names) - tree_modules())
    assert not extra, (
        f"{DOC.relative_to(REPO)} has rows for modules the tree does not hold (removed or renamed?):\n"
        + "\n".join(extra)
    )
