"""Audio codes survive re-encoding, volume change and a small shift, and separate different sounds."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from deephash.audio import AUDIO_RATE, audio_code, decode_audio, hash_audio
from deephash.codes import hamming
from deephash.errors import DeepHashError
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from audio_encode import encode_audio  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)


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
    encoded = encode_audio(tmp_path / f"bunny.{suffix}", samples, codec, bitrate)
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
