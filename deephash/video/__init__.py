"""Frames from videos: the one place where sampling and pre-processing happen."""

from deephash.video.frames import (
    DEFAULT_FRAME_SIZE,
    DEFAULT_NUM_FRAMES,
    SAMPLER_VERSION,
    SAMPLERS,
    FrameSpec,
    SampledFrames,
    VideoLimits,
    VideoSource,
    check_file_size,
    sample_frames,
    sample_intra_pair,
)

__all__ = [
    "DEFAULT_FRAME_SIZE",
    "DEFAULT_NUM_FRAMES",
    "SAMPLER_VERSION",
    "SAMPLERS",
    "FrameSpec",
    "SampledFrames",
    "VideoLimits",
    "VideoSource",
    "check_file_size",
    "sample_frames",
    "sample_intra_pair",
]
