"""The video ids stored in a shard: where each id's text lies, and the hash table that finds a row by its id.

An id's text offset is kept once per block of :data:`BLOCK_ROWS` rows, plus one byte of size per row. The
table (:class:`IdTable`) maps a hash of an id to ``row + 1`` by linear probing; each slot holds 32 bits of the
hash beside the row, so that a probe compares id text only when those agree (ids of one length differ in a few
characters) and an insert touches one cache line; it lives in memory,
is built from the shard's columns at the first lookup and extended as rows are acknowledged. Compiled with
numba: every new id of a bulk import is looked up in every shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

BLOCK_ROWS = 64
MAX_LOAD = 0.75  # a table is rebuilt when it would hold more, to half full
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@dataclass(frozen=True)
class PackedIds:
    """Video ids as one UTF-8 buffer and each one's length: how ids travel to and between shards without a
    Python object per id."""

    lengths: np.ndarray  # int64 [n]
    text: np.ndarray  # uint8 [sum(lengths)]

    @classmethod
    def of(cls, video_ids: Sequence[str]) -> PackedIds:
        encoded = [video.encode() for video in video_ids]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        return cls(lengths, np.frombuffer(b"".join(encoded), dtype=np.uint8))

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def offsets(self) -> np.ndarray:
        """``[n + 1]``: id ``i`` is ``text[offsets[i]:offsets[i + 1]]``."""
        return np.concatenate([[0], np.cumsum(self.lengths)])

    def take(self, indices: np.ndarray) -> PackedIds:
        """The ids at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        return PackedIds(lengths, gather(self.text, self.offsets[:-1][indices], lengths))

    def decode(self) -> list[str]:
        data, ends = self.text.tobytes(), np.cumsum(self.lengths).tolist()
        return [data[end - length : end].decode() for end, length in zip(ends, self.lengths.tolist())]


def write_ids(sizes, blocks, text, start: int, ids: PackedIds, text_begin: int) -> None:
    """Sizes, block offsets and text of rows ``[start, start + len(ids))`` (space already allocated)."""
    sizes[start : start + len(ids)] = ids.lengths - 1
    text[text_begin : text_begin + len(ids.text)] = ids.text
    rows = np.arange(start, start + len(ids))
    firsts = np.flatnonzero(rows % BLOCK_ROWS == 0)
    blocks[rows[firsts] // BLOCK_ROWS] = text_begin + ids.offsets[firsts]


@numba.njit(nogil=True, cache=True)
def gather(text: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The slices ``text[starts[i]:starts[i] + lengths[i]]``, back to back."""
    out = np.empty(lengths.sum(), dtype=np.uint8)
    position = 0
    for index in range(len(starts)):
        out[position : position + lengths[index]] = text[starts[index] : starts[index] + lengths[index]]
        position += lengths[index]
    return out


class IdTable:
    """id → row of one shard's first ``indexed`` rows (rows past a reader's snapshot are passed over)."""

    def __init__(self) -> None:
        self.slots = np.zeros(0, dtype=np.uint64)  # hash tag << 32 | row + 1; 0 = empty
        self.indexed = 0

    def extend(self, sizes: np.ndarray, blocks: np.ndarray, text: np.ndarray, rows: int) -> None:
        """Index rows ``[indexed, rows)``; a table that would be more than :data:`MAX_LOAD` full is rebuilt
        half full (releases the GIL: shards are indexed in parallel)."""
        if rows <= self.indexed:
            return
        if rows > MAX_LOAD * len(self.slots):
            self.slots = np.zeros(max(64, 2 * rows), dtype=np.uint64)
            self.indexed = 0
        _insert_rows(self.slots, sizes, blocks, text, self.indexed, rows)
        self.indexed = rows

    def lookup(self, sizes, blocks, text, rows: int, deleted, buffer, offsets, found, where, shard: int) -> int:
        return _lookup(self.slots, sizes, blocks, text, rows, deleted, buffer, offsets, found, where, shard)


@numba.njit(nogil=True, cache=True)
def _hash(buffer: np.ndarray, start: int, stop: int) -> np.uint64:
    """FNV-1a, then MurmurHash3's finaliser: FNV alone leaves the high bits of ids that differ only in their
    last characters too alike, and linear probing clusters on that."""
    value = _FNV_OFFSET
    for position in range(start, stop):
        value = (value ^ np.uint64(buffer[position])) * _FNV_PRIME
    value ^= value >> np.uint64(33)
    value *= np.uint64(0xFF51AFD7ED558CCD)
    value ^= value >> np.uint64(33)
    value *= np.uint64(0xC4CEB9FE1A85EC53)
    return value ^ (value >> np.uint64(33))


@numba.njit(nogil=True, cache=True)
def _home(hash_value: np.uint64, slot_count: int) -> int:
    """The first slot to probe: the top 32 bits of the hash scaled to the table (no modulo)."""
    return np.int64(((hash_value >> np.uint64(32)) * np.uint64(slot_count)) >> np.uint64(32))


@numba.njit(nogil=True, cache=True)
def _tag(hash_value: np.uint64) -> np.uint64:
    return (hash_value & np.uint64(0xFFFFFFFF)) << np.uint64(32)


@numba.njit(nogil=True, cache=True)
def text_start(sizes: np.ndarray, blocks: np.ndarray, row: int) -> int:
    """Where row ``row``'s id starts in the text, i.e. where the ids of all rows before it end."""
    if row == 0:
        return 0
    last = row - 1
    first = last - last % BLOCK_ROWS
    offset = blocks[first // BLOCK_ROWS]
    for previous in range(first, row):
        offset += int(sizes[previous]) + 1
    return offset


_LOOKAHEAD = 16  # rows whose home slot is read ahead of their insert


@numba.njit(nogil=True, cache=True)
def _insert_rows(slots, sizes, blocks, text, start: int, stop: int) -> bool:
    """Insert rows ``[start, stop)``. Homes are computed first and each one's slot is read a few rows ahead
    of its insert, so that the memory reads of several inserts overlap instead of waiting one by one."""
    count = len(slots)
    homes = np.empty(stop - start, dtype=np.int64)
    values = np.empty(stop - start, dtype=np.uint64)
    offset = text_start(sizes, blocks, start)
    for index in range(stop - start):
        size = int(sizes[start + index]) + 1
        hash_value = _hash(text, offset, offset + size)
        homes[index], values[index] = _home(hash_value, count), _tag(hash_value) | np.uint64(start + index + 1)
        offset += size
    touched = np.uint64(0)
    for index in range(stop - start):
        if index + _LOOKAHEAD < stop - start:
            touched |= slots[homes[index + _LOOKAHEAD]]
        slot = homes[index]
        while slots[slot] != 0:
            slot = slot + 1 if slot + 1 < count else 0
        slots[slot] = values[index]
    return touched != 0  # keeps the reads ahead from being optimised away


@numba.njit(nogil=True, cache=True)
def _same_id(text, sizes, blocks, row, buffer, start, stop) -> bool:
    if int(sizes[row]) + 1 != stop - start:
        return False
    begin = text_start(sizes, blocks, row)
    for offset in range(stop - start):  # noqa: SIM110 (numba compiles loops, not all() over a generator)
        if text[begin + offset] != buffer[start + offset]:
            return False
    return True


@numba.njit(nogil=True, cache=True)
def _lookup(slots, sizes, blocks, text, rows, deleted, buffer, offsets, found, where, shard) -> int:
    """For each id whose ``found`` entry is still -1: its live row among the first ``rows`` into ``found`` and
    ``shard`` into ``where``; returns how many were found."""
    count, newly = len(slots), 0
    if count == 0:
        return 0
    for index in range(len(offsets) - 1):
        if found[index] >= 0:
            continue
        start, stop = offsets[index], offsets[index + 1]
        hash_value = _hash(buffer, start, stop)
        slot, tag = _home(hash_value, count), _tag(hash_value)
        while slots[slot] != 0:
            row = np.int64(slots[slot] & np.uint64(0xFFFFFFFF)) - 1
            same_tag = slots[slot] & np.uint64(0xFFFFFFFF00000000) == tag
            if (
                same_tag
                and row < rows
                and deleted[row] == 0
                and _same_id(text, sizes, blocks, row, buffer, start, stop)
            ):
                found[index], where[index] = row, shard
                newly += 1
                break
            slot = slot + 1 if slot + 1 < count else 0
    return newly
