"""Binary codes: packing, hex form and Hamming distance (the conventions of ``docs/architecture.md``).

A code of L bits is stored as ``numpy.packbits(bits, bitorder='big')`` (L/8 bytes); in JSON it is a
lowercase hex string of L/4 characters.
"""

from __future__ import annotations

import numpy as np

from deephash.errors import DeepHashError, InvalidRequest

# popcount of every byte value: numpy 1.26 has no bitwise_count.
POPCOUNT8 = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a ``[..., L]`` array of 0/1 (or booleans) into ``[..., L/8]`` uint8, big-endian bit order."""
    bits = np.asarray(bits)
    if bits.shape[-1] % 8:
        raise DeepHashError(f"code length {bits.shape[-1]} is not a multiple of 8")
    return np.packbits(bits.astype(bool), axis=-1, bitorder="big")


def unpack_bits(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``[..., L/8]`` uint8 → ``[..., L]`` uint8 of 0/1."""
    return np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=-1, bitorder="big")


def to_hex(code: np.ndarray) -> str:
    """One packed code → lowercase hex (L/4 characters)."""
    return np.asarray(code, dtype=np.uint8).tobytes().hex()


def from_hex(text: str, code_bits: int | None = None) -> np.ndarray:
    """Hex string → packed code; checks the length when ``code_bits`` is given."""
    try:
        code = np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy()
    except ValueError as error:
        raise InvalidRequest(f"not a hex code: {text!r}") from error
    if code_bits is not None and code.size * 8 != code_bits:
        raise InvalidRequest(f"code has {code.size * 8} bits, expected {code_bits}")
    return code


def hamming(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """popcount((a XOR b) AND mask) over the last axis of packed codes (broadcasting)."""
    diff = np.bitwise_xor(np.asarray(a, dtype=np.uint8), np.asarray(b, dtype=np.uint8))
    if mask is not None:
        diff &= np.asarray(mask, dtype=np.uint8)
    return POPCOUNT8[diff].sum(axis=-1, dtype=np.int64)
