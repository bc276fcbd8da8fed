"""The regions of a sparse file that hold data: shard files are sparse until written, and clearing a torn tail
reads and rewrites only what was written, never the holes (touching an unallocated page on a full disk fails)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator


def data_extents(descriptor: int, start: int, stop: int) -> Iterator[tuple[int, int]]:
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
