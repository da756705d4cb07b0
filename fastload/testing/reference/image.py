"""Plain-numpy twins of fastload.image: slow, float64, obviously correct.

Resampling builds one dense weight matrix per axis (row i holds the triangle-filter
weights of output i over all source pixels) and applies ``Wy @ channel @ Wx.T``.
Crop samplers follow the TF and DALI source semantics line by line.
"""

import math

import numpy as np

__all__ = [
    "normalize",
    "resize_weights",
    "resized_crop",
    "sample_crop_dali",
    "sample_crop_tf",
]


def resize_weights(in0, length, in_size, out_size, *, antialias=True, legacy=False):
    """Dense (out_size, in_size) float64 triangle-filter weights (PIL semantics).

    Output ``i`` is centred at ``in0 + (i + 0.5) * scale`` (``legacy``: ``in0 + i * scale
    + 0.5``, TF1 without half-pixel centres); the filter is widened by ``scale`` when
    ``antialias`` and downscaling; taps outside ``[0, in_size)`` are dropped and the rest
    renormalised.
    """
    scale = length / out_size
    fscale = scale if (antialias and scale > 1) else 1.0
    weights = np.zeros((out_size, in_size))
    src = np.arange(in_size) + 0.5
    for i in range(out_size):
        centre = in0 + i * scale + 0.5 if legacy else in0 + (i + 0.5) * scale
        lo = max(int(math.floor(centre - fscale + 0.5)), 0)
        hi = min(int(math.floor(centre + fscale + 0.5)), in_size)
        w = np.zeros(in_size)
        k = np.arange(lo, hi)
        w[k] = np.maximum(0.0, 1.0 - np.abs((src[k] - centre) / fscale))
        if w.sum() <= 0:
            w[min(max(int(math.floor(centre)), 0), in_size - 1)] = 1.0
        weights[i] = w / w.sum()
    return weights


def resized_crop(
    image,
    box,
    size,
    *,
    flip=False,
    antialias=True,
    interpolation="bilinear",
    mean=None,
    std=None,
    clamp="box",
):
    """Float64 twin of :func:`fastload.image.resized_crop` (HWC, no rounding).

    Returns
    -------
    out : ndarray, shape (h, w, 3), float64
        ``(resampled - mean) / std``.
    """
    image = np.asarray(image, np.float64)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = (size, size) if np.isscalar(size) else size
    top, left, bh, bw = box
    if clamp == "box":  # cut the crop's pixel hull out first
        y0, x0 = int(math.floor(top)), int(math.floor(left))
        image = image[y0 : int(math.ceil(top + bh)), x0 : int(math.ceil(left + bw))]
        top, left = top - y0, left - x0
    H, W = image.shape[:2]
    legacy = interpolation == "tf_legacy"
    if legacy and flip:  # TF flips the decoded crop, then resizes
        image = image[:, ::-1]
        left = W - left - bw
    wy = resize_weights(top, bh, H, h, antialias=antialias, legacy=legacy)
    wx = resize_weights(left, bw, W, w, antialias=antialias, legacy=legacy)
    out = np.tensordot(wy, image, axes=(1, 0))  # (h, W, 3)
    out = np.tensordot(wx, out, axes=(1, 1)).transpose(1, 0, 2)  # (h, w, 3)
    if flip and not legacy:
        out = out[:, ::-1]
    return normalize(out, mean, std)


def normalize(image, mean=None, std=None):
    """``(image - mean) / std`` in float64, per channel on the last axis."""
    out = np.asarray(image, np.float64)
    if mean is not None:
        out = out - np.asarray(mean, np.float64)
    if std is not None:
        out = out / np.asarray(std, np.float64)
    return out


def sample_crop_tf(
    rng,
    height,
    width,
    *,
    area=(0.05, 1.0),
    ratio=(0.75, 1.33),
    min_object_covered=0.1,
    attempts=100,
):
    """``tf.image.sample_distorted_bounding_box`` with the whole image as the only box.

    Each attempt: aspect ``r`` uniform in ``ratio``; integer height uniform in
    ``[round(sqrt(min_area / r)), max_height]`` where ``max_height`` keeps
    ``round(h * r) <= width`` and ``h <= height``; ``w = round(h * r)`` with +-1 fixes;
    accepted if inside the area range and covering >= ``min_object_covered`` of the image;
    offsets uniform in ``[0, H - h)`` (0 when the crop spans the side). Whole image if all
    attempts fail. Returns ``(top, left, h, w)``.
    """
    total = float(height * width)
    min_area, max_area = area[0] * total, area[1] * total
    for _ in range(attempts):
        r = rng.uniform(ratio[0], ratio[1])
        h = int(round(math.sqrt(min_area / r)))
        max_h = int(round(math.sqrt(max_area / r)))
        if round(max_h * r) > width:
            max_h = int((width + 0.5 - 1e-7) / r)
            if round(max_h * r) > width:
                max_h -= 1
        max_h = min(max_h, height)
        h = min(h, max_h)
        if h < max_h:
            h += int(rng.integers(0, max_h - h + 1))
        w = int(round(h * r))
        a = float(w * h)
        if a < min_area:
            h += 1
            w = int(round(h * r))
            a = float(w * h)
        if a > max_area:
            h -= 1
            w = int(round(h * r))
            a = float(w * h)
        if a < min_area or a > max_area or w > width or h > height or w <= 0 or h <= 0:
            continue
        if a < 1.0 or a / total < min_object_covered:
            continue
        y = int(rng.integers(0, height - h)) if h < height else 0
        x = int(rng.integers(0, width - w)) if w < width else 0
        return (y, x, h, w)
    return (0, 0, height, width)


def sample_crop_dali(rng, height, width, *, area=(0.05, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    """DALI ``RandomCropGenerator``: area fraction uniform, aspect log-uniform,
    ``w = round(sqrt(A r))``, ``h = round(sqrt(A / r))``; accepted if it fits; after
    ``attempts`` failures the whole image clamped to the aspect range. Anchor uniform in
    the inclusive ``[0, H - h]``. Returns ``(top, left, h, w)``."""
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(attempts):
        a = rng.uniform(area[0], area[1]) * height * width
        r = math.exp(rng.uniform(lo, hi))
        w = int(math.floor(math.sqrt(a * r) + 0.5))  # std::roundf: half away from zero
        h = int(math.floor(math.sqrt(a / r) + 0.5))
        if 0 < w <= width and 0 < h <= height:
            break
    else:
        r = width / height
        if r < ratio[0]:
            w, h = width, int(math.floor(width / ratio[0] + 0.5))
        elif r > ratio[1]:
            w, h = int(math.floor(height * ratio[1] + 0.5)), height
        else:
            w, h = width, height
        h, w = max(1, min(h, height)), max(1, min(w, width))
    y = int(rng.integers(0, height - h + 1))
    x = int(rng.integers(0, width - w + 1))
    return (y, x, h, w)
