"""Video ids: what an id may be, and where the live row of a video is.

A row's id is stored in its shard, beside its code (``shard.py``, ``shard_ids.py``); finding a video asks each
shard's table, since a video's row can be in any group's shards and a replaced video has tombstoned rows too.
"""

from __future__ import annotations

from dataclasses import dataclass

from deephash.errors import InvalidRequest

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
    """Where the live row of one video is: its shard file, row in that shard, and its categories."""

    shard: str
    row: int
    l1: int
    l2: int
