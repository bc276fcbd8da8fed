"""Search benchmark: our fused masked top-k scan vs FAISS IndexBinaryFlat vs the memory-bandwidth floor.

For each size: random 128-bit codes in memory; latency of one query (k=100) and of a batch of 32 queries,
plain and masked (FAISS cannot mask); the floor is bytes scanned ÷ the read bandwidth measured in the same
run (a parallel sum over the same bytes). Then a real on-disk library (memory-mapped shards) for storage
bytes per video and mmap search latency.

    python benchmarks/search.py                  # 10M, 100M, 300M (skipped when memory is short)
    python benchmarks/search.py --sizes 1e6 --library-rows 2e5    # a quick look
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from machine import cpu_description, popcount_instructions  # benchmarks/machine.py, beside this script

from deephash.index import Library, masked_topk
from deephash.index.scan import _BLOCK as _BLOCK_ROWS
from deephash.index.scan import _scan_chunk

BITS, K, BATCH = 128, 100, 32


@numba.njit(parallel=True, nogil=True, cache=True)
def _parallel_sum(words: np.ndarray) -> int:
    total = 0
    for index in numba.prange(words.shape[0]):
        total += words[index]
    return total


def timed(function, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def available_bytes() -> int:
    with open("/proc/meminfo") as handle:
        fields = dict(line.split(":", 1) for line in handle)
    return int(fields["MemAvailable"].split()[0]) * 1024


def bench_size(count: int, rng: np.random.Generator, repeats: int) -> dict:
    codes = np.frombuffer(rng.bytes(count * BITS // 8), dtype=np.uint8).reshape(count, BITS // 8)
    deleted = np.zeros(count, dtype=np.uint8)
    queries = np.frombuffer(rng.bytes(BATCH * BITS // 8), dtype=np.uint8).reshape(BATCH, BITS // 8)
    masks = np.frombuffer(rng.bytes(BATCH * BITS // 8), dtype=np.uint8).reshape(BATCH, BITS // 8)
    words = codes.view(np.uint64).reshape(-1)
    bandwidth = codes.nbytes / timed(lambda: _parallel_sum(words), repeats)
    row = {
        "codes": count,
        "floor_1q": codes.nbytes / bandwidth,
        "ours_1q": timed(lambda: masked_topk(codes, deleted, queries[:1], None, K), repeats),
        "ours_1q_masked": timed(lambda: masked_topk(codes, deleted, queries[:1], masks[:1], K), repeats),
        "ours_32q": timed(lambda: masked_topk(codes, deleted, queries, None, K), max(1, repeats // 2)),
        "ours_32q_masked": timed(lambda: masked_topk(codes, deleted, queries, masks, K), max(1, repeats // 2)),
        "bandwidth_gbs": bandwidth / 1e9,
    }
    try:
        import faiss

        index = faiss.IndexBinaryFlat(BITS)
        index.add(codes)
        row["faiss_1q"] = timed(lambda: index.search(queries[:1], K), repeats)
        row["faiss_32q"] = timed(lambda: index.search(queries, K), max(1, repeats // 2))
    except ImportError:
        row["faiss_1q"] = row["faiss_32q"] = float("nan")
    return row  # codes and the FAISS index are freed with this frame


def scan_kernel() -> str:
    """The popcount the scan's per-thread kernel compiled to, for the same argument types as a search.

    Compiled afresh from the same source: numba does not show the assembly of cached code.
    """
    kernel = numba.njit(nogil=True)(_scan_chunk.py_func)
    codes = np.zeros((_BLOCK_ROWS, BITS // 64), dtype=np.uint64)
    queries = np.zeros((1, BITS // 64), dtype=np.uint64)
    heaps = np.full((1, K), np.iinfo(np.int64).max, dtype=np.int64)
    kernel(codes, np.zeros(_BLOCK_ROWS, np.uint8), 0, queries, queries, K, BITS, np.full(1, -1), heaps)
    return popcount_instructions(kernel)


def bench_library(count: int, rng: np.random.Generator, repeats: int) -> dict:
    """A real library of ``count`` rows with ids of 20 characters: import, size, open, lookups and search; beside
    it the same ids in an SQLite table (id primary key → shard, row), the embedded store it replaced."""
    with tempfile.TemporaryDirectory(prefix="deephash-bench-", dir=os.environ.get("BENCH_DIR")) as folder:
        codes = np.frombuffer(rng.bytes(count * BITS // 8), dtype=np.uint8).reshape(count, BITS // 8)
        l1 = rng.integers(0, 8, count)
        ids = [f"vid-{i:016d}" for i in range(count)]  # 20 characters
        started = time.perf_counter()
        with Library.create(Path(folder) / "lib", BITS, "bench") as library:
            library.import_codes(ids, codes, l1, l1, batch=1 << 18)
            import_seconds = time.perf_counter() - started
            stats = library.stats()
        started = time.perf_counter()
        with Library.open(Path(folder) / "lib") as library:
            opened = time.perf_counter() - started
            library.get(ids[count // 2])
            first_lookup = time.perf_counter() - started
            sample = [ids[int(i)] for i in rng.integers(0, count, 1000)]
            lookup = timed(lambda: [library.get(video) for video in sample], 1) / len(sample)
            query = codes[:1]
            search_all = timed(lambda: library.search(query, K), repeats)
            search_group = timed(lambda: library.search(query, K, groups=[int(l1[0])]), repeats)
        peer = bench_sqlite_ids(Path(folder) / "ids.sqlite", ids, l1)
        return {
            "rows": count,
            "import_per_s": count / import_seconds,
            "bytes_per_video": stats["bytes_on_disk"] / count,
            "open_s": opened,
            "first_lookup_s": first_lookup,
            "lookup_s": lookup,
            "search_all": search_all,
            "search_group": search_group,
            **peer,
        }


def bench_sqlite_ids(path: Path, ids: list[str], l1: np.ndarray) -> dict:
    """The peer: the ids alone in SQLite (WAL), inserted in batches of 2^18 rows, looked up by primary key."""
    started = time.perf_counter()
    database = sqlite3.connect(path, isolation_level=None)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("CREATE TABLE ids (video_id TEXT PRIMARY KEY, shard INTEGER NOT NULL, row INTEGER NOT NULL)")
    for start in range(0, len(ids), 1 << 18):
        database.execute("BEGIN")
        rows = zip(ids[start : start + (1 << 18)], l1[start : start + (1 << 18)].tolist(), range(start, len(ids)))
        database.executemany("INSERT INTO ids VALUES (?, ?, ?)", rows)
        database.execute("COMMIT")
    seconds = time.perf_counter() - started
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sample = ids[:: max(1, len(ids) // 1000)]
    lookup = timed(
        lambda: [database.execute("SELECT shard, row FROM ids WHERE video_id = ?", (v,)).fetchone() for v in sample], 1
    )
    database.close()
    return {"sqlite_import_per_s": len(ids) / seconds, "sqlite_bytes_per_video": path.stat().st_size / len(ids),
            "sqlite_lookup_s": lookup / len(sample)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e7,1e8,3e8", help="comma-separated code counts")
    parser.add_argument("--library-rows", type=float, default=2e6, help="rows of the on-disk library")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(cpu_description())
    print(f"threads: {numba.get_num_threads()}, k={K}, batch={BATCH}, {BITS}-bit codes")
    header = (
        f"{'codes':>12} {'GB/s':>6} {'floor 1q':>9} {'ours 1q':>9} {'x floor':>8} {'masked 1q':>10}"
        f" {'faiss 1q':>9} {'x faiss':>8} {'ours 32q':>9} {'masked 32q':>11} {'faiss 32q':>10} {'x faiss':>8}"
    )
    print(header)
    for size in (int(float(value)) for value in args.sizes.split(",")):
        needed = size * BITS // 8 * 2.2  # codes + FAISS's copy + slack
        if needed > available_bytes():
            print(f"{size:>12,} skipped: needs ~{needed / 1e9:.1f} GB, {available_bytes() / 1e9:.1f} GB available")
            continue
        r = bench_size(size, rng, args.repeats)
        gc.collect()
        print(
            f"{size:>12,} {r['bandwidth_gbs']:>6.1f} {r['floor_1q'] * 1e3:>7.1f}ms {r['ours_1q'] * 1e3:>7.1f}ms"
            f" {r['ours_1q'] / r['floor_1q']:>7.2f}x {r['ours_1q_masked'] * 1e3:>8.1f}ms"
            f" {r['faiss_1q'] * 1e3:>7.1f}ms {r['ours_1q'] / r['faiss_1q']:>7.2f}x"
            f" {r['ours_32q'] * 1e3:>7.0f}ms {r['ours_32q_masked'] * 1e3:>9.0f}ms {r['faiss_32q'] * 1e3:>8.0f}ms"
            f" {r['ours_32q'] / r['faiss_32q']:>7.2f}x",
            flush=True,
        )
        print(f"kernel: numba fused block scan, {scan_kernel()}")
    if args.library_rows:
        lib = bench_library(int(args.library_rows), rng, args.repeats)
        print(
            f"library on disk: {lib['rows']:,} rows, ids of 20 characters, 8 groups\n"
            f"  import {lib['import_per_s']:,.0f} rows/s ({lib['import_per_s'] / lib['sqlite_import_per_s']:.2f}x the"
            f" ids alone into SQLite: {lib['sqlite_import_per_s']:,.0f} rows/s)\n"
            f"  {lib['bytes_per_video']:.1f} bytes/video on disk in all (codes alone: {BITS // 8}; the ids alone in"
            f" SQLite: {lib['sqlite_bytes_per_video']:.1f})\n"
            f"  open {lib['open_s'] * 1e3:.1f} ms, first lookup by id (builds the id tables)"
            f" {lib['first_lookup_s'] * 1e3:.0f} ms, then {lib['lookup_s'] * 1e6:.0f} us per lookup"
            f" (SQLite {lib['sqlite_lookup_s'] * 1e6:.0f} us)\n"
            f"  search k={K}: all groups {lib['search_all'] * 1e3:.1f} ms, one of 8 groups"
            f" {lib['search_group'] * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
