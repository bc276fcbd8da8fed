"""The online flow of the service, as a library: sample uploads, keep video and audio codes in two
libraries, search either or both, add idempotently (the caller asks ``video_id in catalog`` first, so a
stored video is never re-hashed), remove, look up.

``both`` fuses the modalities by the sum of the two distances normalised by code length,
``d = d_video / L_video + d_audio / L_audio``, over the union of each modality's top candidates; a video
without audio gets the audio term 0.5 (what unrelated codes score), so it neither wins nor loses by it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from deephash.audio.index import AUDIO_BITS, AudioIndex
from deephash.codes import hamming
from deephash.errors import IncompatibleLibrary
from deephash.hasher import VideoHash
from deephash.index import Hit, Library, StoredCode
from deephash.ingestion import CodeRows, write_codes
from deephash.mask import CategoryMask
from deephash.model.artifacts import MASK_FILE, load_config, model_version
from deephash.search_options import SearchOptions
from deephash.video import SampledFrames, VideoLimits, VideoSource, sample_frames

UNRELATED = 0.5  # expected normalised distance of unrelated codes


class VideoSearch(Protocol):
    """What answers video searches: a :class:`Library`, or shard holders on a cluster."""

    def search(
        self,
        queries: np.ndarray,
        k: int = 10,
        *,
        max_distance: int | None = None,
        masks: np.ndarray | None = None,
        groups: Sequence[int | None] | None = None,
        exclude: Sequence[str | None] | None = None,
        verify: np.ndarray | None = None,
    ) -> list[list[Hit]]: ...


@dataclass(frozen=True)
class HashedUpload:
    video: VideoHash
    audio: np.ndarray | None
    model_version: str


@dataclass(frozen=True)
class Neighbour:
    video_id: str
    distance: float  # bits for one modality, normalised sum for ``both``
    video_distance: int | None
    audio_distance: int | None
    l1: int
    l2: int
    similarity: float | None = None  # of the verification descriptors, where the search re-ranked by them


class Catalog:
    """Video and audio libraries of one model under ``data_dir`` (None: no libraries, sampling only).

    Running the model is the caller's business (in-process, a batching service or Triton): the catalog
    samples frames the one way every path shares, and stores and searches what the model made of them.
    """

    def __init__(
        self,
        model_dir: Path,
        data_dir: Path | None,
        limits: VideoLimits = VideoLimits(),
        video_search: Callable[[Library], VideoSearch] | None = None,
    ) -> None:
        """``video_search``: what searches the video library, made from it (default: the library's own scan;
        the service may give shard holders on a cluster instead)."""
        self.config = load_config(model_dir)
        self.version = model_version(model_dir)
        self.mask = CategoryMask.load(model_dir / MASK_FILE)
        self.limits = limits
        self.video: Library | None = None  # sampling only, without libraries
        self.video_search: VideoSearch | None = None
        self.audio: AudioIndex | None = None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            bits, dims = self.config.code_bits, self.config.verify_dims
            self.video = Library.open_or_create(data_dir / "video", bits, self.version, dims)
            try:
                self.video_search = self.video if video_search is None else video_search(self.video)
            except BaseException:
                self.video.close()
                raise
            try:
                self.audio = AudioIndex.open(data_dir / "audio")
            except IncompatibleLibrary:
                self.video.close()
                raise

    def close(self) -> None:
        for library in (self.video, self.audio):
            if library is not None:
                library.close()

    def sample(self, source: VideoSource) -> SampledFrames:
        """The model's frames of an upload (validating it: a bad upload raises a ``VideoError``)."""
        return sample_frames(source, self.config.frame_spec, self.limits)

    def __contains__(self, video_id: str) -> bool:
        """Whether ``video_id`` is stored: the online flow then reuses its code instead of hashing again."""
        return video_id in self.video

    def add(self, video_id: str, hashed: HashedUpload) -> str:
        """Store an upload's codes (idempotent: "added", "replaced" or "unchanged").

        Callers hash before calling this, so a failed upload never reaches the libraries.
        """
        if hashed.model_version != self.version:
            raise IncompatibleLibrary(f"codes of model {hashed.model_version}, library of {self.version}")
        video = hashed.video
        verification = None if video.verification is None else video.verification[None]
        l1, l2 = np.array([video.l1.id]), np.array([video.l2.id])
        return next(iter(self.add_many(CodeRows([video_id], video.code[None], l1, l2, [hashed.audio], verification))))

    def add_many(self, rows: CodeRows) -> Counter:
        """Store a batch of this model's codes in one durable commit per library (:mod:`deephash.ingestion`)."""
        return write_codes(self.video, self.audio, rows)

    def stored(self, video_id: str) -> tuple[StoredCode, np.ndarray | None]:
        """(video code row, audio code or None) of a stored id; raises ``UnknownVideoId``."""
        video = self.video.get(video_id)
        audio = self.audio.get(video_id) if video_id in self.audio else None
        return video, audio

    def backup(self, out: Path) -> dict[str, dict]:
        """Both libraries, each a verified copy of its current generation, in ``out/video`` and ``out/audio``.
        The caller keeps writes out meanwhile (the service holds its one lock)."""
        return {"video": self.video.backup(out / "video"), "audio": self.audio.library.backup(out / "audio")}

    def remove(self, video_id: str) -> bool:
        removed = self.video.remove(video_id)
        self.audio.remove(video_id)
        return removed

    def search(
        self,
        video_code: np.ndarray | None,
        l1: int,
        l2: int,
        audio_code: np.ndarray | None = None,
        options: SearchOptions = SearchOptions(),
        exclude: str | None = None,
        verification: np.ndarray | None = None,
    ) -> list[Neighbour]:
        """Neighbours of a query video (its code, categories, audio code and, for a search of copies, its
        verification descriptor: an upload's own, or a stored video's), by ``options``."""
        if video_code is not None and len(video_code) * 8 != self.video.code_bits:
            raise IncompatibleLibrary(f"video code of {len(video_code) * 8} bits, library {self.video.code_bits}")
        modality, video_hits, audio_hits = options.modality, [], []
        pool = options.k if modality != "both" else 4 * options.k
        if modality in ("video", "both") and video_code is not None:
            video_hits = self.video_search.search(
                video_code,
                pool,
                max_distance=options.radius if modality == "video" else None,
                masks=self.mask.for_query(l1, l2) if options.uses_mask else None,
                groups=[l1] if options.in_group else None,
                exclude=[exclude],
                verify=verification[None] if options.verified and verification is not None else None,
            )[0]
        if modality in ("audio", "both") and audio_code is not None:
            radius = options.radius if modality == "audio" else None
            audio_hits = self.audio.search(audio_code, pool, radius, exclude)
        if modality == "video":
            return [Neighbour(h.video_id, h.distance, h.distance, None, h.l1, h.l2, h.similarity) for h in video_hits]
        if modality == "audio":
            videos = self.video.get_many([hit.video_id for hit in audio_hits])
            return [
                Neighbour(h.video_id, h.distance, None, h.distance, videos[h.video_id].l1, videos[h.video_id].l2)
                for h in audio_hits
                if h.video_id in videos  # a sound whose video was removed (its removal failed half-way) is not answered
            ]
        return self._fuse(video_code, audio_code, video_hits, audio_hits, options, l1, l2)

    def _fuse(self, video_code, audio_code, video_hits, audio_hits, options, l1, l2) -> list[Neighbour]:
        mask = self.mask.for_query(l1, l2) if options.uses_mask else None
        video_bits = int(np.unpackbits(mask).sum()) if mask is not None else self.video.code_bits
        candidates = list(dict.fromkeys([hit.video_id for hit in video_hits] + [hit.video_id for hit in audio_hits]))
        videos = self.video.get_many(candidates)
        audios = self.audio.codes(candidates) if audio_code is not None else {}
        fused = []
        for video_id in [video_id for video_id in candidates if video_id in videos]:  # as for audio-only searches
            stored = videos[video_id]
            video_distance = int(hamming(video_code, stored.code, mask)) if video_code is not None else None
            audio_distance = None
            if video_id in audios:
                audio_distance = int(hamming(audio_code, audios[video_id]))
            score = (video_distance / video_bits if video_distance is not None else UNRELATED) + (
                audio_distance / AUDIO_BITS if audio_distance is not None else UNRELATED
            )
            fused.append(Neighbour(video_id, score, video_distance, audio_distance, stored.l1, stored.l2))
        return sorted(fused, key=lambda n: (n.distance, n.video_id))[: options.k]
