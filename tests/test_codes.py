"""Packing, hex form and Hamming distance follow the conventions of docs/architecture.md."""

from __future__ import annotations

import numpy as np
import pytest

from deephash.codes import from_hex, hamming, pack_bits, to_hex, unpack_bits
from deephash.errors import DeepHashError


def test_pack_is_numpy_big_endian_and_round_trips():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (10, 128))
    packed = pack_bits(bits)
    assert packed.shape == (10, 16)
    assert np.array_equal(packed, np.packbits(bits, axis=-1, bitorder="big"))
    assert np.array_equal(unpack_bits(packed), bits)
    assert pack_bits(np.array([1, 0, 0, 0, 0, 0, 0, 1]))[0] == 0x81


def test_hex_round_trip_and_length_check():
    code = np.arange(16, dtype=np.uint8)
    text = to_hex(code)
    assert text == "000102030405060708090a0b0c0d0e0f" and len(text) == 128 // 4
    assert np.array_equal(from_hex(text, 128), code)
    with pytest.raises(DeepHashError):
        from_hex(text, 64)
    with pytest.raises(DeepHashError):
        from_hex("zz")


def test_hamming_equals_bit_count_with_and_without_mask():
    rng = np.random.default_rng(1)
    a, b, m = rng.integers(0, 2, (3, 50, 64))
    expected_plain = (a != b).sum(axis=1)
    expected_masked = ((a != b) & (m == 1)).sum(axis=1)
    assert np.array_equal(hamming(pack_bits(a), pack_bits(b)), expected_plain)
    assert np.array_equal(hamming(pack_bits(a), pack_bits(b), pack_bits(m)), expected_masked)
