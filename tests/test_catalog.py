"""The catalog's searches over its video and audio libraries together."""

from __future__ import annotations

import numpy as np

from deephash.catalog import Catalog
from deephash.search_options import SearchOptions


def test_a_sound_whose_video_was_removed_is_not_answered(small_model, tmp_path):
    """``Catalog.remove`` removes the video, then the sound: a failure in between leaves a sound without its video,
    which searches by sound must pass over instead of failing."""
    catalog = Catalog(small_model, tmp_path / "data")
    try:
        rng = np.random.default_rng(0)
        video_code = rng.integers(0, 256, catalog.video.code_bits // 8, dtype=np.uint8)
        audio_code = rng.integers(0, 256, 16, dtype=np.uint8)
        catalog.video.add("kept", video_code, 0, 1)
        catalog.audio.add("kept", audio_code)
        catalog.audio.add("orphan", audio_code)
        for modality in ("audio", "both"):
            options = SearchOptions(modality=modality, masked=False, same_group=False)
            hits = catalog.search(video_code, 0, 1, audio_code, options)
            assert [(hit.video_id, hit.l2) for hit in hits] == [("kept", 1)], modality
    finally:
        catalog.close()
