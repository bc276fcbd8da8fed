"""The write path of a library and the recovery that makes it crash-safe.

Protocol (each step durable before the next; a crash anywhere keeps every acknowledged row):

1. new video ids get keys in the id map (an unused key is harmless);
2. rows are written past the acknowledged count of their group's open shard, shard fsynced;
3. the id → row map and the generation are committed in the id map;
4. the manifest (row counts, checksums, generation, rows to tombstone) is replaced atomically —
   this is the acknowledgement;
5. tombstones of replaced/removed rows are written to the shards (and re-applied on every open).

:func:`recover` repairs what a crash left: an id map whose generation differs from the manifest is rebuilt
from the shards, unacknowledged tails are zeroed, stray shard files are removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deephash.errors import IncompatibleLibrary, LibraryError
from deephash.index.idmap import RowLocation, check_video_id
from deephash.index.manifest import ShardEntry
from deephash.index.storage import SHARD_DIR, Storage

MAX_L2 = 1 << 15  # L2 ids are stored as int16


@dataclass(frozen=True)
class _Append:
    index: int  # position in the caller's batch
    key: int | None  # None: a new video id, its key is made in step 1


def add_many(storage: Storage, video_ids: Sequence[str], codes: np.ndarray, l1: np.ndarray, l2: np.ndarray) -> Counter:
    """Idempotent batch insert on video id ('added', 'replaced', 'unchanged'), durable when it returns."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
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
    existing = storage.ids.locate_many([ids[i] for i in order])
    appends: list[_Append] = []
    tombstones: list[tuple[str, int]] = []
    for index in order:
        key, location = existing.get(ids[index], (None, None))
        if location is not None:
            same = location.l1 == l1[index] and location.l2 == l2[index]
            if same and np.array_equal(storage.shard(location.shard).codes[location.row], codes[index]):
                outcome["unchanged"] += 1
                continue
            tombstones.append((location.shard, location.row))
            outcome["replaced"] += 1
        else:  # new, or removed before (a new row under its old key)
            outcome["added"] += 1
        appends.append(_Append(index, key))
    if appends:
        _commit(storage, ids, codes, l1, l2, appends, tombstones)
    return outcome


def remove(storage: Storage, video_id: str) -> bool:
    """Tombstone a video's row; False when the id is not in the library."""
    location = storage.location(video_id)
    if location is None:
        return False
    generation = storage.manifest.generation + 1
    storage.ids.drop_row(location.key, generation)
    _acknowledge(storage, generation, [(location.shard, location.row)])
    return True


def _commit(storage: Storage, ids, codes, l1, l2, appends: list[_Append], tombstones) -> None:
    next_key = storage.ids.next_key()
    keys: dict[int, int] = {}
    new_pairs = []
    for append in appends:
        key = append.key
        if key is None:
            key, next_key = next_key, next_key + 1
            new_pairs.append((key, ids[append.index]))
        keys[append.index] = key
    if new_pairs:  # step 1
        storage.ids.add_keys(new_pairs)
    placed: list[RowLocation] = []
    touched: dict[str, tuple[int, int]] = {}  # shard → (first new row, end)
    order = np.array([append.index for append in appends])
    key_array = np.array([keys[index] for index in order], dtype=np.int64)
    capacity = storage.manifest.shard_capacity
    for group in np.unique(l1[order]):  # step 2, a contiguous slice per shard
        members = np.flatnonzero(l1[order] == group)
        while len(members):
            entry = _open_entry(storage, int(group), touched)
            shard = storage.shard(entry.name)
            start, end = touched.get(entry.name, (entry.rows, entry.rows))
            take = min(len(members), capacity - end)
            chosen, members = members[:take], members[take:]
            rows = slice(end, end + take)
            shard.reserve(end, end + take)
            shard.codes[rows] = codes[order[chosen]]
            shard.keys[rows] = key_array[chosen]
            shard.l2[rows] = l2[order[chosen]]
            shard.deleted[rows] = 0
            touched[entry.name] = (start, end + take)
            for offset, position in enumerate(chosen):
                index = int(order[position])
                placed.append(RowLocation(keys[index], entry.name, end + offset, int(group), int(l2[index])))
    for name in touched:
        storage.shard(name).flush()
    generation = storage.manifest.generation + 1
    storage.ids.put_rows(placed, generation)  # step 3
    for name, (start, end) in touched.items():  # step 4
        entry = storage.entry(name)
        entry.checksum = list(storage.shard(name).checksum(end, start, tuple(entry.checksum)))
        entry.rows = end
    _acknowledge(storage, generation, tombstones)


def _open_entry(storage: Storage, group: int, touched: dict[str, tuple[int, int]]) -> ShardEntry:
    """The group's shard with room for one more row, creating a new shard when all are full."""
    for entry in reversed(storage.manifest.shards):
        if entry.group == group:
            used = touched.get(entry.name, (entry.rows, entry.rows))[1]
            if used < storage.manifest.shard_capacity:
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
    _apply_tombstones(storage)  # step 5


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
        tail = shard.clear_tail(entry.rows)
        if tail:
            shard.flush()
            repairs.append(f"discarded {tail} unacknowledged rows at the end of {entry.name}")
    if manifest.pending_tombstones:
        _apply_tombstones(storage)
    generation = storage.ids.generation()
    if generation != manifest.generation:
        storage.ids.replace_rows(storage.locations_from_shards(), manifest.generation)
        repairs.append(
            f"rebuilt the id map from the shards (it was at generation {generation}, "
            f"the manifest at {manifest.generation})"
        )
    return repairs
