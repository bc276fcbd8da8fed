"""A code library: memory-mapped shards grouped by L1 category, crash-safe appends, exact masked search.

Concurrency model: one writer (enforced by an exclusive ``flock`` on ``writer.lock``), any number of
readers, in any processes. A reader works on the snapshot of the manifest it opened: rows appended later
lie past the row counts it knows and are invisible to it; a tombstone written later may or may not be seen.
``refresh()`` moves a reader to the newest snapshot.

Write protocol (each step durable before the next; a crash anywhere keeps every acknowledged row):

1. new video ids get keys in ``ids.sqlite`` (an unused key is harmless);
2. rows are written past the acknowledged count of their group's open shard, shard fsynced;
3. the id → row map and the generation are committed in ``ids.sqlite``;
4. the manifest (row counts, checksums, generation, rows to tombstone) is replaced atomically —
   this is the acknowledgement;
5. tombstones of replaced/removed rows are written to the shards (and re-applied on every open).

Opening for writing repairs what a crash left: an id map whose generation differs from the manifest is
rebuilt from the shards, unacknowledged tails are zeroed, stray shard files are removed; each repair is
reported in :attr:`Library.recovery`.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deephash.errors import IncompatibleLibrary, LibraryError, UnknownVideoId
from deephash.index.manifest import MANIFEST_FILE, Manifest, ShardEntry
from deephash.index.scan import masked_topk
from deephash.index.shard import Shard, create_shard

IDS_FILE, LOCK_FILE, SHARD_DIR = "ids.sqlite", "writer.lock", "shards"
DEFAULT_SHARD_CAPACITY = 1 << 22  # 4 Mi rows: 64 MiB of 128-bit codes per shard


@dataclass(frozen=True)
class Hit:
    video_id: str
    distance: int
    l1: int
    l2: int


@dataclass(frozen=True)
class StoredCode:
    video_id: str
    code: np.ndarray
    l1: int
    l2: int


class Library:
    """Open with :meth:`create` or :meth:`open`; use as a context manager."""

    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = Path(folder)
        self.writable = writable
        self.recovery: list[str] = []
        self._lock = None
        if writable:
            self._lock = (self.folder / LOCK_FILE).open("a")
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                raise LibraryError(f"{self.folder} is open for writing by another process") from None
        self._db = sqlite3.connect(self.folder / IDS_FILE, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self.manifest = Manifest.load(self.folder)
        self._shards: dict[str, Shard] = {}
        if writable:
            self._recover()

    # ----------------------------------------------------------------------------------------- opening
    @classmethod
    def create(
        cls, folder: Path, code_bits: int, model_version: str, shard_capacity: int = DEFAULT_SHARD_CAPACITY
    ) -> Library:
        folder = Path(folder)
        if (folder / MANIFEST_FILE).exists():
            raise LibraryError(f"a library already exists at {folder}")
        if code_bits % 64 or code_bits <= 0:
            raise LibraryError(f"code length must be a positive multiple of 64, got {code_bits}")
        if not 0 < shard_capacity < 1 << 40:
            raise LibraryError(f"shard capacity out of range: {shard_capacity}")
        (folder / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        database = sqlite3.connect(folder / IDS_FILE)
        database.executescript(
            """
            CREATE TABLE keys (key INTEGER PRIMARY KEY, video_id TEXT UNIQUE NOT NULL);
            CREATE TABLE rows (key INTEGER PRIMARY KEY, shard TEXT NOT NULL, row INTEGER NOT NULL,
                               l1 INTEGER NOT NULL, l2 INTEGER NOT NULL);
            CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO meta VALUES ('generation', 0);
            """
        )
        database.commit()
        database.close()
        Manifest(code_bits=code_bits, model_version=model_version, shard_capacity=shard_capacity).save(folder)
        return cls(folder, writable=True)

    @classmethod
    def open(
        cls,
        folder: Path,
        writable: bool = False,
        code_bits: int | None = None,
        model_version: str | None = None,
    ) -> Library:
        """Open an existing library; refuse it when it holds codes of another length or model version."""
        library = cls(Path(folder), writable)
        try:
            library.check_compatible(code_bits, model_version)
        except IncompatibleLibrary:
            library.close()
            raise
        return library

    def check_compatible(self, code_bits: int | None, model_version: str | None) -> None:
        if code_bits is not None and code_bits != self.manifest.code_bits:
            raise IncompatibleLibrary(
                f"library {self.folder} holds {self.manifest.code_bits}-bit codes, not {code_bits}-bit"
            )
        if model_version is not None and model_version != self.manifest.model_version:
            raise IncompatibleLibrary(
                f"library {self.folder} was built with model {self.manifest.model_version[:12]}, "
                f"not {model_version[:12]}: codes of different models are not comparable"
            )

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()
        self._db.close()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def refresh(self) -> None:
        """Readers: move to the newest acknowledged snapshot."""
        self.manifest = Manifest.load(self.folder)

    # ---------------------------------------------------------------------------------------- reading
    @property
    def code_bits(self) -> int:
        return self.manifest.code_bits

    def __len__(self) -> int:
        return self.manifest.live_rows

    def _shard(self, name: str) -> Shard:
        if name not in self._shards:
            self._shards[name] = Shard(self.folder / SHARD_DIR / name, writable=self.writable)
        return self._shards[name]

    def _location(self, video_id: str) -> tuple[int, str, int, int, int] | None:
        """(key, shard, row, l1, l2) of the live row of ``video_id`` in this snapshot, or None."""
        found = self._db.execute(
            "SELECT k.key, r.shard, r.row, r.l1, r.l2 FROM keys k JOIN rows r ON r.key = k.key WHERE k.video_id = ?",
            (str(video_id),),
        ).fetchone()
        if found is None:
            return None
        entry = self._entry(found[1])
        if entry is None or found[2] >= entry.rows:
            return None  # committed by a writer after this snapshot
        return found

    def _entry(self, name: str) -> ShardEntry | None:
        return next((entry for entry in self.manifest.shards if entry.name == name), None)

    def get(self, video_id: str) -> StoredCode:
        """Code and categories of a video id (a persisted map, not a scan)."""
        location = self._location(video_id)
        if location is None:
            raise UnknownVideoId(f"no video {video_id!r} in the library")
        _, name, row, l1, l2 = location
        return StoredCode(str(video_id), self._shard(name).codes[row].copy(), l1, l2)

    def __contains__(self, video_id: str) -> bool:
        return self._location(video_id) is not None

    def _deleted(self, entry: ShardEntry, shard: Shard) -> np.ndarray:
        deleted = shard.deleted[: entry.rows]
        pending = [row for name, row in self.manifest.pending_tombstones if name == entry.name]
        if pending:
            deleted = deleted.copy()
            deleted[pending] = 1
        return deleted

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: Sequence[int | None] | None = None,
        exclude: Sequence[str | None] | None = None,
        threads: int | None = None,
    ) -> list[list[Hit]]:
        """Exact top-k by masked Hamming distance for each query (packed ``[Q, L/8]`` or one code).

        ``masks``: per-query packed masks (or None for plain Hamming). ``groups``: per query, the L1
        group whose shards are scanned (None = all shards). ``exclude``: per query, a video id left out.
        Ties are broken by (shard order, row).
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.uint8))
        if queries.shape[1] != self.manifest.code_bytes:
            raise IncompatibleLibrary(f"query codes have {queries.shape[1] * 8} bits, library {self.code_bits}")
        count = len(queries)
        masks = None if masks is None else np.broadcast_to(np.atleast_2d(masks), queries.shape)
        groups = list(groups) if groups is not None else [None] * count
        excluded = [self._location(video) if video is not None else None for video in exclude or [None] * count]
        results: list[list[tuple[int, int, int, int]]] = [[] for _ in range(count)]
        for index, entry in enumerate(self.manifest.shards):
            wanted = [q for q in range(count) if groups[q] is None or groups[q] == entry.group]
            if not wanted or entry.rows == 0:
                continue
            shard = self._shard(entry.name)
            exclude_rows = np.array(
                [excluded[q][2] if excluded[q] and excluded[q][1] == entry.name else -1 for q in wanted]
            )
            rows, distances = masked_topk(
                shard.codes[: entry.rows],
                self._deleted(entry, shard),
                queries[wanted],
                None if masks is None else masks[wanted],
                k,
                max_distance,
                exclude_rows,
                threads,
            )
            for position, q in enumerate(wanted):
                for row, distance in zip(rows[position], distances[position]):
                    if row >= 0:
                        results[q].append((int(distance), index, int(row), int(shard.keys[row])))
        return [self._hits(sorted(found)[:k]) for found in results]

    def _hits(self, found: list[tuple[int, int, int, int]]) -> list[Hit]:
        if not found:
            return []
        keys = [key for *_, key in found]
        marks = ",".join("?" * len(keys))
        names = dict(self._db.execute(f"SELECT key, video_id FROM keys WHERE key IN ({marks})", keys))
        hits = []
        for distance, index, row, key in found:
            entry = self.manifest.shards[index]
            hits.append(Hit(names[key], distance, entry.group, int(self._shard(entry.name).l2[row])))
        return hits

    def stats(self) -> dict:
        groups = Counter()
        for entry in self.manifest.shards:
            groups[entry.group] += entry.rows - entry.deleted
        layout_bytes = sum((self.folder / SHARD_DIR / e.name).stat().st_blocks * 512 for e in self.manifest.shards)
        return {
            "rows": self.manifest.live_rows,
            "rows_including_tombstones": self.manifest.rows,
            "shards": len(self.manifest.shards),
            "groups": {int(group): rows for group, rows in sorted(groups.items())},
            "code_bits": self.code_bits,
            "model_version": self.manifest.model_version,
            "generation": self.manifest.generation,
            "bytes_on_disk": layout_bytes + (self.folder / IDS_FILE).stat().st_size,
        }

    def verify(self) -> list[str]:
        """Problems found (empty = healthy): checksums, id map against shards, tombstone counts."""
        problems = []
        live: dict[int, tuple[str, int]] = {}
        for entry in self.manifest.shards:
            shard = self._shard(entry.name)
            if list(shard.checksum(entry.rows)) != list(entry.checksum):
                problems.append(f"shard {entry.name}: checksum mismatch over {entry.rows} rows")
            deleted = self._deleted(entry, shard)
            if int(deleted.sum()) != entry.deleted:
                problems.append(f"shard {entry.name}: {int(deleted.sum())} tombstones, manifest says {entry.deleted}")
            if shard.group != entry.group:
                problems.append(f"shard {entry.name}: header group {shard.group}, manifest {entry.group}")
            for row in np.flatnonzero(deleted == 0):
                key = int(shard.keys[row])
                if key in live:
                    problems.append(f"key {key} is live twice")
                live[key] = (entry.name, int(row))
        mapped = {key: (shard, row) for key, shard, row in self._db.execute("SELECT key, shard, row FROM rows")}
        if mapped != live:
            problems.append(f"id map has {len(mapped)} rows, shards {len(live)} live rows, and they differ")
        return problems

    # ---------------------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One durable SQLite transaction (the connection is in autocommit mode otherwise)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _require_writer(self) -> None:
        if not self.writable:
            raise LibraryError("the library was opened read-only")

    def add(self, video_id: str, code: np.ndarray, l1: int, l2: int) -> str:
        """Insert or update one video: 'added', 'replaced' (old row tombstoned) or 'unchanged'."""
        outcome = self.add_many([video_id], np.atleast_2d(code), np.array([l1]), np.array([l2]))
        return next(iter(outcome))

    def add_many(self, video_ids: Sequence[str], codes: np.ndarray, l1: np.ndarray, l2: np.ndarray) -> Counter:
        """Idempotent batch insert on video id, acknowledged (durable) when it returns."""
        self._require_writer()
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        ids = [str(video) for video in video_ids]
        l1, l2 = np.asarray(l1, dtype=np.int64), np.asarray(l2, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[1] != self.manifest.code_bytes:
            raise IncompatibleLibrary(f"codes of shape {codes.shape} do not fit a {self.code_bits}-bit library")
        if not len(ids) == len(codes) == len(l1) == len(l2):
            raise LibraryError("video ids, codes and categories differ in length")
        if len(l2) and (l2.min() < 0 or l2.max() >= 1 << 15 or l1.min() < 0):
            raise LibraryError("category ids must be non-negative (and L2 ids below 32768)")
        last = {video: index for index, video in enumerate(ids)}  # within a batch, the last one wins
        order = sorted(last.values())
        outcome: Counter = Counter()
        existing = self._existing([ids[i] for i in order])
        appends, tombstones = [], []
        for index in order:
            video = ids[index]
            found = existing.get(video)
            if found is not None and found[1] is None:  # removed before: a new row under its old key
                outcome["added"] += 1
                appends.append((index, found[0]))
            elif found is not None:
                key, name, row, old_l1, old_l2 = found
                same = old_l1 == l1[index] and old_l2 == l2[index]
                if same and np.array_equal(self._shard(name).codes[row], codes[index]):
                    outcome["unchanged"] += 1
                    continue
                tombstones.append((name, row))
                outcome["replaced"] += 1
                appends.append((index, key))
            else:
                outcome["added"] += 1
                appends.append((index, None))
        if appends:
            self._commit(ids, codes, l1, l2, appends, tombstones)
        return outcome

    def _existing(self, ids: list[str]) -> dict[str, tuple]:
        """video id → (key, shard, row, l1, l2); shard and the rest are None for a removed id."""
        found = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT k.video_id, k.key, r.shard, r.row, r.l1, r.l2 FROM keys k"
                f" LEFT JOIN rows r ON r.key = k.key WHERE k.video_id IN ({marks})"
            )
            for video, key, shard, row, l1, l2 in self._db.execute(query, chunk):
                found[video] = (key, shard, row, l1, l2)
        return found

    def _commit(self, ids, codes, l1, l2, appends, tombstones) -> None:
        manifest = self.manifest
        next_key = (self._db.execute("SELECT COALESCE(MAX(key), 0) FROM keys").fetchone()[0]) + 1
        keys: dict[int, int] = {}
        new_pairs = []
        for index, key in appends:
            if key is None:
                key, next_key = next_key, next_key + 1
                new_pairs.append((key, ids[index]))
            keys[index] = key
        if new_pairs:  # step 1
            with self._transaction():
                self._db.executemany("INSERT INTO keys (key, video_id) VALUES (?, ?)", new_pairs)
        placed: list[tuple[int, str, int]] = []  # (index, shard, row)
        touched: dict[str, tuple[int, int]] = {}  # shard → (first new row, end)
        order = np.array([index for index, _ in appends])
        key_array = np.array([keys[index] for index in order], dtype=np.int64)
        for group in np.unique(l1[order]):  # step 2, a contiguous slice per shard
            members = np.flatnonzero(l1[order] == group)
            while len(members):
                entry = self._open_entry(int(group), touched)
                shard = self._shard(entry.name)
                start, end = touched.get(entry.name, (entry.rows, entry.rows))
                take = min(len(members), self.manifest.shard_capacity - end)
                chosen, members = members[:take], members[take:]
                rows = slice(end, end + take)
                shard.codes[rows] = codes[order[chosen]]
                shard.keys[rows] = key_array[chosen]
                shard.l2[rows] = l2[order[chosen]]
                shard.deleted[rows] = 0
                touched[entry.name] = (start, end + take)
                placed += [(int(order[c]), entry.name, end + offset) for offset, c in enumerate(chosen)]
        for name in touched:
            self._shard(name).flush()
        generation = manifest.generation + 1
        with self._transaction():  # step 3
            self._db.executemany(
                "INSERT OR REPLACE INTO rows (key, shard, row, l1, l2) VALUES (?, ?, ?, ?, ?)",
                [(keys[index], name, row, int(l1[index]), int(l2[index])) for index, name, row in placed],
            )
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (generation,))
        for name, (start, end) in touched.items():  # step 4
            entry = self._entry(name)
            entry.checksum = list(self._shard(name).checksum(end, start, tuple(entry.checksum)))
            entry.rows = end
        self._acknowledge(generation, tombstones)

    def _acknowledge(self, generation: int, tombstones: list[tuple[str, int]]) -> None:
        for name, _ in tombstones:
            self._entry(name).deleted += 1
        self.manifest.generation = generation
        self.manifest.pending_tombstones = list(tombstones)
        self.manifest.save(self.folder)
        self._apply_tombstones()  # step 5

    def _apply_tombstones(self) -> None:
        names = set()
        for name, row in self.manifest.pending_tombstones:
            self._shard(name).deleted[row] = 1
            names.add(name)
        for name in names:
            self._shard(name).flush()

    def _open_entry(self, group: int, touched: dict[str, tuple[int, int]]) -> ShardEntry:
        """The group's shard with room for one more row, creating a new shard when all are full."""
        for entry in reversed(self.manifest.shards):
            if entry.group == group:
                used = touched.get(entry.name, (entry.rows, entry.rows))[1]
                if used < self.manifest.shard_capacity:
                    return entry
                break
        entry = ShardEntry(name=self._new_shard(group), group=group)
        self.manifest.shards.append(entry)
        return entry

    def _new_shard(self, group: int) -> str:
        """Create an empty shard file for ``group`` (not yet in the manifest) and return its name."""
        name = f"g{group:05d}-{self.manifest.next_shard:06d}.shard"
        self.manifest.next_shard += 1
        create_shard(self.folder / SHARD_DIR / name, self.manifest.code_bytes, self.manifest.shard_capacity, group)
        return name

    def remove(self, video_id: str) -> bool:
        """Tombstone a video's row; False when the id is not in the library."""
        self._require_writer()
        location = self._location(video_id)
        if location is None:
            return False
        key, name, row, _, _ = location
        generation = self.manifest.generation + 1
        with self._transaction():
            self._db.execute("DELETE FROM rows WHERE key = ?", (key,))
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (generation,))
        self._acknowledge(generation, [(name, row)])
        return True

    def import_codes(
        self,
        video_ids: Sequence[str],
        codes: np.ndarray,
        l1: np.ndarray,
        l2: np.ndarray,
        batch: int = 1 << 18,
        progress: bool = True,
    ) -> Counter:
        """Bulk add (e.g. re-hashing a whole history into a new library) in durable batches."""
        total: Counter = Counter()
        with tqdm(total=len(codes), desc="import", unit="code", disable=not progress, unit_scale=True) as bar:
            for start in range(0, len(codes), batch):
                stop = start + batch
                total += self.add_many(video_ids[start:stop], codes[start:stop], l1[start:stop], l2[start:stop])
                bar.update(min(stop, len(codes)) - start)
        return total

    def compact(self) -> dict:
        """Rewrite every group's shards without tombstones; returns rows kept and dropped."""
        self._require_writer()
        old = list(self.manifest.shards)
        kept, dropped = 0, 0
        new_entries: list[ShardEntry] = []
        rows_table = []
        for group in sorted({entry.group for entry in old}):
            parts = [(entry, self._shard(entry.name)) for entry in old if entry.group == group]
            live = [(shard, np.flatnonzero(self._deleted(entry, shard) == 0)) for entry, shard in parts]
            codes = np.concatenate([shard.codes[rows] for shard, rows in live])
            keys = np.concatenate([shard.keys[rows] for shard, rows in live])
            l2 = np.concatenate([shard.l2[rows] for shard, rows in live])
            dropped += sum(entry.rows for entry, _ in parts) - len(keys)
            kept += len(keys)
            for start in range(0, len(keys), self.manifest.shard_capacity):
                stop = min(len(keys), start + self.manifest.shard_capacity)
                name = f"g{group:05d}-{self.manifest.next_shard:06d}.shard"
                self.manifest.next_shard += 1
                create_shard(
                    self.folder / SHARD_DIR / name, self.manifest.code_bytes, self.manifest.shard_capacity, group
                )
                shard = self._shard(name)
                count = stop - start
                shard.codes[:count], shard.keys[:count], shard.l2[:count] = (
                    codes[start:stop],
                    keys[start:stop],
                    l2[start:stop],
                )
                shard.flush()
                new_entries.append(ShardEntry(name, group, count, 0, list(shard.checksum(count))))
                rows_table += [
                    (int(key), name, row, group, int(l2[start + row])) for row, key in enumerate(keys[start:stop])
                ]
        generation = self.manifest.generation + 1
        with self._transaction():
            self._db.execute("DELETE FROM rows")
            self._db.executemany("INSERT INTO rows (key, shard, row, l1, l2) VALUES (?, ?, ?, ?, ?)", rows_table)
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (generation,))
        self.manifest.shards = new_entries
        self.manifest.generation = generation
        self.manifest.pending_tombstones = []
        self.manifest.save(self.folder)
        for entry in old:
            self._shards.pop(entry.name).close()
            (self.folder / SHARD_DIR / entry.name).unlink()
        return {"kept": kept, "dropped": dropped, "shards": len(new_entries)}

    # -------------------------------------------------------------------------------------- recovery
    def _recover(self) -> None:
        manifest = self.manifest
        known = {entry.name for entry in manifest.shards}
        for path in sorted((self.folder / SHARD_DIR).iterdir()):
            if path.name not in known:
                path.unlink()
                self.recovery.append(f"removed {path.name}: not in the manifest (interrupted write)")
        for entry in manifest.shards:
            shard = self._shard(entry.name)
            tail = int(np.count_nonzero(shard.keys[entry.rows :]))
            if tail:
                shard.codes[entry.rows :] = 0
                shard.keys[entry.rows :] = 0
                shard.l2[entry.rows :] = 0
                shard.deleted[entry.rows :] = 0
                shard.flush()
                self.recovery.append(f"discarded {tail} unacknowledged rows at the end of {entry.name}")
        if manifest.pending_tombstones:
            self._apply_tombstones()
        generation = self._db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()[0]
        if generation != manifest.generation:
            self._rebuild_id_map()
            self.recovery.append(
                f"rebuilt the id map from the shards (it was at generation {generation}, "
                f"the manifest at {manifest.generation})"
            )

    def _rebuild_id_map(self) -> None:
        rows = []
        for entry in self.manifest.shards:
            shard = self._shard(entry.name)
            live = np.flatnonzero(self._deleted(entry, shard) == 0)
            rows += [(int(shard.keys[row]), entry.name, int(row), entry.group, int(shard.l2[row])) for row in live]
        with self._transaction():
            self._db.execute("DELETE FROM rows")
            self._db.executemany("INSERT OR REPLACE INTO rows (key, shard, row, l1, l2) VALUES (?, ?, ?, ?, ?)", rows)
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (self.manifest.generation,))
