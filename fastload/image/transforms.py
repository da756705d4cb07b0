"""Image transforms: random parameters drawn by ``sample_params(rng, meta)`` into frozen
dataclasses, applied deterministically by ``apply(x, params)``.

``meta`` is an :class:`~fastload.image.ImageInfo` (from :func:`read_header`, before
decoding) or the image array itself. ``x`` is a decoded (H, W, 3) uint8 array;
:class:`RandomResizedCrop` and :class:`ResizeShorter` also accept encoded bytes and then
decode only what they need (ROI + DCT scaling, fused with the resample).

The crop samplers follow ``SPEC-mlperf.md`` section 2: ``sample_crop_reference`` is
``tf.image.sample_distorted_bounding_box`` as the MLPerf TF reference calls it,
``sample_crop_nvidia`` is DALI's ``RandomCropGenerator``.
"""

import math
from dataclasses import dataclass

import numpy as np

from fastload.image import codec, ops
from fastload.transforms import Compose, Transform

__all__ = [
    "CenterCrop",
    "Compose",
    "CropParams",
    "FlipParams",
    "ImagePreset",
    "PRESETS",
    "Normalize",
    "RandomFlip",
    "RandomResizedCrop",
    "ResizeShorter",
    "get_preset",
    "sample_crop_nvidia",
    "sample_crop_reference",
]

IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
TF_REFERENCE_MEAN = (123.68, 116.78, 103.94)


def _hw(meta):
    """(height, width) of an ImageInfo, an array, or a (C, H, W)/(H, W, C) shape tuple."""
    if isinstance(meta, codec.ImageInfo):
        return meta.height, meta.width
    if isinstance(meta, tuple) and len(meta) == 2:
        return meta
    if isinstance(meta, (bytes, bytearray, memoryview)):
        info = codec.read_header(meta)
        return info.height, info.width
    arr = np.asarray(meta)
    if arr.dtype == np.uint8 and arr.ndim == 1:  # encoded bytes in a numpy array
        info = codec.read_header(arr)
        return info.height, info.width
    return arr.shape[0], arr.shape[1]


def _is_encoded(x):
    return isinstance(x, (bytes, bytearray, memoryview)) or (
        isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype == np.uint8
    )


def sample_crop_reference(
    rng,
    height,
    width,
    *,
    area=(0.05, 1.0),
    ratio=(0.75, 1.33),
    min_object_covered=0.1,
    attempts=100,
):
    """Crop box as ``tf.image.sample_distorted_bounding_box`` draws it for the MLPerf
    reference (whole image as the only bounding box).

    Per attempt: aspect ``r`` linear-uniform in ``ratio``; integer height uniform in
    ``[round(sqrt(area_min*H*W / r)), max_h]`` with ``max_h`` keeping ``round(h r) <= W``
    and ``h <= H``; ``w = round(h r)`` with a +-1 height fix into the area range; rejected
    unless it covers ``min_object_covered`` of the image (so the effective minimum area is
    0.1); offsets uniform in ``[0, H - h)`` (0 when the crop spans the side). After
    ``attempts`` failures: the whole image.

    Parameters
    ----------
    rng : numpy.random.Generator
    height, width : int
        Full-resolution image size.

    Returns
    -------
    (top, left, h, w) : tuple of int
    """
    total = float(height * width)
    min_area, max_area = area[0] * total, area[1] * total
    r_lo, r_span = ratio[0], ratio[1] - ratio[0]
    for _ in range(attempts):
        r = r_lo + r_span * rng.random()
        h = round(math.sqrt(min_area / r))
        max_h = round(math.sqrt(max_area / r))
        if round(max_h * r) > width:
            max_h = int((width + 0.5 - 1e-7) / r)
            if round(max_h * r) > width:
                max_h -= 1
        max_h = min(max_h, height)
        h = min(h, max_h)
        if h < max_h:
            h += int(rng.integers(0, max_h - h + 1))
        w = round(h * r)
        a = float(w * h)
        if a < min_area:
            h += 1
            w = round(h * r)
            a = float(w * h)
        if a > max_area:
            h -= 1
            w = round(h * r)
            a = float(w * h)
        if (
            a < min_area
            or a > max_area
            or w > width
            or h > height
            or w <= 0
            or h <= 0
            or a < 1.0
            or a / total < min_object_covered
        ):
            continue
        y = int(rng.integers(0, height - h)) if h < height else 0
        x = int(rng.integers(0, width - w)) if w < width else 0
        return (y, x, h, w)
    return (0, 0, height, width)


def sample_crop_nvidia(rng, height, width, *, area=(0.05, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    """Crop box as DALI's ``RandomCropGenerator`` draws it (NVIDIA closed submission).

    Per attempt: area fraction uniform in ``area``, aspect log-uniform in ``ratio``,
    ``w = round(sqrt(A r))``, ``h = round(sqrt(A / r))`` (half away from zero); accepted
    when it fits. After ``attempts`` failures: the whole image clamped to the aspect
    range. Anchor uniform in the inclusive ``[0, H - h]`` x ``[0, W - w]``.

    Returns
    -------
    (top, left, h, w) : tuple of int
    """
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    total = height * width
    for _ in range(attempts):
        a = (area[0] + (area[1] - area[0]) * rng.random()) * total
        r = math.exp(lo + (hi - lo) * rng.random())
        w = math.floor(math.sqrt(a * r) + 0.5)
        h = math.floor(math.sqrt(a / r) + 0.5)
        if 0 < w <= width and 0 < h <= height:
            break
    else:
        r = width / height
        if r < ratio[0]:
            w, h = width, math.floor(width / ratio[0] + 0.5)
        elif r > ratio[1]:
            w, h = math.floor(height * ratio[1] + 0.5), height
        else:
            w, h = width, height
        h, w = max(1, min(h, height)), max(1, min(w, width))
    y = int(rng.integers(0, height - h + 1))
    x = int(rng.integers(0, width - w + 1))
    return (y, x, int(h), int(w))


@dataclass(frozen=True)
class CropParams:
    """A crop box in full-resolution pixels."""

    top: int
    left: int
    height: int
    width: int

    @property
    def box(self):
        return (self.top, self.left, self.height, self.width)


@dataclass(frozen=True)
class FlipParams:
    flip: bool


#: The crop samplers a preset names (``ImagePreset.sampler``).
CROP_SAMPLERS = {"tf": sample_crop_reference, "dali": sample_crop_nvidia}


@dataclass(frozen=True)
class ImagePreset:
    """Everything a preset fixes in the ResNet-50 image chain: plain values, no code.

    The one preset table of the image modality is :data:`PRESETS`; the pipelines
    (:func:`fastload.pipelines.resnet50_train` / ``resnet50_eval``) and
    :class:`RandomResizedCrop` read it. A variant is ``dataclasses.replace(PRESETS[name],
    ...)``, accepted wherever a preset name is.

    Attributes
    ----------
    sampler : {"tf", "dali"}
        Crop sampler (:data:`CROP_SAMPLERS`): :func:`sample_crop_reference` or
        :func:`sample_crop_nvidia`.
    ratio : (float, float)
        Aspect range of the crop sampler.
    attempts : int
        Crop sampler attempts before its fallback.
    interpolation, antialias
        Resampling (:func:`fastload.image.output_spec`).
    mean, std : tuple of 3 float or None
        Normalisation in 0-255 units (``std=None``: mean subtraction only).
    dct_scale : bool
        Training default for DCT-domain downscaling of the decode.
    eval_rounding : {"floor", "round", "dali"}
        Eval resize and crop box (:func:`fastload.image.resize_shorter_box`).
    flip_p : float
        Probability of the training mirror.
    idct : {"accurate", "fast"}
        JPEG inverse DCT (:func:`fastload.image.decode`) of train and eval: what the
        preset's original decodes with.
    """

    sampler: str
    ratio: tuple
    attempts: int
    interpolation: str
    antialias: bool
    mean: tuple
    std: tuple | None
    dct_scale: bool
    eval_rounding: str
    flip_p: float = 0.5
    idct: str = "accurate"

    def __post_init__(self):
        codec.idct_flag(self.idct)  # validate
        if self.sampler not in CROP_SAMPLERS:
            raise ValueError(
                f"ImagePreset.sampler must be one of {sorted(CROP_SAMPLERS)}, not {self.sampler!r}"
            )

    def sample_crop(self, rng, height, width, *, area=(0.05, 1.0)):
        """Draw a crop box ``(top, left, h, w)`` with this preset's sampler and ranges."""
        return CROP_SAMPLERS[self.sampler](
            rng, height, width, area=area, ratio=self.ratio, attempts=self.attempts
        )


#: The image preset table: ``"reference"`` (MLPerf TF reference) and ``"nvidia"`` (NVIDIA's
#: DALI submission); see :mod:`fastload.pipelines.resnet50`.
PRESETS = {
    "reference": ImagePreset(
        sampler="tf",
        ratio=(0.75, 1.33),
        attempts=100,
        interpolation="tf_legacy",
        antialias=False,
        mean=TF_REFERENCE_MEAN,
        std=None,
        dct_scale=False,
        eval_rounding="floor",
        idct="fast",  # tf.image.decode_jpeg's default dct_method=""
    ),
    "nvidia": ImagePreset(
        sampler="dali",
        ratio=(3 / 4, 4 / 3),
        attempts=10,
        interpolation="bilinear",
        antialias=True,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        dct_scale=True,
        eval_rounding="dali",
        idct="accurate",  # DALI's CPU decoder: libjpeg-turbo ISLOW
    ),
}


def get_preset(preset):
    """The :class:`ImagePreset` of a name in :data:`PRESETS`, or ``preset`` itself."""
    if isinstance(preset, ImagePreset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    names = " or ".join(repr(k) for k in sorted(PRESETS, reverse=True))
    raise ValueError(f"preset must be {names} or an ImagePreset, not {preset!r}")


class RandomResizedCrop(Transform):
    """Random crop (per preset semantics) resampled to ``size``.

    Parameters
    ----------
    size : int | (int, int)
    preset : {"nvidia", "reference"} or ImagePreset
        Sampler and resampling semantics (:data:`PRESETS`).
    area, ratio, attempts : optional
        Override the preset's ranges.
    interpolation, antialias : optional
        Override the preset's resampling (:func:`fastload.image.output_spec`).
    dtype, layout, mean, std, pad_channels
        Output options of the fused kernel (default: uint8 HWC, no normalisation).
    dct_scale : bool
        For encoded input: allow DCT-domain downscaling.
    strict : bool
        For encoded input: truncated / corrupt data raises DecodeError.
    idct : {"accurate", "fast"}, optional
        For encoded JPEG input: libjpeg's IDCT (:func:`fastload.image.decode`); default
        the preset's (``"fast"`` for "reference", as TensorFlow decodes).
    """

    def __init__(
        self,
        size=224,
        *,
        preset="nvidia",
        area=(0.05, 1.0),
        ratio=None,
        attempts=None,
        interpolation=None,
        antialias=None,
        dtype="uint8",
        layout="HWC",
        mean=None,
        std=None,
        pad_channels=3,
        dct_scale=True,
        strict=True,
        idct=None,
    ):
        p = get_preset(preset)
        self.preset = preset
        self.area = tuple(area)
        self.ratio = tuple(ratio) if ratio is not None else p.ratio
        self.attempts = attempts if attempts is not None else p.attempts
        self.dct_scale = dct_scale
        self.strict = strict
        self._sampler = CROP_SAMPLERS[p.sampler]
        idct = p.idct if idct is None else idct
        codec.idct_flag(idct)  # validate
        self.idct = idct
        self.spec = ops.output_spec(
            size,
            dtype=dtype,
            layout=layout,
            mean=mean,
            std=std,
            pad_channels=pad_channels,
            interpolation=interpolation or p.interpolation,
            antialias=p.antialias if antialias is None else antialias,
        )

    def sample_params(self, rng, meta):
        h, w = _hw(meta)
        return CropParams(
            *self._sampler(rng, h, w, area=self.area, ratio=self.ratio, attempts=self.attempts)
        )

    def apply(self, x, params, *, flip=False, out=None, info=None, name=None):
        """Resample ``params.box`` of ``x`` (mirrored if ``flip``) into ``out``.

        For encoded ``x``: ``info`` is its header when already read, ``name`` is used in
        error messages (:func:`fastload.image.decode_resized_crop`).
        """
        if _is_encoded(x):
            return ops.decode_resized_crop(
                x,
                params.box,
                self.spec,
                flip=flip,
                dct_scale=self.dct_scale,
                strict=self.strict,
                out=out,
                info=info,
                name=name,
                idct=self.idct,
            )
        return ops.resample_box(ops.as_rgb_image(x), params.box, self.spec, flip, out)

    def output_meta(self, meta, params):
        return codec.ImageInfo(self.spec.height, self.spec.width, 3, "array")


class CenterCrop(Transform):
    """Centred crop of ``size`` (TF ``_central_crop``: ``top = (H - h) // 2``); a view."""

    def __init__(self, size):
        self.size = ops.size_pair(size)

    def apply(self, x, params):
        x = np.asarray(x)
        top, left, h, w = ops.center_crop_box(x.shape[0], x.shape[1], self.size)
        return x[top : top + h, left : left + w]

    def output_meta(self, meta, params):
        h, w = _hw(meta)
        return codec.ImageInfo(min(h, self.size[0]), min(w, self.size[1]), 3, "array")


class ResizeShorter(Transform):
    """Aspect-preserving resize making the shorter side ``size``.

    ``rounding="floor"`` truncates the longer side like the TF reference; ``"round"``
    rounds it (each axis then scaled by its own ``out / in``); ``"dali"`` is DALI's
    ``resize(resize_shorter=size)``: the same rounded size, one uniform scale
    ``size / short`` for both axes over a centred sub-pixel ROI (see
    :func:`fastload.image.resize_shorter_box`). ``interpolation`` / ``antialias`` as in
    :func:`fastload.image.output_spec`; ``idct`` as in :func:`fastload.image.decode`
    (encoded input).
    """

    def __init__(
        self,
        size=256,
        *,
        rounding="floor",
        interpolation="bilinear",
        antialias=True,
        idct="accurate",
    ):
        codec.idct_flag(idct)  # validate
        self.idct = idct
        self.size = int(size)
        self.rounding = rounding
        self.interpolation = interpolation
        self.antialias = antialias
        ops.resize_shorter_size(1, 1, 1, rounding=rounding)  # validate

    def apply(self, x, params):
        if _is_encoded(x):
            x = codec.decode(x, idct=self.idct)
        x = ops.as_rgb_image(x)
        H, W = x.shape[:2]
        h, w = ops.resize_shorter_size(H, W, self.size, rounding=self.rounding)
        spec = ops.output_spec((h, w), interpolation=self.interpolation, antialias=self.antialias)
        if self.rounding == "dali":  # the whole resized image: a "crop" of its own size
            box = ops.resize_shorter_box(H, W, self.size, (h, w), rounding="dali")
            return ops.resample_box(x, box, spec, False, None, clamp="image")
        return ops.resample_box(x, (0, 0, H, W), spec, False, None)

    def output_meta(self, meta, params):
        h, w = _hw(meta)
        h, w = ops.resize_shorter_size(h, w, self.size, rounding=self.rounding)
        return codec.ImageInfo(h, w, 3, "array")


class Normalize(Transform):
    """``(x - mean) / std`` per channel into ``dtype`` / ``layout`` (0-255 units)."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, *, dtype="float32", layout="HWC"):
        self.mean, self.std, self.dtype, self.layout = mean, std, dtype, layout
        ops.output_spec(1, dtype=dtype, layout=layout, mean=mean, std=std)  # validate

    def apply(self, x, params):
        return ops.normalize(x, self.mean, self.std, dtype=self.dtype, layout=self.layout)


class RandomFlip(Transform):
    """Mirror left-right with probability ``p`` (a view)."""

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def sample_params(self, rng, meta):
        return FlipParams(bool(rng.random() < self.p))

    def apply(self, x, params):
        return ops.flip_left_right(x) if params.flip else x
