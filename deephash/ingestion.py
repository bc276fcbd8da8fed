"""The one way codes enter a data folder's libraries, whoever hashed them: the service's ``add``, the bulk job's
commits and ``deephash index add`` all write through :func:`write_codes`.

Order: audio first, then video. A video row means "this id is done": the service's idempotent ``add`` answers
"unchanged" for an id whose video row exists, and a bulk job resumes by skipping those ids, so the audio row
must be durable before the video row that vouches for it. A crash between the two leaves an audio row whose
video is absent; searches never answer such a row (they look its video up), and the retry writes both.

Stale rows: an id hashed again without sound loses the audio code of its earlier upload, so a replacement
never keeps someone else's soundtrack.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deephash.audio.index import AudioIndex
from deephash.index import Library


@dataclass(frozen=True)
class CodeRows:
    """Codes of a batch of videos, as the model made them: ``audio[i]`` is None for a video without sound;
    ``verification``: the model's verification descriptors ``[n, V]`` (None from a model without them)."""

    video_ids: Sequence[str]
    codes: np.ndarray  # [n, code bytes] uint8
    l1: np.ndarray  # [n]
    l2: np.ndarray  # [n]
    audio: Sequence[np.ndarray | None]
    verification: np.ndarray | None = None

    def __post_init__(self) -> None:
        sizes = {len(self.video_ids), len(self.codes), len(self.l1), len(self.l2), len(self.audio)}
        sizes |= set() if self.verification is None else {len(self.verification)}
        if len(sizes) != 1:
            raise ValueError(f"a batch's ids, codes, categories and audio codes differ in length: {sorted(sizes)}")


def write_codes(video: Library, audio: AudioIndex | None, rows: CodeRows) -> Counter:
    """Write a batch durably, audio first; the video library's outcomes ("added", "replaced", "unchanged").
    ``audio`` None: a video library alone, kept without audio codes. Verification descriptors go beside the codes
    in a library that keeps them (one made before them keeps codes alone)."""
    if not len(rows.video_ids):
        return Counter()
    if audio is not None:
        sounding = [i for i, code in enumerate(rows.audio) if code is not None]
        if sounding:
            audio.add_many([rows.video_ids[i] for i in sounding], np.stack([rows.audio[i] for i in sounding]))
        for i, code in enumerate(rows.audio):
            if code is None:
                audio.remove(rows.video_ids[i])  # a no-op (nothing written) for an id it does not hold
    l1, l2 = np.asarray(rows.l1), np.asarray(rows.l2)
    return video.add_many(list(rows.video_ids), rows.codes, l1, l2, rows.verification)
