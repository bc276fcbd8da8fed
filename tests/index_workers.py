"""Processes for the crash and concurrency tests: ``writer DIR START`` appends forever and prints what
was acknowledged; ``reader DIR SECONDS`` checks every row of every snapshot it sees.

A code is self-checking: video number (int64), version (uint32) and the CRC-32 of those 12 bytes, so a
torn or mixed row cannot pass for a real one.
"""

from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path

import numpy as np

from deephash.index import Library


def make_code(number: int, version: int) -> np.ndarray:
    head = np.array([number], dtype="<i8").tobytes() + np.array([version], dtype="<u4").tobytes()
    return np.frombuffer(head + np.array([zlib.crc32(head)], dtype="<u4").tobytes(), dtype=np.uint8).copy()


def make_descriptor(number: int, version: int, dims: int) -> np.ndarray:
    """The verification descriptor that goes with ``make_code(number, version)`` (unit length)."""
    descriptor = np.random.default_rng((number, version)).standard_normal(dims)
    return (descriptor / np.linalg.norm(descriptor)).astype(np.float32)


def read_code(code: np.ndarray) -> tuple[int, int] | None:
    """(number, version) of a well-formed code, None for a torn one."""
    raw = bytes(code)
    if zlib.crc32(raw[:12]) != int(np.frombuffer(raw[12:], dtype="<u4")[0]):
        return None
    return int(np.frombuffer(raw[:8], dtype="<i8")[0]), int(np.frombuffer(raw[8:12], dtype="<u4")[0])


def writer(folder: Path, start: int) -> None:
    rng = np.random.default_rng(start)
    number = start
    with Library.open(folder, writable=True) as library:
        for line in library.recovery:
            print("recovery", line, flush=True)
        versions: dict[int, int] = {}
        while True:
            batch = list(range(number, number + 20))
            number += 20
            replaced = [int(n) for n in rng.integers(0, number, 3) if int(n) in versions]
            items = [(n, 0) for n in batch] + [(n, versions[n] + 1) for n in replaced]
            dims = library.verify_dims
            library.add_many(
                [str(n) for n, _ in items],
                np.stack([make_code(n, v) for n, v in items]),
                np.array([n % 3 for n, _ in items]),
                np.array([n % 7 for n, _ in items]),
                np.stack([make_descriptor(n, v, dims) for n, v in items]) if dims else None,
            )
            for n, v in items:
                versions[n] = v
            print("ack", " ".join(f"{n}:{v}" for n, v in items), flush=True)


def reader(folder: Path, seconds: float) -> None:
    deadline, snapshots, rows = time.monotonic() + seconds, 0, 0
    with Library.open(folder) as library:
        while time.monotonic() < deadline:
            library.refresh()
            snapshots += 1
            for shard in library.shard_rows():
                for code, video in zip(shard.codes, shard.shard.video_ids(np.arange(len(shard.codes)))):
                    rows += 1
                    if read_code(code) is None or read_code(code)[0] != int(video):
                        print(f"torn row in {shard.name}", flush=True)
                        sys.exit(1)
    print(f"ok {snapshots} snapshots {rows} rows", flush=True)


if __name__ == "__main__":
    mode, folder, value = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    writer(folder, int(value)) if mode == "writer" else reader(folder, float(value))
