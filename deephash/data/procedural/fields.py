"""Random draws shared by the generators: log-uniform scales, centred coordinates and noise fields (1/f spectra
and cheap smooth noise)."""

from __future__ import annotations

import numpy as np
import scipy.fft
from PIL import Image


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """Scale parameters (sizes, frequencies, factors) are log-uniform so small and large are equally common."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred coordinates in units of the longer side as broadcastable ``[1, W]`` and ``[H, 1]`` arrays, so
    patterns keep their proportions on non-square images."""
    scale = max(height, width)
    xs = (np.arange(width, dtype=np.float32) - (width - 1) / 2) / scale
    ys = (np.arange(height, dtype=np.float32) - (height - 1) / 2) / scale
    return xs[None, :], ys[:, None]


def _standardise(fields: np.ndarray) -> np.ndarray:
    """Zero mean and unit deviation over the last two axes, so the caller (not the spectrum) sets contrast."""
    fields = fields - fields.mean(axis=(-2, -1), keepdims=True)
    return fields / (fields.std(axis=(-2, -1), keepdims=True) + 1e-6)


def spectral_fields(rng: np.random.Generator, count: int, height: int, width: int, alpha: float) -> np.ndarray:
    """``[count, H, W]`` standardised noise with a 1/f^alpha amplitude spectrum: random complex Gaussians shaped
    in the frequency domain and one inverse FFT give the scale-invariant statistics of natural images."""
    freq = np.hypot(scipy.fft.fftfreq(height)[:, None], scipy.fft.rfftfreq(width)[None, :])
    freq[0, 0] = np.inf  # no DC: the mean is set afterwards
    amplitude = (freq**-alpha).astype(np.float32)
    shape = (count, height, width // 2 + 1)
    spectrum = rng.standard_normal(shape, dtype=np.float32) + 1j * rng.standard_normal(shape, dtype=np.float32)
    return _standardise(scipy.fft.irfft2(spectrum * amplitude, s=(height, width)))


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """``[H, W]`` smooth random field with about ``cells`` bumps along the longer side: a coarse random grid
    upsampled bicubically, much cheaper than an FFT when only large-scale variation is needed."""
    scale = cells / max(height, width)
    coarse = rng.standard_normal((max(2, round(height * scale)) + 1, max(2, round(width * scale)) + 1))
    return np.asarray(Image.fromarray(coarse.astype(np.float32)).resize((width, height), Image.BICUBIC))
