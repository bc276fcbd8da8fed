"""The id map: video id → internal key → row location, kept in ``ids.sqlite``.

The schema and every statement on it live here. Keys are small integers stored in the shards (a row names
its video by key, not by id text); the map also records the ``generation`` of the manifest it matches, so
that opening for writing can tell whether it has to be rebuilt from the shards after a crash.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from deephash.errors import InvalidRequest

IDS_FILE = "ids.sqlite"
_SQLITE_VARIABLES = 900  # stay below SQLite's limit of bound parameters per statement

_SCHEMA = """
CREATE TABLE keys (key INTEGER PRIMARY KEY, video_id TEXT UNIQUE NOT NULL);
CREATE TABLE rows (key INTEGER PRIMARY KEY, shard TEXT NOT NULL, row INTEGER NOT NULL,
                   l1 INTEGER NOT NULL, l2 INTEGER NOT NULL);
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta VALUES ('generation', 0);
"""


MAX_ID_BYTES = 256


def check_video_id(video_id: str) -> str:
    """A video id is 1 to 256 bytes of printable UTF-8 (no control characters, no NUL): what a caller can show,
    log and send back without escaping. Raises :class:`InvalidRequest` otherwise."""
    if not isinstance(video_id, str) or not video_id:
        raise InvalidRequest("a video id must be a non-empty string")
    size = len(video_id.encode("utf-8", errors="replace"))
    if size > MAX_ID_BYTES:
        raise InvalidRequest(f"a video id may have at most {MAX_ID_BYTES} bytes of UTF-8, this one has {size}")
    if not video_id.isprintable():
        raise InvalidRequest(f"a video id must be printable text, not {video_id[:40]!r}")
    return video_id


@dataclass(frozen=True)
class RowLocation:
    """Where the live row of one video is: its key, shard file, row in that shard, and its categories."""

    key: int
    shard: str
    row: int
    l1: int
    l2: int


class IdMap:
    """One SQLite connection (WAL, synchronous commits), used by one thread at a time."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / IDS_FILE
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")

    @staticmethod
    def create(folder: Path) -> None:
        database = sqlite3.connect(Path(folder) / IDS_FILE)
        database.executescript(_SCHEMA)
        database.commit()
        database.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One durable transaction (the connection is in autocommit mode otherwise)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ----------------------------------------------------------------------------------------- reading
    def generation(self) -> int:
        return self._db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()[0]

    def locate(self, video_id: str) -> RowLocation | None:
        """The committed row of ``video_id`` (the caller checks it against its manifest snapshot)."""
        found = self._db.execute(
            "SELECT k.key, r.shard, r.row, r.l1, r.l2 FROM keys k JOIN rows r ON r.key = k.key WHERE k.video_id = ?",
            (str(video_id),),
        ).fetchone()
        return None if found is None else RowLocation(*found)

    def locate_many(self, video_ids: Sequence[str]) -> dict[str, tuple[int, RowLocation | None]]:
        """video id → (key, location); the location is None for an id that was removed (its key stays)."""
        found: dict[str, tuple[int, RowLocation | None]] = {}
        for chunk in _chunks(video_ids):
            query = (
                "SELECT k.video_id, k.key, r.shard, r.row, r.l1, r.l2 FROM keys k"
                f" LEFT JOIN rows r ON r.key = k.key WHERE k.video_id IN ({_marks(chunk)})"
            )
            for video, key, shard, row, l1, l2 in self._db.execute(query, chunk):
                found[video] = (key, None if shard is None else RowLocation(key, shard, row, l1, l2))
        return found

    def video_ids(self, keys: Sequence[int]) -> dict[int, str]:
        names: dict[int, str] = {}
        for chunk in _chunks(keys):
            names.update(self._db.execute(f"SELECT key, video_id FROM keys WHERE key IN ({_marks(chunk)})", chunk))
        return names

    def live_rows(self) -> dict[int, tuple[str, int]]:
        """key → (shard, row) of every mapped row."""
        return {key: (shard, row) for key, shard, row in self._db.execute("SELECT key, shard, row FROM rows")}

    def next_key(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(key), 0) FROM keys").fetchone()[0] + 1

    def copy_to(self, target: sqlite3.Connection) -> None:
        """The whole map into ``target``, consistent even while this connection's process keeps reading."""
        self._db.backup(target)

    def size_bytes(self) -> int:
        return self.path.stat().st_size

    # ----------------------------------------------------------------------------------------- writing
    def add_keys(self, pairs: Iterable[tuple[int, str]]) -> None:
        """New (key, video id) pairs, committed at once: a key that ends up unused is harmless."""
        with self.transaction():
            self._db.executemany("INSERT INTO keys (key, video_id) VALUES (?, ?)", list(pairs))

    def put_rows(self, rows: Iterable[RowLocation], generation: int) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO rows (key, shard, row, l1, l2) VALUES (?, ?, ?, ?, ?)",
                [(r.key, r.shard, r.row, r.l1, r.l2) for r in rows],
            )
            self._set_generation(generation)

    def drop_row(self, key: int, generation: int) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM rows WHERE key = ?", (key,))
            self._set_generation(generation)

    def replace_rows(self, rows: Iterable[RowLocation], generation: int) -> None:
        """Every row at once (after compaction, or when rebuilding the map from the shards)."""
        with self.transaction():
            self._db.execute("DELETE FROM rows")
            self._db.executemany(
                "INSERT OR REPLACE INTO rows (key, shard, row, l1, l2) VALUES (?, ?, ?, ?, ?)",
                [(r.key, r.shard, r.row, r.l1, r.l2) for r in rows],
            )
            self._set_generation(generation)

    def _set_generation(self, generation: int) -> None:
        self._db.execute("UPDATE meta SET value = ? WHERE name = 'generation'", (generation,))


def _chunks(values: Sequence) -> Iterator[list]:
    for start in range(0, len(values), _SQLITE_VARIABLES):
        yield list(values[start : start + _SQLITE_VARIABLES])


def _marks(values: Sequence) -> str:
    return ",".join("?" * len(values))
