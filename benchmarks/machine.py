"""What a benchmark's figures were measured on: the CPU model and the SIMD extensions that matter to our kernels
(machines of one kind differ: with AVX-512 VPOPCNTDQ a popcount runs on eight 64-bit lanes at once)."""

from __future__ import annotations

import os
from pathlib import Path

SIMD_FLAGS = ("sse4_2", "popcnt", "avx2", "avx512f", "avx512bw", "avx512_vpopcntdq", "avx512_bitalg", "avx512_vnni")


def cpu_description() -> str:
    """``model name`` and the SIMD flags of /proc/cpuinfo present here, and the cores this process may use."""
    model, flags = "unknown CPU", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    present = " ".join(flag for flag in SIMD_FLAGS if flag in flags) or "none of " + ", ".join(SIMD_FLAGS)
    return f"CPU: {model}, {len(os.sched_getaffinity(0))} cores; SIMD: {present}"


def popcount_instructions(dispatcher) -> str:
    """Which popcount a compiled numba function uses, read from its generated assembly.

    The widest form present wins: ``vpopcntq`` on zmm (AVX-512 VPOPCNTDQ, 8 lanes) or ymm, a ``vpshufb``
    table lookup (how LLVM counts bits on AVX2), else scalar ``popcnt``.
    """
    assembly = "\n".join(dispatcher.inspect_asm(signature) for signature in dispatcher.signatures)
    if not dispatcher.signatures:
        raise ValueError(f"{dispatcher.__name__} has not been compiled yet: call it once first")
    lines = [line for line in assembly.splitlines() if "popcnt" in line or "vpshufb" in line]
    if any("vpopcntq" in line and "zmm" in line for line in lines):
        return "AVX-512 vpopcntq, 512-bit vectors"
    if any("vpopcntq" in line and "ymm" in line for line in lines):
        return "AVX-512 vpopcntq, 256-bit vectors"
    if any("vpshufb" in line for line in lines):
        return "vpshufb nibble lookup (AVX2)"
    return "scalar popcnt" if lines else "no popcount found"
