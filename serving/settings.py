"""The service's configuration: one typed object read from ``DEEPHASH_*`` environment variables and validated
when the service starts (a bad value stops it with pydantic's message naming the variable).

``DEEPHASH_MODEL`` model folder; ``DEEPHASH_DATA`` libraries; ``DEEPHASH_TRITON_URL`` gRPC ``host:port`` of a
Triton serving the model (unset: in-process ONNX Runtime); ``DEEPHASH_MAX_UPLOAD_MB`` upload limit;
``DEEPHASH_MAX_BATCH`` largest adaptive batch of the embedded model; ``DEEPHASH_BATCH_LATENCY_MS`` the latency
the batcher plans for before it sheds load with 503 (on CPUs a full batch takes seconds, and shedding early
only turns waits into errors); ``DEEPHASH_TRITON_TIMEOUT_S`` per Triton call.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from deephash.model.artifacts import DEFAULT_MODEL_DIR
from deephash.video import VideoLimits


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEEPHASH_", extra="ignore", protected_namespaces=())

    model: Path = Field(DEFAULT_MODEL_DIR, description="model folder")
    data: Path = Field(Path("data/service"), description="folder of the video and audio libraries")
    triton_url: str | None = Field(None, description="gRPC host:port of Triton; unset = embedded ONNX Runtime")
    max_upload_mb: float = Field(200.0, gt=0, description="largest upload accepted, in MiB")
    max_batch: int = Field(16, ge=1, le=256, description="largest adaptive batch of the embedded model")
    batch_latency_ms: int = Field(30_000, ge=1, description="latency the adaptive batcher plans for")
    triton_timeout_s: float = Field(30.0, gt=0, description="timeout of each Triton call")

    @field_validator("triton_url")
    @classmethod
    def _empty_means_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def video_limits(self) -> VideoLimits:
        """What the sampler refuses: the upload limit is the file-size limit, so it is checked in one place."""
        return VideoLimits(max_file_bytes=self.max_upload_bytes)


SETTINGS = ServiceSettings()
