"""Video → code with the embedded backend (ONNX Runtime in-process), and the result type every path shares."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from deephash.codes import to_hex
from deephash.model.artifacts import ONNX_FILE, load_config, model_version
from deephash.model.config import ModelConfig
from deephash.model.onnx import OnnxRunner
from deephash.video import SampledFrames, VideoLimits, VideoSource, sample_frames


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    probability: float


@dataclass(frozen=True)
class VideoHash:
    """The code of one video and what the model said about it."""

    code: np.ndarray  # packed uint8 [L/8]
    l1: Category
    l2: Category
    extra: dict[str, Category] = field(default_factory=dict)
    frames_used: int = 0
    repeated_frames: bool = False
    verification: np.ndarray | None = None  # float32 [V]: the verification descriptor, from a model that has one

    @property
    def code_hex(self) -> str:
        return to_hex(self.code)

    def to_json(self) -> dict:
        def category(value: Category) -> dict:
            return {"id": value.id, "name": value.name, "probability": round(value.probability, 6)}

        return {
            "code": self.code_hex,
            "l1": category(self.l1),
            "l2": category(self.l2),
            "extra": {name: category(value) for name, value in self.extra.items()},
            "frames_used": self.frames_used,
            "repeated_frames": self.repeated_frames,
        }


def hashes_from_outputs(outputs: dict[str, np.ndarray], config: ModelConfig) -> list[VideoHash]:
    """Model outputs of a batch (by output name, as ONNX Runtime and Triton return them) → results."""
    taxonomy = config.taxonomy
    verification = outputs.get("verification")
    verification = None if verification is None else np.asarray(verification, dtype=np.float32)
    results = []
    for row in range(len(outputs["code"])):
        l1, l2 = int(outputs["l1_id"][row]), int(outputs["l2_id"][row])
        extra = {}
        for name, values in taxonomy.extra.items():
            index = int(outputs[f"{name}_id"][row])
            extra[name] = Category(index, values[index], float(outputs[f"{name}_prob"][row]))
        results.append(
            VideoHash(
                code=np.asarray(outputs["code"][row], dtype=np.uint8),
                l1=Category(l1, taxonomy.l1_names[l1], float(outputs["l1_prob"][row])),
                l2=Category(l2, taxonomy.l2_names[l2], float(outputs["l2_prob"][row])),
                extra=extra,
                verification=verification[row] if verification is not None else None,
            )
        )
    return results


def output_rows(outputs: dict[str, np.ndarray]) -> list[dict[str, list | int | float]]:
    """A batch of model outputs → one plain (JSON-able) row per video, so that a batching server can split
    a merged batch back into its requests; :func:`outputs_from_rows` undoes it."""
    return [{name: value[row].tolist() for name, value in outputs.items()} for row in range(len(outputs["code"]))]


def outputs_from_rows(rows: list[dict[str, list | int | float]]) -> dict[str, np.ndarray]:
    return {name: np.asarray([row[name] for row in rows]) for name in rows[0]}


def with_sampling_note(result: VideoHash, sampled: SampledFrames) -> VideoHash:
    """Note how many distinct frames the video had — shared by the embedded, Triton and service paths."""
    return replace(result, frames_used=sampled.distinct_frames, repeated_frames=sampled.repeated)


def hash_sampled(frame_model, sampled: SampledFrames) -> VideoHash:
    """Run ``frame_model`` (frames ``[B, T, 3, S, S]`` → results) on one sampled video."""
    return with_sampling_note(frame_model(sampled.frames[None])[0], sampled)


class EmbeddedHasher:
    """Loads ``model.onnx`` of a model folder and hashes frames or video files in-process."""

    def __init__(
        self, model_dir: Path, threads: int | None = None, limits: VideoLimits = VideoLimits(), device: str = "cpu"
    ):
        self.model_dir = Path(model_dir)
        self.config = load_config(self.model_dir)
        self.runner = OnnxRunner(self.model_dir / ONNX_FILE, threads, device)
        self.version = model_version(self.model_dir)
        self.limits = limits

    def sample(self, source: VideoSource) -> SampledFrames:
        return sample_frames(source, self.config.frame_spec, self.limits)

    def hash_frames(self, frames: np.ndarray) -> list[VideoHash]:
        """uint8 ``[B, T, 3, S, S]`` → one result per video."""
        return hashes_from_outputs(self.runner.run(np.ascontiguousarray(frames)), self.config)

    def hash_video(self, source: VideoSource) -> VideoHash:
        return hash_sampled(self.hash_frames, self.sample(source))
