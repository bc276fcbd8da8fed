"""A labelled video dataset on disk: ``labels.json`` plus one CSV per split.

Splits: ``train`` (training), ``val`` (held out for tuning, e.g. the mask ratio), ``query`` and
``database`` (evaluation). CSV columns: ``path`` (relative to the dataset folder), ``l1``, ``l2`` and
one column per extra label dimension; -1 means unknown. ``variants.csv`` lists near-duplicates:
``path, source, transform`` where ``source`` is the row index in ``query.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deephash.errors import DatasetError
from deephash.model.config import Taxonomy

SPLITS = ("train", "val", "query", "database")


@dataclass
class Split:
    """One split's videos and labels (label arrays share the row order of ``paths``)."""

    paths: list[Path]
    l1: np.ndarray
    l2: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Variants:
    paths: list[Path]
    source: np.ndarray  # row in the query split
    transform: list[str]


def write_split(root: Path, name: str, rows: list[dict]) -> None:
    if not rows:
        return
    with (root / f"{name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_split(root: Path, name: str, taxonomy: Taxonomy) -> Split:
    """Read ``{name}.csv``; fills a missing L1 from the known L2 and checks every id against the taxonomy."""
    rows = _read_rows(root / f"{name}.csv")
    try:
        l1 = np.array([int(row["l1"]) for row in rows], dtype=np.int64)
        l2 = np.array([int(row["l2"]) for row in rows], dtype=np.int64)
        extra = {key: np.array([int(row.get(key, -1) or -1) for row in rows], dtype=np.int64) for key in taxonomy.extra}
    except (KeyError, ValueError) as error:
        raise DatasetError(f"{name}.csv: bad label column: {error}") from error
    parent = np.array(taxonomy.l2_parent)
    _check_range(name, "l1", l1, len(taxonomy.l1_names))
    _check_range(name, "l2", l2, len(taxonomy.l2_names))
    known_l2 = l2 >= 0
    l1 = np.where((l1 < 0) & known_l2, parent[np.maximum(l2, 0)], l1)
    clash = known_l2 & (l1 >= 0) & (parent[np.maximum(l2, 0)] != l1)
    if clash.any():
        raise DatasetError(f"{name}.csv row {int(np.argmax(clash))}: l2 is not in the l1 group given")
    for key, values in extra.items():
        _check_range(name, key, values, len(taxonomy.extra[key]))
    paths = [root / row["path"] for row in rows]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise DatasetError(f"{name}.csv names {len(missing)} missing files, e.g. {missing[0]}")
    return Split(paths=paths, l1=l1, l2=l2, extra=extra)


def read_variants(root: Path) -> Variants:
    rows = _read_rows(root / "variants.csv")
    return Variants(
        paths=[root / row["path"] for row in rows],
        source=np.array([int(row["source"]) for row in rows], dtype=np.int64),
        transform=[row["transform"] for row in rows],
    )


def _read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "path" not in rows[0]:
        raise DatasetError(f"{path} has no rows or no 'path' column")
    return rows


def _check_range(split: str, column: str, values: np.ndarray, count: int) -> None:
    bad = (values < -1) | (values >= count)
    if bad.any():
        raise DatasetError(f"{split}.csv column {column}: id {int(values[bad][0])} outside 0..{count - 1}")
