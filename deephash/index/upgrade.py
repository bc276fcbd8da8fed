"""Copy a library of format 1 (video ids in ``ids.sqlite``, shards with a key column) into the current format.

Read-only on the old folder, and read from the shards themselves: each acknowledged, untombstoned row (the
manifest's counts and pending tombstones, as format 1 recovery would have left them) with its key's id from the
``keys`` table, which format 1 committed before it wrote the rows. The copy is a new, compact library.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.errors import InvalidRequest, LibraryError
from deephash.index.backup import no_writer_elsewhere
from deephash.index.idmap import check_video_id
from deephash.index.library import LOCK_FILE, Library
from deephash.index.manifest import fsync_path
from deephash.index.shard import HEADER_BYTES, read_header

OLD_FORMAT = 1


def upgrade_library(old: Path, new: Path, progress: bool = True) -> dict:
    """The live rows of format 1 library ``old`` as a new library in ``new``; returns the rows copied.

    Refused, before anything is written, when a format 1 writer has the library open or when a live row's id is
    not one format 2 stores (1-256 bytes of printable UTF-8). Built in ``new.partial`` and renamed once it
    verifies, so an interrupted upgrade leaves no half-made library behind."""
    old, new = Path(old), Path(new)
    with no_writer_elsewhere(old / LOCK_FILE, writable=False):
        return _upgrade(old, new, progress)


def upgrade_in_place(folder: Path, progress: bool = True) -> dict:
    """Upgrade the format 1 library at ``folder`` where it lies; the old one stays beside it as ``*.format1``.

    The copy is made in ``*.format2`` (a stale one from an interrupted run is made again: the old library may
    have changed since), then the folders are renamed, all under the old library's lock; a run stopped between
    the renames is finished by the next one."""
    folder = Path(folder)
    kept, made = folder.with_name(folder.name + ".format1"), folder.with_name(folder.name + ".format2")
    if not folder.exists() and kept.is_dir() and made.is_dir():  # stopped between the renames
        os.replace(made, folder)
        fsync_path(folder.parent)
        return {"rows": None, "folder": str(folder), "kept": str(kept)}
    if kept.exists():
        raise LibraryError(f"{kept} exists: {folder} was upgraded before (remove {kept} once you no longer need it)")
    with no_writer_elsewhere(folder / LOCK_FILE, writable=False):  # the lock stays on its file through the renames
        shutil.rmtree(made, ignore_errors=True)
        copied = _upgrade(folder, made, progress)
        os.replace(folder, kept)
        os.replace(made, folder)
        fsync_path(folder.parent)
    return {**copied, "folder": str(folder), "kept": str(kept)}


def format1_libraries(data: Path) -> list[Path]:
    """The format 1 libraries under ``data`` (e.g. a service's data folder: video, audio and every version),
    and those whose in-place upgrade stopped between its renames."""
    found = []
    for manifest in sorted(Path(data).rglob("manifest.json")):
        try:
            old = json.loads(manifest.read_text()).get("format") == OLD_FORMAT
        except (OSError, ValueError):
            continue
        if old and (manifest.parent / "ids.sqlite").is_file() and not manifest.parent.name.endswith(".format1"):
            found.append(manifest.parent)
    for made in sorted(Path(data).rglob("*.format2")):
        folder = made.with_name(made.name.removesuffix(".format2"))
        if not folder.exists() and folder.with_name(folder.name + ".format1").is_dir():
            found.append(folder)
    return found


def _upgrade(old: Path, new: Path, progress: bool) -> dict:
    if new.exists():
        raise LibraryError(f"{new} exists already: the upgraded library goes to a new folder")
    manifest = _old_manifest(old)
    ids = sqlite3.connect(f"file:{old / 'ids.sqlite'}?mode=ro", uri=True)
    try:
        _refuse_invalid_ids(ids, old, manifest)
        partial = new.with_name(new.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)  # what an interrupted upgrade left
        try:
            copied = _copy(ids, old, manifest, partial, progress)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    finally:
        ids.close()
    os.replace(partial, new)
    fsync_path(new.parent)
    return {"rows": copied, "folder": str(new)}


def _copy(ids: sqlite3.Connection, old: Path, manifest: dict, folder: Path, progress: bool) -> int:
    copied = 0
    total = sum(entry["rows"] - entry["deleted"] for entry in manifest["shards"])
    code_bits, version, capacity = manifest["code_bits"], manifest["model_version"], manifest["shard_capacity"]
    with (
        Library.create(folder, code_bits, version, capacity) as library,
        tqdm(total=total, desc="upgrade", unit="row", disable=not progress, unit_scale=True) as bar,
    ):
        for group, codes, keys, l2 in _live_rows(old, manifest):
            names = _names(ids, keys)
            outcome = library.add_many([names[int(key)] for key in keys], codes, np.full(len(keys), group), l2)
            copied += outcome["added"]
            bar.update(len(keys))
        problems = library.verify()
    if problems:
        raise LibraryError(f"the upgraded copy of {old} does not verify: {'; '.join(problems)}")
    return copied


def _refuse_invalid_ids(ids: sqlite3.Connection, old: Path, manifest: dict) -> None:
    bad = []
    for _, _, keys, _ in _live_rows(old, manifest):
        names = _names(ids, keys)
        if len(names) < len(np.unique(keys)):
            raise LibraryError(f"{old}: rows whose key has no id in ids.sqlite; the library is damaged")
        for name in names.values():
            try:
                check_video_id(name)
            except InvalidRequest as error:
                bad.append(f"{name[:60]!r} ({error})")
    if bad:
        raise LibraryError(
            f"{old} holds {len(bad)} video ids that format 2 cannot store, e.g. {'; '.join(bad[:3])}: "
            "remove or rename them with the deephash that wrote the library, then upgrade"
        )


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
