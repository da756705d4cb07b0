"""MLPerf 3D U-Net (KiTS19) recipes: offline preprocessing, training and eval transforms.

See ``SPEC-mlperf.md`` section 4. Offline (:func:`unet3d_preprocess`): resample to
(1.6, 1.2, 1.2) mm (image trilinear align_corners=True, label legacy nearest) with the
clip [-79, 304] and ``(x - 101) / 76.9`` fused into the resampling pass, then edge-pad to
at least 128 per axis, written straight into the padded output. Training
(:func:`unet3d_train`): balanced 128^3 crop -> per-axis flips p=1/3 -> brightness p=0.1 ->
gaussian noise p=0.1, image and label cut once into the output (batch) buffers.
Evaluation (:func:`unet3d_eval`): pre-crop and -2.2 padding for sliding windows.
"""

import threading
from dataclasses import dataclass

import numpy as np

from fastload.errors import SchemaError
from fastload.pipelines._keys import field
from fastload.transforms import Transform
from fastload.volume.resample import output_pool, resample_to_spacing, resampled_shape
from fastload.volume.sliding_window import prepare_eval, sliding_windows
from fastload.volume.transforms import (
    BrightnessParams,
    CropParams,
    FlipParams,
    GaussianNoise,
    NoiseParams,
    RandomBalancedCrop,
    RandomBrightness,
    RandomFlip,
    apply_intensity,
    clip_normalize,
    pad_widths,
)

__all__ = [
    "PRESETS",
    "Unet3dEval",
    "Unet3dPreset",
    "Unet3dTrain",
    "Unet3dTrainParams",
    "unet3d_eval",
    "unet3d_preprocess",
    "unet3d_train",
]

TARGET_SPACING = (1.6, 1.2, 1.2)
CLIP = (-79.0, 304.0)
MEAN, STD = 101.0, 76.9
MIN_SHAPE = (128, 128, 128)


@dataclass(frozen=True)
class Unet3dPreset:
    """What a preset fixes in the 3D U-Net training chain: plain values (the volume preset
    table is :data:`PRESETS`; a variant is ``dataclasses.replace(PRESETS[name], ...)``,
    accepted wherever a preset name is).

    Attributes
    ----------
    flip_p : float
        Per-axis flip probability (:class:`~fastload.volume.transforms.RandomFlip`).
    brightness : {"reference", "nvidia"}
        Rule of :class:`~fastload.volume.transforms.RandomBrightness` (its ``preset``).
    noise : {"reference", "nvidia"}
        Rule of :class:`~fastload.volume.transforms.GaussianNoise` (its ``preset``).
    brightness_factor, brightness_p, noise_std, noise_p : float
        Their ranges and probabilities.
    """

    flip_p: float
    brightness: str
    noise: str
    brightness_factor: float = 0.3
    brightness_p: float = 0.1
    noise_std: float = 0.1
    noise_p: float = 0.1


#: The volume preset table: ``"reference"`` (MLPerf reference) and ``"nvidia"`` (NVIDIA's
#: submission); see :func:`unet3d_train`.
PRESETS = {
    "reference": Unet3dPreset(flip_p=1 / 3, brightness="reference", noise="reference"),
    "nvidia": Unet3dPreset(flip_p=0.33, brightness="nvidia", noise="nvidia"),
}


def get_preset(preset):
    """The :class:`Unet3dPreset` of a name in :data:`PRESETS`, or ``preset`` itself."""
    if isinstance(preset, Unet3dPreset):
        return preset
    if isinstance(preset, str) and preset in PRESETS:
        return PRESETS[preset]
    raise ValueError(f"preset must be one of {tuple(PRESETS)} or a Unet3dPreset, got {preset!r}")


def _as_3d(x, name):
    x = np.asarray(x)
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"{name} must have one channel, got shape {x.shape}")
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be (D, H, W) or (1, D, H, W), got shape {x.shape}")
    return x


#: image dtypes resampled as they are; other integer widths and float16 are converted
_DIRECT_DTYPES = (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64)
_ACCEPTED = "int8/16/32/64, uint8/16/32/64, float16/32/64"


def _image_for_resampling(img):
    """uint32 / int64 / uint64 (what :func:`fastload.volume.read` returns for NIfTI
    datatypes 768 / 1024 / 1280) and float16 become float32: CT intensities (HU, about
    -1024..3071, or any integer below 2**24 in magnitude) are exact in float32, and the
    kernels read every input as float32 anyway; larger values are clipped to [-79, 304]
    right after, so their float32 rounding does not change the result."""
    if img.dtype.type in _DIRECT_DTYPES:
        return img
    if img.dtype.kind in "iu" or img.dtype == np.float16:
        return img.astype(np.float32)
    raise SchemaError(f"image: dtype {img.dtype} is not accepted; accepted: {_ACCEPTED}")


def _check_label(lab):
    if lab.dtype == np.uint8:
        return
    if lab.dtype.kind not in "iufb":
        raise SchemaError(
            f"label: dtype {lab.dtype} is not accepted; accepted: integer, bool or float class ids"
        )
    if lab.size:
        lo, hi = lab.min(), lab.max()
        if not (lo >= 0 and hi <= 255):  # also false for NaN
            raise SchemaError(
                f"label: class ids must lie in [0, 255] (they are stored as uint8), "
                f"found values in [{lo}, {hi}]"
            )


def _edge_fill(x, widths):
    """Edge-pad in place: ``x`` already holds the data in its interior ``widths``."""
    for axis, (b, a) in enumerate(widths):
        n = x.shape[axis]
        lead = (slice(None),) * axis
        if b:
            x[lead + (slice(0, b),)] = x[lead + (slice(b, b + 1),)]
        if a:
            x[lead + (slice(n - a, n),)] = x[lead + (slice(n - a - 1, n - a),)]


def unet3d_preprocess(
    image, label, spacing, *, target_spacing=TARGET_SPACING, min_shape=MIN_SHAPE, threads=1
):
    """The reference's offline preprocessing of one case.

    Parameters
    ----------
    image : ndarray, shape (D, H, W) or (1, D, H, W), HU
        Any integer width (int8 ... uint64) or float16/32/64, i.e. every dtype that
        :func:`fastload.volume.read` returns. uint32, int64, uint64 and float16 are first
        converted to float32 (exact for CT intensities; see ``_image_for_resampling``).
        Another dtype (bool, complex ...) raises :class:`~fastload.errors.SchemaError`
        naming the accepted ones.
    label : ndarray, same shape, integer, bool or float class ids in [0, 255]
        (0 background, 1 kidney, 2 tumour); stored as uint8. Values outside [0, 255]
        (which uint8 would wrap) raise :class:`~fastload.errors.SchemaError`.
    spacing : sequence of 3 float, (z, y, x) mm of the array axes
    target_spacing : (z, y, x) mm, default (1.6, 1.2, 1.2)
    min_shape : minimum output shape (edge padding, deficit b: b//2 before)
    threads : numba threads for the resampling (1: safe in loader threads)

    Returns
    -------
    image : ndarray, shape (1, D', H', W'), float32, clipped and normalised
    label : ndarray, shape (1, D', H', W'), uint8
    """
    img = _as_3d(image, "image")
    lab = _as_3d(label, "label")
    if img.shape != lab.shape:
        raise ValueError(f"image shape {img.shape} and label shape {lab.shape} differ")
    if img.dtype.kind not in "iuf":
        raise SchemaError(f"image: dtype {img.dtype} is not accepted; accepted: {_ACCEPTED}")
    _check_label(lab)
    img = _image_for_resampling(img)
    spacing = tuple(float(s) for s in np.asarray(spacing, dtype=np.float64).reshape(-1))
    target = tuple(float(s) for s in target_spacing)
    resample = spacing != target
    new = resampled_shape(img.shape, spacing, target) if resample else img.shape
    widths = pad_widths(new, min_shape)
    padded = tuple(n + b + a for n, (b, a) in zip(new, widths, strict=False))
    # from the volume output pool: no page-fault stall in a long-lived builder process
    # (every voxel is written below: the interior by the kernels, the border by _edge_fill)
    img_out = output_pool.empty((1,) + padded, np.float32)
    lab_out = output_pool.empty((1,) + padded, np.uint8)
    interior = tuple(slice(b, b + n) for n, (b, _) in zip(new, widths, strict=False))
    img_in, lab_in = img_out[0][interior], lab_out[0][interior]
    if resample:
        resample_to_spacing(
            img,
            spacing,
            target,
            order=1,
            out=img_in,
            threads=threads,
            clip=CLIP,
            normalize=(MEAN, STD),
        )
        resample_to_spacing(
            lab.astype(np.uint8, copy=False), spacing, target, order=0, out=lab_in, threads=threads
        )
    else:
        if img_in.flags.c_contiguous:
            clip_normalize(img, lo=CLIP[0], hi=CLIP[1], mean=MEAN, std=STD, out=img_in)
        else:
            img_in[...] = clip_normalize(img, lo=CLIP[0], hi=CLIP[1], mean=MEAN, std=STD)
        lab_in[...] = lab
    _edge_fill(img_out[0], widths)
    _edge_fill(lab_out[0], widths)
    return img_out, lab_out


@dataclass(frozen=True)
class Unet3dTrainParams:
    """Everything random about one training sample (log it, replay it with ``apply``)."""

    crop: CropParams
    flip: FlipParams
    brightness: BrightnessParams
    noise: NoiseParams


class Unet3dTrain(Transform):
    """Training transform ``transform(sample, rng, out=None) -> sample``.

    A :class:`fastload.transforms.Transform` over sample dicts composed of the volume
    transforms ``self.crop`` (:class:`~fastload.volume.transforms.RandomBalancedCrop`),
    ``self.flip`` (:class:`~fastload.volume.transforms.RandomFlip`), ``self.brightness``
    (:class:`~fastload.volume.transforms.RandomBrightness`) and ``self.noise``
    (:class:`~fastload.volume.transforms.GaussianNoise`), drawn in that order.

    Reads ``sample["image"]`` (float32 (1, D, H, W), normalised) and ``sample["label"]``
    (uint8 (1, D, H, W)), both possibly read-only zero-copy views, never written. Optional
    ``sample["boxes"]`` (:func:`~fastload.volume.transforms.foreground_boxes`) avoids
    recomputing connected components; it is dropped from the output. The crop window,
    flips, brightness and noise are drawn first (:meth:`sample_params`); then the flipped
    window is copied once into the output (``out["image"]``/``out["label"]`` when the loader
    passes batch slots) and brightness and noise are applied in place in one pass.
    """

    def __init__(self, preset="reference", patch=(128, 128, 128), oversampling=0.4):
        self.preset_values = p = get_preset(preset)
        self.preset = preset
        self.crop = RandomBalancedCrop(patch, oversampling)
        self.patch = self.crop.patch
        self.flip = RandomFlip(p.flip_p)
        self.brightness = RandomBrightness(p.brightness_factor, p.brightness_p, p.brightness)
        self.noise = GaussianNoise(p.noise_std, p.noise_p, p.noise)
        self._local = threading.local()

    def __repr__(self):
        return (
            f"Unet3dTrain(preset={self.preset!r}, patch={self.patch}, "
            f"oversampling={self.crop.oversampling})"
        )

    def output_spec(self):
        """Fixed per-sample outputs: image float32 (1, *patch), label uint8 (1, *patch)."""
        return {
            "image": ((1,) + self.patch, np.dtype(np.float32)),
            "label": ((1,) + self.patch, np.dtype(np.uint8)),
        }

    def sample_params(self, rng, sample):
        label = _as_3d(field(sample, "label", type(self).__name__), "label")
        meta = {"label": label, "boxes": sample.get("boxes")}
        return Unet3dTrainParams(
            crop=self.crop.sample_params(rng, meta),
            flip=self.flip.sample_params(rng),
            brightness=self.brightness.sample_params(rng),
            noise=self.noise.sample_params(rng),
        )

    def _noise_buffer(self):
        buf = getattr(self._local, "noise", None)
        if buf is None or buf.shape != self.patch:
            buf = self._local.noise = np.empty(self.patch, np.float32)
        return buf

    def apply(self, sample, params, out=None):
        image = _as_3d(field(sample, "image", type(self).__name__), "image")
        label = _as_3d(field(sample, "label", type(self).__name__), "label")
        if image.shape != label.shape:
            raise ValueError(f"image shape {image.shape} and label shape {label.shape} differ")
        if any(s < p for s, p in zip(image.shape, self.patch, strict=False)):
            raise ValueError(
                f"volume {image.shape} is smaller than the patch {self.patch}: pad it first"
            )
        spec = self.output_spec()
        outs = {}
        for key, (shape, dtype) in spec.items():
            o = None if out is None else out.get(key)
            if o is None:
                o = np.empty(shape, dtype)
            elif o.shape != shape or o.dtype != dtype or not o.flags.c_contiguous:
                raise ValueError(
                    f"out[{key!r}] must be C-contiguous {dtype} {shape}, got {o.dtype} {o.shape}"
                )
            outs[key] = o
        img_out, lab_out = outs["image"], outs["label"]
        # one strided copy each (numpy releases the GIL): crop + flips (+ cast) into out
        np.copyto(
            img_out[0],
            self.flip.apply(self.crop.apply(image, params.crop), params.flip),
            casting="unsafe",
        )
        np.copyto(
            lab_out[0],
            self.flip.apply(self.crop.apply(label, params.crop), params.flip),
            casting="unsafe",
        )
        # brightness and noise fused in one in-place pass
        scratch = self._noise_buffer() if params.noise.applied else None
        apply_intensity(img_out[0], params.brightness, params.noise, scratch=scratch)
        result = {k: v for k, v in sample.items() if k != "boxes"}
        result["image"] = img_out
        result["label"] = lab_out
        return result


def unet3d_train(*, preset="reference", patch=(128, 128, 128), oversampling=0.4):
    """The MLPerf 3D U-Net training transform (see :class:`Unet3dTrain`).

    ``preset="reference"``: brightness ``x * (1 + U(0.7, 1.3))``, noise sigma ~ U(0, 0.1),
    flips p = 1/3. ``preset="nvidia"``: ``x * U(0.7, 1.3)``, sigma = 0.1, flips p = 0.33.
    Both use the reference's balanced-crop window rules (not DALI's object-bbox sampler).
    """
    return Unet3dTrain(preset=preset, patch=patch, oversampling=oversampling)


class Unet3dEval(Transform):
    """Eval transform ``transform(sample, rng=None) -> sample``: pre-crop + -2.2 padding
    (:func:`~fastload.volume.sliding_window.prepare_eval`,
    :func:`~fastload.volume.sliding_window.sliding_windows`); nothing is random.

    Output keys: ``image`` float32 (1, Dp, Hp, Wp) padded, ``label`` (1, D', H', W')
    pre-cropped, ``paddings`` int64 (3, 2) and ``windows`` int64 (n, 3) window starts.
    """

    def __init__(self, roi=128, overlap=0.5, padding_val=-2.2):
        self.roi, self.overlap, self.padding_val = int(roi), float(overlap), float(padding_val)

    def __repr__(self):
        return f"Unet3dEval(roi={self.roi}, overlap={self.overlap}, padding_val={self.padding_val})"

    def apply(self, sample, params=None, out=None):
        image = np.asarray(field(sample, "image", type(self).__name__), dtype=np.float32)
        if image.ndim == 3:
            image = image[None]
        label = sample.get("label")
        if label is not None:
            label = np.asarray(label)
            if label.ndim == 3:
                label = label[None]
        image, label, pads = prepare_eval(
            image, label, roi=self.roi, overlap=self.overlap, padding_val=self.padding_val
        )
        result = {k: v for k, v in sample.items() if k != "boxes"}
        result["image"] = image
        if label is not None:
            result["label"] = label
        result["paddings"] = np.asarray(pads, dtype=np.int64)
        result["windows"] = sliding_windows(image.shape[-3:], roi=self.roi, overlap=self.overlap)
        return result


def unet3d_eval(*, roi=128, overlap=0.5, padding_val=-2.2):
    """The MLPerf 3D U-Net eval transform (see :class:`Unet3dEval`)."""
    return Unet3dEval(roi=roi, overlap=overlap, padding_val=padding_val)
