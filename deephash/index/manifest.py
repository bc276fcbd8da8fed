"""The library manifest: the one file that says which rows are acknowledged.

Written atomically (temporary file, fsync, rename, fsync of the folder), so after a crash it is either the
old or the new version, never a mixture. A write is acknowledged when its manifest is on disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deephash.errors import LibraryError

MANIFEST_FILE = "manifest.json"
FORMAT = 2  # 2: video ids in the shards (format 1 kept them in ids.sqlite)


def fsync_path(path: Path) -> None:
    """Make a file or a folder's entries (a rename into it) durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass
class ShardEntry:
    name: str
    group: int
    rows: int = 0
    deleted: int = 0
    checksum: list[int] = field(default_factory=lambda: [0] * 5)


@dataclass
class Manifest:
    code_bits: int
    model_version: str
    shard_capacity: int
    generation: int = 0
    next_shard: int = 0
    shards: list[ShardEntry] = field(default_factory=list)
    # rows tombstoned by the last write; applied to the shard files after this manifest is durable, and
    # again on open (idempotent), so a crash between the two cannot resurrect a replaced row
    pending_tombstones: list[tuple[str, int]] = field(default_factory=list)
    format: int = FORMAT
    # dimensions of each row's verification descriptor (shard column ``verify``); 0: the library keeps none and
    # searches by its codes alone (libraries made before the descriptor existed read as 0)
    verify_dims: int = 0

    @property
    def code_bytes(self) -> int:
        return self.code_bits // 8

    @property
    def rows(self) -> int:
        return sum(entry.rows for entry in self.shards)

    @property
    def live_rows(self) -> int:
        return sum(entry.rows - entry.deleted for entry in self.shards)

    def save(self, folder: Path) -> None:
        temporary = folder / (MANIFEST_FILE + ".tmp")
        with temporary.open("w") as handle:
            json.dump(asdict(self), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, folder / MANIFEST_FILE)
        fsync_path(folder)

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise LibraryError(f"no library at {folder} ({MANIFEST_FILE} missing); create one first")
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise LibraryError(f"{path} is not valid JSON: {error}") from error
        if data.get("format") == 1:
            raise LibraryError(
                f"{folder} is a library of format 1: copy it into format {FORMAT} with `deephash index upgrade`"
            )
        if data.get("format") != FORMAT:
            raise LibraryError(f"{path}: library format {data.get('format')}, this deephash reads {FORMAT}")
        data["shards"] = [ShardEntry(**entry) for entry in data["shards"]]
        data["pending_tombstones"] = [tuple(item) for item in data["pending_tombstones"]]
        return cls(**data)
