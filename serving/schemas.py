"""What the service's APIs answer (pydantic models: BentoML renders them into the OpenAPI document).

Requests use :class:`deephash.search_options.SearchOptions` directly, so the API, the library and the
command lines accept the same options with the same bounds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


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
    verification: list[float] | None = Field(
        None, description="the verification descriptor (unit length), from a model that outputs one"
    )


class NeighbourOut(BaseModel):
    video_id: str
    distance: float = Field(description="bits (video or audio), or the normalised sum for modality both")
    video_distance: int | None
    audio_distance: int | None
    l1: int
    l2: int
    similarity: float | None = Field(
        None, description="cosine of the verification descriptors, where the search re-ranked by them"
    )


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


class RemovedOut(BaseModel):
    video_id: str
    removed: bool
