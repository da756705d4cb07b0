"""Audio transforms of the MLPerf RNN-T pipeline.

Each transform follows ``fastload.transforms.Transform``: ``sample_params(rng, meta)``
draws every random quantity into a frozen dataclass (``meta`` is the input array) and
``apply(x, params)`` is deterministic.

* :class:`SpeedPerturb` (signal -> signal): resample to ``s * sample_rate`` with
  ``s ~ U(min_rate, max_rate)`` (probability ``p``) and treat the result as
  ``sample_rate`` audio, as DALI does in the reference (s > 1 lengthens and slows).
* :class:`TrimSilence` (signal -> signal): DALI ``NonsilentRegion`` semantics.
* :class:`SpecAugment` ((n_mels, T) -> same): frequency and time masks filled with 0.
* :class:`StackFrames` ((n_mels, T) -> (ceil(T / subsample), n_mels * stack)).
"""

from dataclasses import dataclass

import numpy as np

from fastload.audio._transforms_nb import (
    nonsilent_region_dali,
    nonsilent_region_kernel,
    stack_frames_kernel,
)
from fastload.audio.resampling import resample
from fastload.transforms import Transform

__all__ = [
    "SpecAugment",
    "SpecAugmentParams",
    "SpeedParams",
    "SpeedPerturb",
    "StackFrames",
    "TrimSilence",
    "nonsilent_region",
    "spec_augment_batch",
    "speed_target_rate",
    "stack_frames",
    "stack_frames_batch",
]


# ----------------------------------------------------------------------------- speed
@dataclass(frozen=True)
class SpeedParams:
    """``rate``: the speed factor s (1.0 = unchanged)."""

    rate: float


def speed_target_rate(sample_rate, speed):
    """The rate a speed factor resamples to, rounded as DALI computes it: DALI's
    arguments are float32, so the target is ``float32(float32(speed) * sample_rate)``.
    On a 16.7 s utterance the float64 product would move the last output samples by up
    to ~0.01 input samples relative to DALI's.
    """
    return float(np.float32(speed) * np.float32(sample_rate))


class SpeedPerturb(Transform):
    """Speed perturbation by windowed-sinc resampling (DALI 2.4's filter and alignment,
    target rate :func:`speed_target_rate`).

    Parameters
    ----------
    min_rate, max_rate : float
        s ~ U(min_rate, max_rate), drawn as ``rng.uniform(min_rate, max_rate)``.
    p : float
        Probability of perturbing (the reference uses 1.0). When not applied the draw
        still consumes one uniform so that the stream of draws does not depend on it.
    sample_rate : float
        Rate of the input, Hz; the output is resampled to ``s * sample_rate``.
    lobes : int
        Sinc lobes (DALI default 16).
    antialias : bool
        Default False: DALI's filter (cutoff at the input Nyquist also for s < 1), as the
        reference; True band-limits the output when downsampling.
    """

    def __init__(
        self, min_rate=0.85, max_rate=1.15, p=1.0, *, sample_rate=16000, lobes=16, antialias=False
    ):
        if not 0 < min_rate <= max_rate:
            raise ValueError(f"need 0 < min_rate <= max_rate, got {min_rate}, {max_rate}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.min_rate = float(min_rate)
        self.max_rate = float(max_rate)
        self.p = float(p)
        self.sample_rate = sample_rate
        self.lobes = lobes
        self.antialias = antialias

    def sample_params(self, rng, meta):
        apply = self.p >= 1.0 or rng.random() < self.p
        rate = float(rng.uniform(self.min_rate, self.max_rate))
        return SpeedParams(rate if apply else 1.0)

    def apply(self, x, params):
        if params.rate == 1.0:
            return x
        return resample(
            x,
            self.sample_rate,
            speed_target_rate(self.sample_rate, params.rate),
            lobes=self.lobes,
            antialias=self.antialias,
        )

    def output_meta(self, meta, params):
        return meta


# ----------------------------------------------------------------------------- trim
def nonsilent_region(x, *, cutoff_db=-60.0, window=2048, reset_interval=8192, accumulate="float32"):
    """Leading/trailing silence detection with DALI ``NonsilentRegion`` semantics.

    The moving mean power ``mms[i] = mean(x[i : i + W] ** 2)`` (``W = min(window, n)``,
    i = 0 .. n - W) is thresholded at ``max(mms) * 10 ** (cutoff_db / 10)``; with ``i0``
    / ``i1`` the first / last index at or above it, the region is
    ``begin = i0``, ``length = i1 - i0 + W`` (the window length is added because the
    sound may sit anywhere inside the last window). A signal with no sample at or
    above the threshold gives (0, 0); all-zero input gives the whole signal (the
    threshold is 0).

    ``accumulate="float32"`` (default, both RNN-T presets) is DALI's arithmetic bit for
    bit: a float32 running sum ``(s - x[i - 1]^2) + x[i + W - 1]^2``, restarted from a
    sequential float32 sum whenever the window ends on a multiple of ``reset_interval``,
    float32 mean, threshold and comparisons: identical bounds to DALI 2.4 on every signal
    of ``tests/equivalence/test_audio_dali.py``. The rounding drift matters where the
    signal ends in digital silence: the drifted running sum can stay above a -60 dB
    threshold until the next restart (float64 sums ended 5-6 samples away from DALI on 2
    of 9 speech files, 2,730 samples on a speed-perturbed tone ending in silence). The
    "reference" preset uses float32 too: the reference pins DALI 0.28, whose kernel also
    accumulates in float32. ``accumulate="float64"`` uses float64 sums (restarted every
    ``reset_interval`` windows), the region the formula above means.
    ``reset_interval <= 0`` never restarts (DALI's ``-1``).

    Parameters
    ----------
    x : ndarray, shape (n,), float
    cutoff_db : float
        Negative dB relative to the peak moving power.
    window, reset_interval : int
    accumulate : {"float32", "float64"}

    Returns
    -------
    (begin, length) : tuple of int
    """
    if accumulate not in ("float32", "float64"):
        raise ValueError(f"accumulate must be 'float32' or 'float64', got {accumulate!r}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected a mono signal (n,), got {x.shape}")
    n = x.shape[0]
    if n == 0:
        return 0, 0
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    w = min(int(window), n)
    m = n - w + 1
    if accumulate == "float32":
        buf = np.empty(m, dtype=np.float32)
        b, length = nonsilent_region_dali(x, float(cutoff_db), w, int(reset_interval), buf)
        return int(b), int(length)
    scratch = np.empty(min(m, reset_interval) if reset_interval > 0 else m, dtype=np.float64)
    b, length = nonsilent_region_kernel(x, float(cutoff_db), w, int(reset_interval), scratch)
    return int(b), int(length)


class TrimSilence(Transform):
    """Keep ``x[begin : begin + length]`` from :func:`nonsilent_region` (deterministic).

    An input with no non-silent region at all would give an empty signal; such input is
    returned unchanged instead, so later stages always see at least one sample.
    ``accumulate`` as in :func:`nonsilent_region` (default: DALI's float32 arithmetic).
    """

    def __init__(self, cutoff_db=-60.0, window=2048, reset_interval=8192, accumulate="float32"):
        self.cutoff_db = float(cutoff_db)
        self.window = int(window)
        self.reset_interval = int(reset_interval)
        self.accumulate = accumulate

    def apply(self, x, params=None):
        b, n = nonsilent_region(
            x,
            cutoff_db=self.cutoff_db,
            window=self.window,
            reset_interval=self.reset_interval,
            accumulate=self.accumulate,
        )
        if n == 0:
            return x
        return x[b : b + n]


# ----------------------------------------------------------------------------- SpecAugment
@dataclass(frozen=True)
class SpecAugmentParams:
    """Masks as ``(start, length)`` pairs: entries ``start .. start + length - 1`` are
    zeroed; ``freq`` over mel bins, ``time`` over frames."""

    freq: tuple
    time: tuple


def _nvidia_masks(rng, count, max_width, size):
    """``count`` masks of NVIDIA's rule over ``size`` entries as ``(a, w + 1)`` pairs:
    widths first (``U{0..max_width}``), then one uniform per anchor."""
    widths = [int(rng.integers(0, max_width + 1)) for _ in range(count)]
    masks = []
    for w in widths:
        u = np.float32(rng.random())
        a = int(np.rint(u * np.float32(size - w)))  # float32 product, half to even
        masks.append((max(a, 0), w + 1))
    return tuple(masks)


class SpecAugment(Transform):
    """Frequency and time masking on (n_mels, T) features, masked values set to 0.

    Masks are drawn as :class:`SpecAugmentParams` ``(start, length)`` pairs: the
    ``length`` entries from ``start`` are zeroed (clipped at the edge), whatever the rule.

    ``preset="reference"`` (MLPerf reference ``features.py``): frequency width
    ``w ~ U{0..max_freq}``, start ``~ U{0..max(1, F - w + 1) - 1}``; time width
    ``w ~ U{0..round(max_time * T)}`` (``max_time`` < 1 is a fraction of T, >= 1 a
    frame count), start ``~ U{0..max(1, T - w + 1) - 1}``; ``w`` entries masked.

    ``preset="nvidia"`` (NVIDIA's ``VectorizedSpecAugment``, training_results v3.1):
    width ``w ~ U{0..max}`` (``rng.integers``, as ``torch.randint``) with ``max = max_freq``
    or ``round(max_time * T)``, anchor ``a = round(float32(U) * float32(size - w))``
    (``U = rng.random()``, round half to even as ``torch.round``), and the mask is
    ``a <= idx <= a + w``: ``w + 1`` entries (never empty; clipped at the edge). Given the
    same widths and U values the masks are NVIDIA's exactly
    (``tests/equivalence/test_specaugment_nvidia.py``). Draw order per sample: frequency
    widths then anchors, then time widths then anchors.

    Deviation (both presets): the reference and NVIDIA draw time-mask starts (NVIDIA also
    the width bound) over the padded batch length ``T_pad``, which a per-sample transform
    cannot know; this transform uses the sample's own ``T`` (masks never fall entirely
    into padding). For the batch semantics use :func:`spec_augment_batch` on the
    collated batch.
    """

    def __init__(self, freq_masks=2, max_freq=20, time_masks=10, max_time=0.03, preset="reference"):
        if preset not in ("reference", "nvidia"):
            raise ValueError(f"preset must be 'reference' or 'nvidia', got {preset!r}")
        self.freq_masks = int(freq_masks)
        self.max_freq = int(max_freq)
        self.time_masks = int(time_masks)
        self.max_time = float(max_time)
        self.preset = preset

    def _max_time(self, T):
        return self.max_time * T if self.max_time < 1 else self.max_time

    def sample_params(self, rng, meta):
        F, T = np.shape(meta)[-2:]
        return self.draw(rng, F, T)

    def draw(self, rng, F, T, T_pad=None):
        """Masks for one sample of F bins and T frames; time-mask starts range over
        ``T_pad`` frames (the padded batch length, as the reference) when given, else T.
        With ``preset="nvidia"`` the time-width bound is ``round(max_time * T_pad)`` then
        too (NVIDIA's masks see only the batch's padded width)."""
        span = T if T_pad is None else T_pad
        freq, time = [], []
        if self.preset == "reference":
            for _ in range(self.freq_masks):
                w = int(rng.integers(0, self.max_freq + 1))
                f0 = int(rng.integers(0, max(1, F - w + 1)))
                freq.append((f0, w))
            tmax = int(round(self._max_time(T)))
            for _ in range(self.time_masks):
                w = int(rng.integers(0, tmax + 1))
                t0 = int(rng.integers(0, max(1, span - w + 1)))
                time.append((t0, w))
            return SpecAugmentParams(tuple(freq), tuple(time))
        tmax = int(round(self._max_time(span)))
        return SpecAugmentParams(
            _nvidia_masks(rng, self.freq_masks, self.max_freq, F),
            _nvidia_masks(rng, self.time_masks, tmax, span),
        )

    @staticmethod
    def apply_inplace(x, params):
        """Zero the masks of ``params`` in ``x`` (n_mels, T) in place; returns ``x``."""
        for f0, w in params.freq:
            x[f0 : f0 + w, :] = 0
        for t0, w in params.time:
            x[:, t0 : t0 + w] = 0
        return x

    def apply(self, x, params):
        return self.apply_inplace(np.array(x, dtype=np.float32, copy=True), params)


def spec_augment_batch(features, lengths, rng, *, layout="btf", **options):
    """SpecAugment on a padded batch with the reference's exact semantics (in place).

    Per sample ``i`` (in batch order, one ``rng``): frequency masks as
    :class:`SpecAugment`, time-mask widths from ``lengths[i]`` and starts drawn over the
    padded length ``T_pad`` (MLPerf reference ``features.py``, run on the GPU batch).

    Parameters
    ----------
    features : ndarray, shape (B, T_pad, F) (``layout="btf"``) or (B, F, T_pad) ("bft")
        Unstacked log-mel features, e.g. from ``rnnt_train(spec_augment=False, stack=1,
        subsample=1)`` collated with ``pad={"features": 0}``.
    lengths : ndarray, shape (B,), int
        Frames per sample before padding.
    rng : int | numpy.random.Generator | None
    layout : {"btf", "bft"}
    **options
        :class:`SpecAugment` arguments (``freq_masks``, ``max_freq``, ``time_masks``,
        ``max_time``, ``preset``).

    Returns
    -------
    list of SpecAugmentParams
        The masks drawn for each sample (``features`` is modified in place).
    """
    from fastload._rng import as_generator

    if layout not in ("btf", "bft"):
        raise ValueError(f"layout must be 'btf' or 'bft', got {layout!r}")
    rng = as_generator(rng)
    aug = SpecAugment(**options)
    B = features.shape[0]
    T_pad, F = (features.shape[1], features.shape[2]) if layout == "btf" else features.shape[2:0:-1]
    drawn = []
    for i in range(B):
        p = aug.draw(rng, F, int(lengths[i]), T_pad)
        x = features[i].T if layout == "btf" else features[i]
        SpecAugment.apply_inplace(x, p)
        drawn.append(p)
    return drawn


def stack_frames_batch(features, lengths, *, stack=3, subsample=3):
    """Frame splicing on a padded time-major batch, as the reference does on the GPU.

    Parameters
    ----------
    features : ndarray, shape (B, T_pad, F), float32
    lengths : ndarray, shape (B,), int

    Returns
    -------
    stacked : ndarray, shape (B, ceil(T_pad / subsample), F * stack), float32
        Frames past ``T_pad`` are zero; frames past a sample's length read its zero padding.
    new_lengths : ndarray, shape (B,), int64
        ``ceil(lengths / subsample)``.
    """
    features = np.asarray(features, dtype=np.float32)
    B, T, F = features.shape
    out = np.empty((B, -(-T // subsample), F * stack), dtype=np.float32)
    for i in range(B):
        stack_frames_kernel(np.ascontiguousarray(features[i].T), int(stack), int(subsample), out[i])
    new = -(-np.asarray(lengths, dtype=np.int64) // subsample)
    return out, new


# ----------------------------------------------------------------------------- stacking
def stack_frames(x, *, stack=3, subsample=3, out=None):
    """Frame splicing of the reference (``stack_subsample_frames``), time-major output.

    Parameters
    ----------
    x : ndarray, shape (F, T), float32
    stack, subsample : int
    out : ndarray, shape (ceil(T / subsample), F * stack), float32, optional

    Returns
    -------
    ndarray, shape (ceil(T / subsample), F * stack), float32
        Row ``u`` is ``concat(x[:, u*subsample], x[:, u*subsample + 1], ...)`` with
        zero-filled frames past the end (feature index ``s * F + f``).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected (F, T) features, got {x.shape}")
    if stack < 1 or subsample < 1:
        raise ValueError("stack and subsample must be >= 1")
    F, T = x.shape
    shape = (-(-T // subsample), F * stack)
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {shape}, got {out.dtype} {out.shape}")
    stack_frames_kernel(x, int(stack), int(subsample), out)
    return out


class StackFrames(Transform):
    """(F, T) -> (ceil(T / subsample), F * stack) float32; see :func:`stack_frames`."""

    def __init__(self, stack=3, subsample=3):
        self.stack = int(stack)
        self.subsample = int(subsample)

    def apply(self, x, params=None):
        return stack_frames(x, stack=self.stack, subsample=self.subsample)
