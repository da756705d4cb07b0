"""Numba kernels for windowed-sinc resampling (see ``resampling.py``)."""

import numpy as np

from fastload._jit import kernel

__all__ = ["build_phase_bank", "dali_positions", "resample_1d"]

#: Outputs per block of DALI's position arithmetic (``resampling_cpu.cc``).
BLOCK = 256


@kernel
def build_phase_bank(lut, center, lut_scale, cutoff, taps_half, phases, bank):
    """Fill ``bank[q, m] = cutoff * W(cutoff * (taps_half - 1 - m + q / phases))``.

    ``W`` is DALI's window: the lookup table ``lut`` (float32, a leading and a trailing
    zero) read at ``x * lut_scale + center`` with linear interpolation (``W`` is even).
    ``bank`` has shape (phases + 1, 2 * taps_half), float32; row ``q`` holds the taps for
    an input position whose fractional part is ``q / phases``, tap ``m`` reading input
    ``floor(p) - (taps_half - 1) + m``.
    """
    n_lut = lut.shape[0]
    for q in range(phases + 1):
        frac = q / phases
        for m in range(2 * taps_half):
            x = cutoff * (m - (taps_half - 1) - frac)
            fi = x * lut_scale + center
            if fi < 0.0 or fi >= n_lut - 1:
                bank[q, m] = 0.0
                continue
            i = int(np.floor(fi))
            a = fi - i
            bank[q, m] = cutoff * (lut[i] + a * (lut[i + 1] - lut[i]))


@kernel(fastmath=False)  # explicit: numba would inherit the caller's fast-math flags
def dali_positions(j0, count, scale, base, frac):
    """Input positions of outputs ``j0 .. j0 + count - 1`` (``j0`` a multiple of
    ``BLOCK``) with DALI 2.4's arithmetic: per block of ``BLOCK`` outputs the block start
    ``j * scale`` in float64, split into ``floor`` (``base``, int64) and a float32
    fraction, then the float32 ``scale`` added once per output in float32.
    ``base[k] + frac[k]`` is the position of output ``j0 + k``, ``0 <= frac[k] < 1``.

    Four blocks advance together (independent float32 chains, each summed in DALI's
    order). No fast-math here (set explicitly, else a fast-math caller's flags are
    inherited and the float32 accumulation is reassociated).
    """
    step = np.float32(scale)
    k0 = 0
    while k0 + 4 * BLOCK <= count:
        f0 = (j0 + k0) * scale
        f1 = (j0 + k0 + BLOCK) * scale
        f2 = (j0 + k0 + 2 * BLOCK) * scale
        f3 = (j0 + k0 + 3 * BLOCK) * scale
        b0 = np.floor(f0)
        b1 = np.floor(f1)
        b2 = np.floor(f2)
        b3 = np.floor(f3)
        p0 = np.float32(f0 - b0)
        p1 = np.float32(f1 - b1)
        p2 = np.float32(f2 - b2)
        p3 = np.float32(f3 - b3)
        i0 = np.int64(b0)
        i1 = np.int64(b1)
        i2 = np.int64(b2)
        i3 = np.int64(b3)
        for k in range(BLOCK):
            e0 = np.floor(p0)
            e1 = np.floor(p1)
            e2 = np.floor(p2)
            e3 = np.floor(p3)
            base[k0 + k] = i0 + np.int64(e0)
            base[k0 + BLOCK + k] = i1 + np.int64(e1)
            base[k0 + 2 * BLOCK + k] = i2 + np.int64(e2)
            base[k0 + 3 * BLOCK + k] = i3 + np.int64(e3)
            frac[k0 + k] = p0 - np.float32(e0)
            frac[k0 + BLOCK + k] = p1 - np.float32(e1)
            frac[k0 + 2 * BLOCK + k] = p2 - np.float32(e2)
            frac[k0 + 3 * BLOCK + k] = p3 - np.float32(e3)
            p0 = p0 + step
            p1 = p1 + step
            p2 = p2 + step
            p3 = p3 + step
        k0 += 4 * BLOCK
    while k0 < count:
        f = (j0 + k0) * scale
        b = np.floor(f)
        pos = np.float32(f - b)
        ib = np.int64(b)
        for k in range(k0, min(k0 + BLOCK, count)):
            fl = np.floor(pos)
            base[k] = ib + np.int64(fl)
            frac[k] = pos - np.float32(fl)
            pos = pos + step
        k0 += BLOCK


@kernel(fastmath={"reassoc", "contract"})
def _one(x, lo_row, hi_row, a, first):
    """One output: ``lo + a * (hi - lo)`` of the two bank rows over
    ``x[first : first + ntaps]``, samples outside x counting as zero."""
    n = x.shape[0]
    ntaps = lo_row.shape[0]
    lo = np.float32(0.0)
    hi = np.float32(0.0)
    for m in range(max(0, -first), min(ntaps, n - first)):
        lo += lo_row[m] * x[first + m]
        hi += hi_row[m] * x[first + m]
    return lo + a * (hi - lo)


@kernel(fastmath={"reassoc", "contract"})
def resample_1d(x, bank, offset, phases, scale, out):
    """Resample one channel: ``out[j] = sum_i W(i - p_j) * x[i]``, ``p_j = j * scale``.

    Positions come from :func:`dali_positions` (DALI's float32 arithmetic). Output ``j``
    reads ``x[floor(p) - offset + m]``, m < ntaps, weighted by bank rows ``q`` and
    ``q + 1`` (``q = floor(frac(p) * phases)``) interpolated linearly: DALI's window is
    piecewise linear between table knots that are all phase rows (``phases`` is a
    multiple of the knots per sample), so this is DALI's filter, not an approximation
    of it. Four outputs per step (independent dot products).

    Parameters
    ----------
    x : float32 (n,)
    bank : float32 (phases + 1, ntaps), from :func:`build_phase_bank` (trimmed)
    offset : int
        Input samples between ``floor(p)`` and the first tap.
    scale : float
        Input samples per output sample (orig_rate / new_rate).
    out : float32 (m,)
        Written in place. Samples outside ``x`` count as zero.
    """
    n = x.shape[0]
    ntaps = bank.shape[1]
    m_out = out.shape[0]
    base = np.empty(4 * BLOCK, dtype=np.int64)
    frac = np.empty(4 * BLOCK, dtype=np.float32)
    for j0 in range(0, m_out, 4 * BLOCK):
        cnt = min(4 * BLOCK, m_out - j0)
        dali_positions(j0, cnt, scale, base, frac)
        k = 0
        while k < cnt:
            f0 = base[k] - offset
            if k + 4 > cnt or f0 < 0 or base[k + 3] - offset + ntaps > n:
                t = frac[k] * phases
                q = min(int(t), phases - 1)
                out[j0 + k] = _one(x, bank[q], bank[q + 1], np.float32(t - q), f0)
                k += 1
                continue
            f1 = base[k + 1] - offset
            f2 = base[k + 2] - offset
            f3 = base[k + 3] - offset
            t0 = frac[k] * phases
            t1 = frac[k + 1] * phases
            t2 = frac[k + 2] * phases
            t3 = frac[k + 3] * phases
            q0 = min(int(t0), phases - 1)
            q1 = min(int(t1), phases - 1)
            q2 = min(int(t2), phases - 1)
            q3 = min(int(t3), phases - 1)
            r0 = bank[q0]
            r1 = bank[q1]
            r2 = bank[q2]
            r3 = bank[q3]
            s0 = bank[q0 + 1]
            s1 = bank[q1 + 1]
            s2 = bank[q2 + 1]
            s3 = bank[q3 + 1]
            x0 = x[f0 : f0 + ntaps]
            x1 = x[f1 : f1 + ntaps]
            x2 = x[f2 : f2 + ntaps]
            x3 = x[f3 : f3 + ntaps]
            a0 = np.float32(t0 - q0)
            a1 = np.float32(t1 - q1)
            a2 = np.float32(t2 - q2)
            a3 = np.float32(t3 - q3)
            c0 = np.float32(0.0)
            c1 = np.float32(0.0)
            c2 = np.float32(0.0)
            c3 = np.float32(0.0)
            for m in range(ntaps):
                c0 += (r0[m] + a0 * (s0[m] - r0[m])) * x0[m]
                c1 += (r1[m] + a1 * (s1[m] - r1[m])) * x1[m]
                c2 += (r2[m] + a2 * (s2[m] - r2[m])) * x2[m]
                c3 += (r3[m] + a3 * (s3[m] - r3[m])) * x3[m]
            out[j0 + k] = c0
            out[j0 + k + 1] = c1
            out[j0 + k + 2] = c2
            out[j0 + k + 3] = c3
            k += 4
