"""The service's configuration: one typed object read from ``DEEPHASH_*`` environment variables and validated
when the service starts (a bad value stops it with a :class:`ConfigurationError` naming the variable).

``DEEPHASH_MODEL`` model folder; ``DEEPHASH_DATA`` libraries; ``DEEPHASH_TRITON_URL`` gRPC ``host:port`` of a
Triton serving the model (unset: in-process ONNX Runtime); ``DEEPHASH_MAX_UPLOAD_MB`` upload limit;
``DEEPHASH_MAX_BATCH`` largest adaptive batch of the embedded model (default: what ``deephash export batching``
measured to pay off on this device); ``DEEPHASH_BATCH_LATENCY_MS`` the latency the batcher plans for before it
sheds load with 503 (on CPUs a full batch takes seconds, and shedding early only turns waits into errors);
``DEEPHASH_TRITON_TIMEOUT_S`` per Triton call; ``DEEPHASH_THREADS`` ONNX Runtime threads of the embedded model;
``DEEPHASH_MAX_IN_FLIGHT_PER_CLIENT`` requests one client may have in flight before it gets 429;
``DEEPHASH_TOKENS_FILE`` the bearer tokens (``serving/auth.py``), or ``DEEPHASH_AUTH=open`` to ask for none
(local development); ``DEEPHASH_AUDIT_LOG`` the audit trail; ``DEEPHASH_SEARCH_BACKEND=ray`` with
``DEEPHASH_RAY_ADDRESS`` and ``DEEPHASH_SEARCH_APP``: video searches answered by the shard holders of a
``deephash search-cluster`` application (writes stay here).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deephash.catalog import VideoSearch
from deephash.errors import ConfigurationError
from deephash.index import Library
from deephash.model.artifacts import DEFAULT_MODEL_DIR
from deephash.model.batching import BATCHING_FILE, BatchingProfile
from deephash.model.onnx import default_threads
from deephash.video import VideoLimits

UNMEASURED_MAX_BATCH = 16
logger = logging.getLogger("deephash.service")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPHASH_", extra="ignore", protected_namespaces=())

    model: Path = Field(DEFAULT_MODEL_DIR, description="model folder")
    data: Path = Field(Path("data/service"), description="folder of the video and audio libraries")
    triton_url: str | None = Field(None, description="gRPC host:port of Triton; unset = embedded ONNX Runtime")
    max_upload_mb: float = Field(200.0, gt=0, description="largest upload accepted, in MiB")
    max_batch: int | None = Field(
        None, ge=1, le=256, description="largest adaptive batch of the embedded model (unset: as measured)"
    )
    batch_latency_ms: int = Field(30_000, ge=1, description="latency the adaptive batcher plans for")
    max_in_flight_per_client: int = Field(
        16, ge=1, description="requests one client (token, else address) may have in flight; more get 429"
    )
    triton_timeout_s: float = Field(30.0, gt=0, description="timeout of each Triton call")
    threads: int | None = Field(
        None, ge=1, description="ONNX Runtime threads of the embedded model (unset: every core this process may use)"
    )
    auth: Literal["tokens", "open"] = Field("tokens", description="open: no tokens asked (local development only)")
    tokens_file: Path | None = Field(None, description="bearer tokens with roles (serving/auth.py)")
    audit_log: Path | None = Field(None, description="the audit trail of mutations (unset: DATA/audit.jsonl)")
    search_backend: Literal["local", "ray"] = Field(
        "local", description="ray: video searches go to the shard holders of a `deephash search-cluster` app"
    )
    ray_address: str = Field("auto", description="the Ray cluster of the search application")
    search_app: str = Field("deephash-search", description="the Ray Serve application that searches")

    def video_search(self) -> Callable[[Library], VideoSearch] | None:
        """How the served library is searched: its own scan (None), or the Ray search application."""
        if self.search_backend == "local":
            return None

        def connect(library: Library) -> VideoSearch:
            from serving.ray_search import RaySearchClient

            return RaySearchClient(self.search_app, library, self.ray_address)

        return connect

    @field_validator("triton_url")
    @classmethod
    def _empty_means_unset(cls, value: str | None) -> str | None:
        return value or None

    def embedded_max_batch(self) -> int:
        """DEEPHASH_MAX_BATCH, else the largest batch size measured to pay off for the model on this device
        (``batching.json``, deephash/model/batching.py), else 16."""
        if self.max_batch is not None:
            return self.max_batch
        profile = BatchingProfile.load(self.model) if self.model.is_dir() else None
        if profile is not None and not profile.measured_here(self.onnx_threads):
            logger.warning(
                "%s was measured on %s with %d threads, not on this machine: batches of up to %d; run "
                "`deephash export batching` here",
                BATCHING_FILE,
                profile.device,
                profile.threads,
                UNMEASURED_MAX_BATCH,
            )
            profile = None
        return UNMEASURED_MAX_BATCH if profile is None else profile.max_batch

    def check_access_control(self) -> None:
        """Refuse to serve without tokens unless open access was asked for (checked when the service starts, not
        when its module is imported: ``bentoml build`` imports it without any of this set)."""
        if self.auth == "tokens" and self.tokens_file is None:
            raise ConfigurationError(
                "set DEEPHASH_TOKENS_FILE to a tokens file (make tokens with `deephash token`), "
                "or DEEPHASH_AUTH=open for an open local server"
            )

    @property
    def onnx_threads(self) -> int:
        return self.threads or default_threads()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def video_limits(self) -> VideoLimits:
        """What the sampler refuses: the upload limit is the file-size limit, so it is checked in one place."""
        return VideoLimits(max_file_bytes=self.max_upload_bytes)


def configured_workers(service_name: str) -> int | str | None:
    """The worker count BentoML's configuration gives a service (its decorator, a config file or
    ``BENTOML_CONFIG_OPTIONS``): BentoML keeps it in its configuration container, which has no public reader."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return (BentoMLContainer.config.services.get().get(service_name) or {}).get("workers")


def refuse_several_workers(service_name: str) -> None:
    """One worker holds the libraries' writer lock; a second could neither write nor see the first's rows in
    its snapshot, so a service configured with more is refused before any worker is spawned."""
    workers = configured_workers(service_name)
    if workers not in (None, 1):
        raise ConfigurationError(
            f"{service_name} runs one worker, not {workers!r}: it is the libraries' single writer. Serve more "
            "requests by raising DEEPHASH_MAX_BATCH or pointing DEEPHASH_TRITON_URL at Triton, or run more "
            "service instances over separate libraries"
        )


@cache
def service_settings() -> ServiceSettings:
    """The settings of this process, read once from the environment when the service starts (a bad value stops
    it here, with the variable named)."""
    try:
        return ServiceSettings()
    except ValidationError as error:
        problems = "; ".join(f"DEEPHASH_{str(e['loc'][0]).upper()}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"the service's settings: {problems}") from None
