"""Backups of a library: a consistent copy at one generation, and restoring one.

The copy is made from one snapshot: the manifest in memory and the acknowledged rows of each of its shards
with their ids (an unacknowledged tail is left behind, tombstones of the last write are applied). The caller
keeps writes out while it runs (``Library.backup``: the writer itself, pausing its own writes, or a reader
while no writer exists). A backup is itself a library: it opens, verifies and searches like any other, and
restoring it is copying it back the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from deephash.errors import LibraryError
from deephash.index.manifest import fsync_path
from deephash.index.shard import Shard, create_shard
from deephash.index.storage import SHARD_DIR, Storage


def copy_library(storage: Storage, out: Path) -> dict:
    """``storage``'s snapshot as a new library in ``out`` (which must not exist yet); returns what was copied."""
    out = Path(out)
    if out.exists():
        raise LibraryError(f"{out} exists already: a backup goes to a new folder")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # what an interrupted backup left
    try:
        rows = _copy_into(storage, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.replace(partial, out)
    manifest = storage.manifest
    return {"folder": str(out), "generation": manifest.generation, "rows": manifest.live_rows, "rows_copied": rows}


def _copy_into(storage: Storage, partial: Path) -> int:
    (partial / SHARD_DIR).mkdir(parents=True)
    manifest = storage.manifest
    rows = 0
    for entry in manifest.shards:
        source = storage.shard(entry.name)
        path = partial / SHARD_DIR / entry.name
        create_shard(path, manifest.code_bytes, manifest.shard_capacity, entry.group, manifest.verify_dims)
        copy = Shard(path, writable=True)
        try:
            count = entry.rows
            verify = None if source.verify is None else (source.verify[:count], source.verify_scale[:count])
            copy.append(0, source.codes[:count], source.l2[:count], source.ids_of(np.arange(count)), verify)
            copy.deleted[:count] = storage.deleted(entry)  # the last write's tombstones included
            copy.flush()
        finally:
            copy.close()
        rows += count
    replace(manifest, pending_tombstones=[]).save(partial)
    _fsync_tree(partial)
    return rows


@contextlib.contextmanager
def no_writer_elsewhere(lock_path: Path, writable: bool) -> Iterator[None]:
    """For a reader: hold a shared lock on the writer's lock file while copying, so no writer runs meanwhile
    (refused when one does). The writer itself, or a library no writer ever opened, needs nothing."""
    if writable or not lock_path.exists():
        yield
        return
    with lock_path.open("r") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LibraryError(
                f"{lock_path.parent} is open for writing by another process: back it up through that writer "
                "(the service's POST /backup)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        fsync_path(path)
