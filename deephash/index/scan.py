"""Masked Hamming top-k, fused into one compiled pass over the codes (numba, parallel, no GIL).

Distance: ``popcount((q XOR d) AND mask)`` over the code's 64-bit words. Top-k is kept during the scan in a
small per-chunk max-heap keyed by ``distance * 2^40 + row``: most rows fail the comparison with the heap's
top and cost nothing more, so there is no full sort and no ``argpartition`` over all rows, and ties are
broken by row, deterministically. A batch of queries is answered in one pass over memory: each block of
rows is read once and compared with every query while it is in cache.

:func:`reference_topk` is the brute-force NumPy reference every fast path is tested against.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from deephash.codes import hamming

ROW_BITS = 40  # rows per shard < 2^40; distance occupies the bits above
NO_RESULT = np.int64(-1)
_BLOCK = 512  # rows per block: small, so blocks holding a candidate cost little to re-scan


@intrinsic
def _popcount64(typingctx, value):
    """LLVM ``ctpop``: one POPCNT instruction on CPUs that have it."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])

    return signature, codegen


@numba.njit(inline="always")
def _sift_down(keys: np.ndarray, size: int) -> None:
    """Restore the max-heap property after the root of ``keys[:size]`` was replaced."""
    position = 0
    while True:
        left = 2 * position + 1
        if left >= size:
            return
        largest = left
        if left + 1 < size and keys[left + 1] > keys[left]:
            largest = left + 1
        if keys[largest] <= keys[position]:
            return
        keys[position], keys[largest] = keys[largest], keys[position]
        position = largest


@numba.njit(inline="always")
def _sift_up(keys: np.ndarray, position: int) -> None:
    while position > 0:
        parent = (position - 1) // 2
        if keys[parent] >= keys[position]:
            return
        keys[parent], keys[position] = keys[position], keys[parent]
        position = parent


@numba.njit(nogil=True, inline="always")
def _distance(words, width, row, query, mask) -> np.int32:
    if width == 2:  # the 128-bit default: no inner loop
        return np.int32(
            _popcount64((words[2 * row] ^ query[0]) & mask[0]) + _popcount64((words[2 * row + 1] ^ query[1]) & mask[1])
        )
    total = np.uint64(0)
    for word in range(width):
        total += _popcount64((words[row * width + word] ^ query[word]) & mask[word])
    return np.int32(total)


@numba.njit(nogil=True, inline="always")
def _block_min_distance(block, width, query, mask) -> np.int32:
    """The smallest distance among the rows of ``block`` (flat uint64 words, ``width`` per row).

    Most blocks hold no candidate once the heap is full and are done here, so this loop sets the scan's
    speed; the rest are scanned again (from cache) by the selection loop. Its indices count from 0 within
    a block slice: numba then knows they are never negative and skips its wrap-around arithmetic, which
    is what lets LLVM vectorise the loop with contiguous loads (AVX-512 ``vpopcntq`` where the CPU has it)
    instead of gathers.
    """
    lowest = np.uint64(np.iinfo(np.int32).max)
    if width == 2:  # the 128-bit default: query and mask words held in registers
        query0, query1, mask0, mask1 = query[0], query[1], mask[0], mask[1]
        for row in range(len(block) // 2):
            distance = _popcount64((block[2 * row] ^ query0) & mask0) + _popcount64(
                (block[2 * row + 1] ^ query1) & mask1
            )
            lowest = min(lowest, distance)
        return np.int32(lowest)
    for row in range(len(block) // width):
        lowest = min(lowest, np.uint64(_distance(block, width, row, query, mask)))
    return np.int32(lowest)


@numba.njit(nogil=True, cache=True)
def _scan_chunk(
    codes: np.ndarray,  # uint64 [n, W]: one thread's contiguous share of the rows
    deleted: np.ndarray,  # uint8 [n]
    first_row: int,  # row number of codes[0] in the whole array
    queries: np.ndarray,
    masks: np.ndarray,
    k: int,
    max_distance: int,
    exclude_row: np.ndarray,
    heaps: np.ndarray,  # int64 [Q, k], filled with the empty key
) -> None:
    """One thread's share, a block of rows at a time, compared with every query while it is in cache.

    A function of its own rather than the body of the ``prange`` loop: LLVM optimises the loops of a plain
    function far better than the same loops inlined in a parallel region.
    """
    count, width = codes.shape
    words = codes.reshape(-1)
    sizes = np.zeros(queries.shape[0], dtype=np.int64)
    for block in range(0, count, _BLOCK):
        block_stop = min(count, block + _BLOCK)
        for q in range(queries.shape[0]):
            heap = heaps[q]
            size = sizes[q]
            # distances above the heap's top cannot enter: a tight bound after the first k rows
            # (int32 throughout: mixing uint64 and int64 would make numba compare as floats)
            bound = np.int32(max_distance if size < k else min(max_distance, heap[0] >> ROW_BITS))
            block_words = words[block * width : block_stop * width]
            if _block_min_distance(block_words, width, queries[q], masks[q]) > bound:
                continue
            for offset in range(block_stop - block):
                distance = _distance(block_words, width, offset, queries[q], masks[q])
                index = block + offset
                row = first_row + index
                if distance > bound or deleted[index] or row == exclude_row[q]:
                    continue
                key = (np.int64(distance) << ROW_BITS) | row
                if size < k:
                    heap[size] = key
                    _sift_up(heap, size)
                    size += 1
                elif key < heap[0]:
                    heap[0] = key
                    _sift_down(heap, k)
                else:
                    continue
                if size == k:
                    bound = np.int32(min(max_distance, heap[0] >> ROW_BITS))
            sizes[q] = size


@numba.njit(nogil=True, parallel=True, cache=True)
def _scan(
    codes: np.ndarray,  # uint64 [N, W]
    deleted: np.ndarray,  # uint8 [N] (1 = tombstone)
    queries: np.ndarray,  # uint64 [Q, W]
    masks: np.ndarray,  # uint64 [Q, W]
    k: int,
    max_distance: int,
    exclude_row: np.ndarray,  # int64 [Q], -1 = none
    chunks: int,
) -> np.ndarray:
    """Per chunk and query, the k smallest keys ``distance << 40 | row`` (unsorted; empty = max int64)."""
    count = codes.shape[0]
    heaps = np.full((chunks, queries.shape[0], k), np.iinfo(np.int64).max, dtype=np.int64)
    per_chunk = (count + chunks - 1) // chunks
    for chunk in numba.prange(chunks):
        start = chunk * per_chunk
        stop = min(count, start + per_chunk)
        _scan_chunk(
            codes[start:stop], deleted[start:stop], start, queries, masks, k, max_distance, exclude_row, heaps[chunk]
        )
    return heaps


def masked_topk(
    codes: np.ndarray,
    deleted: np.ndarray,
    queries: np.ndarray,
    masks: np.ndarray | None,
    k: int,
    max_distance: int | None = None,
    exclude_rows: np.ndarray | None = None,
    threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of ``codes`` (packed uint8 ``[N, L/8]``) for each query (``[Q, L/8]``).

    Returns ``rows int64 [Q, k]`` and ``distances int32 [Q, k]``, ordered by (distance, row); missing
    results (fewer than k rows within ``max_distance``) are row -1, distance -1.
    """
    codes64 = as_words(codes)
    queries64 = as_words(np.atleast_2d(queries))
    masks64 = np.full_like(queries64, np.iinfo(np.uint64).max) if masks is None else as_words(np.atleast_2d(masks))
    query_count = len(queries64)
    if masks64.shape != queries64.shape:
        masks64 = np.broadcast_to(masks64, queries64.shape).copy()
    bits = codes64.shape[1] * 64
    limit = bits if max_distance is None else int(max_distance)
    exclude = np.full(query_count, -1, dtype=np.int64) if exclude_rows is None else exclude_rows.astype(np.int64)
    # one chunk (and heap) per thread: every extra heap repeats the warm-up while its bound is loose
    chunks = max(1, min(threads or numba.get_num_threads(), len(codes64) // _BLOCK or 1))
    if len(codes64) == 0 or k <= 0:
        return _empty(query_count, max(k, 0))
    heaps = _scan(codes64, deleted.view(np.uint8), queries64, masks64, k, limit, exclude, chunks)
    return _merge(heaps, k)


def as_words(codes: np.ndarray) -> np.ndarray:
    """Packed uint8 codes ``[N, L/8]`` viewed as native uint64 words ``[N, L/64]`` (no copy when contiguous).

    The byte order inside a word does not matter for XOR/AND/popcount, as long as queries, masks and
    codes are viewed alike.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if codes.shape[-1] % 8:
        raise ValueError(f"code length {codes.shape[-1] * 8} bits is not a multiple of 64")
    return codes.view(np.uint64)


def _merge(heaps: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.sort(heaps.transpose(1, 0, 2).reshape(heaps.shape[1], -1), axis=1)[:, :k]
    valid = keys != np.iinfo(np.int64).max
    rows = np.where(valid, keys & ((1 << ROW_BITS) - 1), NO_RESULT)
    distances = np.where(valid, keys >> ROW_BITS, -1).astype(np.int32)
    return rows, distances


def _empty(queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((queries, k), NO_RESULT, dtype=np.int64), np.full((queries, k), -1, dtype=np.int32)


def reference_topk(
    codes: np.ndarray,
    deleted: np.ndarray,
    queries: np.ndarray,
    masks: np.ndarray | None,
    k: int,
    max_distance: int | None = None,
    exclude_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute force in NumPy: every distance, then a stable sort. Slow; the definition of correct."""
    queries = np.atleast_2d(queries)
    rows_out, distances_out = _empty(len(queries), k)
    for q, query in enumerate(queries):
        mask = None if masks is None else np.atleast_2d(masks)[q if np.atleast_2d(masks).shape[0] > 1 else 0]
        distances = hamming(codes, query, mask)
        keep = deleted == 0
        if max_distance is not None:
            keep &= distances <= max_distance
        if exclude_rows is not None and exclude_rows[q] >= 0:
            keep[exclude_rows[q]] = False
        candidates = np.flatnonzero(keep)
        order = candidates[np.argsort(distances[candidates], kind="stable")][:k]
        rows_out[q, : len(order)] = order
        distances_out[q, : len(order)] = distances[order]
    return rows_out, distances_out
