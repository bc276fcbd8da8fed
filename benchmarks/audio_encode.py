"""Write mono samples with a real FFmpeg audio encoder — how the robustness of audio codes is measured
(``benchmarks/audio.py`` and the audio tests): AAC, MP3 and Opus at the low bitrates users' uploads arrive at."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from deephash.audio.fingerprint import AUDIO_RATE

ENCODER_RATES = {"libopus": 48_000}  # Opus encodes at 48 kHz only


def encode_audio(path: Path, samples: np.ndarray, codec: str, bitrate: int, rate: int = AUDIO_RATE) -> Path:
    """Encode mono float samples at ``rate`` into ``path`` (container chosen by its suffix)."""
    out_rate = ENCODER_RATES.get(codec, rate)
    if out_rate != rate:
        samples = resample_poly(samples, out_rate, rate)
    samples = np.asarray(samples, dtype=np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=out_rate, layout="mono")
        stream.bit_rate = bitrate
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate = out_rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)
