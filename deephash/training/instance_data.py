"""Training material for the instance stage: generated videos, each seen through several edited views.

Nothing here is real footage: the videos are procedural (:mod:`deephash.data.procedural`) and the edits are the
families of :mod:`deephash.data.families`. Every view is encoded to an MP4 in memory and sampled by the same
sampler as an upload, so training sees exactly the bytes serving sees. What the stage learns from is the
backbone's regional descriptor of each view's frames, computed once and cached; how they make one descriptor of the
video (:func:`deephash.model.pooling.video_descriptor`) is the model's choice, made after the cache. Groups of
look-alike videos (several shots of one generated scene) are rendered the same way, to choose by, never to fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deephash.data.families import Clip, random_edits
from deephash.data.procedural import look_alike_videos, procedural_image, procedural_video
from deephash.features import BackboneRunner, cached_array, encoder_digest, extract_features
from deephash.model.encoder import FrameEncoder
from deephash.model.pooling import video_descriptor_array
from deephash.video import FrameSpec, sample_frames
from deephash.video.files import encode_video

# (height, width) of generated videos: landscape, portrait and square, as uploads come
SIZES = ((144, 256), (256, 144), (192, 192), (180, 240), (240, 180))


@dataclass(frozen=True)
class StreamPlan:
    videos: int = 3000
    views: int = 3  # view 0 is the video as uploaded; the others carry one to three random edits
    frames: int = 24  # frames per generated video
    fps: float = 12.0
    seed: int = 0


@dataclass(frozen=True)
class LookAlikePlan:
    """Groups of generated videos of one scene (:func:`deephash.data.procedural.look_alike_videos`), each seen
    through edited views: held out to choose the instance stage's quantiser, never fitted on. The stream's videos
    are independent, with nothing alike to tell apart, so on them alone a quantiser that keeps what tells two
    shots of one scene apart cannot show its worth."""

    groups: int = 150
    size: int = 3
    views: int = 3
    frames: int = 24
    fps: float = 12.0
    seed: int = 1


def render_views(index: int, plan: StreamPlan, spec: FrameSpec) -> np.ndarray:
    """uint8 ``[views * T, 3, S, S]``: the sampled frames of every view of generated video ``index``."""
    rng = np.random.default_rng((plan.seed, index))
    height, width = SIZES[int(rng.integers(len(SIZES)))]
    return _sampled_views(rng, Clip(procedural_video(rng, plan.frames, height, width), plan.fps), plan.views, spec)


def render_look_alikes(index: int, plan: LookAlikePlan, spec: FrameSpec) -> np.ndarray:
    """uint8 ``[size * views * T, 3, S, S]``: the sampled frames of every view of each video of group ``index``."""
    rng = np.random.default_rng((plan.seed, index))
    height, width = SIZES[int(rng.integers(len(SIZES)))]
    videos = look_alike_videos(rng, plan.size, plan.frames, height, width)
    return np.concatenate([_sampled_views(rng, Clip(video, plan.fps), plan.views, spec) for video in videos])


def _sampled_views(rng: np.random.Generator, clip: Clip, views: int, spec: FrameSpec) -> np.ndarray:
    """The clip as uploaded, then ``views - 1`` randomly edited copies, each encoded and sampled as an upload."""
    sampled = []
    for view in range(views):
        edited = clip if view == 0 else random_edits(rng, clip.size, procedural_image)(clip)
        sampled.append(sample_frames(encode_video(edited.frames, edited.fps), spec).frames)
    return np.concatenate(sampled)


def view_descriptors(
    encoder: FrameEncoder, plan: StreamPlan | LookAlikePlan, spec: FrameSpec, cache: Path
) -> np.ndarray:
    """float16 ``[videos, views, frames, regional_dim]``: the regional descriptor of each view's sampled frames
    (for a :class:`LookAlikePlan`, its groups' videos one after another)."""
    key = {"plan": asdict(plan), "spec": asdict(spec), "encoder": encoder_digest(encoder), "sampler": spec.sampler_key}
    key["layout"] = "frames"  # caches of frame-averaged descriptors (an earlier layout) are not reused
    grouped = isinstance(plan, LookAlikePlan)
    count, size, render = (plan.groups, plan.size, render_look_alikes) if grouped else (plan.videos, 1, render_views)

    def compute() -> np.ndarray:
        def per_view(features: np.ndarray) -> np.ndarray:  # [B, S*V*T, F] → [B*S, V, T, regional]
            regional = features[..., encoder.feature_dim :]
            return regional.reshape(len(features) * size, plan.views, spec.count, -1).astype(np.float16)

        return extract_features(
            range(count),
            BackboneRunner(encoder, spec.size),
            lambda index: render(index, plan, spec),
            description="look-alike views" if grouped else "instance views",
            reduce=per_view,
        )

    return cached_array(cache, key, compute)


def video_views(
    encoder: FrameEncoder, plan: StreamPlan | LookAlikePlan, spec: FrameSpec, cache: Path, motion_weight: float
) -> np.ndarray:
    """float32 ``[videos, views, D]``: the video descriptor the anchors read (``motion_weight`` as the model's)
    of every view, from the frames' descriptors cached at ``cache``."""
    return video_descriptor_array(view_descriptors(encoder, plan, spec, cache), motion_weight)
