"""Volume transforms of the MLPerf 3D U-Net pipeline (KiTS19).

Deterministic: :class:`ClipNormalize`, :class:`PadToMin`. Random (each has
``sample_params(rng, meta) -> frozen dataclass`` and ``apply(x, params)``):
:class:`RandomBalancedCrop`, :class:`RandomFlip`, :class:`RandomBrightness`,
:class:`GaussianNoise`. Random crop and flip parameters are drawn once and applied to the
image and the label alike. Arrays are (D, H, W) or channel-first (C, D, H, W); spatial
axes are always the last three.

Foreground boxes: the reference recomputes ``scipy.ndimage.label`` on the whole label for
every foreground crop, although a case's components never change. :func:`foreground_boxes`
computes, once per case, the boxes the reference's rule can pick (the two largest
components by bounding-box volume of each class) as a small int32 array that a builder
can store beside the case; :class:`RandomBalancedCrop` uses it when given, and computes it
otherwise.
"""

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from fastload.transforms import Transform
from fastload.volume import _resample_cy, _transforms_nb

__all__ = [
    "BrightnessParams",
    "ClipNormalize",
    "CropParams",
    "FlipParams",
    "GaussianNoise",
    "NoiseParams",
    "PadToMin",
    "RandomBalancedCrop",
    "RandomBrightness",
    "RandomFlip",
    "apply_intensity",
    "balanced_crop_window",
    "clip_normalize",
    "foreground_boxes",
    "pad_to_min",
]


def _spatial(x):
    if x.ndim not in (3, 4):
        raise ValueError(f"expected a (D, H, W) or (C, D, H, W) array, got shape {x.shape}")
    return tuple(int(s) for s in x.shape[-3:])


# --------------------------------------------------------------------------- intensity
#: source dtypes of the C clip + normalise kernel
_C_DTYPES = (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64)


def clip_normalize(x, *, lo=-79.0, hi=304.0, mean=101.0, std=76.9, out=None):
    """``(clip(x, lo, hi) - mean) / std`` in float32, one pass (reference constants).

    Parameters
    ----------
    x : ndarray, any shape, any real dtype (HU)
    out : ndarray, same shape, float32, optional (may be ``x`` itself if float32)

    Returns
    -------
    ndarray, float32; bit-identical to the reference's numpy float32 arithmetic.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "uif":
        raise ValueError(f"clip_normalize needs a real array, got {x.dtype}")
    if not std:
        raise ValueError("std must be non-zero")
    if out is None:
        out = np.empty(x.shape, np.float32)
    elif out.shape != x.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 of shape {x.shape}, got {out.dtype} {out.shape}")
    if x.flags.c_contiguous and out.flags.c_contiguous and x.flags.aligned and out.flags.aligned:
        if x.dtype.type not in _C_DTYPES:  # int64, uint32, float16, ...: float32(x) first
            x = x.astype(np.float32)
        # C kernel (csrc/volume/trilinear.c), the same epilogue the trilinear resample fuses
        _resample_cy.clip_normalize(x.reshape(-1), out.reshape(-1), lo, hi, mean, std)
    else:  # strided input: numpy, same float32 arithmetic
        np.clip(x, np.float32(lo), np.float32(hi), out=out, casting="unsafe")
        np.subtract(out, np.float32(mean), out=out)
        np.divide(out, np.float32(std), out=out)
    return out


class ClipNormalize(Transform):
    """Clip HU to ``[lo, hi]`` then ``(x - mean) / std`` (float32), fused into one pass."""

    def __init__(self, lo=-79.0, hi=304.0, mean=101.0, std=76.9):
        self.lo, self.hi, self.mean, self.std = float(lo), float(hi), float(mean), float(std)

    def apply(self, x, params=None):
        return clip_normalize(x, lo=self.lo, hi=self.hi, mean=self.mean, std=self.std)


# --------------------------------------------------------------------------- padding
def pad_widths(shape, min_shape):
    """Per-axis ``(before, after)`` so each axis reaches ``min_shape``: b//2 before, rest after."""
    out = []
    for s, m in zip(shape, min_shape, strict=False):
        b = max(0, int(m) - int(s))
        out.append((b // 2, b - b // 2))
    return tuple(out)


def pad_to_min(x, min_shape=(128, 128, 128), *, mode="edge"):
    """Pad the three spatial axes to at least ``min_shape`` (deficit b: b//2 before).

    Returns ``x`` itself when nothing is short.
    """
    if np.isscalar(min_shape):
        min_shape = (int(min_shape),) * 3
    widths = pad_widths(_spatial(x), min_shape)
    if not any(b or a for b, a in widths):
        return x
    return np.pad(x, ((0, 0),) * (x.ndim - 3) + widths, mode=mode)


class PadToMin(Transform):
    """Edge-pad each spatial axis to at least ``min_shape`` (reference: 128, b//2 before)."""

    def __init__(self, min_shape=128, mode="edge"):
        self.min_shape = (
            (int(min_shape),) * 3 if np.isscalar(min_shape) else tuple(int(m) for m in min_shape)
        )
        self.mode = mode

    def apply(self, x, params=None):
        return pad_to_min(x, self.min_shape, mode=self.mode)


# --------------------------------------------------------------------------- balanced crop
def _present_classes(lab):
    return np.unique(lab[lab > 0])


def _class_boxes(lab, cls, k_largest=2):
    """Rows ``[cls, z0, z1, y0, y1, x0, x1]`` of the ``k_largest`` components of ``lab == cls``."""
    # Label only the bounding block of the class: the components and their raster-order
    # numbering (hence find_objects order and argsort ties) are those of the full volume.
    mask = lab == cls
    offset = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(mask.any(axis=other))
        if len(idx) == 0:
            return []
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        mask = mask[(slice(None),) * axis + (slice(lo, hi),)]
        offset.append(lo)
    comps, _ = scipy.ndimage.label(mask)
    slices = [s for s in scipy.ndimage.find_objects(comps) if s is not None]
    vols = [int(np.prod([s.stop - s.start for s in sl])) for sl in slices]
    return [
        [int(cls)]
        + [v + o for s, o in zip(slices[i], offset, strict=True) for v in (s.start, s.stop)]
        for i in np.argsort(vols)[-k_largest:]
    ]


def foreground_boxes(label, *, k_largest=2):
    """Candidate foreground boxes of the reference's balanced crop, computed once per case.

    For each class c > 0 present in ``label``: the face-connected components of
    ``label == c`` (``scipy.ndimage.label``), their bounding boxes, and the ``k_largest``
    largest by box volume in the reference's order (``numpy.argsort(volumes)[-k:]``).

    Parameters
    ----------
    label : ndarray, shape (D, H, W) or (1, D, H, W), integer

    Returns
    -------
    ndarray, shape (n, 7), int32
        Rows ``[class, z0, z1, y0, y1, x0, x1]`` (half-open), grouped by increasing class.
    """
    lab = _label3d(label)
    rows = []
    for c in _present_classes(lab):
        rows.extend(_class_boxes(lab, c, k_largest))
    return np.asarray(rows, dtype=np.int32).reshape(-1, 7)


def _label3d(label):
    lab = np.asarray(label)
    if lab.ndim == 4:
        if lab.shape[0] != 1:
            raise ValueError(f"label must have one channel, got shape {lab.shape}")
        lab = lab[0]
    _spatial(lab)
    if lab.dtype.kind not in "ui":
        raise ValueError(f"label must be an integer array, got {lab.dtype}")
    return lab


@dataclass(frozen=True)
class CropParams:
    """Window ``start`` (z, y, x) of size ``size``; ``foreground``: chosen by the fg rule."""

    start: tuple
    size: tuple
    foreground: bool = False
    cls: int = 0

    @property
    def slices(self):
        return tuple(slice(s, s + n) for s, n in zip(self.start, self.size, strict=False))


def _randrange(rng, n):
    return 0 if n == 0 else int(rng.integers(n))


def _adjust(rng, start, stop, patch, dim):
    # The reference's per-axis rule (pytorch_loader.py RandBalancedCrop.adjust).
    diff = patch - (stop - start)
    sign = -1 if diff < 0 else 1
    diff = abs(diff)
    l = _randrange(rng, diff)
    h = diff - l
    low = max(0, start - sign * l)
    high = min(dim, stop + sign * h)
    short = patch - (high - low)
    if short > 0 and low == 0:
        high += short
    elif short > 0:
        low -= short
    return low, high


def balanced_crop_window(rng, shape, patch, oversampling, boxes=None, label=None):
    """Draw the reference's RandBalancedCrop window.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (D, H, W) spatial shape, each >= the patch
    patch : (pd, ph, pw)
    oversampling : float, probability of a foreground crop
    boxes : ndarray (n, 7) int32 from :func:`foreground_boxes`, or None
    label : ndarray (D, H, W), used only when ``boxes`` is None: then the components of
        the drawn class alone are computed, like the reference does

    Draws, in order: ``rng.random() < oversampling``; then for a foreground crop the class
    (uniform among classes present), the box (uniform among the class's <= 2 largest), and
    per axis ``l = randrange(|diff|)``; otherwise per axis the corner ``randrange(dim - p)``.
    A label with no foreground falls back to a random crop (the reference would fail).
    """
    shape = tuple(int(s) for s in shape)
    patch = tuple(int(p) for p in patch)
    if any(s < p for s, p in zip(shape, patch, strict=False)):
        raise ValueError(f"volume {shape} is smaller than the patch {patch}: pad it first")
    if rng.random() < oversampling:
        if boxes is not None:
            classes = np.unique(boxes[:, 0])
        elif label is not None:
            classes = _present_classes(label)
        else:
            raise ValueError("balanced_crop_window needs boxes or label")
        if len(classes):
            cls = int(classes[int(rng.integers(len(classes)))])
            cand = (
                boxes[boxes[:, 0] == cls]
                if boxes is not None
                else np.asarray(_class_boxes(label, cls))
            )
            box = cand[int(rng.integers(len(cand)))]
            start = []
            for a in range(3):
                low, _ = _adjust(rng, int(box[1 + 2 * a]), int(box[2 + 2 * a]), patch[a], shape[a])
                start.append(low)
            return CropParams(tuple(start), patch, True, cls)
    start = tuple(_randrange(rng, s - p) for s, p in zip(shape, patch, strict=False))
    return CropParams(start, patch, False, 0)


class RandomBalancedCrop(Transform):
    """Foreground-balanced crop of the reference (``RandBalancedCrop``), patch 128^3, p=0.4.

    ``sample_params(rng, meta)``: ``meta`` is the label array ((D, H, W) or (1, D, H, W)) or a
    sample dict with ``"label"`` and optionally precomputed ``"boxes"``
    (:func:`foreground_boxes`). ``apply(x, params)`` returns the window of ``x`` (a view).
    """

    def __init__(self, patch=(128, 128, 128), oversampling=0.4):
        self.patch = (int(patch),) * 3 if np.isscalar(patch) else tuple(int(p) for p in patch)
        if not 0.0 <= oversampling <= 1.0:
            raise ValueError(f"oversampling must be in [0, 1], got {oversampling}")
        self.oversampling = float(oversampling)

    def sample_params(self, rng, meta):
        if isinstance(meta, dict):
            label = meta["label"]
            boxes = meta.get("boxes")
        else:
            label, boxes = meta, None
        label = _label3d(label)
        if boxes is not None:
            boxes = np.asarray(boxes).reshape(-1, 7)
        return balanced_crop_window(rng, label.shape, self.patch, self.oversampling, boxes, label)

    def apply(self, x, params):
        return x[(Ellipsis,) + params.slices]


# --------------------------------------------------------------------------- flips
@dataclass(frozen=True)
class FlipParams:
    """Whether each spatial axis (z, y, x) is flipped."""

    axes: tuple = (False, False, False)


def _flip_view(x, axes):
    index = tuple(slice(None, None, -1) if f else slice(None) for f in axes)
    return x[(Ellipsis,) + index]


class RandomFlip(Transform):
    """Flip each spatial axis independently with probability ``p`` (reference: 1/3).

    ``apply`` returns a view; draw once and apply to image and label.
    """

    def __init__(self, p=1 / 3):
        self.p = float(p)

    def sample_params(self, rng, meta=None):
        return FlipParams(tuple(bool(rng.random() < self.p) for _ in range(3)))

    def apply(self, x, params):
        return _flip_view(x, params.axes)


# --------------------------------------------------------------------------- intensity aug
@dataclass(frozen=True)
class BrightnessParams:
    """``factor``: the multiplier actually applied (1.0 when not applied)."""

    applied: bool = False
    factor: float = 1.0


class RandomBrightness(Transform):
    """With probability ``p``, multiply the image by a random factor (float32).

    ``preset="reference"``: ``x * (1 + U(1 - f, 1 + f))`` (the reference quirk, multiplier in
    [1.7, 2.3] for f = 0.3); ``preset="nvidia"``: ``x * U(1 - f, 1 + f)``.
    """

    def __init__(self, factor=0.3, p=0.1, preset="reference"):
        if preset not in ("reference", "nvidia"):
            raise ValueError(f"preset must be 'reference' or 'nvidia', got {preset!r}")
        self.factor, self.p, self.preset = float(factor), float(p), preset

    def sample_params(self, rng, meta=None):
        if not rng.random() < self.p:
            return BrightnessParams()
        f = float(rng.uniform(1.0 - self.factor, 1.0 + self.factor))
        return BrightnessParams(True, 1.0 + f if self.preset == "reference" else f)

    def apply(self, x, params):
        if not params.applied:
            return x
        return (x * np.float32(params.factor)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class NoiseParams:
    """``sigma`` of the N(0, sigma^2) noise and the ``seed`` its float32 normals come from."""

    applied: bool = False
    sigma: float = 0.0
    seed: int = 0

    def normals(self, shape, out=None):
        """The standard normals (float32) this draw adds, scaled by ``sigma`` in apply."""
        g = np.random.default_rng(self.seed)
        if out is None:
            return g.standard_normal(shape, dtype=np.float32)
        g.standard_normal(dtype=np.float32, out=out)
        return out


class GaussianNoise(Transform):
    """With probability ``p``, add N(0, sigma^2) noise (float32).

    ``preset="reference"``: sigma ~ U(0, std); ``preset="nvidia"``: sigma = std. ``std`` = 0.1.
    The normals come from a seed drawn from ``rng`` (replayable from the params).
    """

    def __init__(self, std=0.1, p=0.1, preset="reference"):
        if preset not in ("reference", "nvidia"):
            raise ValueError(f"preset must be 'reference' or 'nvidia', got {preset!r}")
        self.std, self.p, self.preset = float(std), float(p), preset

    def sample_params(self, rng, meta=None):
        if not rng.random() < self.p:
            return NoiseParams()
        sigma = float(rng.uniform(0.0, self.std)) if self.preset == "reference" else self.std
        return NoiseParams(True, sigma, int(rng.integers(2**63)))

    def apply(self, x, params):
        if not params.applied:
            return x
        x = np.asarray(x, dtype=np.float32)
        return x + np.float32(params.sigma) * params.normals(x.shape)


def apply_intensity(x, brightness, noise, *, scratch=None):
    """:class:`RandomBrightness` then :class:`GaussianNoise`, in place and in one pass.

    Parameters
    ----------
    x : ndarray, float32, C-contiguous
        Written in place (e.g. the batch slot a training transform filled).
    brightness : BrightnessParams
    noise : NoiseParams
    scratch : ndarray, float32, shape ``x.shape``, optional
        Where the normals are drawn (reused across samples to save an allocation).

    Returns
    -------
    x
        ``x * factor + sigma * normals`` in float32 (each step as the two transforms).
    """
    if not (brightness.applied or noise.applied):
        return x
    if x.dtype != np.float32 or not x.flags.c_contiguous or not x.flags.writeable:
        raise ValueError(f"x must be a writable C-contiguous float32 array, got {x.dtype}")
    flat = x.reshape(-1)
    if noise.applied:
        normals = noise.normals(x.shape, out=scratch).reshape(-1)
    else:
        normals = flat
    _transforms_nb.scale_add_flat(flat, brightness.factor, normals, noise.sigma, noise.applied)
    return x
