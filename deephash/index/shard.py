"""One shard: a fixed-capacity file of rows of one L1 group, describing itself in a header.

Layout (little-endian, each column a contiguous region so a scan reads only what it needs)::

    [0, 4096)                  header: JSON {"magic", "format", "code_bytes", "capacity", "group"}, NUL-padded
    codes     uint8 [C, L/8]   packed codes
    l2        int16 [C]        global L2 category
    deleted   uint8 [C]        1 = tombstone
    id_sizes  uint8 [C]        UTF-8 length of the row's video id, minus one
    id_blocks int64 [C/64]     where the ids of each block of 64 rows start in ``id_text``
    id_text   uint8 [C * 48]   the video ids, back to back (the shard is full when either runs out)
    verify        int8 [C, V]  the verification descriptor (``verify_dims`` V in the header; absent when 0)
    verify_scale  float32 [C]  its scale: the descriptor is ``verify * verify_scale``

The verification descriptor lies past every other column, so the scan's memory traffic is the codes' alone; it is
read only for the candidates a search re-ranks. The ids live beside their rows, so a row names its video without a
separate map (about 22 bytes per row for ids of 20 characters, against 80 in SQLite). Finding a row by its id uses
a hash table built in memory from these columns at the first lookup and extended as rows are acknowledged
(``shard_ids.IdTable``): it is derived data, so nothing about it has to survive a crash. How many rows are
acknowledged is not in the shard but in the library's manifest: rows past that count and their ids are an
unacknowledged (possibly torn) tail that recovery clears and the next append overwrites.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.errors import LibraryError
from deephash.index import shard_ids
from deephash.index.extents import data_extents
from deephash.index.idmap import MAX_ID_BYTES

MAGIC = "deephash-shard"
FORMAT = 2
HEADER_BYTES = 4096
TEXT_BYTES_PER_ROW = 48  # room for the ids: a shard of C rows holds C ids of 48 bytes on average
_CHUNK_BYTES = 1 << 23  # a multiple of every column's width
_COLUMNS = ("codes", "l2", "deleted", "id_sizes", "id_blocks", "id_text")
_VERIFY_COLUMNS = ("verify", "verify_scale")
_ROW_COLUMNS = ("codes", "l2", "deleted", "id_sizes", *_VERIFY_COLUMNS)  # one entry per row
_DTYPES = {"l2": np.int16, "id_blocks": np.int64, "verify": np.int8, "verify_scale": np.float32}


@dataclass(frozen=True)
class ShardLayout:
    code_bytes: int
    capacity: int
    verify_dims: int = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return _COLUMNS + (_VERIFY_COLUMNS if self.verify_dims else ())

    @property
    def widths(self) -> dict[str, int]:
        """Bytes per entry of each column."""
        return {"codes": self.code_bytes, "l2": 2, "deleted": 1, "id_sizes": 1, "id_blocks": 8, "id_text": 1,
                "verify": self.verify_dims, "verify_scale": 4}  # fmt: skip

    @property
    def entries(self) -> dict[str, int]:
        """Entries of each column."""
        blocks = -(-self.capacity // shard_ids.BLOCK_ROWS)
        text = max(self.capacity * TEXT_BYTES_PER_ROW, MAX_ID_BYTES)  # a shard of one row takes any id
        return {column: self.capacity for column in _ROW_COLUMNS} | {"id_blocks": blocks, "id_text": text}

    @property
    def offsets(self) -> dict[str, int]:
        offsets, position = {}, HEADER_BYTES
        for column in self.columns:
            position += -position % 8
            offsets[column] = position
            position += self.entries[column] * self.widths[column]
        offsets["end"] = position
        return offsets

    @property
    def file_bytes(self) -> int:
        return self.offsets["end"]


def create_shard(path: Path, code_bytes: int, capacity: int, group: int, verify_dims: int = 0) -> None:
    """A new, zero-filled shard file (sparse until written), durable before it is referenced."""
    layout = ShardLayout(code_bytes, capacity, verify_dims)
    fields = {"magic": MAGIC, "format": FORMAT, "code_bytes": code_bytes, "capacity": capacity, "group": group}
    header = json.dumps(fields | ({"verify_dims": verify_dims} if verify_dims else {})).encode()
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(header.ljust(HEADER_BYTES, b"\0"))
        handle.truncate(layout.file_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_header(path: Path, expected_format: int = FORMAT) -> dict:
    try:
        with path.open("rb") as handle:
            header = json.loads(handle.read(HEADER_BYTES).rstrip(b"\0"))
    except (OSError, ValueError) as error:
        raise LibraryError(f"cannot read shard {path}: {error}") from error
    if header.get("magic") != MAGIC or header.get("format") != expected_format:
        raise LibraryError(f"{path} is not a deephash shard of format {expected_format}")
    return header


class Shard:
    """Column views of one shard file, memory-mapped read-only or read-write."""

    def __init__(self, path: Path, writable: bool = False) -> None:
        header = read_header(path)
        self.path = path
        self.group = int(header["group"])
        self.layout = ShardLayout(int(header["code_bytes"]), int(header["capacity"]), int(header.get("verify_dims", 0)))
        if path.stat().st_size != self.layout.file_bytes:
            raise LibraryError(f"{path} has {path.stat().st_size} bytes, its header says {self.layout.file_bytes}")
        self._file = path.open("r+b" if writable else "rb")
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        self._map = mmap.mmap(self._file.fileno(), 0, access=access)
        buffer = np.frombuffer(self._map, dtype=np.uint8)
        if not writable:
            buffer = buffer.view()
            buffer.flags.writeable = False
        offsets, widths, entries = self.layout.offsets, self.layout.widths, self.layout.entries
        views = {}
        for column in self.layout.columns:
            raw = buffer[offsets[column] : offsets[column] + entries[column] * widths[column]]
            views[column] = raw.view(_DTYPES.get(column, np.uint8))
        self.codes = views["codes"].view(np.uint8).reshape(self.capacity, self.layout.code_bytes)
        self.l2, self.deleted = views["l2"], views["deleted"]
        self.id_sizes, self.id_blocks, self.id_text = views["id_sizes"], views["id_blocks"], views["id_text"]
        self.verify = self.verify_scale = None  # a shard of a library without verification descriptors
        if self.layout.verify_dims:
            self.verify = views["verify"].reshape(self.capacity, self.layout.verify_dims)
            self.verify_scale = views["verify_scale"]
        self._table = shard_ids.IdTable()

    @property
    def capacity(self) -> int:
        return self.layout.capacity

    def text_end(self, rows: int) -> int:
        """Where the ids of the first ``rows`` rows end in ``id_text``."""
        return int(shard_ids.text_start(self.id_sizes, self.id_blocks, rows))

    def rows_that_fit(self, rows: int, lengths: np.ndarray) -> int:
        """How many ids of ``lengths`` (bytes, in order) fit after ``rows`` rows, by rows and by id text."""
        room = min(len(lengths), self.capacity - rows)
        text_left = len(self.id_text) - self.text_end(rows)
        return int(np.searchsorted(np.cumsum(lengths[:room]), text_left, side="right"))

    def append(
        self,
        start: int,
        codes: np.ndarray,
        l2: np.ndarray,
        ids: shard_ids.PackedIds,
        verify: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Write rows ``[start, start + n)`` past the acknowledged ones: codes, categories, ids and, in a shard
        that keeps them, the verification descriptors (``verify``: int8 values and their scales).

        Disk space is allocated first (:meth:`_reserve`), so a full disk fails here with ``OSError`` and not
        later, inside the memory map, with SIGBUS.
        """
        stop = start + len(codes)
        if (verify is None) != (self.verify is None):
            keeps = "keeps" if self.verify is not None else "keeps no"
            raise LibraryError(f"{self.path.name} {keeps} verification descriptors: rows come as the shard keeps")
        text_begin = self.text_end(start)
        self._reserve(start, stop, text_begin, text_begin + len(ids.text))
        self.codes[start:stop], self.l2[start:stop], self.deleted[start:stop] = codes, l2, 0
        if verify is not None:
            self.verify[start:stop], self.verify_scale[start:stop] = verify
        shard_ids.write_ids(self.id_sizes, self.id_blocks, self.id_text, start, ids, text_begin)

    def index(self, rows: int) -> None:
        """Make the id table cover the first ``rows`` rows (built at the first lookup, then extended)."""
        self._table.extend(self.id_sizes, self.id_blocks, self.id_text, rows)

    def indexed(self, rows: int) -> bool:
        return self._table.indexed >= rows

    def find(self, ids: shard_ids.PackedIds, offsets: np.ndarray, rows: int, deleted, found, where, index: int) -> int:
        """For each of ``ids`` (``offsets``: theirs) not found yet (-1 in ``found``), its live row among the first
        ``rows`` into ``found`` and ``index`` into ``where``; ``deleted``: the tombstones of those rows. Returns
        how many were found."""
        self.index(rows)
        lookup = self._table.lookup
        return lookup(
            self.id_sizes, self.id_blocks, self.id_text, rows, deleted, ids.text, offsets, found, where, index
        )

    def video_id(self, row: int) -> str:
        begin = int(shard_ids.text_start(self.id_sizes, self.id_blocks, row))
        return bytes(self.id_text[begin : begin + int(self.id_sizes[row]) + 1]).decode()

    def ids_of(self, rows: np.ndarray) -> shard_ids.PackedIds:
        """The ids of ``rows`` (any order), reading the sizes once."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return shard_ids.PackedIds(np.zeros(0, np.int64), np.zeros(0, np.uint8))
        lengths = self.id_sizes[: int(rows.max()) + 1].astype(np.int64) + 1
        starts = np.cumsum(lengths) - lengths
        return shard_ids.PackedIds(lengths[rows], shard_ids.gather(self.id_text, starts[rows], lengths[rows]))

    def video_ids(self, rows: np.ndarray) -> list[str]:
        return self.ids_of(rows).decode()

    def _reserve(self, start: int, stop: int, text_begin: int, text_end: int) -> None:
        """Allocate disk space for what an append writes: shard files are sparse until written, and writing
        through a memory map into a page the file system cannot allocate kills the process (SIGBUS). Whole
        pages: a page may be larger than a file system block (64 KiB pages on some arm64 kernels)."""
        offsets, widths, descriptor = self.layout.offsets, self.layout.widths, self._file.fileno()
        spans = {column: (start, stop) for column in _ROW_COLUMNS if column in self.layout.columns}
        spans["id_blocks"] = (start // shard_ids.BLOCK_ROWS, (stop - 1) // shard_ids.BLOCK_ROWS + 1)
        spans["id_text"] = (text_begin, text_end)
        for column, (first, last) in spans.items():
            if last > first:
                begin = (offsets[column] + first * widths[column]) // mmap.PAGESIZE * mmap.PAGESIZE
                end = min(
                    -(-(offsets[column] + last * widths[column]) // mmap.PAGESIZE) * mmap.PAGESIZE, offsets["end"]
                )
                os.posix_fallocate(descriptor, begin, end - begin)

    def clear_tail(self, rows: int) -> bool:
        """Clear what lies past ``rows`` (an unacknowledged, possibly torn tail); True when anything was there.

        Columns are cleared on the file's data extents with pread/pwrite, never through the map: touching an
        unallocated page through a map on a full disk kills the process, and the holes hold zeros anyway.
        """
        offsets, widths, entries = self.layout.offsets, self.layout.widths, self.layout.entries
        firsts = {"id_blocks": -(-rows // shard_ids.BLOCK_ROWS), "id_text": self.text_end(rows)}
        written = False
        for column in self.layout.columns:
            begin = offsets[column] + firsts.get(column, rows) * widths[column]
            written |= self._zero(begin, offsets[column] + entries[column] * widths[column])
        return written

    def _zero(self, start: int, stop: int) -> bool:
        """Zero the bytes [start, stop) of the file that hold data; True when any was not zero."""
        descriptor, changed = self._file.fileno(), False
        for extent_start, extent_stop in data_extents(descriptor, start, stop):
            for chunk in range(extent_start, extent_stop, _CHUNK_BYTES):
                data = os.pread(descriptor, min(_CHUNK_BYTES, extent_stop - chunk), chunk)
                if np.frombuffer(data, dtype=np.uint8).any():  # vectorised: a Python any() walks bytes one by one
                    os.pwrite(descriptor, bytes(len(data)), chunk)
                    changed = True
        return changed

    def flush(self) -> None:
        """Make written rows durable (msync + fsync)."""
        self._map.flush()
        os.fsync(self._file.fileno())

    def checksum(self, rows: int, start: int = 0, previous: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """CRC-32 of codes, L2, id sizes, id text, id block offsets and, where kept, the verification descriptors
        and their scales over rows [start, rows), continuing ``previous`` (None: from the start).

        Per column, so appending rows extends the checksums without rereading the shard (each block offset is
        written once, with the block's first row). Tombstones are not covered: they change after a row is
        acknowledged.
        """
        text = self.id_text[self.text_end(start) : self.text_end(rows)]
        blocks = self.id_blocks[-(-start // shard_ids.BLOCK_ROWS) : -(-rows // shard_ids.BLOCK_ROWS)]
        columns = [self.codes[start:rows], self.l2[start:rows], self.id_sizes[start:rows], text, blocks]
        if self.verify is not None:
            columns += [self.verify[start:rows], self.verify_scale[start:rows]]
        previous = previous or (0,) * len(columns)
        return tuple(zlib.crc32(np.ascontiguousarray(column).tobytes(), crc) for column, crc in zip(columns, previous))

    def verification(self, rows: np.ndarray) -> np.ndarray:
        """float32 ``[len(rows), V]``: the verification descriptors of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.verify[rows].astype(np.float32) * self.verify_scale[rows, None]

    def close(self) -> None:
        # numpy views keep the buffer exported; mmap refuses to close then, and the GC frees it later
        with contextlib.suppress(BufferError):
            self._map.close()
        self._file.close()
