"""Audio codes survive re-encoding, volume change and a small shift, and separate different sounds."""

from __future__ import annotations

import av
import numpy as np
import pytest
from scipy.signal import resample_poly

from deephash.audio import AUDIO_RATE, audio_code, decode_audio, hash_audio
from deephash.codes import hamming
from deephash.errors import DeepHashError


def write_audio(path, samples: np.ndarray, codec: str, bitrate: int):
    """Encode mono 16 kHz samples with a real FFmpeg encoder (Opus runs at 48 kHz)."""
    with av.open(str(path), "w") as container:
        rate = 48_000 if codec == "libopus" else AUDIO_RATE
        stream = container.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bitrate
        samples = resample_poly(samples, rate, AUDIO_RATE).astype(np.float32) if rate != AUDIO_RATE else samples
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024].copy(), format="fltp", layout="mono")
            frame.sample_rate = rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def bunny(clips):
    samples = decode_audio(clips["bigbuckbunny"])
    return samples, audio_code(samples)


def test_decodes_the_aac_track_of_a_real_clip(bunny, clips):
    samples, code = bunny
    assert samples.dtype == np.float32 and abs(len(samples) / AUDIO_RATE - 5.3) < 0.1
    assert code.shape == (16,) and code.dtype == np.uint8
    assert np.array_equal(hash_audio(clips["bigbuckbunny"].read_bytes()), code)


def test_video_without_audio_has_no_audio_code(clips):
    assert decode_audio(clips["bikes"]) is None
    assert hash_audio(clips["bikes"]) is None


@pytest.mark.parametrize(
    ("codec", "bitrate", "suffix"), [("aac", 24_000, "m4a"), ("libmp3lame", 32_000, "mp3"), ("libopus", 16_000, "webm")]
)
def test_survives_low_bitrate_reencoding(bunny, tmp_path, codec, bitrate, suffix):
    samples, code = bunny
    encoded = write_audio(tmp_path / f"bunny.{suffix}", samples, codec, bitrate)
    assert int(hamming(code, hash_audio(encoded))) <= 16


def test_survives_volume_and_a_small_shift(bunny):
    samples, code = bunny
    assert int(hamming(code, audio_code(samples * 0.25))) <= 4
    assert int(hamming(code, audio_code(samples[int(0.1 * AUDIO_RATE) :]))) <= 12


def test_separates_different_sounds(bunny):
    samples, code = bunny
    rng = np.random.default_rng(0)
    time = np.arange(5 * AUDIO_RATE) / AUDIO_RATE
    others = [np.sin(2 * np.pi * (220 + 150 * k) * time) * (1.2 + np.sin(2 * np.pi * time * k)) for k in range(3)]
    others += [rng.standard_normal(len(time)) * np.abs(np.sin(2 * np.pi * time * (k + 1))) for k in range(2)]
    others += [samples[::-1].copy()]
    distances = [int(hamming(code, audio_code(other.astype(np.float32)))) for other in others]
    assert min(distances) >= 40, distances


def test_code_length_must_fit_the_bands(bunny):
    with pytest.raises(DeepHashError):
        audio_code(bunny[0], bits=100)
    assert audio_code(bunny[0], bits=256).shape == (32,)
