"""One shard: a fixed-capacity file of rows of one L1 group, describing itself in a header.

Layout (little-endian, each column a contiguous region so a scan reads only what it needs)::

    [0, 4096)                 header: JSON {"magic", "format", "code_bytes", "capacity", "group"}, NUL-padded
    codes   uint8 [C, L/8]    packed codes
    keys    int64 [C]         internal video keys (0 = never written)
    l2      int16 [C]         global L2 category
    deleted uint8 [C]         1 = tombstone

How many rows are acknowledged is not in the shard but in the library's manifest: rows past that count are
an unacknowledged (possibly torn) tail that the next append overwrites.
"""

from __future__ import annotations

import contextlib
import errno
import json
import mmap
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.errors import LibraryError

MAGIC = "deephash-shard"
FORMAT = 1
HEADER_BYTES = 4096
_CHUNK_BYTES = 1 << 23  # a multiple of every column's width


@dataclass(frozen=True)
class ShardLayout:
    code_bytes: int
    capacity: int

    @property
    def offsets(self) -> dict[str, int]:
        codes = HEADER_BYTES
        keys = codes + self.capacity * self.code_bytes
        keys += -keys % 8
        l2 = keys + self.capacity * 8
        deleted = l2 + self.capacity * 2
        return {"codes": codes, "keys": keys, "l2": l2, "deleted": deleted, "end": deleted + self.capacity}

    @property
    def file_bytes(self) -> int:
        return self.offsets["end"]


def create_shard(path: Path, code_bytes: int, capacity: int, group: int) -> None:
    """A new, zero-filled shard file (sparse until written), durable before it is referenced."""
    layout = ShardLayout(code_bytes, capacity)
    header = json.dumps(
        {"magic": MAGIC, "format": FORMAT, "code_bytes": code_bytes, "capacity": capacity, "group": group}
    ).encode()
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(header.ljust(HEADER_BYTES, b"\0"))
        handle.truncate(layout.file_bytes)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_header(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            header = json.loads(handle.read(HEADER_BYTES).rstrip(b"\0"))
    except (OSError, ValueError) as error:
        raise LibraryError(f"cannot read shard {path}: {error}") from error
    if header.get("magic") != MAGIC or header.get("format") != FORMAT:
        raise LibraryError(f"{path} is not a deephash shard of format {FORMAT}")
    return header


class Shard:
    """Column views of one shard file, memory-mapped read-only or read-write."""

    def __init__(self, path: Path, writable: bool = False) -> None:
        header = read_header(path)
        self.path = path
        self.group = int(header["group"])
        self.layout = ShardLayout(int(header["code_bytes"]), int(header["capacity"]))
        if path.stat().st_size != self.layout.file_bytes:
            raise LibraryError(f"{path} has {path.stat().st_size} bytes, its header says {self.layout.file_bytes}")
        self._file = path.open("r+b" if writable else "rb")
        access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
        self._map = mmap.mmap(self._file.fileno(), 0, access=access)
        buffer = np.frombuffer(self._map, dtype=np.uint8)
        if not writable:
            buffer = buffer.view()
            buffer.flags.writeable = False
        offsets, capacity = self.layout.offsets, self.layout.capacity
        self.codes = buffer[offsets["codes"] : offsets["keys"]][: capacity * self.layout.code_bytes]
        self.codes = self.codes.reshape(capacity, self.layout.code_bytes)
        self.keys = buffer[offsets["keys"] : offsets["l2"]].view(np.int64)
        self.l2 = buffer[offsets["l2"] : offsets["deleted"]].view(np.int16)
        self.deleted = buffer[offsets["deleted"] : offsets["end"]]

    @property
    def capacity(self) -> int:
        return self.layout.capacity

    def reserve(self, start: int, stop: int) -> None:
        """Allocate disk space for rows [start, stop) of every column before they are written.

        A shard file is sparse until written, and writing through a memory map into a page the file system
        cannot allocate kills the process (SIGBUS) instead of failing. Allocating first turns a full disk into
        an ``OSError`` (ENOSPC) that the write path can undo.
        """
        offsets, widths = self.layout.offsets, (self.layout.code_bytes, 8, 2, 1)
        for column, width in zip(("codes", "keys", "l2", "deleted"), widths):
            os.posix_fallocate(self._file.fileno(), offsets[column] + start * width, (stop - start) * width)

    def clear_tail(self, rows: int) -> int:
        """Zero every column past ``rows`` (an unacknowledged, possibly torn tail); returns how many keys past
        ``rows`` were set. Works on the file's data extents with pread/pwrite, never through the map: touching
        an unallocated page through a map on a full disk kills the process, and the holes hold zeros anyway.
        """
        descriptor, offsets, found = self._file.fileno(), self.layout.offsets, 0
        columns = (("codes", "keys", self.layout.code_bytes), ("keys", "l2", 8), ("l2", "deleted", 2))
        for column, following, width in (*columns, ("deleted", "end", 1)):
            start, stop = offsets[column] + rows * width, offsets[following]
            for extent_start, extent_stop in _data_extents(descriptor, start, stop):
                for chunk in range(extent_start, extent_stop, _CHUNK_BYTES):
                    data = os.pread(descriptor, min(_CHUNK_BYTES, extent_stop - chunk), chunk)
                    if column == "keys":
                        found += int(np.count_nonzero(np.frombuffer(data, dtype=np.int64)))
                    if any(data):
                        os.pwrite(descriptor, bytes(len(data)), chunk)
        return found

    def flush(self) -> None:
        """Make written rows durable (msync + fsync)."""
        self._map.flush()
        os.fsync(self._file.fileno())

    def checksum(self, rows: int, start: int = 0, previous: tuple[int, ...] = (0, 0, 0)) -> tuple[int, ...]:
        """CRC-32 of each column (codes, keys, L2) over rows [start, rows), continuing ``previous``.

        Per column, so appending rows extends the checksums without rereading the shard. Tombstones are not
        covered: they change after a row is acknowledged.
        """
        return tuple(
            zlib.crc32(np.ascontiguousarray(column[start:rows]).tobytes(), crc)
            for column, crc in zip((self.codes, self.keys, self.l2), previous)
        )

    def close(self) -> None:
        # numpy views keep the buffer exported; mmap refuses to close then, and the GC frees it later
        with contextlib.suppress(BufferError):
            self._map.close()
        self._file.close()


def _data_extents(descriptor: int, start: int, stop: int):
    """(start, stop) of the regions of [start, stop) that hold data, by SEEK_DATA/SEEK_HOLE."""
    position = start
    while position < stop:
        try:
            data = os.lseek(descriptor, position, os.SEEK_DATA)
        except OSError as error:
            if error.errno == errno.ENXIO:  # no data past ``position``
                return
            raise
        if data >= stop:
            return
        hole = os.lseek(descriptor, data, os.SEEK_HOLE)
        yield max(data, start), min(hole, stop)
        position = hole
