"""Audio kernels and the RNN-T training transform vs their peers, same run, same data.

Data: speech-like 16 kHz mono 16-bit FLAC clips of 2-16.5 s (``speech_like``), the same
clips for every contender. Rates are in seconds of audio per second (x real time);
``ratio`` = fastload rate / peer rate, both measured in this run, medians of repeats.

Rows:

Rows are grouped (``log_mel``, ``resample``, ``decode FLAC``, ``rnnt_train``); within a
group the contenders are timed round-robin and ``ratio`` is fastload's rate over the
row's (a fastload variant's row gives its rate over the group's fastload row).

- ``log_mel``: the normalised log-mel feature (pre-emphasis, STFT 512/320/160 with
  DALI's Hann, power, 80 slaney mel, ln, per-feature normalisation) from float32
  samples, against librosa (``feature.melspectrogram`` + numpy log/normalise), torch
  (``torch.stft`` + mel matmul + log + normalise in torch, the computation of
  torchaudio's MelSpectrogram; torchaudio itself is not installed) and numpy +
  ``scipy.fft.rfft`` over strided frames.
- ``resample`` (speed perturbation to s * 16 kHz, s in [0.85, 1.15]): fastload's
  16-lobe windowed sinc vs ``soxr.resample`` (HQ) and ``scipy.signal.resample_poly``.
- ``decode``: ``fastload.audio.decode`` (``verify_md5=False``, like libsndfile) vs
  ``soundfile.read`` on the same bytes; a variant row adds the default MD5 check.
- ``rnnt_train Loader``: the transform through ``fastload.Loader`` with 1 and 2 threads
  (wall time; full mode only, and only when the process may use >= 2 cores).
- ``rnnt_train``: the whole transform from FLAC bytes (decode, speed perturbation,
  trim, dither, log-mel, SpecAugment, stacking) vs a composition of the best peers:
  soundfile + soxr + numpy trim/dither + torch log-mel + numpy SpecAugment/stack
  (and the same with scipy ``resample_poly`` instead of soxr).

Pin to one core for one-thread figures: ``OMP_NUM_THREADS=1 taskset -c 0``; ``run``
also calls ``torch.set_num_threads(threads)``.
"""

from __future__ import annotations

import gc
import io
import statistics
import time
from fractions import Fraction

import numpy as np

from fastload.bench import optional_import, peer, reference, variant

__all__ = ["REQUIRES", "rows", "run"]

# {module: (required for the whole concern, the rows that need it)}
REQUIRES = {
    "soundfile": (True, "all (the peers' FLAC reader)"),
    "scipy": (True, "numpy + scipy.fft log-mel, resample_poly rows"),
    "librosa": (False, "librosa log-mel row"),
    "soxr": (False, "soxr resample rows"),
    "torch": (False, "torch.stft hand-written log-mel row"),
    "torchaudio": (False, "torchaudio MelSpectrogram, kaldi fbank, torchaudio composition rows"),
    "nvidia.dali": (False, "DALI CPU audio pipeline rows"),
}


RT = "x RT"


def _clips(quick):
    from fastload.testing.data.librispeech import encode_audio, speech_like

    rng = np.random.default_rng(1234)
    n = 3 if quick else 12
    durations = np.linspace(2.0, 16.5, n)  # within the 16.7 s training filter
    rng.shuffle(durations)
    signals = [speech_like(float(d), rng) for d in durations]
    flacs = [encode_audio(x, 16000) for x in signals]
    return signals, flacs, float(np.sum([len(x) for x in signals]) / 16000)


_FAILED = {}  # peer module name -> its missing/broken row


def _optional(name):
    """The module, or None (its missing/broken row is kept for the table)."""
    module, failed = optional_import(name)
    if failed is not None:
        _FAILED[name] = failed
    return module


def _peers():
    """Log-mel peers that are installed (scipy always is) and the best one for the pipeline."""
    import scipy.fft

    from fastload.audio.features import mel_filterbank, window_function

    librosa = _optional("librosa")
    torch = _optional("torch")

    win64 = window_function("dali_hann", 320)
    win32 = win64.astype(np.float32)
    fb32 = mel_filterbank(16000, 512, 80).astype(np.float32)
    fb_t = torch.from_numpy(fb32) if torch is not None else None
    win_t = torch.from_numpy(win32) if torch is not None else None
    win512 = np.zeros(512, np.float32)
    win512[96:416] = win32

    def pre_np(x):
        y = np.empty_like(x)
        y[0] = np.float32(0.03) * x[0]
        np.subtract(x[1:], np.float32(0.97) * x[:-1], out=y[1:])
        return y

    def norm_np(lm):
        m = lm.mean(axis=1, keepdims=True)
        s = lm.std(axis=1, keepdims=True)
        return (lm - m) / np.where(s > 0, s, 1)

    def librosa_logmel(x):
        p = librosa.feature.melspectrogram(
            y=pre_np(x),
            sr=16000,
            n_fft=512,
            hop_length=160,
            win_length=320,
            window=win64,
            center=True,
            pad_mode="reflect",
            power=2.0,
            n_mels=80,
            htk=False,
            norm="slaney",
        )
        return norm_np(np.log(np.maximum(p, 1e-20)))

    def torch_logmel(x):
        t = torch.from_numpy(x)
        y = torch.empty_like(t)
        y[0] = 0.03 * t[0]
        y[1:] = t[1:] - 0.97 * t[:-1]
        spec = torch.stft(
            y,
            n_fft=512,
            hop_length=160,
            win_length=320,
            window=win_t,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        p = spec.real.square() + spec.imag.square()
        lm = torch.log(torch.clamp(fb_t @ p, min=1e-20))
        m = lm.mean(dim=1, keepdim=True)
        s = lm.std(dim=1, keepdim=True, unbiased=False)
        return ((lm - m) / s).numpy()

    def scipy_logmel(x):
        y = np.pad(pre_np(x), 256, mode="reflect")
        frames = np.lib.stride_tricks.sliding_window_view(y, 512)[::160]
        spec = scipy.fft.rfft(frames * win512, axis=1)
        p = spec.real**2 + spec.imag**2
        return norm_np(np.log(np.maximum(fb32 @ p.T, 1e-20)))

    peers = {}
    if librosa is not None:
        peers["librosa"] = librosa_logmel
    if torch is not None:
        peers["torch.stft (torchaudio-equivalent)"] = torch_logmel
    peers["numpy + scipy.fft"] = scipy_logmel
    return peers, (torch_logmel if torch is not None else scipy_logmel)


def _peer_pipeline(resampler, logmel):
    import soundfile

    def trim(x, window=2048):
        w = min(window, len(x))
        c = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
        mms = (c[w:] - c[:-w]) / w
        idx = np.nonzero(mms >= mms.max() * 1e-6)[0]
        return x[idx[0] : idx[-1] + w] if len(idx) else x

    def transform(data, rng):
        x, sr = soundfile.read(io.BytesIO(data), dtype="float32")
        s = rng.uniform(0.85, 1.15)
        x = resampler(x, sr, s)
        x = trim(x)
        x = x + np.float32(1e-5) * rng.standard_normal(len(x), dtype=np.float32)
        f = logmel(x)
        F, T = f.shape
        for _ in range(2):
            w = rng.integers(0, 21)
            f0 = rng.integers(0, max(1, F - w + 1))
            f[f0 : f0 + w] = 0
        tmax = round(0.03 * T)
        for _ in range(10):
            w = rng.integers(0, tmax + 1)
            t0 = rng.integers(0, max(1, T - w + 1))
            f[:, t0 : t0 + w] = 0
        pad = np.zeros((F, T + 2), np.float32)
        pad[:, :T] = f
        stacked = np.concatenate([pad[:, 0:T], pad[:, 1 : T + 1], pad[:, 2 : T + 2]], axis=0)
        return np.ascontiguousarray(stacked[:, ::3].T)

    return transform


def _soxr(x, sr, s):
    import soxr  # installed with librosa

    return soxr.resample(x, sr, sr * s, quality="HQ")


def _poly(x, sr, s):
    import scipy.signal

    fr = Fraction(s).limit_denominator(200)
    return scipy.signal.resample_poly(x, fr.numerator, fr.denominator).astype(np.float32)


def _measure(contenders, repeats, clock):
    """Median seconds per contender, measured round-robin (one repeat of each in turn) so
    that load changes on a shared machine hit every contender alike."""
    timer = time.thread_time if clock == "cpu" else time.perf_counter
    for fn in contenders.values():
        fn()  # warm-up (numba cache load, librosa/torch first-call costs)
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            gc.collect()
            t = timer()
            fn()
            times[name].append(timer() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def run(threads=1, quick=False, clock="cpu"):
    """Measure every row; returns a list of dicts (name, items_per_s, ratio, notes).

    ``clock="cpu"`` (default) times with ``time.thread_time`` (CPU time of the calling
    thread: every contender here computes in that thread when pinned to one thread), which
    keeps ratios stable on a machine shared with other jobs; ``clock="wall"`` uses
    ``time.perf_counter``.
    """
    import soundfile

    from fastload.audio import decode, log_mel, resample, warmup
    from fastload.pipelines import rnnt_train

    _FAILED.clear()
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(max(1, int(threads)))
    warmup()
    signals, flacs, seconds = _clips(quick)
    repeats = 3 if quick else 9
    peers, best_logmel = _peers()
    best = "torch.stft" if "torch.stft (torchaudio-equivalent)" in peers else "scipy.fft"
    has_soxr = _optional("soxr") is not None
    rows = []
    note = (
        f"{len(signals)} clips 2-16.5 s, {seconds:.0f} s audio, {threads} thread(s), {clock} time"
    )
    speeds = np.random.default_rng(7).uniform(0.85, 1.15, len(signals))
    out = [np.empty((80, len(x) // 160 + 1), np.float32) for x in signals]
    t = rnnt_train()

    def run_ours():
        for i, d in enumerate(flacs):
            t({"audio": d}, np.random.default_rng(i))

    def peer_runner(fn):
        def go():
            for i, d in enumerate(flacs):
                fn(d, np.random.default_rng(i))

        return go

    groups = {
        "log_mel": {
            "fastload (out=)": lambda: [
                log_mel(x, out=o) for x, o in zip(signals, out, strict=True)
            ],
            "fastload": lambda: [log_mel(x) for x in signals],
            **{name: (lambda fn=fn: [fn(x) for x in signals]) for name, fn in peers.items()},
        },
        "resample": {
            "fastload (16 lobes, DALI filter)": lambda: [
                resample(x, 16000, 16000 * s, antialias=False)
                for x, s in zip(signals, speeds, strict=True)
            ],
            "fastload (16 lobes, antialiased)": lambda: [
                resample(x, 16000, 16000 * s) for x, s in zip(signals, speeds, strict=True)
            ],
            **(
                {
                    "soxr HQ": lambda: [
                        _soxr(x, 16000, s) for x, s in zip(signals, speeds, strict=True)
                    ]
                }
                if has_soxr
                else {}
            ),
            "scipy resample_poly": lambda: [
                _poly(x, 16000, s) for x, s in zip(signals, speeds, strict=True)
            ],
        },
        "decode FLAC": {
            # like for like: libsndfile does not check the MD5 signature either
            "fastload": lambda: [decode(d, verify_md5=False) for d in flacs],
            "fastload (verify_md5=True, the default)": lambda: [decode(d) for d in flacs],
            "soundfile.read": lambda: [
                soundfile.read(io.BytesIO(d), dtype="float32") for d in flacs
            ],
        },
        "rnnt_train": {
            "fastload": run_ours,
            **(
                {
                    f"peers soundfile+soxr+{best}+numpy": peer_runner(
                        _peer_pipeline(_soxr, best_logmel)
                    )
                }
                if has_soxr
                else {}
            ),
            f"peers soundfile+resample_poly+{best}+numpy": peer_runner(
                _peer_pipeline(_poly, best_logmel)
            ),
        },
    }
    for group, contenders in groups.items():
        med = _measure(contenders, repeats, clock)
        base_name = "fastload" if "fastload" in contenders else next(iter(contenders))
        base = seconds / med[base_name]
        rows.append(reference(f"{group} {base_name}", base, note, unit=RT))
        for name, sec in med.items():
            rate = seconds / sec
            if name == base_name:
                continue
            if name.startswith("fastload"):
                rows.append(
                    variant(f"{group} {name}", rate, base, f"ratio = this / {base_name}", unit=RT)
                )
            else:
                rows.append(peer(f"{group} {name}", rate, base, unit=RT))
    rows += _FAILED.values()

    # Loader scaling (needs >= 2 usable cores; skipped when pinned to one). Wall time.
    import os

    if not quick and len(os.sched_getaffinity(0)) >= 2:
        from fastload.loader import Loader
        from fastload.loader.collate import Collate

        data = [{"audio": d} for d in flacs] * 3
        loaders = {
            k: Loader(
                data,
                transform=t,
                batch_size=2,
                shuffle=False,
                num_threads=k,
                collate=Collate(pad=t.collate_pad),
            )
            for k in (1, 2)
        }
        med = _measure(
            {k: (lambda ld=ld: list(ld)) for k, ld in loaders.items()}, max(2, repeats // 2), "wall"
        )
        total = len(data) // len(flacs) * seconds
        rows.append(
            reference(
                "rnnt_train Loader 1 thread",
                total / med[1],
                "through fastload.Loader, wall time",
                unit=RT,
            )
        )
        rows.append(
            variant(
                "rnnt_train Loader 2 threads",
                total / med[2],
                total / med[1],
                "ratio = 2 threads / 1 thread, wall time (shared machine)",
                unit=RT,
            )
        )
    return rows


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`)."""
    from fastload.bench.runner import guarded

    yield from guarded("audio", run, threads, quick)
