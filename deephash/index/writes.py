"""The write path of a library and the recovery that makes it crash-safe.

Protocol (each step durable before the next; a crash anywhere keeps every acknowledged row):

1. rows (codes, categories, video ids and, where the library keeps them, verification descriptors) are written
   past the acknowledged count of their group's open shard, shard fsynced;
2. the manifest (row counts, checksums, generation, rows to tombstone) is replaced atomically —
   this is the acknowledgement;
3. tombstones of replaced/removed rows are written to the shards (and re-applied on every open).

:func:`recover` repairs what a crash left: unacknowledged tails (rows and their ids) are cleared, stray shard
files are removed, the last write's tombstones applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from deephash.errors import IncompatibleLibrary, LibraryError
from deephash.index.idmap import check_video_id
from deephash.index.manifest import ShardEntry
from deephash.index.shard_ids import PackedIds
from deephash.index.storage import SHARD_DIR, Storage

MAX_L2 = 1 << 15  # L2 ids are stored as int16


def add_many(
    storage: Storage,
    video_ids: Sequence[str],
    codes: np.ndarray,
    l1: np.ndarray,
    l2: np.ndarray,
    verify: tuple[np.ndarray, np.ndarray] | None = None,
) -> Counter:
    """Idempotent batch insert on video id ('added', 'replaced', 'unchanged'), durable when it returns.

    ``verify``: the rows' verification descriptors (int8 ``[n, V]`` and scales ``[n]``), required by a library
    that keeps them and not kept by one that does not."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    verify = _checked_verification(storage, verify, len(codes))
    ids = [check_video_id(video) for video in video_ids]
    l1, l2 = np.asarray(l1, dtype=np.int64), np.asarray(l2, dtype=np.int64)
    if codes.ndim != 2 or codes.shape[1] != storage.manifest.code_bytes:
        raise IncompatibleLibrary(f"codes of shape {codes.shape} do not fit a {storage.manifest.code_bits}-bit library")
    if not len(ids) == len(codes) == len(l1) == len(l2):
        raise LibraryError("video ids, codes and categories differ in length")
    if len(l2) and (l2.min() < 0 or l2.max() >= MAX_L2 or l1.min() < 0):
        raise LibraryError(f"category ids must be non-negative (and L2 ids below {MAX_L2})")
    last = {video: index for index, video in enumerate(ids)}  # within a batch, the last one wins
    order = sorted(last.values())
    outcome: Counter = Counter()
    existing = storage.locate_many([ids[i] for i in order])
    appends: list[int] = []
    tombstones: list[tuple[str, int]] = []
    for index in order:
        location = existing.get(ids[index])
        if location is not None:
            same = location.l1 == l1[index] and location.l2 == l2[index]
            if same and np.array_equal(storage.shard(location.shard).codes[location.row], codes[index]):
                outcome["unchanged"] += 1
                continue
            tombstones.append((location.shard, location.row))
            outcome["replaced"] += 1
        else:
            outcome["added"] += 1
        appends.append(index)
    if appends:
        packed = PackedIds.of([ids[i] for i in appends])
        kept = None if verify is None else (verify[0][appends], verify[1][appends])
        _commit(storage, packed, codes[appends], l1[appends], l2[appends], tombstones, kept)
    return outcome


def _checked_verification(
    storage: Storage, verify: tuple[np.ndarray, np.ndarray] | None, rows: int
) -> tuple[np.ndarray, np.ndarray] | None:
    dims = storage.manifest.verify_dims
    if not dims:
        return None  # a library of codes alone
    if verify is None:
        raise LibraryError(f"{storage.folder} keeps {dims}-dimensional verification descriptors: give each row its")
    values, scales = np.asarray(verify[0], dtype=np.int8), np.asarray(verify[1], dtype=np.float32)
    if values.shape != (rows, dims) or scales.shape != (rows,):
        raise IncompatibleLibrary(
            f"verification descriptors of shape {values.shape} (scales {scales.shape}) for {rows} rows; the library "
            f"keeps {dims} dimensions"
        )
    return values, scales


def remove(storage: Storage, video_id: str) -> bool:
    """Tombstone a video's row; False when the id is not in the library."""
    location = storage.location(video_id)
    if location is None:
        return False
    _acknowledge(storage, storage.manifest.generation + 1, [(location.shard, location.row)])
    return True


def _commit(storage: Storage, ids: PackedIds, codes, l1, l2, tombstones, verify) -> None:
    touched: dict[str, tuple[int, int]] = {}  # shard → (first new row, end)
    for group in np.unique(l1):  # step 1, a contiguous slice per shard
        members = np.flatnonzero(l1 == group)
        while len(members):
            entry = _open_entry(storage, int(group), touched, int(ids.lengths[members[0]]))
            shard = storage.shard(entry.name)
            start, end = touched.get(entry.name, (entry.rows, entry.rows))
            take = shard.rows_that_fit(end, ids.lengths[members])
            chosen, members = members[:take], members[take:]
            rows = None if verify is None else (verify[0][chosen], verify[1][chosen])
            shard.append(end, codes[chosen], l2[chosen], ids.take(chosen), rows)
            touched[entry.name] = (start, end + take)
    for name in touched:
        storage.shard(name).flush()
    for name, (start, end) in touched.items():  # step 2
        entry = storage.entry(name)
        entry.checksum = list(storage.shard(name).checksum(end, start, tuple(entry.checksum)))
        entry.rows = end
    _acknowledge(storage, storage.manifest.generation + 1, tombstones)


def _open_entry(storage: Storage, group: int, touched: dict[str, tuple[int, int]], first: int) -> ShardEntry:
    """The group's shard with room for the next row (an id of ``first`` bytes), creating one when all are full."""
    for entry in reversed(storage.manifest.shards):
        if entry.group == group:
            used = touched.get(entry.name, (entry.rows, entry.rows))[1]
            if storage.shard(entry.name).rows_that_fit(used, np.array([first])):
                return entry
            break
    entry = storage.new_shard(group)
    storage.manifest.shards.append(entry)
    return entry


def _acknowledge(storage: Storage, generation: int, tombstones: list[tuple[str, int]]) -> None:
    for name, _ in tombstones:
        storage.entry(name).deleted += 1
    storage.manifest.generation = generation
    storage.manifest.pending_tombstones = list(tombstones)
    storage.manifest.save(storage.folder)
    _apply_tombstones(storage)  # step 3


def _apply_tombstones(storage: Storage) -> None:
    names = set()
    for name, row in storage.manifest.pending_tombstones:
        storage.shard(name).deleted[row] = 1
        names.add(name)
    for name in names:
        storage.shard(name).flush()


def recover(storage: Storage) -> list[str]:
    """Repair what an interrupted write left; returns one sentence per repair."""
    repairs = []
    manifest = storage.manifest
    known = {entry.name for entry in manifest.shards}
    for path in sorted((storage.folder / SHARD_DIR).iterdir()):
        if path.name not in known:
            path.unlink()
            repairs.append(f"removed {path.name}: not in the manifest (interrupted write)")
    for entry in manifest.shards:
        shard = storage.shard(entry.name)
        if shard.clear_tail(entry.rows):
            shard.flush()
            repairs.append(f"discarded the unacknowledged rows at the end of {entry.name}")
    if manifest.pending_tombstones:
        _apply_tombstones(storage)
    return repairs
