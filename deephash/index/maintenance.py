"""Maintenance of a library: compaction, the consistency check and its statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from deephash.index.manifest import MANIFEST_FILE, ShardEntry
from deephash.index.storage import Storage


def compact(storage: Storage) -> dict:
    """Rewrite every group's shards without tombstones; returns rows kept and dropped and the shard count.

    Shard by shard: the live rows of each old shard are appended to the group's newest new shard, so memory
    holds one old shard's live rows at a time, whatever the group's size."""
    manifest = storage.manifest
    old = list(manifest.shards)
    new_entries: list[ShardEntry] = []
    for entry in sorted(old, key=lambda entry: entry.group):  # stable: a group's rows keep their order
        shard, rows = storage.shard(entry.name), storage.live_rows(entry)
        codes, l2, ids = shard.codes[rows], shard.l2[rows], shard.ids_of(rows)
        verify = None if shard.verify is None else (shard.verify[rows], shard.verify_scale[rows])
        done = 0
        while done < len(rows):
            target = new_entries[-1] if new_entries and new_entries[-1].group == entry.group else None
            take = storage.shard(target.name).rows_that_fit(target.rows, ids.lengths[done:]) if target else 0
            if not take:  # the group's newest new shard is full, or there is none yet
                target = storage.new_shard(entry.group)
                new_entries.append(target)
                take = storage.shard(target.name).rows_that_fit(0, ids.lengths[done:])
            output = storage.shard(target.name)
            part = np.arange(done, done + take)
            output.append(target.rows, codes[part], l2[part], ids.take(part), _rows_of(verify, part))
            target.checksum = list(output.checksum(target.rows + take, target.rows, tuple(target.checksum)))
            target.rows, done = target.rows + take, done + take
    for entry in new_entries:
        storage.shard(entry.name).flush()
    kept = sum(entry.rows for entry in new_entries)
    manifest.shards, manifest.generation, manifest.pending_tombstones = new_entries, manifest.generation + 1, []
    manifest.save(storage.folder)
    for entry in old:
        storage.forget_shard(entry.name)
    return {"kept": kept, "dropped": sum(entry.rows for entry in old) - kept, "shards": len(new_entries)}


def _rows_of(verify: tuple[np.ndarray, np.ndarray] | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    return None if verify is None else (verify[0][rows], verify[1][rows])


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
        ids = shard.ids_of(rows)
        for video in ids.decode():
            if video in live:
                problems.append(f"video {video!r} is live twice ({live[video]} and {entry.name})")
            live[video] = entry.name
        found, where = np.full(len(rows), -1, dtype=np.int64), np.full(len(rows), -1, dtype=np.int64)
        shard.find(ids, ids.offsets, entry.rows, deleted, found, where, 0)
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
        # 0: no verification descriptors; searches rank by the codes alone
        "verification_dims": manifest.verify_dims,
        "model_version": manifest.model_version,
        "generation": manifest.generation,
        "bytes_on_disk": shard_bytes + (storage.folder / MANIFEST_FILE).stat().st_size,
    }


def import_in_batches(
    add_many: Callable[..., Counter],
    video_ids: Sequence[str],
    codes: np.ndarray,
    l1: np.ndarray,
    l2: np.ndarray,
    batch: int,
    progress: bool,
) -> Counter:
    """``add_many`` over durable batches of ``batch`` rows, with a progress bar."""
    total: Counter = Counter()
    with tqdm(total=len(codes), desc="import", unit="code", disable=not progress, unit_scale=True) as bar:
        for start in range(0, len(codes), batch):
            stop = start + batch
            total += add_many(video_ids[start:stop], codes[start:stop], l1[start:stop], l2[start:stop])
            bar.update(min(stop, len(codes)) - start)
    return total
