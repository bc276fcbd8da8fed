"""Decoding forward from a seek while skipping the pictures nothing refers to: the frames on screen are those of a
full decode, with fewer pictures decoded, on real encoded files (H.264 with B-frames); HEVC is decoded whole."""

from __future__ import annotations

import av
import numpy as np
import pytest

from deephash.video.forward import ForwardReader
from tests.test_keyframe_sampler import grey_ramp


def frames_on_screen(path, targets: list[float], skipping: bool, threads: int = 4) -> tuple[list, int, int]:
    """The frames on screen at ``targets`` (pts, RGB) from one seek, how many pictures were decoded, and how many
    times the reader had to decode a target again."""
    shown, restarts = set(), 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # as the exact sampler decodes: frame threads see the skipping too
        stream.thread_count = threads  # pictures held in the decoder grow with the threads
        reader = ForwardReader.after_seek(container, stream, targets[0], float("inf"), skipping=skipping)
        next_frame, restart = reader._next_frame, reader._restart

        def counted(answer):
            frame = next_frame(answer)
            if frame is not None:
                shown.add(frame.pts)  # a frame looked at again for the next target counts once
            return frame

        def counted_restart(*arguments, **keywords):
            nonlocal restarts
            restarts += 1
            shown.clear()
            restart(*arguments, **keywords)

        reader._next_frame, reader._restart = counted, counted_restart
        found = [reader.frame_on_screen(target) for target in targets]
        return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in found], len(shown), restarts


def full_decode(path, targets: list[float]) -> list:
    """The frames on screen at ``targets`` (pts, RGB) by decoding every picture from the start."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    on_screen = [max((f for f in frames if f.time <= target + 1e-9), key=lambda f: f.pts) for target in targets]
    return [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in on_screen]


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


@pytest.mark.parametrize("threads", [1, 16])
def test_skipping_finds_the_frames_a_full_decode_finds_and_decodes_fewer(tmp_path, clips, threads):
    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV has no libx264 encoder")
    bars = moving_bars(tmp_path / "bars.mp4", "libx264")
    for path in (bars, grey_ramp(tmp_path / "ramp.mp4", frames=120, keyframe_every=30), clips["bikes"]):
        for count in (5, 13):
            targets = targets_over(path, count)
            skipped, decoded_skipping, restarts = frames_on_screen(path, targets, skipping=True, threads=threads)
            whole, decoded_whole, _ = frames_on_screen(path, targets, skipping=False, threads=threads)
            assert (
                [pts for pts, _ in skipped]
                == [pts for pts, _ in whole]
                == [pts for pts, _ in full_decode(path, targets)]
            )
            assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(skipped, full_decode(path, targets))), path.name
            assert restarts == 0 and decoded_skipping < decoded_whole, (path.name, count, restarts)


def test_a_reader_that_does_not_find_the_frame_the_packets_named_decodes_the_target_again(tmp_path, monkeypatch):
    path = moving_bars(tmp_path / "bars.mp4", "libx264")
    targets = targets_over(path, 5)
    whole = full_decode(path, targets)
    named = ForwardReader._answer
    monkeypatch.setattr(ForwardReader, "_answer", lambda self, target: (named(self, target) or 0) + 1)  # no such pts
    restarts = []
    restart = ForwardReader._restart
    monkeypatch.setattr(ForwardReader, "_restart", lambda self, *a, **k: restarts.append(1) or restart(self, *a, **k))
    skipped, _, _ = frames_on_screen(path, targets, skipping=True)
    assert restarts and [pts for pts, _ in skipped] == [pts for pts, _ in whole]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(skipped, whole))


def test_hevc_is_decoded_whole(tmp_path):
    """FFmpeg's HEVC decoder would also drop sub-layer non-reference pictures that other layers refer to."""
    if "libx265" not in av.codecs_available:
        pytest.skip("this PyAV has no libx265 encoder")
    path = moving_bars(tmp_path / "bars.mp4", "libx265")
    targets = targets_over(path, 5)
    skipped, decoded_skipping, _ = frames_on_screen(path, targets, skipping=True)
    whole, decoded_whole, _ = frames_on_screen(path, targets, skipping=False)
    assert decoded_skipping == decoded_whole
    assert [pts for pts, _ in skipped] == [pts for pts, _ in whole] == [pts for pts, _ in full_decode(path, targets)]
