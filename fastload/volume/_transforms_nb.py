"""Numba kernel for :mod:`fastload.volume.transforms` (no RNG, in place).

``clip_normalize`` runs in C (csrc/volume/trilinear.c, wrapped by ``_resample_cy``).
"""

import numpy as np

from fastload._jit import kernel

__all__ = ["scale_add_flat"]


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
