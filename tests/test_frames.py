"""Frame sampling from real MP4 files, and a typed error for every class of bad input."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from deephash.errors import (
    CorruptVideo,
    DecodeTimeout,
    NoDecodableFrames,
    NotAMediaFile,
    NoVideoStream,
    VideoError,
    VideoLimitExceeded,
)
from deephash.video import FrameSpec, VideoLimits, sample_frames, sample_intra_pair
from tests.conftest import make_clip


@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted"])
def test_samples_five_distinct_square_frames_from_real_clips(clips, name):
    sampled = sample_frames(clips[name])
    assert sampled.frames.shape == (5, 3, 224, 224)
    assert sampled.frames.dtype == np.uint8
    assert sampled.distinct_frames == 5 and not sampled.repeated
    assert len({frame.tobytes() for frame in sampled.frames}) == 5
    times = np.array(sampled.timestamps_s)
    assert np.all(np.diff(times) > 0) and times[-1] < sampled.duration_s


def test_timestamps_are_slice_centres(clips):
    sampled = sample_frames(clips["bigbuckbunny"], FrameSpec(4))
    expected = [sampled.duration_s * (i + 0.5) / 4 for i in range(4)]
    assert np.allclose(sampled.timestamps_s, expected)
    assert (sampled.width, sampled.height) == (1280, 720)


def test_seeking_matches_decoding_everything(clips):
    """Each sampled frame is the one on screen at its target time, found by decoding every frame."""
    from deephash.video.frames import _square_rgb

    path = clips["bikes"]
    sampled = sample_frames(path, FrameSpec(4, 64))
    with av.open(str(path)) as container:
        decoded = [(float(frame.time), _square_rgb(frame, 64)) for frame in container.decode(video=0)]
    for target, got in zip(sampled.timestamps_s, sampled.frames):
        expected = [image for time, image in decoded if time <= target + 1e-9][-1]
        assert np.array_equal(got, expected)


def test_bytes_and_path_give_identical_frames(clips):
    path = clips["carphone_pristine"]
    assert np.array_equal(sample_frames(path).frames, sample_frames(path.read_bytes()).frames)


def test_intra_pair_is_two_disjoint_interleaved_sets(clips):
    first, second = sample_intra_pair(clips["bikes"])
    assert first.frames.shape == second.frames.shape == (5, 3, 224, 224)
    assert all(a < b for a, b in zip(first.timestamps_s, second.timestamps_s))
    assert not {f.tobytes() for f in first.frames} & {f.tobytes() for f in second.frames}


def test_short_video_repeats_frames_and_says_so(tmp_path):
    path = make_clip(tmp_path / "three.mp4", frames=3)
    sampled = sample_frames(path, FrameSpec(5))
    assert sampled.frames.shape == (5, 3, 224, 224)
    assert sampled.repeated and sampled.distinct_frames == 3


def test_not_a_media_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(NotAMediaFile):
        sample_frames(path)
    text = tmp_path / "notes.txt"  # FFmpeg would draw it (its tty demuxer): a text, refused as one
    text.write_text("not a video\n" * 100)
    with pytest.raises(NotAMediaFile, match="a text file"):
        sample_frames(text)


def test_empty_input(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(NotAMediaFile, match="empty"):
        sample_frames(tmp_path / "empty.mp4")
    with pytest.raises(NotAMediaFile):
        sample_frames(b"")


def test_missing_file(tmp_path):
    with pytest.raises(NotAMediaFile, match="no such file"):
        sample_frames(tmp_path / "absent.mp4")


def test_truncated_file_is_corrupt(clips, tmp_path):
    data = clips["bikes"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises((CorruptVideo, NoDecodableFrames)):
        sample_frames(truncated)


def test_garbage_after_a_valid_header_is_corrupt(clips):
    data = bytearray(clips["carphone_pristine"].read_bytes()[:4096])
    data[64:] = bytes(len(data) - 64)
    with pytest.raises(VideoError):
        sample_frames(bytes(data))


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        tone = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(NoVideoStream):
        sample_frames(path)


def test_video_whose_frame_data_is_destroyed(clips):
    """Container and index intact, every coded frame zeroed: nothing decodable."""
    data = bytearray(clips["carphone_pristine"].read_bytes())
    start = data.index(b"mdat") + 4
    size = int.from_bytes(data[start - 8 : start - 4], "big")
    data[start : start + size - 8] = bytes(size - 8)
    with pytest.raises((NoDecodableFrames, CorruptVideo)):
        sample_frames(bytes(data))


def test_limits_on_dimensions_duration_and_size(clips):
    with pytest.raises(VideoLimitExceeded, match="1280x720"):
        sample_frames(clips["bigbuckbunny"], limits=VideoLimits(max_width=640, max_height=480))
    with pytest.raises(VideoLimitExceeded, match="duration"):
        sample_frames(clips["bikes"], limits=VideoLimits(max_duration_s=2.0))
    with pytest.raises(VideoLimitExceeded, match="bytes"):
        sample_frames(clips["bikes"], limits=VideoLimits(max_file_bytes=1000))


def test_decode_time_limit(clips):
    with pytest.raises(DecodeTimeout):
        sample_frames(clips["bigbuckbunny"], limits=VideoLimits(decode_timeout_s=0.0))


def test_errors_share_one_root(tmp_path: Path):
    from deephash.errors import DeepHashError

    (tmp_path / "x.mp4").write_bytes(b"\x00" * 10)
    with pytest.raises(DeepHashError):
        sample_frames(tmp_path / "x.mp4")


def test_a_video_inside_still_content_is_cropped_to_its_active_region(clips, tmp_path):
    """Picture-in-picture over a still backdrop: the sampler finds the inset and gives the inset's frames."""
    from deephash.data.families import Clip
    from deephash.data.families.spatial import PictureInPicture
    from deephash.video.files import read_video, write_video

    video = read_video(clips["bikes"])
    backdrop = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    inset = PictureInPicture(scale=0.5, x=0.8, y=0.2, backdrop=backdrop)(Clip(video.frames, video.fps))
    path = write_video(tmp_path / "pip.mp4", inset.frames, inset.fps)
    region = sample_frames(path).region
    assert not region.whole
    assert 0.4 < region.right - region.left < 0.6 and region.left > 0.3  # the inset, not the backdrop
    assert sample_frames(clips["bikes"]).region.whole  # a video that moves everywhere keeps its picture


def test_a_file_of_many_streams_is_refused_before_decoding(tmp_path):
    path = tmp_path / "streams.mkv"
    with av.open(str(path), "w") as container:
        streams = [container.add_stream("mpeg4", rate=5) for _ in range(40)]
        for stream in streams:
            stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        image = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for stream in streams:
            container.mux(stream.encode(image))
            container.mux(stream.encode(None))
    with pytest.raises(VideoLimitExceeded, match="40 streams exceed the limit of 16"):
        sample_frames(path)
    assert sample_frames(path, limits=VideoLimits(max_streams=64)).frames.shape == (5, 3, 224, 224)


@pytest.mark.parametrize("sampler", ["exact", "keyframes"])
def test_a_raw_stream_without_duration_gives_frames_spread_over_it(tmp_path, sampler):
    """A raw H.264 stream has no duration and cannot be rewound: it is decoded once, and the frames picked
    near the centres of T equal parts of it (frame i is grey level 20 + 2i; centres at frames 10, 30, ... 90)."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for index in range(100):
            image = np.full((64, 64, 3), 20 + 2 * index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    sampled = sample_frames(path, FrameSpec(5, 32, sampler))
    assert sampled.distinct_frames == 5
    levels = [(float(frame.mean()) - 20) / 2 for frame in sampled.frames]
    assert all(abs(level - centre) <= 5 for level, centre in zip(levels, (10, 30, 50, 70, 90))), levels
