"""Plain numpy twins of ``fastload.audio`` ops: slow, float64, obviously correct."""

import math

import numpy as np

__all__ = [
    "log_mel",
    "mel_filterbank",
    "nonsilent_region",
    "resample",
    "spec_augment",
    "stack_frames",
    "window_function",
]


def window_function(name, length):
    t = np.arange(length, dtype=np.float64)
    if name == "dali_hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * (t + 0.5) / length)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * t / max(1, length - 1))
    if name == "hann_periodic":
        return 0.5 - 0.5 * np.cos(2 * np.pi * t / length)
    raise ValueError(name)


def _mel(f, htk):
    if htk:
        return 2595.0 * math.log10(1.0 + f / 700.0)
    return f * 3.0 / 200.0 if f < 1000.0 else 15.0 + math.log(f / 1000.0) * 27.0 / math.log(6.4)


def _hz(m, htk):
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return m * 200.0 / 3.0 if m < 15.0 else 1000.0 * math.exp((m - 15.0) * math.log(6.4) / 27.0)


def mel_filterbank(sample_rate, n_fft, n_mels, mel_scale="slaney"):
    """Triangles with slaney area normalisation, one filter and one bin at a time."""
    htk = mel_scale == "htk"
    lo, hi = _mel(0.0, htk), _mel(sample_rate / 2.0, htk)
    pts = [_hz(lo + (hi - lo) * i / (n_mels + 1), htk) for i in range(n_mels + 2)]
    nb = n_fft // 2 + 1
    w = np.zeros((n_mels, nb))
    for m in range(n_mels):
        left, centre, right = pts[m], pts[m + 1], pts[m + 2]
        for k in range(nb):
            f = k * sample_rate / n_fft
            up = (f - left) / (centre - left)
            down = (right - f) / (right - centre)
            w[m, k] = max(0.0, min(up, down)) * 2.0 / (right - left)
    return w


def log_mel(
    x,
    *,
    sample_rate=16000,
    n_fft=512,
    win_length=320,
    hop_length=160,
    n_mels=80,
    window="dali_hann",
    mel_scale="slaney",
    preemphasis=0.97,
    noise=None,
    dither=0.0,
    log_floor=1e-20,
    normalize="per_feature",
):
    """numpy.fft.rfft log-mel; ``noise`` is the standard-normal array the fast op drew."""
    x = np.asarray(x, dtype=np.float64).copy()
    if dither:
        x = x + dither * np.asarray(noise, dtype=np.float32).astype(np.float64)
    y = np.empty_like(x)
    y[0] = x[0] * (1.0 - preemphasis)
    y[1:] = x[1:] - preemphasis * x[:-1]
    n = len(y)
    half_win = win_length // 2
    frames = n // hop_length + 1
    win = window_function(window, win_length)
    fb = mel_filterbank(sample_rate, n_fft, n_mels, mel_scale)
    out = np.empty((n_mels, frames))
    pad = n_fft
    ypad = np.pad(y, pad, mode="reflect") if n > 1 else np.full(n + 2 * pad, y[0])
    for t in range(frames):
        start = t * hop_length - half_win + pad
        frame = ypad[start : start + win_length] * win
        spec = np.fft.rfft(frame, n_fft)
        out[:, t] = fb @ (spec.real**2 + spec.imag**2)
    out = np.log(np.maximum(out, log_floor))
    if normalize == "per_feature":
        mean = out.mean(axis=1, keepdims=True)
        std = out.std(axis=1, keepdims=True)
        out = np.where(std > 0, (out - mean) / np.where(std > 0, std, 1.0), 0.0)
    return out


def dali_window(lobes=16):
    """DALI's ``windowed_sinc`` lookup table as a function: ``lobes * 64 + 1`` float32
    samples of ``sinc(x) * hann(y)`` (``x = k / 32``, ``y = 2 k / (lobes * 64 + 1)``,
    ``k = -32 lobes .. 32 lobes``), zero outside, read with linear interpolation."""
    coeffs = 64 * lobes + 1
    half = (coeffs - 1) // 2
    table = np.zeros(coeffs + 2)
    for i in range(coeffs):
        k = np.float32(i - half)
        x = float(k * np.float32(1.0 / 32.0))
        y = float(k * np.float32(2.0 / coeffs))
        table[i + 1] = np.float32(np.sinc(x) * 0.5 * (1.0 + math.cos(math.pi * y)))
    table[1] = table[-2] = 0.0

    def window(d):
        u = np.asarray(d, dtype=np.float64) * 32.0 + (half + 1)
        inside = (u >= 0) & (u < coeffs + 1)
        u = np.where(inside, u, 0.0)
        i = np.floor(u).astype(np.int64)
        a = u - i
        return np.where(
            inside, table[i] + a * (table[np.minimum(i + 1, coeffs + 1)] - table[i]), 0.0
        )

    return window


def dali_positions(m, orig_rate, new_rate):
    """Input positions of ``m`` outputs as DALI 2.4 computes ``j * orig_rate / new_rate``:
    per block of 256 outputs the start in float64, then a float32 step added in float32."""
    scale = orig_rate / new_rate
    step = np.float32(scale)
    pos = np.empty(m)
    for j0 in range(0, m, 256):
        start = j0 * scale
        base = math.floor(start)
        p = np.float32(start - base)
        for j in range(j0, min(j0 + 256, m)):
            pos[j] = base + float(p)
            p = np.float32(p + step)
    return pos


def resample(x, orig_rate, new_rate, lobes=16, antialias=True):
    """Direct sum ``out[j] = sum_i c W(c (i - p_j)) x[i]`` with DALI's window ``W``
    (:func:`dali_window`) and positions (:func:`dali_positions`); ``c`` is
    ``min(1, new_rate / orig_rate)`` with ``antialias``, else 1."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if float(orig_rate).is_integer() and float(new_rate).is_integer():
        m = -(-n * int(new_rate) // int(orig_rate))
    else:
        m = math.ceil(n * new_rate / orig_rate)
    c = min(1.0, new_rate / orig_rate) if antialias else 1.0
    window = dali_window(lobes)
    reach = lobes / c
    out = np.zeros(m)
    for j, p in enumerate(dali_positions(m, orig_rate, new_rate)):
        i = np.arange(max(0, math.ceil(p - reach)), min(n, math.floor(p + reach) + 1))
        out[j] = (c * window(c * (i - p))) @ x[i]
    return out


def dali_moving_mean_square(x, window, reset_interval=8192):
    """DALI 2.4's float32 moving power, one float32 operation at a time: a running sum
    ``(s - x[i - 1]^2) + x[i + w - 1]^2`` restarted from a sequential float32 sum when the
    window's last sample is a positive multiple of ``reset_interval``."""
    x = np.asarray(x, dtype=np.float32)
    m = len(x) - window + 1
    inv = np.float32(1.0) / np.float32(window)
    out = np.empty(m, dtype=np.float32)
    s = np.float32(0.0)
    for i in range(m):
        if i == 0 or (reset_interval > 0 and (i + window - 1) % reset_interval == 0):
            s = np.float32(0.0)
            for v in x[i : i + window]:
                s = np.float32(s + v * v)
        else:
            a, b = x[i + window - 1], x[i - 1]
            s = np.float32(np.float32(s - b * b) + a * a)
        out[i] = s * inv
    return out


def nonsilent_region(x, cutoff_db=-60.0, window=2048, accumulate="float64", reset_interval=8192):
    """``accumulate="float64"``: the formula in float64 (cumulative sums); ``"float32"``:
    DALI's arithmetic (:func:`dali_moving_mean_square`, float32 threshold)."""
    n = len(x)
    if n == 0:
        return 0, 0
    w = min(window, n)
    if accumulate == "float32":
        mms = dali_moving_mean_square(x, w, reset_interval)
        thr = mms.max() * np.float32(10.0 ** (cutoff_db / 10.0))
        idx = np.nonzero(mms >= thr)[0]
        return (int(idx[0]), int(idx[-1] - idx[0] + w)) if len(idx) else (0, 0)
    x = np.asarray(x, dtype=np.float64)
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    mms = (
        np.array([np.sum(x[i : i + w] ** 2) / w for i in range(n - w + 1)])
        if n < 5000
        else ((c[w:] - c[:-w]) / w)
    )
    thr = mms.max() * 10.0 ** (cutoff_db / 10.0)
    idx = np.nonzero(mms >= thr)[0]
    if len(idx) == 0:
        return 0, 0
    return int(idx[0]), int(idx[-1] - idx[0] + w)


def spec_augment(x, freq, time):
    y = np.array(x, dtype=np.float64, copy=True)
    F, T = y.shape
    for f0, w in freq:
        for f in range(f0, min(F, f0 + w)):
            y[f, :] = 0.0
    for t0, w in time:
        for t in range(t0, min(T, t0 + w)):
            y[:, t] = 0.0
    return y


def stack_frames(x, stack=3, subsample=3):
    """The reference ``stack_subsample_frames`` on one (F, T) sample, time-major result."""
    x = np.asarray(x, dtype=np.float64)
    F, T = x.shape
    seq = [x]
    for s in range(1, stack):
        tmp = np.zeros_like(x)
        tmp[:, : T - s] = x[:, s:]
        seq.append(tmp)
    return np.concatenate(seq, axis=0)[:, ::subsample].T
