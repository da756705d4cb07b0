"""MLPerf RNN-T (LibriSpeech) feature pipelines: ``rnnt_train`` and ``rnnt_eval``.

Each returns a loader transform ``transform(sample, rng) -> sample`` that reads
``sample["audio"]`` and writes ``sample["features"]``, shape (T', 240) float32
(time-major, ``T' = ceil(T / 3)`` with ``T = n // 160 + 1`` frames of the trimmed
signal) and then ``sample["features_length"] = T'`` (int). Other keys (transcript,
ids ...) pass through untouched; ``"audio"`` is dropped from the output unless
``keep_audio=True``. Collate with ``pad={"features": 0}`` (``transform.collate_pad``).

``sample["audio"]`` may be encoded bytes (any bytes-like: FLAC, WAV, OGG ...) or an
int16 numpy array of PCM samples (the builder's ``pcm=True`` layout) whose rate is
``sample["sample_rate"]`` (default 16000).

Chain (SPEC-mlperf section 3.3), one rng draw order: speed factor, dither noise,
SpecAugment masks.

1. decode, downmix to mono (channel mean);
2. one windowed-sinc resample from the file rate to ``16000 * s`` (train,
   ``s ~ U(0.85, 1.15)``; the rate rounded to float32 as DALI's,
   :func:`fastload.audio.speed_target_rate`) or to 16000 (eval, only when the file is not
   16 kHz); the result is treated as 16 kHz audio (DALI does the same single resample).
   Filter and alignment are DALI 2.4's ``audio_resample`` (16-lobe table, cutoff at the
   input Nyquist, so s < 1 or a > 16 kHz source aliases as in the reference; output j at
   input j * r): within 3e-6 of DALI; ``antialias=True`` band-limits instead;
3. silence trim (``NonsilentRegion``: -60 dB, window 2048) with DALI's float32 power
   accumulation (identical bounds; :func:`fastload.audio.nonsilent_region`);
4. dither 1e-5 -> pre-emphasis 0.97 -> STFT 512/320/160 with DALI's Hann -> power ->
   80 slaney mel -> ln(max(., 1e-20)) -> per-feature normalisation (``log_mel``);
5. SpecAugment (train): 2 frequency masks of width 0..20, 10 time masks of width
   0..round(0.03 T). Deviation: time-mask starts are drawn over the sample's own T,
   not the padded batch length of the reference (a per-sample transform cannot know it).
   For the reference's exact semantics build ``rnnt_train(spec_augment=False, stack=1,
   subsample=1)`` (features (T, 80)) and call ``fastload.audio.spec_augment_batch`` then
   ``fastload.audio.stack_frames_batch`` on the collated batch, as the reference does on
   the GPU;
6. frame stacking 3, subsampling 3 -> 240 features. With stack == subsample, stacking
   is a reshape of time-major features, so steps 4-6 write straight into the final
   (T', 240) array (bit for bit what ``log_mel`` + ``SpecAugment`` + ``stack_frames`` give).

``max_duration`` (train): the reference drops utterances whose original duration
exceeds 16.7 s once, when the sample list is built. fastload applies it at dataset
build time (``fastload.builders.librispeech``) or selection time (:func:`select_duration`);
an utterance that still reaches ``rnnt_train`` longer than ``max_duration`` raises
:class:`fastload.errors.LimitError` naming it (never silently trained on). ``None``
disables the check.

``preset="nvidia"``: NVIDIA's vectorised SpecAugment rule (``SpecAugment(preset="nvidia")``:
masks ``a <= idx <= a + w`` from ``a = round(U (size - w))``), and pre-drawn speed
factors: when the sample carries ``sample["speed"]`` (NVIDIA draws s per sample up
front to sort batches by perturbed length), that factor is used instead of a draw;
otherwise s is drawn as in the reference. :func:`draw_speeds` makes an epoch's factors and
:class:`WithSpeed` adds them to a dataset's samples (the sampler may
use ``duration * speed`` to order batches). The DSP chain is identical.

Against the reference's DALI graph run by DALI 2.4 (``tests/equivalence/test_rnnt_dali.py``,
dither off on both sides) eval features agree within 8e-4 after normalisation. Kept
differences, both presets: the dither noise is fastload's own draw (a 65,536-level normal
table, ``fastload.audio.features.dither_noise``; DALI's generator cannot be replayed), same
distribution; per-sample SpecAugment time masks (above); with s > 1 the top mel band, about
90 dB below the loudest bin, differs by up to 2.6e-3 (float32 FFTs); the reference pins
DALI 0.28, whose resampler alignment could not be run here (fastload follows 2.4's).
"""

import threading
from dataclasses import dataclass

import numpy as np

from fastload._rng import as_generator
from fastload.audio.codec import DEFAULT_MAX_SAMPLES, decode
from fastload.audio.features import log_mel
from fastload.audio.resampling import resample, resampled_length
from fastload.audio.transforms import (
    SpecAugment,
    nonsilent_region,
    speed_target_rate,
    stack_frames,
)
from fastload.errors import DecodeError, LimitError
from fastload.pipelines._keys import field
from fastload.transforms import Transform

__all__ = [
    "PRESETS",
    "RnntParams",
    "RnntPreset",
    "RnntTransform",
    "WithSpeed",
    "draw_speeds",
    "rnnt_eval",
    "rnnt_train",
    "select_duration",
]

SAMPLE_RATE = 16000
#: Input sample rates the pipeline resamples from, Hz. ``decode`` accepts every rate FLAC
#: can state (1 Hz to 1 MHz); resampling from 1 Hz up-samples 16000x and from 2 GHz
#: builds a 16 GB filter bank, so the pipeline refuses rates outside this range.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000
_LOCAL = threading.local()


_MAX_CACHED = 16000 * 120  # samples: longer signals get temporary buffers


def _buffer(key, n):
    """Per-thread float32 scratch of at least n values (decoded and resampled signals are
    intermediates: reusing them saves a fresh allocation and its page faults per sample).
    Signals longer than two minutes get a temporary array the thread does not keep."""
    if n > _MAX_CACHED:
        return np.empty(n, np.float32)
    buf = getattr(_LOCAL, key, None)
    if buf is None or buf.shape[0] < n:
        buf = np.empty(
            min(_MAX_CACHED, max(n, 2 * (buf.shape[0] if buf is not None else 0), 16000 * 20)),
            np.float32,
        )
        setattr(_LOCAL, key, buf)
    return buf


def _check_rate(name, rate, what):
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DecodeError(
            f"{name}: {what} {rate} Hz, expected {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz "
            f"(the range rnnt resamples from; fastload.pipelines.rnnt.MIN_SAMPLE_RATE / "
            f"MAX_SAMPLE_RATE)"
        )


@dataclass(frozen=True)
class RnntPreset:
    """What a preset fixes in the RNN-T chain: plain values (the audio preset table is
    :data:`PRESETS`; a variant is ``dataclasses.replace(PRESETS[name], ...)``, accepted
    wherever a preset name is).

    Attributes
    ----------
    spec_augment : {"reference", "nvidia"}
        Mask rule of :class:`~fastload.audio.SpecAugment` (its ``preset`` argument).
    speed_from_sample : bool
        Use a pre-drawn ``sample["speed"]`` when present (NVIDIA draws the factors of an
        epoch up front, :func:`draw_speeds`); otherwise every factor is drawn per sample.
    """

    spec_augment: str
    speed_from_sample: bool


#: The audio preset table: ``"reference"`` (MLPerf reference) and ``"nvidia"`` (NVIDIA's
#: submission); see the module docstring.
PRESETS = {
    "reference": RnntPreset(spec_augment="reference", speed_from_sample=False),
    "nvidia": RnntPreset(spec_augment="nvidia", speed_from_sample=True),
}


def get_preset(preset):
    """The :class:`RnntPreset` of a name in :data:`PRESETS`, or ``preset`` itself."""
    if isinstance(preset, RnntPreset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    raise ValueError(f"preset must be 'reference' or 'nvidia' or an RnntPreset, got {preset!r}")


@dataclass(frozen=True)
class RnntParams:
    """Everything random about one RNN-T sample (log it, replay it with ``apply``).

    ``speed`` is the speed factor (1.0: unperturbed). The dither noise and the SpecAugment
    masks depend on the decoded, resampled and trimmed length, known only in ``apply``:
    they are drawn there from ``stream``, the state of the sample's bit generator right
    after the speed draw (``rng.bit_generator.state``), so the pair replays the sample
    bit for bit.
    """

    speed: float
    stream: dict


def _resume(stream):
    """A Generator continuing from a bit-generator ``state`` dict."""
    bits = getattr(np.random, stream["bit_generator"])()
    bits.state = stream
    return np.random.Generator(bits)


class RnntTransform(Transform):
    """The RNN-T feature transform; build it with :func:`rnnt_train` / :func:`rnnt_eval`.

    A :class:`fastload.transforms.Transform` over sample dicts: :meth:`sample_params`
    draws the speed factor (:class:`RnntParams`), :meth:`apply` runs the chain of the
    module docstring from the public functions (``decode``, ``resample``,
    ``nonsilent_region``, the log-mel kernel, :class:`SpecAugment`, ``stack_frames``).
    """

    collate_pad = {"features": 0}

    def __init__(
        self,
        *,
        train,
        preset="reference",
        max_duration=16.7,
        sample_rate=SAMPLE_RATE,
        speed_perturbation=(0.85, 1.15, 1.0),
        antialias=False,
        trim_silence=True,
        cutoff_db=-60.0,
        dither=1e-5,
        n_fft=512,
        win_length=320,
        hop_length=160,
        n_mels=80,
        window="dali_hann",
        preemphasis=0.97,
        spec_augment=True,
        freq_masks=2,
        max_freq=20,
        time_masks=10,
        max_time=0.03,
        stack=3,
        subsample=3,
        audio_key="audio",
        keep_audio=False,
    ):
        self.preset_values = values = get_preset(preset)
        self.train = bool(train)
        self.preset = preset
        self.max_duration = max_duration
        self.antialias = bool(antialias)
        self.sample_rate = sample_rate
        self.speed_perturbation = tuple(speed_perturbation) if speed_perturbation else None
        self.trim_silence = trim_silence
        self.cutoff_db = cutoff_db
        self.dither = dither
        self.mel = dict(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
            window=window,
            preemphasis=preemphasis,
        )
        self.spec_augment = (
            SpecAugment(freq_masks, max_freq, time_masks, max_time, preset=values.spec_augment)
            if spec_augment
            else None
        )
        self.stack = stack
        self.subsample = subsample
        self.audio_key = audio_key
        self.keep_audio = keep_audio

    def __repr__(self):
        kind = "rnnt_train" if self.train else "rnnt_eval"
        return f"{kind}(preset={self.preset!r}, max_duration={self.max_duration!r})"

    def warmup(self):
        """Load or compile every kernel this transform uses (see ``fastload.audio.warmup``)."""
        from fastload.audio import warmup

        warmup()
        return self

    def _name(self, sample):
        for key in ("utterance", "path", "index"):
            if key in sample:
                return f"{key} {sample[key]}"
        return "sample"

    def _signal(self, sample, name):
        data = field(sample, self.audio_key, type(self).__name__)
        if isinstance(data, np.ndarray) and data.dtype == np.int16:
            rate = int(sample.get("sample_rate", self.sample_rate))
            _check_rate(name, rate, "PCM sample rate")  # 0 divided, 1e9 blew up
            x = data.astype(np.float32) * np.float32(1.0 / 32768.0)
            if x.ndim == 2:
                x = x.mean(axis=1, dtype=np.float32)
            if x.shape[0] == 0:
                raise DecodeError(f"{name}: empty PCM audio")
            return x, rate
        # verify_md5=False: fastload's builders decode (and MD5-check) every file once;
        # the frame CRCs are still checked on every decode
        x, rate = decode(data, name=name, mono=True, buffer=_buffer("decode", 0), verify_md5=False)
        _check_rate(name, rate, "sample rate")
        return x, rate

    def _speed(self, rng, sample):
        """The speed factor: pre-drawn ``sample["speed"]`` (nvidia) or a draw."""
        if not (self.train and self.speed_perturbation is not None):
            return 1.0
        lo, hi, p = self.speed_perturbation
        speed = sample.get("speed") if self.preset_values.speed_from_sample else None
        if speed is None:
            apply = p >= 1.0 or rng.random() < p
            speed = float(rng.uniform(lo, hi)) if apply else 1.0
        return float(speed)

    def sample_params(self, rng, sample):
        """Draw the speed factor; keep the generator's state for dither and masks."""
        speed = self._speed(rng, sample)
        return RnntParams(speed, rng.bit_generator.state)

    def apply(self, sample, params, out=None):
        return self._run(sample, params.speed, _resume(params.stream))

    def __call__(self, sample, rng=None, *, out=None):
        # apply(sample, sample_params(rng, sample)) without the state round trip
        rng = as_generator(rng)
        return self._run(sample, self._speed(rng, sample), rng)

    def _run(self, sample, speed, rng):
        name = self._name(sample)
        x, rate = self._signal(sample, name)
        if self.train and self.max_duration is not None and x.shape[0] > self.max_duration * rate:
            raise LimitError(
                f"{name}: {x.shape[0] / rate:.2f} s is longer than max_duration="
                f"{self.max_duration} s; filter the dataset first (builders.librispeech or "
                f"fastload.pipelines.rnnt.select_duration)"
            )
        target = speed_target_rate(self.sample_rate, speed)  # DALI's float32 target rate
        if target != rate:
            m = resampled_length(x.shape[0], rate, target)
            if m > DEFAULT_MAX_SAMPLES:
                raise LimitError(
                    f"{name}: resampling to {target:g} Hz would give {m} samples, "
                    f"above the limit of {DEFAULT_MAX_SAMPLES}"
                )
            out = _buffer("resample", m)[:m]
            x = resample(x, rate, target, antialias=self.antialias, out=out)
        if self.trim_silence:
            b, n = nonsilent_region(x, cutoff_db=self.cutoff_db)
            if n > 0:
                x = x[b : b + n]
        stacked = self._features(x, rng)
        out = {k: v for k, v in sample.items() if k != self.audio_key or self.keep_audio}
        out.pop("features_length", None)
        out["features"] = stacked
        out["features_length"] = int(stacked.shape[0])
        return out

    def _features(self, x, rng):
        """log-mel -> SpecAugment -> stacking of the trimmed signal x (float32, finite).

        With ``stack == subsample`` (the reference's 3 / 3) stacking is a reshape of
        time-major features: ``out[u, s * F + f] = feats[u * stack + s, f]`` is the flat
        (T, F) array followed by zero frames. log-mel therefore writes time-major straight
        into the final (ceil(T / stack), F * stack) array (same values bit for bit as
        ``log_mel`` + ``stack_frames``), and the masks are zeroed in place there.
        """
        mel = self.mel
        hop = mel["hop_length"]
        F = mel["n_mels"]
        T = x.shape[0] // hop + 1
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.stack != self.subsample:
            feats = log_mel(x, dither=self.dither, rng=rng, normalize="per_feature", **mel)
            if self.train and self.spec_augment is not None:
                SpecAugment.apply_inplace(feats, self.spec_augment.sample_params(rng, feats))
            return stack_frames(feats, stack=self.stack, subsample=self.subsample)
        k = self.stack
        rows = -(-T // k)
        stacked = np.empty((rows, F * k), dtype=np.float32)
        flat = stacked.reshape(-1)
        flat[T * F :] = 0.0
        feats = flat[: T * F].reshape(T, F)
        log_mel(
            x,
            dither=self.dither,
            rng=rng,
            normalize="per_feature",
            out=feats,
            time_major=True,
            **mel,
        )
        if self.train and self.spec_augment is not None:
            view = feats.T  # (F, T)
            SpecAugment.apply_inplace(view, self.spec_augment.draw(rng, F, T))
        return stacked


def rnnt_train(*, preset="reference", max_duration=16.7, **options):
    """Training transform (speed perturbation + SpecAugment); see the module docstring.

    Parameters
    ----------
    preset : {"reference", "nvidia"} or RnntPreset
        See :data:`PRESETS`.
    max_duration : float or None
        Seconds; longer input raises LimitError (the filter belongs at build time).
    **options
        Overrides of :class:`RnntTransform` (e.g. ``speed_perturbation=None``).
    """
    return RnntTransform(train=True, preset=preset, max_duration=max_duration, **options)


def rnnt_eval(*, preset="reference", **options):
    """Eval transform: no speed perturbation, no SpecAugment, no duration limit."""
    options.setdefault("max_duration", None)
    return RnntTransform(train=False, preset=preset, **options)


def select_duration(dataset, max_duration=16.7, *, column="duration"):
    """The reference's duration filter as a dataset view: rows with ``column <= max_duration``.

    Parameters
    ----------
    dataset : fastload Dataset
    max_duration : float
        Seconds.
    column : str
        A numeric column holding each utterance's original duration in seconds.

    Returns
    -------
    Dataset
        ``dataset.subset(indices)``.
    """
    durations = np.asarray(dataset.read_column(column), dtype=np.float64)
    return dataset.subset(np.nonzero(durations <= max_duration)[0])


def draw_speeds(num_samples, *, seed, epoch, min_rate=0.85, max_rate=1.15):
    """NVIDIA-style pre-drawn speed factors for one epoch.

    Returns
    -------
    ndarray, shape (num_samples,), float64
        ``U(min_rate, max_rate)`` from ``SeedSequence([seed, epoch, 0x5BEED])``:
        reproducible per (seed, epoch), independent of the per-sample generators.
    """
    ss = np.random.SeedSequence([int(seed), int(epoch), 0x5BEED])
    return np.random.Generator(np.random.PCG64(ss)).uniform(min_rate, max_rate, int(num_samples))


class WithSpeed:
    """Dataset view whose samples carry ``"speed": speeds[i]`` (for ``preset="nvidia"``).

    Parameters
    ----------
    dataset : sized, indexable (``dataset[i] -> dict``)
    speeds : array-like, shape (len(dataset),)
    """

    def __init__(self, dataset, speeds):
        speeds = np.asarray(speeds, dtype=np.float64)
        if speeds.shape != (len(dataset),):
            raise ValueError(f"speeds must have shape ({len(dataset)},), got {speeds.shape}")
        self.dataset = dataset
        self.speeds = speeds

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        sample = dict(self.dataset[index])
        sample["speed"] = float(self.speeds[index])
        return sample
