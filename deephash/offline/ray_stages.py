"""The two stages of a bulk job as Ray Data sees them: frame sampling in tasks on CPU workers, the model in
a pool of actors (each loads the ONNX file once).

Batches are dicts of numpy arrays with one row per video. A video that cannot be read keeps its row, with
its error and zero frames, so the driver records it and every input comes out exactly once.
"""

from __future__ import annotations

import numpy as np

from deephash.audio import hash_audio
from deephash.errors import VideoError
from deephash.hasher import EmbeddedHasher
from deephash.offline.manifest import open_uri
from deephash.video import FrameSpec, VideoLimits, sample_frames

AUDIO_BYTES = 16  # the audio code of deephash.audio, 128 bits


def sample_batch(
    batch: dict[str, np.ndarray], spec: FrameSpec, limits: VideoLimits, audio: bool
) -> dict[str, np.ndarray]:
    """``{video_id, uri}`` → frames ``[n, T, 3, S, S]``, the audio code, and the error of each row ('' if
    none): the exact sampling and pre-processing every other path uses."""
    count = len(batch["video_id"])
    frames = np.zeros((count, spec.count, 3, spec.size, spec.size), dtype=np.uint8)
    audio_codes = np.zeros((count, AUDIO_BYTES), dtype=np.uint8)
    has_audio, errors = np.zeros(count, dtype=bool), []
    for row, uri in enumerate(batch["uri"]):
        try:
            source = open_uri(str(uri))
            frames[row] = sample_frames(source, spec, limits).frames
            code = hash_audio(source) if audio else None
        except (VideoError, OSError) as error:  # a broken or vanished file: recorded, the job goes on
            # (anything else, e.g. a URI scheme without an opener, stops the job: it is not the video's fault)
            errors.append(f"{type(error).__name__}: {error}")
            continue
        if code is not None:
            audio_codes[row], has_audio[row] = code, True
        errors.append("")
    return {
        "video_id": batch["video_id"],
        "frames": frames,
        "audio": audio_codes,
        "has_audio": has_audio,
        "error": np.asarray(errors, dtype=object),
    }


class CodeModel:
    """An actor of the model stage: the model folder's ONNX file in ONNX Runtime, ``threads`` threads, on the
    CPU or (``device="cuda"``) the GPU Ray gave the actor."""

    def __init__(self, model_dir: str, threads: int = 1, device: str = "cpu") -> None:
        self.hasher = EmbeddedHasher(model_dir, threads=threads, device=device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Sampled rows → code, L1, L2 and verification descriptor (zeros for a model without one) of each good
        row; failed rows pass through with their error."""
        good = np.flatnonzero(batch["error"] == "")
        config = self.hasher.config
        count, code_bytes = len(batch["video_id"]), config.code_bits // 8
        codes = np.zeros((count, code_bytes), dtype=np.uint8)
        verification = np.zeros((count, config.verify_dims), dtype=np.float32)
        l1, l2 = np.full(count, -1, dtype=np.int32), np.full(count, -1, dtype=np.int32)
        if len(good):
            for row, result in zip(good, self.hasher.hash_frames(batch["frames"][good])):
                codes[row], l1[row], l2[row] = result.code, result.l1.id, result.l2.id
                if result.verification is not None:
                    verification[row] = result.verification
        return {
            "video_id": batch["video_id"],
            "code": codes,
            "verification": verification,
            "l1": l1,
            "l2": l2,
            "audio": batch["audio"],
            "has_audio": batch["has_audio"],
            "error": batch["error"],
        }
