"""The files of one library as one process sees them: its manifest snapshot, the id map and the
memory-mapped shards. The read path, the write path and maintenance all work on this one object."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deephash.index.idmap import IdMap, RowLocation
from deephash.index.manifest import Manifest, ShardEntry
from deephash.index.shard import Shard, create_shard

SHARD_DIR = "shards"


class Storage:
    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = Path(folder)
        self.writable = writable
        self.ids = IdMap(self.folder)
        self.manifest = Manifest.load(self.folder)
        self._shards: dict[str, Shard] = {}

    def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()
        self.ids.close()

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
        create_shard(self.shard_path(name), self.manifest.code_bytes, self.manifest.shard_capacity, group)
        return ShardEntry(name=name, group=group)

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
        found = self.ids.locate(video_id)
        if found is None:
            return None
        entry = self.entry(found.shard)
        if entry is None or found.row >= entry.rows:
            return None
        return found

    def locations_from_shards(self) -> list[RowLocation]:
        """Every live row, read from the shards themselves (the truth the id map is rebuilt from)."""
        rows = []
        for entry in self.manifest.shards:
            shard = self.shard(entry.name)
            rows += [
                RowLocation(int(shard.keys[row]), entry.name, int(row), entry.group, int(shard.l2[row]))
                for row in self.live_rows(entry)
            ]
        return rows
