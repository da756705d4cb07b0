"""Audio kernels and the RNN-T training transform vs their peers, same run, same data.

Data: speech-like 16 kHz mono 16-bit FLAC clips of 2-16.5 s
(:func:`fastload.bench.data.speech_clips`, cached on disk), the same files for every
contender. Rates are seconds of audio per CPU second (x real time); ``ratio`` = fastload
rate / peer rate, both measured in this run, medians of interleaved repeats
(:func:`fastload.bench.harness.race`, one clip per chunk), ``ratio_range`` the per-repeat
ratios' min-max. Within a group the first row is fastload's reference; a fastload variant's
row gives its rate over it.

- ``log_mel``: the normalised log-mel feature (pre-emphasis, STFT 512/320/160, power, 80
  slaney mels, ln, per-feature normalisation, no dither on any side) from float32 samples,
  against torchaudio's ``MelSpectrogram`` (+ the same pre-emphasis, ln, normalisation),
  torchaudio's ``compliance.kaldi.fbank``, DALI's CPU operators, librosa, a hand-written
  ``torch.stft`` + mel matmul (torchaudio's computation, not torchaudio) and numpy +
  ``scipy.fft``.
- ``resample`` (speed perturbation to s * 16 kHz, s in [0.85, 1.15]): fastload's
  16-lobe windowed sinc vs ``soxr.resample`` (HQ) and ``scipy.signal.resample_poly``.
- ``decode FLAC``: ``fastload.audio.decode`` (``verify_md5=False``, like libsndfile) vs
  ``soundfile.read``; a variant row adds the default MD5 check.
- ``rnnt_train``: the whole transform from FLAC bytes (decode, speed perturbation, trim,
  dither 1e-5, log-mel, SpecAugment, stacking) vs the same chain composed of torchaudio
  ops, DALI's CPU pipeline (no SpecAugment / stacking operators: its row says so) and
  compositions of soundfile + soxr (or resample_poly) + torch.stft + numpy.
- ``rnnt_train Loader``: through ``fastload.Loader`` with 1 and 2 threads (wall time;
  full mode only, and only when the process may use >= 2 cores).

torchaudio pins its own torch: when it does not import here it runs in the peer venv
(``--peer-python`` / ``$FASTLOAD_BENCH_PEER_PYTHON``), interleaved all the same. Pin to
one core for one-thread figures: ``taskset -c 0 python -m fastload bench audio``.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

from fastload.bench import broken, optional_import, peer, reference, variant
from fastload.bench.harness import peer_contenders, per_repeat, race

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
    """(paths, float32 signals, FLAC bytes, seconds) of the cached clips
    (:func:`fastload.bench.data.speech_clips`), the same files a peer venv reads."""
    import soundfile

    from fastload.bench.data import read_all, speech_clips

    paths, flacs = read_all(speech_clips(3 if quick else 12))
    signals = [soundfile.read(io.BytesIO(d), dtype="float32")[0] for d in flacs]
    return paths, signals, flacs, float(np.sum([len(x) for x in signals]) / 16000)


_FAILED = {}  # peer module name -> its missing/broken row
# what that row is: torch.stft + a mel matmul written here, the computation of torchaudio's
# MelSpectrogram but not torchaudio (whose own row runs MelSpectrogram itself)
_TORCH_STFT = "torch.stft + mel matmul (hand-written, not torchaudio)"


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
        peers[_TORCH_STFT] = torch_logmel
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


def _dali_audio(signals, flacs, threads):
    """DALI CPU pipelines (``device_id=None``), one clip per run (= one chunk):
    ``dali_logmel`` from float32 samples (preemphasis_filter 0.97, spectrogram 512/320/160
    power 2, mel_filter_bank 80 slaney, to_decibels as ln, normalize per feature: the
    log-mel of fastload's ``log_mel``, no dither) and ``dali_rnnt`` from FLAC bytes
    (decoders.audio, audio_resample by a uniform 0.85-1.15 speed, nonsilent_region -60 dB +
    slice, dither 1e-5, then the same log-mel). DALI has no SpecAugment or frame-stacking
    operator: those two steps are not in its row. Returns ({name: chunks}, version)."""
    from nvidia import dali
    from nvidia.dali import fn, pipeline_def, types

    kw = dict(
        batch_size=1,
        num_threads=max(1, threads),
        device_id=None,
        seed=0,
        exec_async=False,
        exec_pipelined=False,
        prefetch_queue_depth=1,
    )

    def features(x):
        x = fn.preemphasis_filter(x, preemph_coeff=0.97, border="zero")
        spec = fn.spectrogram(
            x,
            nfft=512,
            window_length=320,
            window_step=160,
            power=2,
            center_windows=True,
            reflect_padding=True,
        )
        mel = fn.mel_filter_bank(
            spec, sample_rate=16000, nfilter=80, normalize=True, mel_formula="slaney"
        )
        lm = fn.to_decibels(
            mel, multiplier=float(np.log(10)), reference=1.0, cutoff_db=float(np.log(1e-20))
        )
        return fn.normalize(lm, axes=[1])

    @pipeline_def(**kw)
    def logmel():
        return features(fn.external_source(name="x", dtype=types.FLOAT, ndim=1))

    @pipeline_def(**kw)
    def rnnt():
        enc = fn.external_source(name="x", dtype=types.UINT8, ndim=1)
        audio, _ = fn.decoders.audio(enc, dtype=types.FLOAT, downmix=True)
        audio = fn.audio_resample(audio, scale=fn.random.uniform(range=[0.85, 1.15]))
        begin, length = fn.nonsilent_region(audio, cutoff_db=-60, window_length=2048)
        audio = fn.slice(audio, begin, length, axes=[0])
        audio = audio + fn.random.normal(audio) * 1e-5
        return features(audio)

    out = {}
    for name, make, inputs in (
        ("dali_logmel", logmel, signals),
        ("dali_rnnt", rnnt, [np.frombuffer(f, np.uint8) for f in flacs]),
    ):
        pipe = make()
        pipe.build()

        def go(x, pipe=pipe):
            def run_one():
                pipe.feed_input("x", [x])
                pipe.run()

            return run_one

        out[name] = [go(x) for x in inputs]
    return out, f"DALI {dali.__version__} CPU (device_id=None)"


def run(threads=1, quick=False, peer_python=None):
    """Every row, as a list (see :func:`rows`)."""
    return list(rows(threads=threads, quick=quick, peer_python=peer_python))


def rows(threads=1, quick=False, peer_python=None):
    """Rows as they are measured (see :mod:`fastload.bench.runner`): one race per group
    (log_mel, resample, decode FLAC, rnnt_train, Loader); ratios from CPU time
    (``time.process_time``, every thread of the process that ran the contender: DALI's
    workers and a peer venv's child included), which keeps them steady on a shared
    machine; a group that fails is one broken row."""
    from fastload.bench.runner import guarded

    threads = max(1, int(threads))
    _FAILED.clear()
    torch = _optional("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    from fastload.audio import warmup

    warmup()
    state = _State(threads, quick, peer_python)
    yield from guarded("log_mel", state.log_mel_rows)
    yield from guarded("resample", state.resample_rows)
    yield from guarded("decode FLAC", state.decode_rows)
    yield from guarded("rnnt_train", state.rnnt_rows)
    yield from _FAILED.values()
    if not quick:
        yield from guarded("rnnt_train Loader", state.loader_rows)


class _State:
    """The clips and settings every group shares."""

    def __init__(self, threads, quick, peer_python):
        self.threads, self.quick, self.peer_python = threads, quick, peer_python
        self.paths, self.signals, self.flacs, self.seconds = _clips(quick)
        self.repeats = 3 if quick else 5
        self.note = (
            f"{len(self.signals)} clips 2-16.5 s, {self.seconds:.0f} s audio, "
            f"{threads} thread(s), CPU time, median of {self.repeats}"
        )
        self.dali = None
        mod, row = optional_import("nvidia.dali")
        if mod is None:
            _FAILED["nvidia.dali"] = row
        else:
            try:
                self.dali = _dali_audio(self.signals, self.flacs, threads)
            except Exception as exc:  # noqa: BLE001 - the peer is broken here: a row says so
                why = f"{type(exc).__name__}: {exc}"[:200]
                _FAILED["nvidia.dali"] = broken("DALI CPU audio", why)
        self.ta = None
        ta, info, close, row = peer_contenders(
            "fastload.bench.peers:torchaudio_audio",
            {"paths": self.paths, "threads": threads},
            modules=["torch", "torchaudio"],
            peer_python=peer_python,
            threads=threads,
        )
        if row is not None:
            _FAILED["torchaudio"] = row
        else:
            self.ta, self.ta_version, self.ta_close = ta, info["version"], close

    def _group(self, group, contenders, labels, notes=None):
        """Race ``contenders`` (first = the group's fastload reference); rows from CPU time."""
        t = race(contenders, self.repeats)
        names = list(contenders)
        base_name = names[0]
        base = self.seconds / t[base_name].cpu
        yield reference(f"{group} {labels[base_name]}", base, self.note, unit=RT)
        for name in names[1:]:
            rate = self.seconds / t[name].cpu
            spread = [a / b for a, b in zip(t[name].cpus, t[base_name].cpus, strict=True) if b]
            note = (notes or {}).get(name, "")
            goal = (notes or {}).get(name + ":goal")
            if name.startswith("fastload"):
                yield variant(
                    f"{group} {labels[name]}",
                    rate,
                    base,
                    f"ratio = this / {labels[base_name]}" + (f"; {note}" if note else ""),
                    unit=RT,
                    ratio_range=[1 / x for x in spread],
                )
            else:
                yield peer(
                    f"{group} {labels[name]}",
                    rate,
                    base,
                    note,
                    unit=RT,
                    goal=goal,
                    ratio_range=spread,
                )

    def log_mel_rows(self):
        from fastload.audio import log_mel

        signals = self.signals
        out = [np.empty((80, len(x) // 160 + 1), np.float32) for x in signals]
        peers, _ = _peers()
        contenders = {
            "fastload": [lambda x=x: log_mel(x) for x in signals],
            "fastload (out=)": [
                lambda x=x, o=o: log_mel(x, out=o) for x, o in zip(signals, out, strict=True)
            ],
        }
        labels = {"fastload": "fastload", "fastload (out=)": "fastload (out=)"}
        notes = {}
        if self.ta is not None:
            contenders["ta_melspec"] = self.ta["ta_melspec"]
            contenders["ta_fbank"] = self.ta["ta_fbank"]
            labels["ta_melspec"] = "torchaudio MelSpectrogram"
            labels["ta_fbank"] = "torchaudio compliance.kaldi.fbank"
            notes["ta_melspec"] = (
                f"+ the same pre-emphasis, ln, per-feature normalisation; {self.ta_version}"
            )
            notes["ta_melspec:goal"] = ">= 3"
            notes["ta_fbank"] = "80 bins, 20/10 ms frames, no dither (Kaldi's own recipe)"
        if self.dali is not None:
            contenders["dali_logmel"] = self.dali[0]["dali_logmel"]
            labels["dali_logmel"] = "DALI CPU"
            notes["dali_logmel"] = self.dali[1]
        for name, fn in peers.items():
            contenders[name] = [lambda x=x, fn=fn: fn(x) for x in signals]
            labels[name] = name
        yield from self._group("log_mel", contenders, labels, notes)

    def resample_rows(self):
        from fastload.audio import resample

        signals = self.signals
        speeds = np.random.default_rng(7).uniform(0.85, 1.15, len(signals))
        pairs = list(zip(signals, speeds, strict=True))
        contenders = {
            "fastload": [
                lambda x=x, s=s: resample(x, 16000, 16000 * s, antialias=False) for x, s in pairs
            ],
            "fastload (16 lobes, antialiased)": [
                lambda x=x, s=s: resample(x, 16000, 16000 * s) for x, s in pairs
            ],
            "scipy resample_poly": [lambda x=x, s=s: _poly(x, 16000, s) for x, s in pairs],
        }
        if _optional("soxr") is not None:
            contenders["soxr HQ"] = [lambda x=x, s=s: _soxr(x, 16000, s) for x, s in pairs]
        labels = {k: k for k in contenders}
        labels["fastload"] = "fastload (16 lobes, DALI filter)"
        yield from self._group("resample", contenders, labels)

    def decode_rows(self):
        import soundfile

        from fastload.audio import decode

        flacs = self.flacs
        contenders = {  # like for like: libsndfile does not check the MD5 signature either
            "fastload": [lambda d=d: decode(d, verify_md5=False) for d in flacs],
            "fastload (verify_md5=True, the default)": [lambda d=d: decode(d) for d in flacs],
            "soundfile.read": [
                lambda d=d: soundfile.read(io.BytesIO(d), dtype="float32") for d in flacs
            ],
        }
        yield from self._group("decode FLAC", contenders, {k: k for k in contenders})

    def rnnt_rows(self):
        from fastload.pipelines import rnnt_train

        t = rnnt_train()
        flacs = self.flacs
        peers, best_logmel = _peers()
        best = "torch.stft" if _TORCH_STFT in peers else "scipy.fft"
        contenders = {
            "fastload": [
                lambda i=i, d=d: t({"audio": d}, np.random.default_rng(i))
                for i, d in enumerate(flacs)
            ]
        }
        labels = {"fastload": "fastload"}
        notes = {}
        if self.ta is not None:
            contenders["ta_rnnt"] = self.ta["ta_rnnt"]
            labels["ta_rnnt"] = "torchaudio composition"
            notes["ta_rnnt"] = (
                "soundfile + torchaudio.functional.resample (speed to 1 %) + "
                "trim + dither + MelSpectrogram log-mel + Frequency/TimeMasking "
                f"+ stacking; {self.ta_version}"
            )
            notes["ta_rnnt:goal"] = ">= 2.5"
        if self.dali is not None:
            contenders["dali_rnnt"] = self.dali[0]["dali_rnnt"]
            labels["dali_rnnt"] = "DALI CPU pipeline"
            notes["dali_rnnt"] = (
                f"decode, speed, trim, dither, log-mel, normalize (no "
                f"SpecAugment / stacking operators); {self.dali[1]}"
            )
            notes["dali_rnnt:goal"] = ">= 4"

        def runner(fn):
            return [lambda i=i, d=d: fn(d, np.random.default_rng(i)) for i, d in enumerate(flacs)]

        if _optional("soxr") is not None:
            name = f"peers soundfile+soxr+{best}+numpy"
            contenders[name] = runner(_peer_pipeline(_soxr, best_logmel))
            labels[name] = name
        name = f"peers soundfile+resample_poly+{best}+numpy"
        contenders[name] = runner(_peer_pipeline(_poly, best_logmel))
        labels[name] = name
        try:
            yield from self._group("rnnt_train", contenders, labels, notes)
        finally:
            if self.ta is not None:
                self.ta_close()

    def loader_rows(self):
        """rnnt_train through fastload.Loader, 1 and 2 threads (needs >= 2 usable cores)."""
        import os

        from fastload.loader import Loader
        from fastload.loader.collate import Collate
        from fastload.pipelines import rnnt_train

        if len(os.sched_getaffinity(0)) < 2:
            return
        t = rnnt_train()
        data = [{"audio": d} for d in self.flacs] * 3
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
        res = race(
            {k: (lambda ld=ld: list(ld)) for k, ld in loaders.items()}, max(2, self.repeats // 2)
        )
        total = 3 * self.seconds
        yield reference(
            "rnnt_train Loader 1 thread",
            total / res[1].wall,
            "through fastload.Loader, wall time",
            unit=RT,
        )
        yield variant(
            "rnnt_train Loader 2 threads",
            total / res[2].wall,
            total / res[1].wall,
            "ratio = 2 threads / 1 thread, wall time (shared machine)",
            unit=RT,
            ratio_range=per_repeat(res[1], res[2]),
        )
