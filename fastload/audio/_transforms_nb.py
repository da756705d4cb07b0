"""Numba kernels behind ``fastload.audio.transforms`` (silence detection, frame stacking)."""

import numpy as np

from fastload._jit import kernel

__all__ = [
    "dali_moving_mean_square",
    "moving_mean_square",
    "nonsilent_region_dali",
    "nonsilent_region_kernel",
    "stack_frames_kernel",
]


@kernel
def _window_sum(x, start, window):
    s = 0.0
    for k in range(start, start + window):
        v = np.float64(x[k])
        s += v * v
    return s


@kernel
def _window_sums4(x, i0, i1, i2, i3, window):
    """Four :func:`_window_sum` in one loop: the same sequential sums (bit for bit),
    interleaved so that their add latencies overlap."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for k in range(window):
        v0 = np.float64(x[i0 + k])
        v1 = np.float64(x[i1 + k])
        v2 = np.float64(x[i2 + k])
        v3 = np.float64(x[i3 + k])
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
    return s0, s1, s2, s3


@kernel
def _block_values(x, window, block, length, out):
    """mms values of indices [block * length, ...) into out (float64), returns the count."""
    m = x.shape[0] - window + 1
    i0 = block * length
    cnt = min(length, m - i0)
    inv = 1.0 / window
    s = _window_sum(x, i0, window)
    out[0] = s * inv
    for j in range(1, cnt):
        i = i0 + j
        a = np.float64(x[i + window - 1])
        b = np.float64(x[i - 1])
        s += a * a - b * b
        out[j] = s * inv
    return cnt


@kernel
def moving_mean_square(x, window, reset_interval, out):
    """``out[i] = mean(x[i : i + window] ** 2)`` for i in 0 .. n - window (float64 sums).

    The running sum restarts from an exact sum every ``reset_interval`` outputs (DALI's
    guard against drift; ``reset_interval <= 0`` never restarts).
    """
    m = x.shape[0] - window + 1
    length = reset_interval if reset_interval > 0 else m
    for b in range(-(-m // length)):
        _block_values(x, window, b, length, out[b * length :])


@kernel
def nonsilent_region_kernel(x, cutoff_db, window, reset_interval, buf):
    """(begin, length) of the non-silent region; see ``transforms.nonsilent_region``.

    Pass 1 finds the peak moving power four blocks at a time (independent running
    sums, for instruction-level parallelism); passes 2 and 3 recompute blocks
    from the start / the end only until the threshold is met. Every pass computes each
    value by the same sequence of operations, so they agree bit for bit.
    ``buf``: float64 scratch of at least ``min(reset_interval, n - window + 1)``.
    """
    n = x.shape[0]
    m = n - window + 1
    length = reset_interval if reset_interval > 0 else m
    nblocks = -(-m // length)
    inv = 1.0 / window
    peak = 0.0
    b = 0
    # four full blocks at a time: independent running sums in registers
    while (b + 4) * length <= m:
        i0 = b * length
        i1 = i0 + length
        i2 = i1 + length
        i3 = i2 + length
        s0, s1, s2, s3 = _window_sums4(x, i0, i1, i2, i3, window)
        p0 = max(s0, s1)
        p1 = max(s2, s3)
        for j in range(1, length):
            a0 = np.float64(x[i0 + j + window - 1])
            c0 = np.float64(x[i0 + j - 1])
            a1 = np.float64(x[i1 + j + window - 1])
            c1 = np.float64(x[i1 + j - 1])
            a2 = np.float64(x[i2 + j + window - 1])
            c2 = np.float64(x[i2 + j - 1])
            a3 = np.float64(x[i3 + j + window - 1])
            c3 = np.float64(x[i3 + j - 1])
            s0 += a0 * a0 - c0 * c0
            s1 += a1 * a1 - c1 * c1
            s2 += a2 * a2 - c2 * c2
            s3 += a3 * a3 - c3 * c3
            p0 = max(p0, max(s0, s1))
            p1 = max(p1, max(s2, s3))
        peak = max(peak, max(p0, p1) * inv)
        b += 4
    while b < nblocks:
        cnt = _block_values(x, window, b, length, buf)
        for j in range(cnt):
            peak = max(peak, buf[j])
        b += 1
    thr = peak * 10.0 ** (cutoff_db / 10.0)
    begin = -1
    for b in range(nblocks):
        cnt = _block_values(x, window, b, length, buf)
        for j in range(cnt):
            if buf[j] >= thr:
                begin = b * length + j
                break
        if begin >= 0:
            break
    if begin < 0:
        return 0, 0
    end = begin
    found = False
    for b in range(nblocks - 1, -1, -1):
        cnt = _block_values(x, window, b, length, buf)
        for j in range(cnt - 1, -1, -1):
            if buf[j] >= thr:
                end = b * length + j
                found = True
                break
        if found:
            break
    return begin, end - begin + 1 + window - 1


@kernel(fastmath=False)  # the float32 sums must run in DALI's order, never reassociated
def _dali_block(x, window, start, stop, inv, out):
    """DALI's float32 moving power for window starts ``start .. stop - 1``: a fresh
    sequential sum at ``start``, then ``(s - x[i - 1]^2) + x[i + w - 1]^2`` per step (the
    leaving sample first: that order, and no fused multiply-add, is the one that
    reproduces DALI 2.4's bounds on every signal tried)."""
    s = np.float32(0.0)
    for k in range(start, start + window):
        v = x[k]
        s = s + v * v
    out[start] = s * inv
    for i in range(start + 1, stop):
        a = x[i + window - 1]
        b = x[i - 1]
        s = (s - b * b) + a * a
        out[i] = s * inv


@kernel(fastmath=False)
def _dali_blocks4(x, window, start, length, inv, out):
    """:func:`_dali_block` on the four blocks ``start + i * length`` (each ``length``
    windows), interleaved: four independent float32 chains, each in DALI's order."""
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    s2 = np.float32(0.0)
    s3 = np.float32(0.0)
    a0 = start
    a1 = start + length
    a2 = start + 2 * length
    a3 = start + 3 * length
    for k in range(window):
        v0 = x[a0 + k]
        v1 = x[a1 + k]
        v2 = x[a2 + k]
        v3 = x[a3 + k]
        s0 = s0 + v0 * v0
        s1 = s1 + v1 * v1
        s2 = s2 + v2 * v2
        s3 = s3 + v3 * v3
    out[a0] = s0 * inv
    out[a1] = s1 * inv
    out[a2] = s2 * inv
    out[a3] = s3 * inv
    for j in range(1, length):
        e0 = x[a0 + j + window - 1]
        e1 = x[a1 + j + window - 1]
        e2 = x[a2 + j + window - 1]
        e3 = x[a3 + j + window - 1]
        l0 = x[a0 + j - 1]
        l1 = x[a1 + j - 1]
        l2 = x[a2 + j - 1]
        l3 = x[a3 + j - 1]
        s0 = (s0 - l0 * l0) + e0 * e0
        s1 = (s1 - l1 * l1) + e1 * e1
        s2 = (s2 - l2 * l2) + e2 * e2
        s3 = (s3 - l3 * l3) + e3 * e3
        out[a0 + j] = s0 * inv
        out[a1 + j] = s1 * inv
        out[a2 + j] = s2 * inv
        out[a3 + j] = s3 * inv


@kernel(fastmath=False)
def dali_moving_mean_square(x, window, reset_interval, out):
    """DALI 2.4 ``MovingMeanSquare`` for float32 input: ``out[i]`` (float32) is the mean of
    ``x[i : i + window] ** 2`` from a float32 running sum that restarts from an exact
    (sequential float32) sum whenever the window's last sample ``i + window - 1`` is a
    positive multiple of ``reset_interval`` (``<= 0``: never), and at ``i = 0``. Blocks
    between restarts are independent: four full ones are computed together.

    x : float32 (n,); out : float32 (n - window + 1,)
    """
    m = x.shape[0] - window + 1
    inv = np.float32(1.0) / np.float32(window)
    if reset_interval <= 0:
        _dali_block(x, window, 0, m, inv, out)
        return
    start = 0
    while start < m:
        stop = min(((start + window - 1) // reset_interval + 1) * reset_interval - window + 1, m)
        if stop - start == reset_interval and start + 4 * reset_interval <= m:
            _dali_blocks4(x, window, start, reset_interval, inv, out)
            start += 4 * reset_interval
            continue
        _dali_block(x, window, start, stop, inv, out)
        start = stop


@kernel(fastmath=False)
def nonsilent_region_dali(x, cutoff_db, window, reset_interval, buf):
    """(begin, length) with DALI 2.4's float32 arithmetic (``NonsilentRegion`` on float32
    input): :func:`dali_moving_mean_square` into ``buf`` (float32, ``n - window + 1``),
    threshold ``float32(max) * float32(10 ** (cutoff_db / 10))`` in float32, first / last
    index at or above it; ``length = last - first + window``; (0, 0) when none is."""
    m = x.shape[0] - window + 1
    dali_moving_mean_square(x, window, reset_interval, buf)
    peak = buf[0]
    for i in range(1, m):
        if buf[i] > peak:
            peak = buf[i]
    thr = peak * np.float32(10.0 ** (cutoff_db / 10.0))
    begin = -1
    for i in range(m):
        if buf[i] >= thr:
            begin = i
            break
    if begin < 0:
        return 0, 0
    end = begin
    for i in range(m - 1, begin - 1, -1):
        if buf[i] >= thr:
            end = i
            break
    return begin, end - begin + window


@kernel
def stack_frames_kernel(x, stack, subsample, out):
    """Splice ``stack`` consecutive frames and keep every ``subsample``-th one.

    x : float32 (F, T); out : float32 (ceil(T / subsample), F * stack), time-major;
    ``out[u, s * F + f] = x[f, u * subsample + s]`` or 0 past the end.
    """
    nf = x.shape[0]
    nt = x.shape[1]
    for u in range(out.shape[0]):
        t = u * subsample
        for s in range(stack):
            ts = t + s
            if ts < nt:
                for f in range(nf):
                    out[u, s * nf + f] = x[f, ts]
            else:
                for f in range(nf):
                    out[u, s * nf + f] = 0.0
