"""A code library: memory-mapped shards grouped by L1 category, crash-safe appends, exact masked search.

Concurrency model: one writer (an exclusive ``flock`` on ``writer.lock``), any number of readers, in any
processes. A reader works on the snapshot of the manifest it opened: rows appended later are invisible to it; a
tombstone written later may or may not be seen; ``refresh()`` moves it to the newest snapshot. One ``Library``
object serves one thread at a time. The search is in ``reading.py`` and ``rerank.py``, the write protocol and
recovery in ``writes.py``, maintenance in ``maintenance.py``, backups in ``backup.py``; ``docs/architecture.md``
draws the whole. A write the disk refuses is undone (:class:`StorageFailure`)."""

from __future__ import annotations

import contextlib
import fcntl
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np

from deephash.errors import IncompatibleLibrary, LibraryBusy, LibraryError, StorageFailure, UnknownVideoId
from deephash.index import maintenance, writes
from deephash.index.backup import copy_library, no_writer_elsewhere
from deephash.index.manifest import MANIFEST_FILE, Manifest
from deephash.index.reading import Hit, PlacedHit, ShardRows, StoredCode, search_storage
from deephash.index.rerank import OVERSAMPLING, verified_search
from deephash.index.storage import SHARD_DIR, Storage
from deephash.verification import quantise

LOCK_FILE = "writer.lock"
DEFAULT_SHARD_CAPACITY = 1 << 22  # 4 Mi rows: 64 MiB of 128-bit codes per shard


class Library:
    """Open with :meth:`create` or :meth:`open`; use as a context manager."""

    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder, self.writable = Path(folder), writable
        self.recovery: list[str] = []
        self._unrecovered: Exception | None = None  # set when a failed write could not be undone
        self._lock = None
        if writable:
            self._lock = (self.folder / LOCK_FILE).open("a")
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                raise LibraryBusy(f"{self.folder} is open for writing by another writer") from None
        self._storage = Storage(self.folder, writable)
        if writable:
            self.recovery = writes.recover(self._storage)

    @classmethod
    def create(
        cls,
        folder: Path,
        code_bits: int,
        model_version: str,
        shard_capacity: int = DEFAULT_SHARD_CAPACITY,
        verify_dims: int = 0,
    ) -> Library:
        """A new library; ``verify_dims`` > 0 keeps each row's verification descriptor of that many dimensions."""
        folder = Path(folder)
        if (folder / MANIFEST_FILE).exists():
            raise LibraryError(f"a library already exists at {folder}")
        if code_bits % 64 or code_bits <= 0:
            raise LibraryError(f"code length must be a positive multiple of 64, got {code_bits}")
        if not 0 < shard_capacity < 1 << 31:
            raise LibraryError(f"shard capacity out of range: {shard_capacity}")
        if verify_dims < 0:
            raise LibraryError(f"verification dimensions out of range: {verify_dims}")
        (folder / SHARD_DIR).mkdir(parents=True, exist_ok=True)
        Manifest(code_bits, model_version, shard_capacity, verify_dims=verify_dims).save(folder)
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

    @classmethod
    def open_or_create(cls, folder: Path, code_bits: int, model_version: str, verify_dims: int = 0) -> Library:
        """The library at ``folder`` opened for writing (refused when incompatible), or a new one (keeping
        verification descriptors of ``verify_dims``; one made without them goes on without them)."""
        if (Path(folder) / MANIFEST_FILE).exists():
            return cls.open(folder, writable=True, code_bits=code_bits, model_version=model_version)
        return cls.create(folder, code_bits, model_version, verify_dims=verify_dims)

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
        self._storage.close()
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def refresh(self) -> None:
        """Readers: move to the newest snapshot; unmaps shards compaction deleted (so not during a search)."""
        self._storage.manifest = Manifest.load(self.folder)
        self._storage.forget_unlisted()

    @property
    def manifest(self) -> Manifest:
        return self._storage.manifest

    @property
    def verify_dims(self) -> int:
        """Dimensions of the verification descriptors kept (0: none; searches rank by the codes alone)."""
        return self.manifest.verify_dims

    @property
    def code_bits(self) -> int:
        return self.manifest.code_bits

    def __len__(self) -> int:
        return self.manifest.live_rows

    def get(self, video_id: str) -> StoredCode:
        """Code and categories of a video id (by the shards' id tables, not a scan)."""
        stored = self.get_many([video_id]).get(video_id)
        if stored is None:
            raise UnknownVideoId(f"no video {video_id!r} in the library")
        return stored

    def get_many(self, video_ids: Sequence[str]) -> dict[str, StoredCode]:
        """:meth:`get` for many ids at once (one lookup); ids not in the library are left out."""
        stored = {}
        for video, at in self._storage.locate_many(video_ids).items():
            shard = self._storage.shard(at.shard)
            verify = None if shard.verify is None else shard.verification(np.array([at.row]))[0]
            stored[video] = StoredCode(video, shard.codes[at.row].copy(), at.l1, at.l2, verify)
        return stored

    def __contains__(self, video_id: str) -> bool:
        return self._storage.location(video_id) is not None

    def video_ids(self) -> Iterator[str]:
        """The id of every live row in this snapshot, shard by shard."""
        for rows in self.shard_rows():
            yield from rows.shard.video_ids(np.flatnonzero(rows.deleted == 0))

    def shard_rows(self) -> Iterator[ShardRows]:
        """Every shard's acknowledged rows in this snapshot, tombstoned ones included (flagged)."""
        for entry in self.manifest.shards:
            shard = self._storage.shard(entry.name)
            rows = slice(0, entry.rows)
            yield ShardRows(entry.name, entry.group, shard.codes[rows], self._storage.deleted(entry), shard)

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
        verify: np.ndarray | None = None,
        oversampling: int = OVERSAMPLING,
    ) -> list[list[Hit]]:
        """Exact top-k by masked Hamming distance for each query (packed ``[Q, L/8]`` or one code). ``masks``:
        per-query packed masks (None: plain Hamming); ``groups``: per query, the L1 group scanned (None: all);
        ``exclude``: per query, a video id left out; ties by (shard order, row). ``verify``: the queries' float
        verification descriptors ``[Q, V]``; a library that keeps them re-ranks the scan's ``k * oversampling``
        nearest by similarity (:mod:`deephash.index.rerank`), each hit carrying it."""
        scan = (self._storage, queries, k, max_distance, masks, groups, exclude, threads)
        if verify is not None and self.verify_dims:
            return verified_search(*scan, np.atleast_2d(verify), oversampling)
        return [[placed.hit for placed in hits] for hits in search_storage(*scan)]

    def search_shards(
        self,
        queries: np.ndarray,
        k: int,
        shards: Collection[str],
        *,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: Sequence[int | None] | None = None,
        exclude: Sequence[str | None] | None = None,
    ) -> list[list[PlacedHit]]:
        """A shard holder's part of :meth:`search` (only ``shards``; merged by place, the parts give its answer)."""
        return search_storage(self._storage, queries, k, max_distance, masks, groups, exclude, None, shards)

    def stats(self) -> dict:
        return maintenance.stats(self._storage)

    def verify(self) -> list[str]:
        """Problems found (empty = healthy): checksums, tombstone counts, each live id once and found by its id."""
        return maintenance.verify(self._storage)

    def _require_writer(self) -> None:
        if not self.writable:
            raise LibraryError("the library was opened read-only")
        if self._unrecovered is not None and not self._recover_in_place():  # space may have come back
            raise StorageFailure(
                f"a write to {self.folder} failed and the library could not be brought back to its last "
                f"acknowledged state ({self._unrecovered}); free space and try again"
            )

    def _recover_in_place(self) -> bool:
        """Reread the library from disk and recover it to its last acknowledged state, as after a crash."""
        try:
            self._storage.reload()
            self.recovery += writes.recover(self._storage)
        except (OSError, LibraryError) as error:  # the disk refuses the repair too (still full)
            self._unrecovered = error
            return False
        self._unrecovered = None
        return True

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that the disk refuses (full, failing) is undone (:meth:`_recover_in_place`, or at the next
        write if the disk refuses that too) and :class:`StorageFailure` raised."""
        self._require_writer()
        try:
            yield
        except OSError as error:
            self._recover_in_place()
            raise StorageFailure(f"the disk refused a write to {self.folder}: {error}; nothing was stored") from error

    def add(self, video_id: str, code: np.ndarray, l1: int, l2: int, verify: np.ndarray | None = None) -> str:
        """Insert or update one video: 'added', 'replaced' (old row tombstoned) or 'unchanged'."""
        verify = None if verify is None else np.atleast_2d(verify)
        return next(iter(self.add_many([video_id], np.atleast_2d(code), np.array([l1]), np.array([l2]), verify)))

    def add_many(
        self,
        video_ids: Sequence[str],
        codes: np.ndarray,
        l1: np.ndarray,
        l2: np.ndarray,
        verify: np.ndarray | None = None,
    ) -> Counter:
        """Idempotent batch insert on video id, durable when it returns; ``verify``: float descriptors ``[n, V]``."""
        stored = None if verify is None else quantise(verify)
        with self._writing():
            return writes.add_many(self._storage, video_ids, codes, l1, l2, stored)

    def remove(self, video_id: str) -> bool:
        """Tombstone a video's row; False when the id is not in the library."""
        with self._writing():
            return writes.remove(self._storage, video_id)

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
        return maintenance.import_in_batches(self.add_many, video_ids, codes, l1, l2, batch, progress)

    def backup(self, out: Path) -> dict:
        """A consistent, verified copy of this library in the new folder ``out`` (``backup.py``). The writer takes
        one whenever it likes; a reader only while no process writes (its shared lock keeps writers out)."""
        with no_writer_elsewhere(self.folder / LOCK_FILE, self.writable):
            copied = copy_library(self._storage, out)
        with Library.open(out) as copy:
            problems = copy.verify()
        if problems:
            raise LibraryError(f"the backup in {out} does not verify: {'; '.join(problems)}")
        return copied

    def compact(self) -> dict:
        """Rewrite every group's shards without tombstones; returns rows kept and dropped."""
        with self._writing():
            return maintenance.compact(self._storage)
