"""The files of one library as one process sees them: its manifest snapshot and its memory-mapped shards
(which hold the video ids too). The read path, the write path and maintenance all work on this one object."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from deephash.index.idmap import RowLocation
from deephash.index.manifest import Manifest, ShardEntry
from deephash.index.shard import Shard, create_shard
from deephash.index.shard_ids import PackedIds

SHARD_DIR = "shards"


class Storage:
    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = Path(folder)
        self.writable = writable
        self.manifest = Manifest.load(self.folder)
        self._shards: dict[str, Shard] = {}

    def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()

    def reload(self) -> None:
        """Forget what this process holds in memory (shard maps, the manifest) and read it again from disk,
        e.g. after a write that failed half-way."""
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()
        self.manifest = Manifest.load(self.folder)

    def forget_unlisted(self) -> None:
        """Unmap the shards this snapshot's manifest no longer lists (their files may be gone)."""
        listed = {entry.name for entry in self.manifest.shards}
        for name in [name for name in self._shards if name not in listed]:
            self._shards.pop(name).close()

    def shard_path(self, name: str) -> Path:
        return self.folder / SHARD_DIR / name

    def shard(self, name: str) -> Shard:
        if name not in self._shards:
            self._shards[name] = Shard(self.shard_path(name), writable=self.writable)
        return self._shards[name]

    def forget_shard(self, name: str) -> None:
        """Close a shard and delete its file (it left the manifest)."""
        shard = self._shards.pop(name, None)
        if shard is not None:
            shard.close()
        self.shard_path(name).unlink()

    def new_shard(self, group: int) -> ShardEntry:
        """An empty shard file for ``group`` and its entry (not yet in the manifest's list)."""
        name = f"g{group:05d}-{self.manifest.next_shard:06d}.shard"
        self.manifest.next_shard += 1
        manifest = self.manifest
        create_shard(self.shard_path(name), manifest.code_bytes, manifest.shard_capacity, group, manifest.verify_dims)
        return ShardEntry(name=name, group=group, checksum=list(self.shard(name).checksum(0)))

    def entry(self, name: str) -> ShardEntry | None:
        return next((entry for entry in self.manifest.shards if entry.name == name), None)

    def deleted(self, entry: ShardEntry) -> np.ndarray:
        """Tombstone flags of the entry's acknowledged rows, including those of the last write that may not
        have reached the shard file yet."""
        deleted = self.shard(entry.name).deleted[: entry.rows]
        pending = [row for name, row in self.manifest.pending_tombstones if name == entry.name]
        if pending:
            deleted = deleted.copy()
            deleted[pending] = 1
        return deleted

    def live_rows(self, entry: ShardEntry) -> np.ndarray:
        return np.flatnonzero(self.deleted(entry) == 0)

    def location(self, video_id: str) -> RowLocation | None:
        """The live row of ``video_id`` in this snapshot (None when absent or committed after it)."""
        return self.locate_many([video_id]).get(video_id)

    def _index_shards(self, entries: list[ShardEntry]) -> None:
        """Bring these shards' id tables up to this snapshot, several at once (the first lookup builds them)."""
        pending = [(self.shard(entry.name), entry.rows) for entry in entries]
        pending = [(shard, rows) for shard, rows in pending if not shard.indexed(rows)]
        if len(pending) > 1:
            with ThreadPoolExecutor(min(len(pending), os.cpu_count() or 1)) as pool:
                list(pool.map(lambda item: item[0].index(item[1]), pending))

    def locate_many(self, video_ids: Sequence[str], shards: Collection[str] | None = None) -> dict[str, RowLocation]:
        """video id → its live row in this snapshot, for the ids that have one (among ``shards`` only if given)."""
        if len(video_ids) == 0:
            return {}
        entries = [(index, entry) for index, entry in enumerate(self.manifest.shards) if entry.rows > entry.deleted]
        entries = [(index, entry) for index, entry in entries if shards is None or entry.name in shards]
        self._index_shards([entry for _, entry in entries])
        ids = PackedIds.of(video_ids)
        offsets, remaining = ids.offsets, len(ids)
        found = np.full(len(ids), -1, dtype=np.int64)
        where = np.full(len(ids), -1, dtype=np.int64)
        for index, entry in entries:
            remaining -= self.shard(entry.name).find(ids, offsets, entry.rows, self.deleted(entry), found, where, index)
            if not remaining:
                break
        located = {}
        for position in np.flatnonzero(where >= 0):
            entry, row = self.manifest.shards[where[position]], int(found[position])
            l2 = int(self.shard(entry.name).l2[row])
            located[video_ids[position]] = RowLocation(entry.name, row, entry.group, l2)
        return located
