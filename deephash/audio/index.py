"""Audio codes in an index of their own: a second signal type over the same storage engine as video codes.

Audio codes have no categories, so every row lives in the engine's one partition and searches scan all of
it; the index's version is the fingerprint's definition, so codes of another definition are refused like
video codes of another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deephash.index import Library

AUDIO_BITS = 128
AUDIO_SIGNAL_VERSION = "audio-fingerprint-v1"
_PARTITION = 0  # the engine groups rows by category; audio rows all go to one group


@dataclass(frozen=True)
class AudioHit:
    video_id: str
    distance: int


class AudioIndex:
    def __init__(self, library: Library) -> None:
        self.library = library

    @classmethod
    def open(cls, folder: Path) -> AudioIndex:
        """Open the audio index at ``folder`` for writing, creating it when absent."""
        return cls(Library.open_or_create(folder, AUDIO_BITS, AUDIO_SIGNAL_VERSION))

    def close(self) -> None:
        self.library.close()

    def __len__(self) -> int:
        return len(self.library)

    def __contains__(self, video_id: str) -> bool:
        return video_id in self.library

    def add(self, video_id: str, code: np.ndarray) -> str:
        return self.library.add(video_id, code, _PARTITION, _PARTITION)

    def add_many(self, video_ids: list[str], codes: np.ndarray) -> None:
        """One durable commit for many rows (a bulk job's batch)."""
        partitions = np.full(len(video_ids), _PARTITION)
        self.library.add_many(video_ids, codes, partitions, partitions)

    def get(self, video_id: str) -> np.ndarray:
        return self.library.get(video_id).code

    def codes(self, video_ids: list[str]) -> dict[str, np.ndarray]:
        """The codes of those of ``video_ids`` the index holds (one lookup for all)."""
        return {video: stored.code for video, stored in self.library.get_many(video_ids).items()}

    def remove(self, video_id: str) -> bool:
        return self.library.remove(video_id)

    def search(self, code: np.ndarray, k: int, radius: int | None = None, exclude: str | None = None) -> list[AudioHit]:
        hits = self.library.search(code, k, max_distance=radius, exclude=[exclude])[0]
        return [AudioHit(hit.video_id, hit.distance) for hit in hits]

    def stats(self) -> dict:
        return self.library.stats()
