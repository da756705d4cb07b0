"""Windowed-sinc resampling with DALI 2.4's filter and alignment, for rate conversion and
speed perturbation.

The module is ``resampling`` (not ``resample``) so that it never shadows the public
function ``fastload.audio.resample``.

Filter (DALI ``dali/kernels/signal/resampling.h``, ``windowed_sinc``): the window
``W(x) = sinc(x) * hann(x / lobes)`` is tabulated at ``lobes * 64 + 1`` points over
``[-lobes, lobes]`` (32 per sample, float32, DALI's slightly wider Hann envelope) and read
with linear interpolation. Tap weights are ``c * W(c * d)`` where ``d`` is the distance
in input samples and ``c = min(1, new_rate / orig_rate)`` with ``antialias=True``
(band-limited output when downsampling), or ``c = 1`` with ``antialias=False``: DALI's
resampler, whose downsampling aliases whatever lies between the new and the old Nyquist
frequency. ``lobes=16`` is DALI's default (quality 50).

Alignment (DALI 2.4 ``resampling_cpu.cc``): output sample ``j`` sits at input position
``j * orig_rate / new_rate`` (the first samples coincide), computed as DALI computes it:
per block of 256 outputs the block start in float64, then the float32 step added once
per output in float32 (up to ~1e-4 sample of drift inside a block, reproduced on
purpose). Samples outside the input count as zero; the output length is
``ceil(n * new_rate / orig_rate)`` (exact integer arithmetic when both rates are
integers). DALI's rate arguments are float32: pass ``float(np.float32(rate))`` to get
its positions on long signals (the RNN-T pipeline does).

Kernel: a bank of 256 + 1 sub-sample phases of the tap weights per rate pair (cached,
trimmed to the 32 taps that are non-zero in some phase for the 16-lobe filter); each
output interpolates linearly between the two phase rows around its position. DALI's
window is piecewise linear between table knots that are all phase rows, so for ``c = 1``
this is DALI's filter exactly (measured against DALI 2.4's CPU operator: max abs
difference 3e-6 of full scale, float32 rounding); for ``c < 1`` the knots fall between
rows and the interpolation adds about -90 dB (1.5e-4 on unit-variance white noise).
"""

import math
from functools import lru_cache

import numpy as np

from fastload.audio._resample_nb import build_phase_bank, resample_1d

__all__ = ["resample", "resampled_length"]

#: Phase rows per input sample; a multiple of the window table's 32 knots per sample.
_PHASES = 256


def resampled_length(n, orig_rate, new_rate):
    """Output length for ``n`` input samples: ``ceil(n * new_rate / orig_rate)`` (DALI)."""
    if float(orig_rate).is_integer() and float(new_rate).is_integer():
        o, w = int(orig_rate), int(new_rate)
        return -(-int(n) * w // o)
    return int(math.ceil(n * float(new_rate) / float(orig_rate)))


@lru_cache(maxsize=8)
def _window(lobes):
    """DALI's ``windowed_sinc`` table for ``lobes``: (lut, center, scale) such that
    ``W(x) = lerp(lut, x * scale + center)``; ``lut`` has a zero at each end."""
    coeffs = 64 * lobes + 1
    step = np.float32(2.0 * lobes / (coeffs - 1))  # 1/32: exact
    env = np.float32(2.0 / coeffs)
    center = (coeffs - 1) // 2
    k = (np.arange(coeffs) - center).astype(np.float32)
    x = (k * step).astype(np.float64)
    y = (k * env).astype(np.float64)
    lut = np.zeros(coeffs + 2, dtype=np.float32)
    lut[1:-1] = np.sinc(x) * (0.5 * (1.0 + np.cos(np.pi * y)))
    lut[[1, -2]] = 0.0  # sinc(+-lobes): ~1e-22 rounding residue; exact zeros trim two taps
    lut.setflags(write=False)
    return lut, float(center + 1), 1.0 / float(step)


@lru_cache(maxsize=64)
def _bank(cutoff, lobes):
    """(bank, offset): the phase bank trimmed to the columns that are non-zero in some
    row (dropped taps are exactly 0, so the sums are unchanged) and the input offset of
    its first tap relative to ``floor(p)``."""
    taps_half = int(math.ceil(lobes / cutoff)) + 1
    full = np.empty((_PHASES + 1, 2 * taps_half), dtype=np.float32)
    lut, center, scale = _window(lobes)
    build_phase_bank(lut, center, scale, cutoff, taps_half, _PHASES, full)
    nz = np.flatnonzero(full.any(axis=0))
    lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1)
    bank = np.ascontiguousarray(full[:, lo:hi])
    bank.setflags(write=False)
    return bank, taps_half - 1 - lo


def resample(x, orig_rate, new_rate, *, lobes=16, antialias=True, out=None):
    """Resample ``x`` from ``orig_rate`` to ``new_rate`` with DALI's windowed-sinc filter
    (output ``j`` at input position ``j * orig_rate / new_rate``; see the module docstring).

    Parameters
    ----------
    x : ndarray, shape (n,) or (n, channels), float32 (other dtypes are converted)
        Input signal.
    orig_rate, new_rate : float
        Sample rates in Hz (any positive values; non-integer rates are fine, e.g. the
        ``s * 16000`` of speed perturbation).
    lobes : int
        Zero crossings of the sinc on each side (DALI default 16).
    antialias : bool
        Lower the cutoff to the output Nyquist when downsampling (band-limited output).
        False reproduces DALI's resampler (cutoff at the input Nyquist always).
    out : ndarray, shape (resampled_length(n), ...) float32, optional
        Written in place and returned.

    Returns
    -------
    ndarray, shape (ceil(n * new_rate / orig_rate),) or (..., channels), float32
    """
    orig_rate = float(orig_rate)
    new_rate = float(new_rate)
    if not (
        orig_rate > 0 and new_rate > 0 and math.isfinite(orig_rate) and math.isfinite(new_rate)
    ):
        raise ValueError(f"sample rates must be positive and finite, got {orig_rate} -> {new_rate}")
    if lobes < 1:
        raise ValueError(f"lobes must be >= 1, got {lobes}")
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (n,) or (n, channels), got {x.shape}")
    n = x.shape[0]
    m = resampled_length(n, orig_rate, new_rate)
    shape = (m,) + x.shape[1:]
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
    if n == 0:
        return out
    cutoff = min(1.0, new_rate / orig_rate) if antialias else 1.0
    bank, offset = _bank(cutoff, int(lobes))
    scale = orig_rate / new_rate
    if x.ndim == 1:
        src = np.ascontiguousarray(x, dtype=np.float32)
        if out.flags.c_contiguous:
            resample_1d(src, bank, offset, _PHASES, scale, out)
        else:
            tmp = np.empty(m, dtype=np.float32)
            resample_1d(src, bank, offset, _PHASES, scale, tmp)
            out[...] = tmp
        return out
    tmp = np.empty(m, dtype=np.float32)
    for c in range(x.shape[1]):
        src = np.ascontiguousarray(x[:, c], dtype=np.float32)
        resample_1d(src, bank, offset, _PHASES, scale, tmp)
        out[:, c] = tmp
    return out
