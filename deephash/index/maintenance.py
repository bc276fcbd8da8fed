"""Maintenance of a library: compaction, the consistency check and its statistics."""

from __future__ import annotations

from collections import Counter

import numpy as np

from deephash.index.idmap import RowLocation
from deephash.index.manifest import ShardEntry
from deephash.index.storage import Storage


def compact(storage: Storage) -> dict:
    """Rewrite every group's shards without tombstones; returns rows kept and dropped and the shard count."""
    manifest = storage.manifest
    old = list(manifest.shards)
    kept = dropped = 0
    new_entries: list[ShardEntry] = []
    locations: list[RowLocation] = []
    for group in sorted({entry.group for entry in old}):
        parts = [(entry, storage.shard(entry.name), storage.live_rows(entry)) for entry in old if entry.group == group]
        codes = np.concatenate([shard.codes[rows] for _, shard, rows in parts])
        keys = np.concatenate([shard.keys[rows] for _, shard, rows in parts])
        l2 = np.concatenate([shard.l2[rows] for _, shard, rows in parts])
        dropped += sum(entry.rows for entry, _, _ in parts) - len(keys)
        kept += len(keys)
        for start in range(0, len(keys), manifest.shard_capacity):
            stop = min(len(keys), start + manifest.shard_capacity)
            entry = storage.new_shard(group)
            shard = storage.shard(entry.name)
            count = stop - start
            shard.reserve(0, count)
            shard.codes[:count], shard.keys[:count] = codes[start:stop], keys[start:stop]
            shard.l2[:count] = l2[start:stop]
            shard.flush()
            entry.rows, entry.checksum = count, list(shard.checksum(count))
            new_entries.append(entry)
            locations += [
                RowLocation(int(key), entry.name, row, group, int(l2[start + row]))
                for row, key in enumerate(keys[start:stop])
            ]
    generation = manifest.generation + 1
    storage.ids.replace_rows(locations, generation)
    manifest.shards, manifest.generation, manifest.pending_tombstones = new_entries, generation, []
    manifest.save(storage.folder)
    for entry in old:
        storage.forget_shard(entry.name)
    return {"kept": kept, "dropped": dropped, "shards": len(new_entries)}


def verify(storage: Storage) -> list[str]:
    """Problems found (empty = healthy): checksums, id map against shards, tombstone counts."""
    problems = []
    live: dict[int, tuple[str, int]] = {}
    for entry in storage.manifest.shards:
        shard = storage.shard(entry.name)
        if list(shard.checksum(entry.rows)) != list(entry.checksum):
            problems.append(f"shard {entry.name}: checksum mismatch over {entry.rows} rows")
        deleted = storage.deleted(entry)
        if int(deleted.sum()) != entry.deleted:
            problems.append(f"shard {entry.name}: {int(deleted.sum())} tombstones, manifest says {entry.deleted}")
        if shard.group != entry.group:
            problems.append(f"shard {entry.name}: header group {shard.group}, manifest {entry.group}")
        for row in np.flatnonzero(deleted == 0):
            key = int(shard.keys[row])
            if key in live:
                problems.append(f"key {key} is live twice")
            live[key] = (entry.name, int(row))
    mapped = storage.ids.live_rows()
    if mapped != live:
        problems.append(f"id map has {len(mapped)} rows, shards {len(live)} live rows, and they differ")
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
        "bytes_on_disk": shard_bytes + storage.ids.size_bytes(),
    }
