"""Image functions on decoded arrays: one fused resample + flip + normalize kernel.

Every function validates its arguments, allocates ``out`` when none is given and calls
exactly one GIL-free kernel (``_resize_cy``). Nothing here draws random numbers.
"""

import math
from dataclasses import dataclass

import numpy as np

from fastload.image import _resize_cy, codec

__all__ = [
    "OutputSpec",
    "center_crop_box",
    "decode_resized_crop",
    "flip_left_right",
    "normalize",
    "output_spec",
    "resize_shorter_box",
    "resize_shorter_size",
    "resized_crop",
]

# the kernel's codes, from csrc/include/fastload/image.h (fastload/includes/image.pxd)
_LAYOUTS = _resize_cy.LAYOUTS
_DTYPES = _resize_cy.DTYPES
_simd = {"cap": 0}  # FL_SIMD_* flags added to every resize call (set_simd_path)
INTERPOLATIONS = ("bilinear", "tf_legacy")


@dataclass(frozen=True)
class OutputSpec:
    """A planned output: shape, dtype and the kernel's encoding of them (see
    :func:`output_spec`)."""

    height: int
    width: int
    channels: int
    layout: str
    dtype: str
    interpolation: str
    antialias: bool
    mean: tuple
    std: tuple

    @property
    def shape(self):
        if self.layout == "CHW":
            return (self.channels, self.height, self.width)
        return (self.height, self.width, self.channels)

    @property
    def np_dtype(self):
        return np.dtype(self.dtype)

    def flags(self, flip):
        """The kernel's resize flags for this spec (and the :func:`set_simd_path` cap)."""
        f = (_resize_cy.ANTIALIAS if self.antialias else 0) | _simd["cap"]
        if self.interpolation == "tf_legacy":
            f |= _resize_cy.LEGACY_CENTERS | (_resize_cy.FLIP_SOURCE if flip else 0)
        elif flip:
            f |= _resize_cy.FLIP_OUTPUT
        return f

    def kernel_args(self, flip):
        """``(out_h, out_w, out_c, layout, dtype, flags, mean, std)`` for the kernels."""
        return (
            self.height,
            self.width,
            self.channels,
            _LAYOUTS[self.layout],
            _DTYPES[self.dtype],
            self.flags(flip),
            self.mean,
            self.std,
        )


def simd_paths():
    """The resize kernel's code paths this CPU runs, fastest first: some of
    ``"avx512f"``, ``"avx2+fma"``, then always ``"portable"``."""
    return _resize_cy.simd_paths()


def set_simd_path(path):
    """Cap the resize kernel (and the fused JPEG decode + resize) at ``path`` (a name of
    :func:`simd_paths`), process-wide; ``None`` goes back to the fastest. Returns the
    previous cap's name (``None`` for none). For tests and benchmarks: the paths agree
    bit for bit except "portable", which rounds differently (within 2e-3 of 255)."""
    if path is not None and path not in _resize_cy.SIMD_CAPS:
        raise ValueError(
            f"path must be one of {sorted(_resize_cy.SIMD_CAPS)} or None, not {path!r}"
        )
    if path is not None and path not in simd_paths():
        raise ValueError(f"this CPU does not run the {path!r} path (it runs {simd_paths()})")
    previous = next((k for k, v in _resize_cy.SIMD_CAPS.items() if v and v == _simd["cap"]), None)
    _simd["cap"] = 0 if path is None else _resize_cy.SIMD_CAPS[path]
    return previous


def size_pair(size, what="size"):
    """``(height, width)`` of an int or a pair, both positive; ValueError naming ``what``
    otherwise. Internal API of fastload.image (transforms)."""
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be an int or (height, width), got {size!r}") from exc
    if h <= 0 or w <= 0:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return h, w


def _triple(v, what):
    if v is None:
        return None
    if np.isscalar(v):
        v = (v, v, v)
    v = tuple(float(x) for x in v)
    if len(v) != 3:
        raise ValueError(f"{what} must have 3 values (R, G, B), got {v!r}")
    return v


def output_spec(
    size,
    *,
    dtype="uint8",
    layout="HWC",
    mean=None,
    std=None,
    pad_channels=3,
    interpolation="bilinear",
    antialias=True,
):
    """Validate and bundle output options (done once per pipeline, not per image).

    Parameters
    ----------
    size : int | (int, int)
        Output (height, width) in pixels.
    dtype : {"uint8", "float32", "float16"}
    layout : {"HWC", "CHW"}
    mean, std : float | sequence of 3 floats, optional
        ``out = (value - mean) / std`` per RGB channel, in 0-255 units. uint8 output is
        rounded and clamped to 0-255 after it.
    pad_channels : {3, 4}
        4 appends a zero channel (NVIDIA's ``pad_output``).
    interpolation : {"bilinear", "tf_legacy"}
        "bilinear": PIL / torchvision pixel centres (``src = (dst + 0.5) * scale``);
        "tf_legacy": TF1 ``resize_bilinear`` without half-pixel centres
        (``src = dst * scale``), with flips applied to the source before resizing.
    antialias : bool
        Widen the triangle filter by the scale factor when downscaling (PIL, torchvision
        ``antialias=True``, DALI).
    """
    h, w = size_pair(size)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, not {dtype!r}")
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be 'HWC' or 'CHW', not {layout!r}")
    if pad_channels not in (3, 4):
        raise ValueError(f"pad_channels must be 3 or 4, not {pad_channels!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {interpolation!r}")
    mean = _triple(mean, "mean") or (0.0, 0.0, 0.0)
    std = _triple(std, "std") or (1.0, 1.0, 1.0)
    if any(s == 0 or not math.isfinite(s) for s in std):
        raise ValueError(f"std must be finite and non-zero, got {std!r}")
    return OutputSpec(h, w, pad_channels, layout, dtype, interpolation, bool(antialias), mean, std)


def as_rgb_image(image):
    """``image`` as the kernel's input: uint8 (H, W, 3) with packed pixels (grayscale
    replicated, a copy only when pixels are not packed); ValueError otherwise. Internal API
    of fastload.image (transforms)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have shape (H, W, 3) or (H, W), got {image.shape}")
    if image.strides[1:] != (3, 1):
        image = np.ascontiguousarray(image)
    return image


def _check_out(out, spec):
    if out is None:
        return np.empty(spec.shape, spec.np_dtype)
    if (
        not isinstance(out, np.ndarray)
        or out.dtype != spec.np_dtype
        or out.shape != spec.shape
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise ValueError(
            f"out must be a writable C-contiguous {spec.dtype} array of shape "
            f"{spec.shape}, got {getattr(out, 'dtype', type(out).__name__)} "
            f"{getattr(out, 'shape', '')}"
        )
    return out


def resample_box(image, box, spec, flip, out, clamp="box"):
    """Resample ``box`` (full-resolution ``(top, left, h, w)`` floats) of a checked image
    (:func:`as_rgb_image`) into ``out`` as ``spec`` says, mirrored if ``flip``; ``clamp``
    as in :func:`resized_crop`. One kernel call. Internal API of fastload.image."""
    top, left, bh, bw = (float(v) for v in box)
    H, W = image.shape[:2]
    # "image": a sub-pixel overhang is allowed (DALI's uniform-scale resize ROI can reach
    # 1/4 output pixel past the edge); the filter taps stop at the image edge
    slack = 0.5 if clamp == "image" else 1e-6
    if not (
        bh > 0
        and bw > 0
        and top >= -slack
        and left >= -slack
        and top + bh <= H + slack
        and left + bw <= W + slack
    ):
        raise ValueError(f"box {box!r} is not inside the {H}x{W} image")
    if clamp == "box":  # crop first: filter taps stop at the box's pixel hull
        y0, x0 = int(math.floor(top)), int(math.floor(left))
        y1, x1 = min(int(math.ceil(top + bh)), H), min(int(math.ceil(left + bw)), W)
        image = image[y0:y1, x0:x1]
        top, left = top - y0, left - x0
    elif clamp != "image":
        raise ValueError(f"clamp must be 'box' or 'image', not {clamp!r}")
    out = _check_out(out, spec)
    _resize_cy.resize(image, top, left, bh, bw, out, *spec.kernel_args(flip))
    return out


def resized_crop(
    image,
    box,
    size,
    *,
    flip=False,
    interpolation="bilinear",
    antialias=True,
    out=None,
    dtype="uint8",
    layout="HWC",
    mean=None,
    std=None,
    pad_channels=3,
    clamp="box",
):
    """Crop ``box`` from ``image`` and resample it to ``size`` in one pass.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3) or (H, W), uint8
    box : (float, float, float, float)
        ``(top, left, height, width)`` in pixels; fractional values are allowed.
    size : int | (int, int)
        Output (height, width).
    flip : bool
        Mirror left-right (for "tf_legacy" the source crop is mirrored before resizing).
    interpolation, antialias, dtype, layout, mean, std, pad_channels
        See :func:`output_spec`.
    out : ndarray, optional
        C-contiguous destination of the output shape and dtype.
    clamp : {"box", "image"}
        "box" (torchvision ``resized_crop``, TF / DALI crops): filter taps stop at the
        box's pixel hull, as if the crop were cut out first. "image": taps may reach
        pixels outside the box (resize the whole image, then crop).

    Returns
    -------
    out : ndarray, shape (h, w, C) for HWC or (C, h, w) for CHW, dtype ``dtype``
    """
    spec = output_spec(
        size,
        dtype=dtype,
        layout=layout,
        mean=mean,
        std=std,
        pad_channels=pad_channels,
        interpolation=interpolation,
        antialias=antialias,
    )
    return resample_box(as_rgb_image(image), box, spec, flip, out, clamp)


def normalize(image, mean, std, *, dtype="float32", layout="HWC", out=None, pad_channels=3):
    """``(image - mean) / std`` per channel, converted to ``dtype`` and ``layout``.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), uint8
    mean, std : float | sequence of 3 floats
        In 0-255 units.

    Returns
    -------
    out : ndarray, shape (H, W, C) or (C, H, W)
    """
    image = as_rgb_image(image)
    H, W = image.shape[:2]
    spec = output_spec(
        (H, W),
        dtype=dtype,
        layout=layout,
        mean=mean,
        std=std,
        pad_channels=pad_channels,
        antialias=False,
    )
    return resample_box(image, (0, 0, H, W), spec, False, out)


def flip_left_right(image):
    """Mirror an (H, W, ...) array left-right (a view)."""
    return np.asarray(image)[:, ::-1]


def center_crop_box(height, width, size):
    """``(top, left, h, w)`` of a centred crop: ``top = (height - h) // 2`` (TF, torchvision
    round the other way only for odd differences; this is TF's ``_central_crop``)."""
    h, w = size_pair(size)
    h, w = min(h, height), min(w, width)
    return ((height - h) // 2, (width - w) // 2, h, w)


def resize_shorter_size(height, width, size, *, rounding="floor"):
    """Size after an aspect-preserving resize making the shorter side ``size``.

    ``rounding="floor"`` truncates like the TF reference (375x500 -> 256x341);
    ``"round"`` and ``"dali"`` round to nearest, half up (DALI ``resize_shorter``:
    512x1023 -> 256x512).
    """
    short = min(height, width)
    scale = size / short
    if rounding == "floor":
        # TF computes in float32: int(h * (256 / short))
        s32 = np.float32(size) / np.float32(short)
        return int(np.float32(height) * s32), int(np.float32(width) * s32)
    if rounding in ("round", "dali"):
        return (
            max(1, int(math.floor(height * scale + 0.5))),
            max(1, int(math.floor(width * scale + 0.5))),
        )
    raise ValueError(f"rounding must be 'floor', 'round' or 'dali', not {rounding!r}")


def resize_shorter_box(height, width, resize, crop, *, rounding="floor"):
    """Source box equivalent to "resize the shorter side to ``resize``, then centre-crop
    ``crop``".

    Resampling this box (float, full-resolution coordinates) straight to ``crop`` gives
    exactly the pixels of the two-step version (same sample positions and filter scale),
    without the intermediate image.

    ``rounding="floor"`` (TF reference) and ``"round"``: the resized image is
    :func:`resize_shorter_size` pixels, each axis scaled by its own ``out / in``, and the
    crop starts at ``(out - crop) // 2``. ``"dali"`` (DALI ``resize(resize_shorter=...)``
    then ``crop_mirror_normalize(crop=...)``): one uniform scale ``s = resize / short``
    for both axes, the rounded output size covering a ROI of ``out / s`` source pixels
    centred on the image (DALI's ``subpixel_scale``), and the crop offset
    ``(out - crop) / 2`` rounded half up. On 375x500 the left edge is 59 resized pixels
    (86.67 source pixels) where "round" gives 58 (85.04).

    Returns
    -------
    box : (float, float, float, float)
        ``(top, left, height, width)`` in source pixels. With ``"dali"`` it can overhang
        the image by up to a quarter of a resized pixel when ``crop`` is not smaller than
        the resized image (decode it with ``clamp="image"``).
    """
    rh, rw = resize_shorter_size(height, width, resize, rounding=rounding)
    ch, cw = size_pair(crop, "crop")
    ch, cw = min(ch, rh), min(cw, rw)
    if rounding == "dali":
        s = resize / min(height, width)
        top = (height - rh / s) / 2 + math.floor((rh - ch) * 0.5 + 0.5) / s
        left = (width - rw / s) / 2 + math.floor((rw - cw) * 0.5 + 0.5) / s
        return (top, left, ch / s, cw / s)
    top, left = (rh - ch) // 2, (rw - cw) // 2
    sy, sx = height / rh, width / rw
    return (top * sy, left * sx, ch * sy, cw * sx)


def _hull(box, height, width, margin_y=0, margin_x=0):
    top, left, bh, bw = box
    y0 = max(int(math.floor(top - margin_y)), 0)
    x0 = max(int(math.floor(left - margin_x)), 0)
    y1 = min(int(math.ceil(top + bh + margin_y)), height)
    x1 = min(int(math.ceil(left + bw + margin_x)), width)
    return (y0, x0, y1 - y0, x1 - x0)


def decode_resized_crop(
    data,
    box,
    spec,
    *,
    flip=False,
    clamp="box",
    dct_scale=True,
    strict=True,
    out=None,
    info=None,
    name=None,
    idct="accurate",
):
    """Decode only ``box`` of an encoded image and resample it straight into ``out``.

    JPEG with the libjpeg-turbo backend runs as one GIL-free C call: the strongest DCT
    scale keeping the box at least ``spec``'s size is picked (if ``dct_scale``), only the
    box's rows and iMCU columns are decoded into per-thread scratch, and the fused
    resample + flip + normalize + layout/dtype kernel writes ``out``. Other formats (and
    the Pillow backend) decode the region with Pillow, then run the same kernel.

    Parameters
    ----------
    data : bytes-like
        Encoded image.
    box : (float, float, float, float) or callable
        ``(top, left, height, width)`` in full-resolution pixels, or a function of the
        :class:`~fastload.image.ImageInfo` returning it (then the JPEG header is parsed
        once, by the kernel, and the box drawn from it).
    spec : OutputSpec
        From :func:`output_spec`.
    flip : bool or callable
        Mirror horizontally; a function of no arguments is called once, after ``box``
        (a sampler that draws the box, then the flip, from one header parse).
    clamp : {"box", "image"}
        As in :func:`resized_crop`; "image" decodes a filter-support margin around the box.
    dct_scale : bool
        Allow libjpeg DCT-domain downscaling (1/2, 1/4, 1/8).
    strict : bool
        libjpeg warnings (truncated / corrupt data) raise DecodeError.
    out : ndarray, optional
        C-contiguous destination, ``spec.shape`` and ``spec.dtype``.
    info : ImageInfo, optional
        The header, when already read (used by the non-JPEG paths; a JPEG's header is
        parsed by the kernel, which decodes it).
    name : str, optional
        Used in error messages.
    idct : {"accurate", "fast"}
        JPEG inverse DCT, as in :func:`fastload.image.decode` ("fast": TensorFlow's
        default).

    Returns
    -------
    out : ndarray, shape ``spec.shape``, dtype ``spec.dtype``
    """
    codec.idct_flag(idct)  # validate
    if clamp not in ("box", "image"):
        raise ValueError(f"clamp must be 'box' or 'image', not {clamp!r}")
    out = _check_out(out, spec)

    drawn = []  # (box, flip), drawn once: a fallback that reads the header again reuses it

    def plan(height, width, jpeg=True, info=None):
        """(scale, region, box, flip) from the header (full-resolution pixels)."""
        if not drawn:
            if info is None:
                info = codec.ImageInfo(height, width, 3, "JPEG")
            b = box(info) if callable(box) else box
            drawn.append((b, bool(flip() if callable(flip) else flip)))
        b, mirror = drawn[0]
        top, left, bh, bw = (float(v) for v in b)
        if not (
            bh > 0
            and bw > 0
            and top >= 0
            and left >= 0
            and top + bh <= height + 1e-6
            and left + bw <= width + 1e-6
        ):
            raise ValueError(f"box {b!r} is not inside the {height}x{width} image")
        margin = (0, 0)
        if clamp == "image":  # a filter-support margin around the box
            margin = (
                math.ceil(max(bh / spec.height, 1.0)) + 2,
                math.ceil(max(bw / spec.width, 1.0)) + 2,
            )
        region = _hull((top, left, bh, bw), height, width, *margin)
        use_dct = jpeg and dct_scale
        scale = codec.choose_scale((bh, bw), (spec.height, spec.width)) if use_dct else 8
        return scale, region, (top, left, bh, bw), mirror

    def jpeg_plan(height, width, _components):
        scale, region, b, mirror = plan(height, width)
        return scale, region, b, spec.flags(mirror)

    # JPEG: one kernel call that parses the header once and checks the pixel limit
    done = codec.decode_resize_jpeg(
        data, jpeg_plan, out, spec.kernel_args(False), strict=strict, name=name, idct=idct
    )
    if done is not None:
        return done
    if info is None:
        info = codec.read_header(data, strict=strict, name=name)
    H, W = info.height, info.width
    scale, region, (top, left, bh, bw), mirror = plan(H, W, info.format == "JPEG", info)
    pixels = codec.decode_region(data, info, region, scale, strict=strict, name=name, idct=idct)
    y0, x0 = codec.scaled_region((H, W), region, scale)[:2]
    f = scale / 8.0
    return resample_box(
        pixels, (top * f - y0, left * f - x0, bh * f, bw * f), spec, mirror, out, clamp="image"
    )
