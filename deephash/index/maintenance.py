"""Maintenance of a library: compaction, the consistency check and its statistics."""

from __future__ import annotations

from collections import Counter

import numpy as np

from deephash.index import shard_ids
from deephash.index.manifest import MANIFEST_FILE, ShardEntry
from deephash.index.storage import Storage


def compact(storage: Storage) -> dict:
    """Rewrite every group's shards without tombstones; returns rows kept and dropped and the shard count."""
    manifest = storage.manifest
    old = list(manifest.shards)
    kept = dropped = 0
    new_entries: list[ShardEntry] = []
    for group in sorted({entry.group for entry in old}):
        parts = [(entry, storage.shard(entry.name), storage.live_rows(entry)) for entry in old if entry.group == group]
        codes = np.concatenate([shard.codes[rows] for _, shard, rows in parts])
        l2 = np.concatenate([shard.l2[rows] for _, shard, rows in parts])
        encoded = [video.encode() for _, shard, rows in parts for video in shard.video_ids(rows)]
        dropped += sum(entry.rows for entry, _, _ in parts) - len(encoded)
        kept += len(encoded)
        start = 0
        while start < len(encoded):
            entry = storage.new_shard(group)
            shard = storage.shard(entry.name)
            stop = start + shard.rows_that_fit(0, encoded[start:])
            shard.append(0, codes[start:stop], l2[start:stop], encoded[start:stop])
            shard.flush()
            entry.rows, entry.checksum = stop - start, list(shard.checksum(stop - start))
            new_entries.append(entry)
            start = stop
    manifest.shards, manifest.generation, manifest.pending_tombstones = new_entries, manifest.generation + 1, []
    manifest.save(storage.folder)
    for entry in old:
        storage.forget_shard(entry.name)
    return {"kept": kept, "dropped": dropped, "shards": len(new_entries)}


def verify(storage: Storage) -> list[str]:
    """Problems found (empty = healthy): checksums, tombstone counts, each live id once and found by its
    shard's table."""
    problems = []
    live: dict[str, str] = {}
    for entry in storage.manifest.shards:
        shard = storage.shard(entry.name)
        if list(shard.checksum(entry.rows)) != list(entry.checksum):
            problems.append(f"shard {entry.name}: checksum mismatch over {entry.rows} rows")
        deleted = storage.deleted(entry)
        if int(deleted.sum()) != entry.deleted:
            problems.append(f"shard {entry.name}: {int(deleted.sum())} tombstones, manifest says {entry.deleted}")
        if shard.group != entry.group:
            problems.append(f"shard {entry.name}: header group {shard.group}, manifest {entry.group}")
        rows = np.flatnonzero(deleted == 0)
        ids = shard.video_ids(rows)
        for video in ids:
            if video in live:
                problems.append(f"video {video!r} is live twice ({live[video]} and {entry.name})")
            live[video] = entry.name
        found = np.full(len(ids), -1, dtype=np.int64)
        buffer, offsets = shard_ids.encode(ids)
        shard.find(buffer, offsets, entry.rows, deleted, found)
        if not np.array_equal(found, rows):
            problems.append(f"shard {entry.name}: {int((found != rows).sum())} live rows not found by their id")
    return problems


def stats(storage: Storage) -> dict:
    manifest = storage.manifest
    groups: Counter = Counter()
    for entry in manifest.shards:
        groups[entry.group] += entry.rows - entry.deleted
    shard_bytes = sum(storage.shard_path(entry.name).stat().st_blocks * 512 for entry in manifest.shards)
    return {
        "rows": manifest.live_rows,
        "rows_including_tombstones": manifest.rows,
        "shards": len(manifest.shards),
        "groups": {int(group): rows for group, rows in sorted(groups.items())},
        "code_bits": manifest.code_bits,
        "model_version": manifest.model_version,
        "generation": manifest.generation,
        "bytes_on_disk": shard_bytes + (storage.folder / MANIFEST_FILE).stat().st_size,
    }
