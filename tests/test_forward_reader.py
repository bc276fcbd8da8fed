"""Decoding forward from a seek while skipping the pictures nothing refers to: the frames on screen are those of a
full decode, with fewer pictures decoded, on real encoded files (H.264 with B-frames); HEVC is decoded whole."""

from __future__ import annotations

import av
import numpy as np
import pytest

from deephash.video.forward import ForwardReader
from tests.test_keyframe_sampler import grey_ramp


def frames_on_screen(path, targets: list[float], skipping: bool) -> tuple[list, int]:
    """The frames on screen at ``targets`` (pts, RGB) from one seek, and how many pictures were decoded."""
    decoded = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # as the exact sampler decodes: frame threads see the skipping too
        reader = ForwardReader.after_seek(container, stream, targets[0], float("inf"), skipping=skipping)
        next_frame = reader._next_frame

        def counted(answer):
            nonlocal decoded
            frame = next_frame(answer)
            decoded += frame is not None
            return frame

        reader._next_frame = counted
        found = [reader.frame_on_screen(target) for target in targets]
        return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in found], decoded


def moving_bars(path, codec: str, frames: int = 150, fps: int = 30, keyframe_every: int = 60):
    """Bars that move every frame, so the encoder predicts pictures from others (B-frames included)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        if codec == "libx264":
            stream.options = {"g": str(keyframe_every), "bf": "3", "preset": "veryfast"}
        else:
            stream.options = {"x265-params": f"keyint={keyframe_every}:bframes=3:log-level=error"}
        for index in range(frames):
            image = np.zeros((64, 96, 3), dtype=np.uint8)
            image[:, (index * 3) % 96 :][:, :8] = (255, 128 + index % 100, 40)
            image[(index * 2) % 64 :][:8] = (30, 200, (index * 7) % 256)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def targets_over(path, count: int) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base)
    return [duration * (index + 0.37) / count for index in range(count)]


@pytest.mark.parametrize("codec", ["libx264"])
def test_skipping_finds_the_frames_a_full_decode_finds_and_decodes_fewer(tmp_path, clips, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec} encoder")
    videos = [moving_bars(tmp_path / f"bars_{codec}.mp4", codec)]
    if codec == "libx264":
        videos += [grey_ramp(tmp_path / "ramp.mp4", frames=120, keyframe_every=30), clips["bikes"]]
    for path in videos:
        for count in (5, 13):
            targets = targets_over(path, count)
            skipped, decoded_skipping = frames_on_screen(path, targets, skipping=True)
            whole, decoded_whole = frames_on_screen(path, targets, skipping=False)
            assert [pts for pts, _ in skipped] == [pts for pts, _ in whole], path.name
            assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(skipped, whole)), path.name
            assert decoded_skipping < decoded_whole, path.name


def test_a_reader_that_does_not_find_the_frame_the_packets_named_decodes_the_target_again(tmp_path, monkeypatch):
    path = moving_bars(tmp_path / "bars.mp4", "libx264")
    targets = targets_over(path, 5)
    whole, _ = frames_on_screen(path, targets, skipping=False)
    named = ForwardReader._answer
    monkeypatch.setattr(ForwardReader, "_answer", lambda self, target: (named(self, target) or 0) + 1)  # no such pts
    restarts = []
    restart = ForwardReader._restart
    monkeypatch.setattr(ForwardReader, "_restart", lambda self, *a, **k: restarts.append(1) or restart(self, *a, **k))
    skipped, _ = frames_on_screen(path, targets, skipping=True)
    assert restarts and [pts for pts, _ in skipped] == [pts for pts, _ in whole]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(skipped, whole))


def test_hevc_is_decoded_whole(tmp_path):
    """FFmpeg's HEVC decoder would also drop sub-layer non-reference pictures that other layers refer to."""
    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV has no libx265 encoder")
    path = moving_bars(tmp_path / "bars.mp4", "libx265")
    targets = targets_over(path, 5)
    skipped, decoded_skipping = frames_on_screen(path, targets, skipping=True)
    whole, decoded_whole = frames_on_screen(path, targets, skipping=False)
    assert decoded_skipping == decoded_whole and [pts for pts, _ in skipped] == [pts for pts, _ in whole]
