"""A fixed-length audio code in the spirit of the Philips fingerprint (Haitsma & Kalker, 2002).

Method: mono 16 kHz; 128 ms frames every 32 ms; energies in 33 log-spaced bands between 300 and 3000 Hz
(where codecs keep the signal and speech and music carry their structure); per frame the 32 differences of
adjacent log band energies (the spectral shape, unchanged by volume). The clip is cut into S equal segments
(S = bits / 32, 4 at 128 bits); bit (s, b) says whether segment s has a steeper band-b slope than the clip
on average. Why this survives what it must:

* volume: a gain adds the same constant to every log energy, and differences of bands cancel it;
* lossy codecs (AAC, MP3, Opus at low rates) keep band energies in this range — they drop detail above it;
* a small time shift moves each segment boundary by a little and changes segment means slightly;
* different sounds have different spectral shapes over time, so about half their bits differ.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import av
import av.error
import numpy as np

from deephash.codes import pack_bits
from deephash.errors import CorruptVideo, DeepHashError

AUDIO_RATE = 16_000
FRAME, HOP = 2048, 512
BANDS, LOW_HZ, HIGH_HZ = 33, 300.0, 3000.0
MAX_SECONDS = 600.0


def decode_audio(
    source: str | os.PathLike | bytes | BinaryIO, rate: int = AUDIO_RATE, max_seconds: float = MAX_SECONDS
) -> np.ndarray | None:
    """The first audio track as mono float32 at ``rate`` (first ``max_seconds``); None when there is none."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    limit = int(max_seconds * rate)
    try:
        with av.open(source) as container:
            if not container.streams.audio:
                return None
            for frame in container.decode(container.streams.audio[0]):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
                if sum(len(chunk) for chunk in chunks) >= limit:
                    break
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except av.error.FFmpegError as error:
        raise CorruptVideo(f"the audio track cannot be decoded: {error}") from error
    if not chunks:
        return None
    return np.concatenate(chunks)[:limit].astype(np.float32)


def band_energies(samples: np.ndarray, rate: int = AUDIO_RATE) -> np.ndarray:
    """Log energies ``[frames, BANDS]`` of Hann-windowed frames in log-spaced bands."""
    if len(samples) < FRAME:
        samples = np.pad(samples, (0, FRAME - len(samples)))
    count = 1 + (len(samples) - FRAME) // HOP
    frames = np.lib.stride_tricks.as_strided(
        samples, shape=(count, FRAME), strides=(samples.strides[0] * HOP, samples.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    frequencies = np.fft.rfftfreq(FRAME, 1.0 / rate)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
    band = np.digitize(frequencies, edges) - 1
    energies = np.stack([power[:, band == b].sum(axis=1) for b in range(BANDS)], axis=1)
    return np.log(energies + 1e-10)


def audio_code(samples: np.ndarray, bits: int = 128, rate: int = AUDIO_RATE) -> np.ndarray:
    """Packed ``bits``-bit code of mono samples (see the module docstring)."""
    slopes = BANDS - 1
    if bits % slopes or bits % 8:
        raise DeepHashError(f"audio code length must be a multiple of {slopes} and of 8, got {bits}")
    segments = bits // slopes
    differences = np.diff(band_energies(samples, rate), axis=1)  # [frames, 32]
    if len(differences) < segments:
        differences = np.repeat(differences, -(-segments // len(differences)), axis=0)
    means = np.stack([part.mean(axis=0) for part in np.array_split(differences, segments)])
    return pack_bits((means > differences.mean(axis=0)).reshape(-1))


def hash_audio(source: str | os.PathLike | bytes | BinaryIO, bits: int = 128) -> np.ndarray | None:
    """The audio code of a media file, or None when it has no (decodable, non-empty) audio track."""
    samples = decode_audio(source)
    if samples is None or not np.any(samples):
        return None
    return audio_code(samples, bits)
