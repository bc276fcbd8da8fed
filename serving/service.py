"""BentoML 1.4 service: hash, search, add, remove, get and stats over HTTP.

Configuration: environment variables, see :mod:`serving.settings`. Errors are JSON ``{"error": ...}`` with
400 (not a usable video), 413 (too large), 404 (unknown id), 409 (library of another model), 503 (Triton down).

An upload is decoded in a worker thread while the event loop keeps serving; its frames then go to the model
backend without a thread: the embedded model service (:mod:`serving.embedded_model`, adaptively batched by
BentoML) or Triton through the asyncio gRPC client (batched by Triton). The audio code is computed in a
thread beside the model call.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Literal

import aiohttp
import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, Field

from deephash.audio import hash_audio
from deephash.catalog import Catalog, HashedUpload, Neighbour
from deephash.codes import from_hex, to_hex
from deephash.errors import DeepHashError, IncompatibleLibrary, RemoteError, UnknownVideoId, VideoError
from deephash.hasher import VideoHash, hashes_from_outputs, outputs_from_rows, with_sampling_note
from serving.embedded_model import EmbeddedModel
from serving.settings import DATA_DIR, MAX_UPLOAD_BYTES, MODEL_DIR, TRITON_TIMEOUT_S, TRITON_URL

EMBEDDED_ATTEMPTS = 3
Video = Annotated[Path, ContentType("video/*")]

# custom series on BentoML's /metrics (prometheus_client directly: bentoml.metrics is deprecated)
HASHED = Counter("deephash_videos_hashed", "Uploads decoded and run through the model", ["backend"])
SEARCHES = Counter("deephash_searches", "Searches answered", ["query", "modality"])
ROWS = Gauge("deephash_library_rows", "Live rows in the library", ["library"], multiprocess_mode="mostrecent")


class CategoryOut(BaseModel):
    id: int
    name: str
    probability: float


class HashOut(BaseModel):
    code: str = Field(description="video code, lowercase hex")
    l1: CategoryOut
    l2: CategoryOut
    audio_code: str | None = Field(description="audio code (hex), null when the video has no audio")
    model_version: str
    frames_used: int


class NeighbourOut(BaseModel):
    video_id: str
    distance: float = Field(description="bits (video or audio), or the normalised sum for modality both")
    video_distance: int | None
    audio_distance: int | None
    l1: int
    l2: int


class SearchOptions(BaseModel):
    k: int = Field(10, ge=1, le=10_000)
    radius: int | None = Field(None, ge=0, description="largest distance returned (single modality)")
    masked: bool = Field(True, description="apply the query category's bit mask")
    same_group: bool = Field(True, description="scan only the query's L1 group")
    modality: Literal["video", "audio", "both"] = "video"


DEFAULT_SEARCH = SearchOptions()


class AddOut(BaseModel):
    video_id: str
    outcome: Literal["added", "replaced", "unchanged"]
    reused_stored_code: bool


class StoredOut(BaseModel):
    video_id: str
    code: str
    l1: int
    l2: int
    audio_code: str | None


def _error(error: Exception) -> BentoMLException:
    """One translation of the package's errors into HTTP statuses."""
    if isinstance(error, VideoError):
        return BentoMLException(str(error), error_code=HTTPStatus.BAD_REQUEST)
    if isinstance(error, UnknownVideoId):
        return BentoMLException(str(error), error_code=HTTPStatus.NOT_FOUND)
    if isinstance(error, IncompatibleLibrary):
        return BentoMLException(str(error), error_code=HTTPStatus.CONFLICT)
    if isinstance(error, RemoteError):  # BentoML hides 5xx messages from clients; the log has it
        return BentoMLException(str(error), error_code=HTTPStatus.SERVICE_UNAVAILABLE)
    return BentoMLException(str(error), error_code=HTTPStatus.BAD_REQUEST)


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise BentoMLException(
            f"upload of {size} bytes exceeds the limit of {MAX_UPLOAD_BYTES}",
            error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        )


def _neighbours(found: list[Neighbour]) -> list[NeighbourOut]:
    return [NeighbourOut(**neighbour.__dict__) for neighbour in found]


@bentoml.service(traffic={"timeout": 120})
class DeepHashService:
    # the embedded backend runs as a dependency (its own process, batched); with Triton it is not started
    embedded = bentoml.depends(EmbeddedModel) if TRITON_URL is None else None

    def __init__(self) -> None:
        self.triton = None  # the asyncio Triton client binds to the event loop: made in ``connect_triton``
        self.catalog_error: str | None = None
        try:
            self.catalog = Catalog(MODEL_DIR, DATA_DIR)
        except IncompatibleLibrary as error:  # keep answering, with 409 on every library call
            self.catalog_error = str(error)
            self.catalog = Catalog(MODEL_DIR, None)
        self.lock = asyncio.Lock()  # the libraries' SQLite connection is used by one thread at a time

    @bentoml.on_startup
    async def connect_triton(self) -> None:
        if TRITON_URL is not None:
            from clients.triton import AsyncTritonVideoClient

            self.triton = AsyncTritonVideoClient(TRITON_URL, self.catalog.config, timeout_s=TRITON_TIMEOUT_S, retries=1)

    @bentoml.on_shutdown
    async def disconnect_triton(self) -> None:
        if self.triton is not None:
            await self.triton.close()

    async def __is_ready__(self) -> bool:
        """The libraries are usable and, with Triton, it answers and has the model loaded (BentoML checks
        the embedded model service itself, as a dependency)."""
        if self.catalog_error is not None:
            return False
        return TRITON_URL is None or (self.triton is not None and await self.triton.is_ready())

    def _library(self) -> Catalog:
        if self.catalog_error is not None:
            raise BentoMLException(self.catalog_error, error_code=HTTPStatus.CONFLICT)
        return self.catalog

    def _count_rows(self) -> None:
        if self.catalog_error is None:
            ROWS.labels("video").set(len(self.catalog.video))
            ROWS.labels("audio").set(len(self.catalog.audio))

    async def _run_model(self, frames: np.ndarray) -> list[VideoHash]:
        if self.triton is not None:
            return await self.triton.hash_frames(frames)
        for attempt in range(EMBEDDED_ATTEMPTS):
            try:
                rows = await self.embedded.to_async.run(frames)
                return hashes_from_outputs(outputs_from_rows(rows), self.catalog.config)
            except aiohttp.ClientConnectionError as error:
                # BentoML reuses keep-alive connections between services that the other side may have just
                # closed (bentoml/BentoML#4238, #3669); the call has no side effects, so try again.
                if attempt == EMBEDDED_ATTEMPTS - 1:
                    raise RemoteError(f"the embedded model service did not answer: {error!r}") from error
        raise AssertionError("unreachable")

    async def _hash(self, video: Path) -> HashedUpload:
        """Decode (thread) → model (awaited, batched with other uploads) beside the audio code (thread)."""
        _check_size(video)
        sampled = await self._run(self.catalog.sample, video)
        try:
            (result,), audio = await asyncio.gather(self._run_model(sampled.frames[None]), self._run(hash_audio, video))
        except DeepHashError as error:
            raise _error(error) from error
        HASHED.labels("triton" if self.triton else "embedded").inc()
        return HashedUpload(with_sampling_note(result, sampled), audio, self.catalog.version)

    async def _run(self, function, *args):
        """Blocking work off the event loop; package errors become HTTP errors."""
        try:
            return await asyncio.to_thread(function, *args)
        except DeepHashError as error:
            raise _error(error) from error

    @bentoml.api
    async def hash(self, video: Video) -> HashOut:
        """Hash an uploaded video: code, categories, audio code."""
        hashed = await self._hash(video)
        return HashOut(
            code=hashed.video.code_hex,
            l1=CategoryOut(**hashed.video.l1.__dict__),
            l2=CategoryOut(**hashed.video.l2.__dict__),
            audio_code=None if hashed.audio is None else to_hex(hashed.audio),
            model_version=hashed.model_version,
            frames_used=hashed.video.frames_used,
        )

    @bentoml.api
    async def add(self, video_id: str, video: Video) -> AddOut:
        """Insert an uploaded video under an id. Idempotent: an id already stored keeps its code and the
        model does not run again (the online flow); a failed upload leaves the libraries unchanged."""
        _check_size(video)
        library = self._library()
        async with self.lock:
            stored = video_id in library
        if stored:
            return AddOut(video_id=video_id, outcome="unchanged", reused_stored_code=True)
        hashed = await self._hash(video)  # outside the lock: other requests go on meanwhile
        async with self.lock:
            outcome = await self._run(library.add, video_id, hashed)
            self._count_rows()
        return AddOut(video_id=video_id, outcome=outcome, reused_stored_code=False)

    async def _search(self, query, l1: int, l2: int, audio, options: SearchOptions, exclude: str | None):
        async with self.lock:
            found = await self._run(
                lambda: self._library().search(
                    query,
                    l1,
                    l2,
                    audio,
                    k=options.k,
                    radius=options.radius,
                    masked=options.masked,
                    same_group=options.same_group,
                    modality=options.modality,
                    exclude=exclude,
                )
            )
        return _neighbours(found)

    @bentoml.api
    async def search(self, video: Video, options: SearchOptions = DEFAULT_SEARCH) -> list[NeighbourOut]:
        """Top-k neighbours of an uploaded video (hashed, not stored)."""
        hashed = await self._hash(video)
        SEARCHES.labels("video", options.modality).inc()
        code, l1, l2 = hashed.video.code, hashed.video.l1.id, hashed.video.l2.id
        return await self._search(code, l1, l2, hashed.audio, options, None)

    @bentoml.api
    async def search_code(
        self, code: str, l1: int, l2: int, options: SearchOptions = DEFAULT_SEARCH
    ) -> list[NeighbourOut]:
        """Top-k neighbours of a video code (hex) with its L1/L2 categories (for the mask and the group)."""
        query = await self._run(from_hex, code, self._library().video.code_bits)
        SEARCHES.labels("code", options.modality).inc()
        return await self._search(query, l1, l2, None, options, None)

    @bentoml.api
    async def search_id(self, video_id: str, options: SearchOptions = DEFAULT_SEARCH) -> list[NeighbourOut]:
        """Top-k neighbours of a stored video (itself excluded), by its stored video and audio codes."""
        async with self.lock:
            stored, audio = await self._run(self._library().stored, video_id)
        SEARCHES.labels("id", options.modality).inc()
        return await self._search(stored.code, stored.l1, stored.l2, audio, options, video_id)

    @bentoml.api
    async def get(self, video_id: str) -> StoredOut:
        async with self.lock:
            stored, audio = await self._run(self._library().stored, video_id)
        return StoredOut(
            video_id=video_id,
            code=to_hex(stored.code),
            l1=stored.l1,
            l2=stored.l2,
            audio_code=None if audio is None else to_hex(audio),
        )

    @bentoml.api
    async def remove(self, video_id: str) -> dict:
        async with self.lock:
            removed = await self._run(self._library().remove, video_id)
            self._count_rows()
        if not removed:
            raise BentoMLException(f"no video {video_id!r} in the library", error_code=HTTPStatus.NOT_FOUND)
        return {"video_id": video_id, "removed": True}

    @bentoml.api
    async def stats(self) -> dict:
        async with self.lock:
            return {
                "video": self._library().video.stats(),
                "audio": self._library().audio.stats(),
                "backend": "triton" if self.triton else "embedded",
            }
