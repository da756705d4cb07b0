"""ResNet-50 v1.5 / ImageNet input pipelines (SPEC-mlperf.md section 2) as loader
transforms.

``resnet50_train(...)`` and ``resnet50_eval(...)`` return callables
``transform(sample, rng, out=None) -> sample`` that read the encoded image from
``sample["image"]`` and return a new dict whose ``"image"`` is the finished tensor (other
keys, e.g. the label, pass through; the input dict is not modified). They define
``output_spec()`` so the Loader hands them a view of the batch buffer and the kernel
writes straight into it.

Per training sample: read the JPEG header; draw the crop box in full-resolution pixels
(preset sampler); pick the strongest DCT scale keeping the crop >= the output size; decode
only the crop (rows above skipped, rows below never read, iMCU columns cropped); one fused
resample + flip + normalize + layout/dtype kernel into ``out``. All of it is one C call
without the GIL.

Presets:

* ``"reference"``: MLPerf TF reference. TF ``sample_distorted_bounding_box`` sampler
  (linear aspect 0.75-1.33, area 0.05-1 with min object covered 0.1, 100 attempts), flip
  before the resize, TF1 ``resize_bilinear`` (no half-pixel centres, no antialias), mean
  subtraction only (123.68, 116.78, 103.94). Eval: shorter side to 256 truncating,
  central 224 crop. DCT scaling is off by default (TF decodes the crop at full
  resolution).
* ``"nvidia"``: NVIDIA's DALI closed submission. DALI sampler (area 0.05-1 uniform,
  log-uniform aspect 3/4-4/3, 10 attempts, whole image clamped to the aspect range as the
  fallback), antialiased linear resize, mean and std (x255 ImageNet values), mirror after
  the resize. Eval: shorter side to 256 (rounded), centre 224 crop. The submission's own
  output is ``dtype="float16", layout="HWC", pad_channels=4``.
"""

from dataclasses import dataclass

from fastload.image import codec, ops
from fastload.image.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TF_REFERENCE_MEAN,
    sample_crop_nvidia,
    sample_crop_reference,
)
from fastload.pipelines._keys import field

__all__ = ["ResNet50Eval", "ResNet50Train", "TrainParams", "resnet50_eval", "resnet50_train"]

_PRESETS = {
    "reference": {
        "sampler": sample_crop_reference,
        "ratio": (0.75, 1.33),
        "attempts": 100,
        "interpolation": "tf_legacy",
        "antialias": False,
        "mean": TF_REFERENCE_MEAN,
        "std": None,
        "dct_scale": False,
        "eval_rounding": "floor",
    },
    "nvidia": {
        "sampler": sample_crop_nvidia,
        "ratio": (3 / 4, 4 / 3),
        "attempts": 10,
        "interpolation": "bilinear",
        "antialias": True,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "dct_scale": True,
        "eval_rounding": "round",
    },
}


@dataclass(frozen=True)
class TrainParams:
    """Everything random about one training sample (log it to replay the sample)."""

    top: int
    left: int
    height: int
    width: int
    flip: bool


def _preset(preset):
    if preset not in _PRESETS:
        raise ValueError(f"preset must be 'nvidia' or 'reference', not {preset!r}")
    return _PRESETS[preset]


def _name(sample):
    for k in ("path", "file", "filename", "name", "key"):
        v = sample.get(k)
        if isinstance(v, str):
            return v
    return None


class _Base:
    def __init__(self, preset, size, dtype, layout, pad_channels, dct_scale, strict, key):
        self.preset = preset
        self.key = key
        self.strict = strict
        p = _preset(preset)
        if dtype == "uint8":  # raw pixels: normalisation happens later (e.g. on the GPU)
            mean, std = None, None
        else:
            mean, std = p["mean"], p["std"]
        self.dct_scale = p["dct_scale"] if dct_scale is None else bool(dct_scale)
        self.spec = ops.output_spec(size, dtype=dtype, layout=layout, mean=mean, std=std,
                                    pad_channels=pad_channels,
                                    interpolation=p["interpolation"], antialias=p["antialias"])
        self._p = p

    def output_spec(self):
        """``{key: (shape, dtype)}`` of what this transform writes (batch-buffer protocol)."""
        return {self.key: (self.spec.shape, self.spec.np_dtype)}

    def _run(self, sample, box, flip, clamp, out, info):
        data = field(sample, self.key, type(self).__name__)
        dest = None if out is None else out.get(self.key)
        result = ops.decode_resized_crop(data, box, self.spec, flip=flip, clamp=clamp,
                                         dct_scale=self.dct_scale, strict=self.strict,
                                         out=dest, info=info, name=_name(sample))
        sample = dict(sample)  # the caller's dict (e.g. a cached record) stays untouched
        sample[self.key] = result
        return sample

    def __repr__(self):
        s = self.spec
        return (f"{type(self).__name__}(preset={self.preset!r}, size={(s.height, s.width)}, "
                f"dtype={s.dtype!r}, layout={s.layout!r}, pad_channels={s.channels})")


class ResNet50Train(_Base):
    """Training transform; see :func:`resnet50_train`."""

    def __init__(self, *, preset="nvidia", size=224, dtype="float32", layout="CHW",
                 pad_channels=3, area=(0.05, 1.0), dct_scale=None, strict=True, key="image"):
        super().__init__(preset, size, dtype, layout, pad_channels, dct_scale, strict, key)
        self.area = tuple(area)

    def sample_params(self, rng, info):
        """Draw the crop box (full-resolution pixels) then the flip."""
        p = self._p
        top, left, h, w = p["sampler"](rng, info.height, info.width, area=self.area,
                                       ratio=p["ratio"], attempts=p["attempts"])
        return TrainParams(top, left, h, w, bool(rng.random() < 0.5))

    def apply(self, sample, params, out=None, info=None):
        box = (params.top, params.left, params.height, params.width)
        return self._run(sample, box, params.flip, "box", out, info)

    def __call__(self, sample, rng, out=None):
        info = codec.read_header(field(sample, self.key, type(self).__name__),
                                 strict=self.strict, name=_name(sample))
        return self.apply(sample, self.sample_params(rng, info), out, info)


class ResNet50Eval(_Base):
    """Evaluation transform; see :func:`resnet50_eval`."""

    def __init__(self, *, preset="nvidia", size=224, resize=256, dtype="float32", layout="CHW",
                 pad_channels=3, dct_scale=False, strict=True, key="image"):
        super().__init__(preset, size, dtype, layout, pad_channels, dct_scale, strict, key)
        self.resize = int(resize)

    def sample_params(self, rng, info):
        return None

    def box(self, info):
        """Source box equivalent to resize-shorter + centre crop (full-res pixels)."""
        return ops.resize_shorter_box(info.height, info.width, self.resize,
                                      (self.spec.height, self.spec.width),
                                      rounding=self._p["eval_rounding"])

    def __call__(self, sample, rng=None, out=None):
        info = codec.read_header(field(sample, self.key, type(self).__name__),
                                 strict=self.strict, name=_name(sample))
        return self._run(sample, self.box(info), False, "image", out, info)


def resnet50_train(*, preset="nvidia", size=224, dtype="float32", layout="CHW", pad_channels=3,
                   area=(0.05, 1.0), dct_scale=None, strict=True, key="image"):
    """ResNet-50 training transform (random resized crop + flip + normalize).

    Parameters
    ----------
    preset : {"nvidia", "reference"}
        See the module docstring.
    size : int
        Output height and width (224).
    dtype : {"float32", "float16", "uint8"}
        uint8 skips normalisation (raw resampled pixels).
    layout : {"CHW", "HWC"}
        Per-sample layout; batches become NCHW / NHWC.
    pad_channels : {3, 4}
        4 adds a zero 4th channel (NVIDIA ``pad_output``).
    area : (float, float)
        Crop area range as a fraction of the image.
    dct_scale : bool, optional
        Allow DCT-domain downscaling (default: on for "nvidia", off for "reference").
    strict : bool
        Truncated / corrupt JPEG data raises DecodeError (else libjpeg's recovery).
    key : str
        Sample key holding the encoded image and receiving the tensor.

    Returns
    -------
    transform : ResNet50Train
        ``transform(sample, rng, out=None) -> sample`` with ``sample[key]`` of shape
        (C, size, size) or (size, size, C) and dtype ``dtype``; ``output_spec()``.
    """
    return ResNet50Train(preset=preset, size=size, dtype=dtype, layout=layout,
                         pad_channels=pad_channels, area=area, dct_scale=dct_scale,
                         strict=strict, key=key)


def resnet50_eval(*, preset="nvidia", size=224, resize=256, dtype="float32", layout="CHW",
                  pad_channels=3, dct_scale=False, strict=True, key="image"):
    """ResNet-50 evaluation transform: shorter side to ``resize``, centre ``size`` crop,
    normalize; fused into one resample of the equivalent source box (only the rows and
    columns it touches are decoded). Parameters as in :func:`resnet50_train`, except that
    DCT scaling is off by default for both presets (eval favours exactness over speed);
    ``rng`` is ignored."""
    return ResNet50Eval(preset=preset, size=size, resize=resize, dtype=dtype, layout=layout,
                        pad_channels=pad_channels, dct_scale=dct_scale, strict=strict, key=key)
