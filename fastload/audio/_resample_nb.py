"""Numba kernels for band-limited windowed-sinc resampling (see ``resampling.py``)."""

import numpy as np

from fastload._jit import kernel

__all__ = ["build_phase_bank", "resample_1d"]


@kernel
def build_phase_bank(table, per_lobe, lobes, cutoff, taps_half, phases, bank):
    """Fill ``bank[q, m] = cutoff * W(cutoff * (q / phases + taps_half - 1 - m))``.

    ``W(u) = sinc(u) * hann(u / lobes)`` is tabulated in ``table`` at ``per_lobe`` points
    per unit of ``u`` over ``[0, lobes]`` (even function) and interpolated linearly.
    ``bank`` has shape (phases + 1, 2 * taps_half), float32.
    """
    n_tab = table.shape[0]
    for q in range(phases + 1):
        frac = q / phases
        for m in range(2 * taps_half):
            u = abs(cutoff * (frac + taps_half - 1 - m)) * per_lobe
            i = int(u)
            if i + 1 >= n_tab:
                bank[q, m] = 0.0
            else:
                a = u - i
                bank[q, m] = cutoff * ((1.0 - a) * table[i] + a * table[i + 1])


@kernel(fastmath={"reassoc", "contract"})
def _one(x, row, first):
    """One output from bank row ``row`` over ``x[first : first + len(row)]``, samples
    outside x counting as zero."""
    n = x.shape[0]
    ntaps = row.shape[0]
    acc = np.float32(0.0)
    for m in range(max(0, -first), min(ntaps, n - first)):
        acc += row[m] * x[first + m]
    return acc


@kernel(fastmath={"reassoc", "contract"})
def resample_1d(x, bank, offset, phases, scale, out):
    """Resample one channel: ``out[j] = sum_i h((j + 0.5) * scale - 0.5 - i) * x[i]``.

    Output ``j`` at input position ``p = (j + 0.5) * scale - 0.5`` uses bank row
    ``round(frac(p) * phases)`` against ``x[floor(p) - offset + m]``, m < ntaps. The
    bank holds only the taps that are non-zero in some phase (for DALI's 16-lobe filter
    exactly 32, two full AVX-512 / four AVX2 vectors with no remainder loop). Four
    outputs are computed per step (independent dot products: more instruction-level
    parallelism).

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
    j = 0
    while j < m_out:
        p0 = (j + 0.5) * scale - 0.5
        p3 = (j + 3.5) * scale - 0.5
        a0 = int(np.floor(p0))
        a3 = int(np.floor(p3))
        f0 = a0 - offset
        f3 = a3 - offset
        if j + 4 > m_out or f0 < 0 or f3 + ntaps > n:
            out[j] = _one(x, bank[int((p0 - a0) * phases + 0.5)], f0)
            j += 1
            continue
        p1 = (j + 1.5) * scale - 0.5
        p2 = (j + 2.5) * scale - 0.5
        a1 = int(np.floor(p1))
        a2 = int(np.floor(p2))
        f1 = a1 - offset
        f2 = a2 - offset
        r0 = bank[int((p0 - a0) * phases + 0.5)]
        r1 = bank[int((p1 - a1) * phases + 0.5)]
        r2 = bank[int((p2 - a2) * phases + 0.5)]
        r3 = bank[int((p3 - a3) * phases + 0.5)]
        x0 = x[f0 : f0 + ntaps]
        x1 = x[f1 : f1 + ntaps]
        x2 = x[f2 : f2 + ntaps]
        x3 = x[f3 : f3 + ntaps]
        c0 = np.float32(0.0)
        c1 = np.float32(0.0)
        c2 = np.float32(0.0)
        c3 = np.float32(0.0)
        for m in range(ntaps):
            c0 += r0[m] * x0[m]
            c1 += r1[m] * x1[m]
            c2 += r2[m] * x2[m]
            c3 += r3[m] * x3[m]
        out[j] = c0
        out[j + 1] = c1
        out[j + 2] = c2
        out[j + 3] = c3
        j += 4
