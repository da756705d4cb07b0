"""Fused log-mel kernel (see ``features.py``).

Dither + pre-emphasis + reflect padding into a scratch signal, then blocks of ``lanes``
frames (up to ``LANES``) with the frame index in the inner (vector) dimension: window,
an ``n_fft // 2``-point complex radix-2 FFT of the even/odd packed real frame, the real
split, power, a sparse mel product, the log floor and a vectorised log; finally optional
per-row normalisation. All scratch is passed in by the caller.
"""

import numpy as np

from fastload._jit import kernel

__all__ = ["LANES", "logmel_kernel", "normalize_cols", "normalize_rows"]

#: Default frames per block for long signals (see ``features.py``).
LANES = 128


@kernel
def _reflect(i, n):
    """numpy ``mode='reflect'`` index for any integer ``i`` (n >= 1)."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period
    if i < 0:
        i += period
    if i >= n:
        i = period - i
    return i


@kernel
def _log_lanes(v, v_bits, mant, mant_bits, out):
    """``out = ln(v)`` for positive normal float32 ``v`` (vectorisable; |error| < 1e-7).

    ``v = m * 2**e`` with ``m`` folded into [sqrt(1/2), sqrt(2)); ``ln m = 2 atanh(s)``,
    ``s = (m - 1) / (m + 1)``, |s| < 0.172, by its odd series to s**9.
    """
    for l in range(v.shape[0]):
        b = v_bits[l]
        mant_bits[l] = (b & 0x007FFFFF) | 0x3F800000
        out[l] = np.float32((b >> 23) - 127)
    for l in range(v.shape[0]):
        m = mant[l]
        big = m > np.float32(1.4142135)
        m = m * np.float32(0.5) if big else m
        e = out[l] + (np.float32(1.0) if big else np.float32(0.0))
        s = (m - np.float32(1.0)) / (m + np.float32(1.0))
        s2 = s * s
        p = np.float32(2.0 / 9.0)
        p = p * s2 + np.float32(2.0 / 7.0)
        p = p * s2 + np.float32(2.0 / 5.0)
        p = p * s2 + np.float32(2.0 / 3.0)
        p = p * s2 + np.float32(2.0)
        out[l] = e * np.float32(0.6931472) + s * p


@kernel
def logmel_kernel(
    x,
    noise_bits,
    noise_table,
    dither,
    preemph,
    window,
    win_offset,
    n_fft,
    hop,
    cos_tw,
    sin_tw,
    bitrev,
    cos_split,
    sin_split,
    mel_w,
    mel_lo,
    mel_hi,
    log_floor,
    normalize,
    time_major,
    lanes,
    ypad_buf,
    re_buf,
    im_buf,
    pw_buf,
    out,
):
    """Compute log-mel features of one signal into ``out``.

    Parameters
    ----------
    x : float32 (n,)
    noise_bits : uint16 (n,) or (0,)
        Random bits drawn by the caller; sample ``i`` gets
        ``dither * noise_table[noise_bits[i]]`` when ``dither != 0``.
    noise_table : float32 (65536,)
        Standard-normal quantiles (see ``features.dither_noise``).
    dither, preemph : float
    window : float32 (n_fft,)
        Analysis window zero-padded to ``n_fft`` (the frame covers padded-signal samples
        ``[t * hop, t * hop + n_fft)`` with ``n_fft // 2`` reflect padding on the left).
    win_offset : int
        First non-zero window index (the rest of the window is zero up to
        ``n_fft - win_offset``).
    cos_tw, sin_tw : float32 (n_fft // 4,)
        ``cos/sin(2 pi k / (n_fft / 2))`` twiddles of the half-size complex FFT.
    bitrev : int64 (n_fft // 2,)
        Bit-reversal permutation of the half-size FFT.
    cos_split, sin_split : float32 (n_fft // 2 + 1,)
        ``cos/sin(2 pi k / n_fft)`` for the real-FFT split.
    mel_w : float32 (n_mels, n_fft // 2 + 1)
    mel_lo, mel_hi : int64 (n_mels,)
        Non-zero bin range of each filter.
    log_floor : float
    normalize : bool
        Per-row (x - mean) / std over time, population std; rows with std == 0 become 0.
    time_major : bool
        ``out`` is (frames, n_mels) instead of (n_mels, frames); the values are
        identical bit for bit (same operations, only the store differs).
    lanes : int
        Frames per block (the vector dimension); any value >= 1, results do not depend
        on it. Larger blocks amortise loop overhead (128 is fastest on long signals).
    ypad_buf : float32 (>= n + n_fft + lanes * hop + n_fft,)
        Scratch for the padded, pre-emphasised signal.
    re_buf, im_buf : float32 (n_fft // 2, lanes); pw_buf : float32 (n_fft // 2 + 1, lanes)
        FFT and power scratch, C-contiguous.
    out : float32 (n_mels, frames), frames = n // hop + 1 (or (frames, n_mels))
    """
    n = x.shape[0]
    half = n_fft // 2
    nbins = half + 1
    n_mels = out.shape[1] if time_major else out.shape[0]
    frames = out.shape[0] if time_major else out.shape[1]
    pad = n_fft // 2
    # 1. dither + pre-emphasis (clamp border: y[0] = (1 - preemph) * x[0]) straight into
    #    the reflect-padded buffer; a zero tail lets the last block read `lanes` frames.
    total = n + 2 * pad
    need = total + lanes * hop + n_fft
    ypad = ypad_buf[:need]
    for i in range(total, need):
        ypad[i] = 0.0
    pe = np.float32(preemph)
    mid = ypad[pad : pad + n]
    # one forward pass; `prev` carries the dithered previous sample (same operations as
    # dithering first and pre-emphasising after, so the same values bit for bit)
    if dither != 0.0:
        dt = np.float32(dither)
        prev = x[0] + dt * noise_table[noise_bits[0]]
        mid[0] = prev - pe * prev
        for i in range(1, n):
            d = x[i] + dt * noise_table[noise_bits[i]]
            mid[i] = d - pe * prev
            prev = d
    else:
        mid[0] = x[0] - pe * x[0]
        for i in range(1, n):
            mid[i] = x[i] - pe * x[i - 1]
    for i in range(pad):
        ypad[i] = mid[_reflect(i - pad, n)]
        ypad[pad + n + i] = mid[_reflect(n + i, n)]
    # 2. frames in blocks of `lanes`.
    L = lanes
    re = re_buf
    im = im_buf
    pw = pw_buf
    acc = np.empty(L, dtype=np.float32)
    acc_bits = acc.view(np.int32)
    mant = np.empty(L, dtype=np.float32)
    mant_bits = mant.view(np.int32)
    logv = np.empty(L, dtype=np.float32)
    win_end = n_fft - win_offset
    k_lo = win_offset // 2
    k_hi = (win_end + 1) // 2
    floor = np.float32(log_floor)
    for t0 in range(0, frames, L):
        nl = min(L, frames - t0)
        # load windowed, even/odd packed, bit-reversed
        for k in range(half):
            r = bitrev[k]
            if k < k_lo or k >= k_hi:
                for l in range(L):
                    re[r, l] = 0.0
                    im[r, l] = 0.0
            else:
                w0 = window[2 * k]
                w1 = window[2 * k + 1]
                base = t0 * hop + 2 * k
                rr = re[r]
                ir = im[r]
                for l in range(L):
                    rr[l] = w0 * ypad[base + l * hop]
                    ir[l] = w1 * ypad[base + l * hop + 1]
        # radix-2 DIT butterflies
        h = 1
        while h < half:
            step = half // (2 * h)
            for g in range(0, half, 2 * h):
                for j in range(h):
                    c = cos_tw[j * step]
                    s = -sin_tw[j * step]
                    ra = re[g + j]
                    ia = im[g + j]
                    rb = re[g + j + h]
                    ib = im[g + j + h]
                    for l in range(L):
                        br = rb[l] * c - ib[l] * s
                        bi = rb[l] * s + ib[l] * c
                        ar = ra[l]
                        ai = ia[l]
                        ra[l] = ar + br
                        ia[l] = ai + bi
                        rb[l] = ar - br
                        ib[l] = ai - bi
            h *= 2
        # real split: X[k] = E[k] + exp(-2 pi i k / n_fft) O[k]
        for k in range(nbins):
            k1 = k % half
            k2 = (half - k) % half
            c = cos_split[k]
            s = sin_split[k]
            r1 = re[k1]
            i1 = im[k1]
            r2 = re[k2]
            i2 = im[k2]
            pk = pw[k]
            for l in range(L):
                zr = r1[l]
                zi = i1[l]
                wr = r2[l]
                wi = -i2[l]
                er = np.float32(0.5) * (zr + wr)
                ei = np.float32(0.5) * (zi + wi)
                # O = -i/2 (Z - conj Z')
                orr = np.float32(0.5) * (zi - wi)
                oi = np.float32(-0.5) * (zr - wr)
                xr = er + c * orr + s * oi
                xi = ei + c * oi - s * orr
                pk[l] = xr * xr + xi * xi
        # sparse mel + log
        for m in range(n_mels):
            for l in range(L):
                acc[l] = 0.0
            for k in range(mel_lo[m], mel_hi[m]):
                wk = mel_w[m, k]
                pk = pw[k]
                for l in range(L):
                    acc[l] += wk * pk[l]
            for l in range(L):
                v = acc[l]
                acc[l] = v if v > floor else floor
            _log_lanes(acc, acc_bits, mant, mant_bits, logv)
            if time_major:
                for l in range(nl):
                    out[t0 + l, m] = logv[l]
            else:
                for l in range(nl):
                    out[m, t0 + l] = logv[l]
    # 3. per-feature normalisation
    if normalize:
        if time_major:
            normalize_cols(out)
        else:
            normalize_rows(out)


# The two normalisations below give bit-identical results on transposed data: every
# feature's sums run over time in order (float64, no reassociation), the independent
# features give the instruction-level parallelism, and the final scaling is the same
# float32 ``(x - mean) * inv``.
@kernel
def normalize_rows(out):
    """Each row of (n_mels, frames) to ``(x - mean) / std`` (population std, float64
    sums over time in order); std == 0 -> 0."""
    F = out.shape[0]
    frames = out.shape[1]
    s1 = np.zeros(F)
    s2 = np.zeros(F)
    for t in range(frames):
        for m in range(F):
            s1[m] += out[m, t]
    for m in range(F):
        s1[m] = s1[m] / frames
    for t in range(frames):
        for m in range(F):
            d = out[m, t] - s1[m]
            s2[m] += d * d
    for m in range(F):
        std = np.sqrt(s2[m] / frames)
        inv = 1.0 / std if std > 0.0 else 0.0
        fm = np.float32(s1[m])
        fi = np.float32(inv)
        row = out[m]
        for t in range(frames):
            row[t] = (row[t] - fm) * fi


@kernel
def normalize_cols(out):
    """:func:`normalize_rows` for time-major (frames, n_mels) features."""
    frames = out.shape[0]
    F = out.shape[1]
    s1 = np.zeros(F)
    s2 = np.zeros(F)
    for t in range(frames):
        r = out[t]
        for m in range(F):
            s1[m] += r[m]
    for m in range(F):
        s1[m] = s1[m] / frames
    for t in range(frames):
        r = out[t]
        for m in range(F):
            d = r[m] - s1[m]
            s2[m] += d * d
    fm = np.empty(F, dtype=np.float32)
    fi = np.empty(F, dtype=np.float32)
    for m in range(F):
        std = np.sqrt(s2[m] / frames)
        fi[m] = np.float32(1.0 / std if std > 0.0 else 0.0)
        fm[m] = np.float32(s1[m])
    for t in range(frames):
        r = out[t]
        for m in range(F):
            r[m] = (r[m] - fm[m]) * fi[m]
