"""The keyframe sampler: the keyframe nearest each target, decoded on its own, from real encoded files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from deephash.video import FrameSpec, sample_frames
from deephash.video.forward import ForwardReader
from deephash.video.frames import _square_rgb
from deephash.video.mp4_index import IndexedKeyframes

KEYFRAMES = FrameSpec(4, 32, "keyframes")


def grey_ramp(path: Path, frames: int = 100, fps: int = 10, keyframe_every: int = 20) -> Path:
    """Frame i is a flat grey of level 20 + 2i; a keyframe every ``keyframe_every`` frames, none elsewhere."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        every = str(keyframe_every)
        stream.options = {"g": every, "keyint_min": every, "sc_threshold": "0", "preset": "veryfast"}
        for index in range(frames):
            image = np.full((48, 64, 3), 20 + 2 * index, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def decoded_by_index(path: Path, size: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [_square_rgb(frame, size) for frame in container.decode(video=0)]


def test_takes_the_keyframe_nearest_each_target(tmp_path):
    """10 s, keyframes every 2 s; targets 1.25, 3.75, 6.25, 8.75 s are nearest the keyframes at 2, 4, 6, 8 s."""
    path = grey_ramp(tmp_path / "ramp.mp4")
    sampled = sample_frames(path, KEYFRAMES)
    every_frame = decoded_by_index(path, 32)
    for got, index in zip(sampled.frames, (20, 40, 60, 80)):
        assert np.array_equal(got, every_frame[index])
    assert sampled.distinct_frames == 4
    assert np.allclose(sampled.timestamps_s, [1.25, 3.75, 6.25, 8.75])


def test_equally_near_keyframes_resolve_to_the_earlier(tmp_path):
    path = grey_ramp(tmp_path / "ramp.mp4")
    sampled = sample_frames(path, FrameSpec(5, 32, "keyframes"))  # targets 1, 3, 5, 7, 9 s
    every_frame = decoded_by_index(path, 32)
    for got, index in zip(sampled.frames, (0, 20, 40, 60, 80)):
        assert np.array_equal(got, every_frame[index])


def test_targets_without_a_keyframe_in_their_slice_get_the_exact_frame(tmp_path):
    """Keyframes at 0 and 6 s of 10 s; slices of 2.5 s around 1.25, 3.75, 6.25, 8.75 s: the keyframes serve the
    first and third target, the others get the frame on screen (frames 37 and 87)."""
    path = grey_ramp(tmp_path / "sparse.mp4", keyframe_every=60)
    sampled = sample_frames(path, KEYFRAMES)
    every_frame = decoded_by_index(path, 32)
    for got, index in zip(sampled.frames, (0, 37, 60, 87)):
        assert np.array_equal(got, every_frame[index])
    assert sampled.distinct_frames == 4


def test_a_single_keyframe_serves_only_its_own_slice(clips, monkeypatch):
    """bigbuckbunny's only keyframe is its first frame: it serves the first target, the exact frames the rest,
    decoded on from one seek rather than from a seek each."""
    seeks = []
    after_seek = ForwardReader.after_seek
    monkeypatch.setattr(ForwardReader, "after_seek", lambda *arguments: seeks.append(1) or after_seek(*arguments))
    keyframed = sample_frames(clips["bigbuckbunny"], FrameSpec(5, 64, "keyframes"))
    assert len(seeks) == 1
    exact = sample_frames(clips["bigbuckbunny"], FrameSpec(5, 64))
    assert np.array_equal(keyframed.frames[1:], exact.frames[1:])
    assert np.array_equal(keyframed.frames[0], decoded_by_index(clips["bigbuckbunny"], 64)[0])
    assert keyframed.distinct_frames == 5


@pytest.mark.parametrize("name", ["bikes", "carphone_pristine", "carphone_distorted"])
def test_real_clips_give_the_model_input_from_path_and_bytes_alike(clips, name):
    spec = FrameSpec(sampler="keyframes")
    from_path = sample_frames(clips[name], spec)
    assert from_path.frames.shape == (5, 3, 224, 224) and from_path.frames.dtype == np.uint8
    assert np.array_equal(from_path.frames, sample_frames(clips[name].read_bytes(), spec).frames)


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="unknown sampler"):
        FrameSpec(sampler="fastest")


def frame_after_a_seek(container, stream, target: float) -> av.VideoFrame:
    """The frame on screen at ``target`` found by a seek of its own, nothing skipped: the reference."""
    return ForwardReader.after_seek(container, stream, target, float("inf"), skipping=False).frame_on_screen(target)


@pytest.mark.parametrize("keyframe_every", [1000, 30, 7])
def test_the_exact_sampler_decodes_on_instead_of_seeking_back_and_finds_the_same_frames(
    tmp_path, clips, keyframe_every
):
    """One keyframe, a keyframe per 3 s and per 0.7 s, and real clips: the frames chosen when decoding goes on
    through a group of pictures are those of a seek per target."""
    from deephash.video.seeking import frames_by_seeking

    ramp = grey_ramp(tmp_path / "ramp.mp4", frames=120, keyframe_every=keyframe_every)
    for path in (ramp, clips["carphone_pristine"], clips["bikes"]):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            duration = float(stream.duration * stream.time_base)
            targets = [duration * (index + 0.5) / 7 for index in range(7)]
            found = frames_by_seeking(container, stream, targets, deadline=float("inf"), decode_on=True)
            expected = [frame_after_a_seek(container, stream, target) for target in targets]
            assert [frame.pts for frame in found] == [frame.pts for frame in expected], path.name
            for frame, reference in zip(found, expected):
                assert np.array_equal(frame.to_ndarray(format="rgb24"), reference.to_ndarray(format="rgb24"))


def test_a_target_between_a_keyframes_decoding_and_presentation_time_gets_the_frame_a_seek_gives(tmp_path):
    """With B-frames a keyframe is decoded before it is shown; where a seek lands for a target in between
    depends on the demuxer, so the sampler seeks there rather than decoding on."""
    from deephash.video.seeking import _KeyframeIndex, frames_by_seeking

    path = grey_ramp(tmp_path / "ramp.mp4", frames=120, keyframe_every=30)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        windows = [
            window for window in _KeyframeIndex.read(container, stream, float("inf")).windows if window[0] < window[1]
        ]
        assert windows, "the encoder made B-frames: keyframes are decoded before they are shown"
        targets = sorted({0.5 * (low + high) for low, high in windows} | {high + 0.05 for _, high in windows})
        found = frames_by_seeking(container, stream, targets, float("inf"), decode_on=True)
        expected = [frame_after_a_seek(container, stream, target) for target in targets]
        assert [frame.pts for frame in found] == [frame.pts for frame in expected]


@pytest.mark.parametrize("keyframe_every", [7, 30, 1000])
def test_an_mp4_index_finds_the_keyframes_demuxing_finds(tmp_path, monkeypatch, keyframe_every):
    """The keyframes around each target come from an MP4's index without demuxing a group of pictures, and
    are those that demuxing finds: also for targets between a keyframe's decoding and presentation time (with
    B-frames a keyframe is decoded before it is shown), at the very start and after the last keyframe."""
    from deephash.video import seeking

    path = grey_ramp(tmp_path / "ramp.mp4", frames=120, keyframe_every=keyframe_every)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        windows = seeking._KeyframeIndex.read(container, stream, float("inf")).windows
    assert any(low < high for low, high in windows), "the encoder made B-frames"
    targets = sorted({0.0, 11.9} | {(low + high) / 2 for low, high in windows} | {high + 0.05 for _, high in windows})

    def chosen(within_s: float) -> list[int]:
        """Each target asked alone, so that none is answered from the keyframes found for another."""
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            ask = seeking.frames_at_keyframes
            return [ask(container, stream, [t], float("inf"), within_s, decode_on=True)[0].pts for t in targets]

    with av.open(str(path)) as container:
        assert IndexedKeyframes.of(container, container.streams.video[0]) is not None
    around, demuxed = seeking._keyframes_around, []
    for within_s in (100.0, 0.5):  # every target served by a keyframe; some by the exact frame
        with monkeypatch.context() as patched:
            patched.setattr(IndexedKeyframes, "of", classmethod(lambda *_: None))
            demuxing = chosen(within_s)
        with monkeypatch.context() as patched:
            patched.setattr(seeking, "_keyframes_around", lambda *arguments: demuxed.append(1) or around(*arguments))
            assert chosen(within_s) == demuxing
    assert not demuxed, "the index answered every target"


def test_only_a_complete_index_is_used(tmp_path):
    """Matroska indexes some keyframes (cues), not every packet: its keyframes are found by demuxing."""
    source = grey_ramp(tmp_path / "ramp.mp4", frames=60)
    with av.open(str(source)) as mp4, av.open(str(tmp_path / "ramp.mkv"), "w") as mkv:
        copy = mkv.add_stream_from_template(mp4.streams.video[0])
        for packet in mp4.demux(video=0):
            if packet.dts is not None:
                packet.stream = copy
                mkv.mux(packet)
    with av.open(str(tmp_path / "ramp.mkv")) as container:
        assert IndexedKeyframes.of(container, container.streams.video[0]) is None
    assert np.array_equal(
        sample_frames(tmp_path / "ramp.mkv", KEYFRAMES).frames, sample_frames(source, KEYFRAMES).frames
    )
