"""Copy a library of format 1 (video ids in ``ids.sqlite``, shards with a key column) into the current format.

Read-only on the old folder, and read from the shards themselves: each acknowledged, untombstoned row (the
manifest's counts and pending tombstones, as format 1 recovery would have left them) with its key's id from the
``keys`` table, which format 1 committed before it wrote the rows. The copy is a new, compact library.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.errors import LibraryError
from deephash.index.library import Library
from deephash.index.shard import HEADER_BYTES, read_header

OLD_FORMAT = 1


def upgrade_library(old: Path, new: Path, progress: bool = True) -> dict:
    """The live rows of format 1 library ``old`` as a new library in ``new``; returns the rows copied."""
    old, new = Path(old), Path(new)
    manifest = _old_manifest(old)
    if new.exists():
        raise LibraryError(f"{new} exists already: the upgraded library goes to a new folder")
    ids = sqlite3.connect(f"file:{old / 'ids.sqlite'}?mode=ro", uri=True)
    copied = 0
    try:
        with Library.create(new, manifest["code_bits"], manifest["model_version"], manifest["shard_capacity"]) as lib:
            total = sum(entry["rows"] - entry["deleted"] for entry in manifest["shards"])
            with tqdm(total=total, desc="upgrade", unit="row", disable=not progress, unit_scale=True) as bar:
                for group, codes, keys, l2 in _live_rows(old, manifest):
                    names = _names(ids, keys)
                    if len(names) < len(np.unique(keys)):
                        raise LibraryError(f"{old}: rows whose key has no id in ids.sqlite; the library is damaged")
                    lib.add_many([names[int(key)] for key in keys], codes, np.full(len(keys), group), l2)
                    copied += len(keys)
                    bar.update(len(keys))
            problems = lib.verify()
    finally:
        ids.close()
    if problems:
        raise LibraryError(f"the upgraded library in {new} does not verify: {'; '.join(problems)}")
    return {"rows": copied, "folder": str(new)}


def _old_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise LibraryError(f"cannot read the manifest of {folder}: {error}") from error
    if manifest.get("format") != OLD_FORMAT or not (folder / "ids.sqlite").is_file():
        raise LibraryError(f"{folder} is not a library of format {OLD_FORMAT} (manifest and ids.sqlite)")
    return manifest


def _live_rows(folder: Path, manifest: dict) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per old shard: its group and the codes, keys and L2 ids of its live rows."""
    code_bytes = manifest["code_bits"] // 8
    for entry in manifest["shards"]:
        path = folder / "shards" / entry["name"]
        capacity = int(read_header(path, OLD_FORMAT)["capacity"])
        keys_at = HEADER_BYTES + capacity * code_bytes
        keys_at += -keys_at % 8
        data = np.memmap(path, dtype=np.uint8, mode="r")
        rows = entry["rows"]
        codes = data[HEADER_BYTES : HEADER_BYTES + rows * code_bytes].reshape(rows, code_bytes)
        keys = data[keys_at : keys_at + rows * 8].view(np.int64)
        l2_at = keys_at + capacity * 8
        l2 = data[l2_at : l2_at + rows * 2].view(np.int16)
        deleted = data[l2_at + capacity * 2 : l2_at + capacity * 2 + rows].copy()
        deleted[[row for name, row in manifest["pending_tombstones"] if name == entry["name"]]] = 1
        live = np.flatnonzero(deleted == 0)
        yield entry["group"], np.ascontiguousarray(codes[live]), keys[live], l2[live].astype(np.int64)


def _names(ids: sqlite3.Connection, keys: np.ndarray) -> dict[int, str]:
    names: dict[int, str] = {}
    unique = np.unique(keys).tolist()
    for start in range(0, len(unique), 900):  # below SQLite's limit of bound parameters
        chunk = unique[start : start + 900]
        marks = ",".join("?" * len(chunk))
        names.update(ids.execute(f"SELECT key, video_id FROM keys WHERE key IN ({marks})", chunk))
    return names
