"""The active region: an inset that moves inside still surroundings is found; anything else keeps the picture."""

from __future__ import annotations

import numpy as np

from deephash.video.region import Region, active_region


def frames_with_inset(moving_outside: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    still = rng.uniform(0, 255, (72, 128))
    frames = np.repeat(still[None], 5, axis=0)
    frames[:, 20:56, 70:118] = rng.uniform(0, 255, (5, 36, 48))  # the inset changes from frame to frame
    frames += moving_outside * rng.standard_normal(frames.shape)
    return frames


def test_an_inset_in_still_content_is_the_region():
    region = active_region(frames_with_inset())
    assert abs(region.top - 20 / 72) < 0.03 and abs(region.bottom - 56 / 72) < 0.03
    assert abs(region.left - 70 / 128) < 0.03 and abs(region.right - 118 / 128) < 0.03
    rows, columns = region.pixels(720, 1280)
    assert abs(rows.start - 200) <= 20 and abs(columns.stop - 1180) <= 20


def test_without_a_clear_inset_the_whole_picture_is_kept():
    assert active_region(frames_with_inset(moving_outside=20.0)) == Region()  # everything moves
    assert active_region(np.repeat(np.full((1, 72, 128), 90.0), 5, axis=0)) == Region()  # nothing moves
    assert active_region(frames_with_inset()[:2]) == Region()  # two frames say too little
    assert Region().whole and not active_region(frames_with_inset()).whole
