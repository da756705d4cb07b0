"""Numba kernels for :mod:`fastload.volume.transforms` (no RNG, caller-provided out)."""

import numpy as np

from fastload._jit import kernel

__all__ = ["clip_normalize_flat", "scale_add_flat"]


@kernel
def clip_normalize_flat(src, out, lo, hi, mean, std):
    """``out = (clip(float32(src), lo, hi) - mean) / std`` in float32, one pass.

    src : ndarray, shape (N,), any real dtype; out : ndarray, shape (N,), float32.
    """
    lo32 = np.float32(lo)
    hi32 = np.float32(hi)
    m = np.float32(mean)
    s = np.float32(std)
    for i in range(src.shape[0]):
        v = np.float32(src[i])
        if v < lo32:
            v = lo32
        elif v > hi32:
            v = hi32
        out[i] = (v - m) / s


@kernel
def scale_add_flat(x, factor, noise, sigma, use_noise):
    """In place: ``x = x * factor`` then, if ``use_noise``, ``x += sigma * noise`` (float32)."""
    f = np.float32(factor)
    s = np.float32(sigma)
    if use_noise:
        for i in range(x.shape[0]):
            x[i] = x[i] * f + s * noise[i]
    else:
        for i in range(x.shape[0]):
            x[i] = x[i] * f
