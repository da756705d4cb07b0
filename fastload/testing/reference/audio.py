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


def resample(x, orig_rate, new_rate, lobes=16, antialias=True):
    """Direct windowed-sinc sum at DALI's sample-centre positions (exact filter, no table)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if float(orig_rate).is_integer() and float(new_rate).is_integer():
        m = -(-n * int(new_rate) // int(orig_rate))
    else:
        m = math.ceil(n * new_rate / orig_rate)
    c = min(1.0, new_rate / orig_rate) if antialias else 1.0
    scale = orig_rate / new_rate
    reach = lobes / c
    out = np.zeros(m)
    for j in range(m):
        p = (j + 0.5) * scale - 0.5
        i = np.arange(max(0, math.ceil(p - reach)), min(n, math.floor(p + reach) + 1))
        u = c * (p - i)
        h = c * np.sinc(u) * (0.5 + 0.5 * np.cos(np.pi * u / lobes)) * (np.abs(u) < lobes)
        out[j] = h @ x[i]
    return out


def nonsilent_region(x, cutoff_db=-60.0, window=2048):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return 0, 0
    w = min(window, n)
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
