"""BentoML 1.4 service: hash, search, add, remove, get, stats and backup over HTTP (settings, schemas, errors:
their modules). An upload is decoded in a worker thread while the event loop keeps serving; its frames go to
the embedded model service (:mod:`serving.model_client`) or Triton (asyncio gRPC), both batching; the audio code
is computed in a thread beside the model call."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import bentoml
import numpy as np

from deephash.audio import hash_audio
from deephash.catalog import Catalog, HashedUpload
from deephash.codes import from_hex, to_hex
from deephash.errors import DeepHashError, LibraryError, UnknownVideoId
from deephash.hasher import VideoHash, with_sampling_note
from deephash.index.idmap import check_video_id
from deephash.model.artifacts import model_version
from deephash.offline.versions import DataVersions, VersionInfo
from deephash.search_options import SearchOptions
from deephash.video import check_file_size
from serving.access import Access
from serving.audit import AUDIT_FILE, AuditLog
from serving.auth import TokenFile
from serving.client_limit import ClientLimit
from serving.embedded_model import EmbeddedModel
from serving.errors import http_error, off_loop
from serving.lifecycle import die_with_parent, remember_server
from serving.metrics import HASHED, ROWS, SEARCHES
from serving.model_client import EmbeddedModelClient
from serving.schemas import AddOut, CategoryOut, HashOut, NeighbourOut, RemovedOut, StoredOut
from serving.served import Served, activate_version, open_served
from serving.settings import ServiceSettings, refuse_several_workers, service_settings
from serving.upload_limit import UploadLimit
from serving.version_gate import GATE, VersionGateMiddleware

# Read once when `bentoml serve` imports this module: BentoML fixes a service's dependencies and middleware when
# its class is defined, so these two are module-level; the service object itself takes its settings as arguments.
SETTINGS = service_settings()
# one reader of the tokens file for the endpoints and the per-client limit (None: open, or not configured yet)
TOKENS = TokenFile(SETTINGS.tokens_file) if SETTINGS.auth == "tokens" and SETTINGS.tokens_file else None
logger = logging.getLogger("deephash.service")
DEFAULT_SEARCH = SearchOptions()


BACKUP_DIR = "backups"  # inside DEEPHASH_DATA
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and the small fields beside the video


@bentoml.service(traffic={"timeout": 120})
class DeepHashService:
    # the embedded backend runs as a dependency (its own process, batched); with Triton it is not started
    embedded = bentoml.depends(EmbeddedModel) if SETTINGS.triton_url is None else None

    def __init__(
        self, settings: ServiceSettings = SETTINGS, tokens: TokenFile | None = TOKENS, in_process: bool = False
    ) -> None:
        """``settings`` and ``tokens``: the process's. ``in_process``: built by a caller (a test) rather than by
        `bentoml serve`, with settings of its own; the model then runs here, and no server owns this process."""
        if not in_process:
            die_with_parent()
        self.settings, self.in_process = settings, in_process
        self.triton = None  # the asyncio Triton client binds to the event loop: made in ``connect_triton``
        self.catalog_error: LibraryError | None = None
        self.default_version = model_version(settings.model)  # what the model service (or Triton) runs
        try:
            self._serve(open_served(settings, self._fixed_model()))
        except LibraryError as error:  # keep answering, with the error's status on every library call
            self.catalog_error = error
            self._serve(Served(Catalog(settings.model, None, settings.video_limits), settings.model, None))
        self.audit = AuditLog(settings.audit_log or settings.data / AUDIT_FILE)
        self.lock = asyncio.Lock()  # a Library object (snapshot, shard maps, id tables) serves one thread at a time
        settings.check_access_control()
        self.access = Access(tokens if settings.auth == "tokens" else None, self.audit)
        if self.access.tokens is None:
            logger.warning(
                "DEEPHASH_AUTH=open: THIS SERVER ASKS NO ONE FOR A TOKEN; anyone who reaches it may add and remove"
            )

    @bentoml.on_deployment
    def prepare_workers() -> None:
        """Runs in the server process before it starts workers: they learn its pid (serving/lifecycle.py), and
        more than one worker is refused before any starts (one worker is the libraries' single writer)."""
        remember_server()
        refuse_several_workers("DeepHashService")

    def _fixed_model(self) -> str | None:
        """The one model version this service can hash with (Triton serves one model), else None."""
        return self.default_version if self.settings.triton_url is not None else None

    def _serve(self, served: Served) -> None:
        """Answer from ``served`` from now on (at start, or inside the version gate's switch). The model
        service runs ``DEEPHASH_MODEL``; another version's model runs in this process."""
        default = served.catalog.version == self.default_version and not self.in_process
        service = self.embedded if default else None
        self.embedded_model = EmbeddedModelClient(service, served.model_dir, served.catalog.config)
        self.catalog, self.served_name = served.catalog, served.name
        GATE.version = served.catalog.version

    @bentoml.on_startup
    async def connect_triton(self) -> None:
        if self.settings.triton_url is not None:
            from clients.triton import AsyncTritonVideoClient

            self.triton = AsyncTritonVideoClient(
                self.settings.triton_url, self.catalog.config, timeout_s=self.settings.triton_timeout_s, retries=1
            )

    @bentoml.on_shutdown
    async def disconnect_triton(self) -> None:
        if self.triton is not None:
            await self.triton.close()

    async def __is_ready__(self) -> bool:
        """The libraries are usable and, with Triton, it answers and has the model loaded (BentoML checks
        the embedded model service itself, as a dependency)."""
        if self.catalog_error is not None:
            return False
        return self.settings.triton_url is None or (self.triton is not None and await self.triton.is_ready())

    def _library(self) -> Catalog:
        if self.catalog_error is not None:
            raise http_error(self.catalog_error)
        return self.catalog

    def _count_rows(self) -> None:
        if self.catalog_error is None:
            ROWS.labels("video").set(len(self.catalog.video))
            ROWS.labels("audio").set(len(self.catalog.audio))

    async def _run_model(self, frames: np.ndarray) -> list[VideoHash]:
        if self.triton is not None:
            return await self.triton.hash_frames(frames)
        return await self.embedded_model.hash_frames(frames)

    async def _hash(self, video: Path) -> HashedUpload:
        """Decode (thread) → model (awaited, batched with other uploads) beside the audio code (thread)."""
        sampled = await off_loop(self.catalog.sample, video)
        try:
            (result,), audio = await asyncio.gather(self._run_model(sampled.frames[None]), off_loop(hash_audio, video))
        except DeepHashError as error:
            raise http_error(error) from error
        HASHED.labels("triton" if self.triton else "embedded").inc()
        return HashedUpload(with_sampling_note(result, sampled), audio, self.catalog.version)

    @bentoml.api
    async def hash(self, ctx: bentoml.Context, video: Path) -> HashOut:
        """Hash an upload of any content type (curl -F sends octet-stream); what does not decode is a 400."""
        self.access.allow(ctx, "read")
        hashed = await self._hash(video)
        return HashOut(
            code=hashed.video.code_hex,
            l1=CategoryOut(**hashed.video.l1.__dict__),
            l2=CategoryOut(**hashed.video.l2.__dict__),
            audio_code=None if hashed.audio is None else to_hex(hashed.audio),
            model_version=hashed.model_version,
            frames_used=hashed.video.frames_used,
            verification=None if hashed.video.verification is None else hashed.video.verification.tolist(),
        )

    @bentoml.api
    async def add(self, ctx: bentoml.Context, video_id: str, video: Path) -> AddOut:
        """Insert an uploaded video under an id. Idempotent: an id already stored keeps its code and the
        model does not run again (the online flow); a failed upload leaves the libraries unchanged."""
        async with self.access.mutation(ctx, "add", video_id) as record:
            await off_loop(check_video_id, video_id)  # 400 before any work
            await off_loop(check_file_size, video, self.settings.video_limits)  # 413 even for an id already stored
            library = self._library()
            async with self.lock:
                stored = video_id in library
            if stored:
                record["outcome"] = "unchanged"
                return AddOut(video_id=video_id, outcome="unchanged", reused_stored_code=True)
            hashed = await self._hash(video)  # outside the lock: other requests go on meanwhile
            async with self.lock:
                outcome = await off_loop(library.add, video_id, hashed)
                self._count_rows()
            record["outcome"] = outcome
            return AddOut(video_id=video_id, outcome=outcome, reused_stored_code=False)

    async def _search(self, query, l1: int, l2: int, audio, options: SearchOptions, exclude: str | None, verify=None):
        async with self.lock:
            found = await off_loop(lambda: self._library().search(query, l1, l2, audio, options, exclude, verify))
        return [NeighbourOut(**neighbour.__dict__) for neighbour in found]

    @bentoml.api
    async def search(
        self, ctx: bentoml.Context, video: Path, options: SearchOptions = DEFAULT_SEARCH
    ) -> list[NeighbourOut]:
        """Top-k neighbours of an uploaded video (not stored): its copies, or (``intent: similar``) its category's."""
        self.access.allow(ctx, "read")
        hashed = await self._hash(video)
        SEARCHES.labels("video", options.modality).inc()
        video = hashed.video
        return await self._search(video.code, video.l1.id, video.l2.id, hashed.audio, options, None, video.verification)

    @bentoml.api
    async def search_code(
        self, ctx: bentoml.Context, code: str, l1: int, l2: int, options: SearchOptions = DEFAULT_SEARCH
    ) -> list[NeighbourOut]:
        """Top-k neighbours of a video code (hex) with its L1/L2 categories (for the mask and the group)."""
        self.access.allow(ctx, "read")
        query = await off_loop(from_hex, code, self._library().video.code_bits)
        SEARCHES.labels("code", options.modality).inc()
        return await self._search(query, l1, l2, None, options, None)

    @bentoml.api
    async def search_id(
        self, ctx: bentoml.Context, video_id: str, options: SearchOptions = DEFAULT_SEARCH
    ) -> list[NeighbourOut]:
        """Top-k neighbours of a stored video (itself excluded), by its stored video and audio codes."""
        self.access.allow(ctx, "read")
        async with self.lock:
            stored, audio = await off_loop(self._library().stored, video_id)
        SEARCHES.labels("id", options.modality).inc()
        return await self._search(stored.code, stored.l1, stored.l2, audio, options, video_id, stored.verify)

    @bentoml.api
    async def get(self, ctx: bentoml.Context, video_id: str) -> StoredOut:
        self.access.allow(ctx, "read")
        async with self.lock:
            stored, audio = await off_loop(self._library().stored, video_id)
        return StoredOut(
            video_id=video_id,
            code=to_hex(stored.code),
            l1=stored.l1,
            l2=stored.l2,
            audio_code=None if audio is None else to_hex(audio),
        )

    @bentoml.api
    async def remove(self, ctx: bentoml.Context, video_id: str) -> RemovedOut:
        async with self.access.mutation(ctx, "remove", video_id) as record:
            async with self.lock:
                removed = await off_loop(self._library().remove, video_id)
                self._count_rows()
            if not removed:
                raise http_error(UnknownVideoId(f"no video {video_id!r} in the library"))
            record["outcome"] = "removed"
            return RemovedOut(video_id=video_id, removed=True)

    @bentoml.api
    async def backup(self, ctx: bentoml.Context) -> dict:
        """Admin: a consistent, verified copy of both libraries in DATA/backups/<UTC time>. Writes wait while it
        copies; the answer names the folder, the generation and the rows of each library."""
        who = self.access.allow(ctx, "admin")
        library = self._library()
        folder = self.settings.data / BACKUP_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        async with self.lock:
            copied = await off_loop(library.backup, folder)
        await self.audit.record(who=who, action="backup", video_id=None, outcome=str(folder), status=200)
        return copied

    @bentoml.api
    async def activate(self, ctx: bentoml.Context, name: str, force: bool = False) -> dict:
        """Admin: serve library version NAME of DEEPHASH_DATA (`deephash index versions`) from now on. Requests
        in flight finish on the old version, new ones wait for the switch; refused (409) as `deephash index
        activate` refuses, unless ``force``."""
        async with self.access.mutation(ctx, "activate", name, role="admin") as record:
            # run to its end even if this request is cancelled: the pointer on disk and the served version agree
            info = await asyncio.shield(asyncio.ensure_future(self._switch_to(name, force)))
            record["outcome"] = "activated"
        return {"active": info.name, "model_version": info.model_version, "rows": info.rows}

    async def _switch_to(self, name: str, force: bool) -> VersionInfo:
        async with GATE.switch(), self.lock:
            if self.catalog_error is None and name == self.served_name:  # already served: nothing to do
                return await off_loop(DataVersions(self.settings.data).info, name)
            served, info = await off_loop(activate_version, self.settings, name, force, self._fixed_model())
            old, self.catalog_error = self.catalog, None
            self._serve(served)
            try:
                await asyncio.to_thread(old.close)
            except Exception:  # the new version is served already; the old one's files are closed at exit
                logger.exception("closing the libraries of the previous version")
            self._count_rows()
            return info

    @bentoml.api
    async def stats(self, ctx: bentoml.Context) -> dict:
        self.access.allow(ctx, "read")
        async with self.lock:
            return {
                "video": self._library().video.stats(),
                "audio": self._library().audio.stats(),
                "backend": "triton" if self.triton else "embedded",
            }


DeepHashService.add_asgi_middleware(VersionGateMiddleware)
DeepHashService.add_asgi_middleware(UploadLimit, max_bytes=SETTINGS.max_upload_bytes + FORM_OVERHEAD_BYTES)
DeepHashService.add_asgi_middleware(
    ClientLimit,
    max_in_flight=SETTINGS.max_in_flight_per_client,
    tokens=TOKENS,
)
