"""Plain numpy/scipy twins of :mod:`fastload.volume` (slow, obviously correct).

Also :func:`reference_train_transform`, a numpy/scipy implementation of the MLPerf
reference's training transforms (scipy connected components per foreground crop, copies
per flip, float64 brightness), used as the speed baseline in ``benchmarks/``.
"""

import numpy as np
import scipy.ndimage
import scipy.signal

__all__ = [
    "balanced_crop_window",
    "clip_normalize",
    "gaussian_importance",
    "linear_axis",
    "nearest_axis",
    "nearest_legacy",
    "pad_to_min",
    "reference_preprocess",
    "reference_train_transform",
    "sliding_window_blend",
    "trilinear_align_corners",
]


def linear_axis(n_in, n_out):
    """Per-output (i0, i1, w0, w1) of align_corners=True linear interpolation, float32 math."""
    i0 = np.zeros(n_out, np.int64)
    i1 = np.zeros(n_out, np.int64)
    w0 = np.ones(n_out, np.float32)
    w1 = np.zeros(n_out, np.float32)
    if n_out == n_in:
        i0[:] = i1[:] = np.arange(n_out)
        return i0, i1, w0, w1
    scale = np.float32(0.0) if n_out == 1 else np.float32(n_in - 1) / np.float32(n_out - 1)
    for i in range(n_out):
        real = np.float32(scale * np.float32(i))
        k = min(int(np.floor(real)), n_in - 1)
        i0[i] = k
        i1[i] = k + 1 if k < n_in - 1 else k
        w1[i] = np.float32(real - np.float32(k))
        w0[i] = np.float32(1.0) - w1[i]
    return i0, i1, w0, w1


def trilinear_align_corners(array, new_shape):
    """``interpolate(mode="trilinear", align_corners=True)`` of a 3-D array -> float32.

    Separable: x, then y, then z, each a two-tap blend in float32.
    """
    x = np.asarray(array).astype(np.float32)
    for axis in (2, 1, 0):
        i0, i1, w0, w1 = linear_axis(x.shape[axis], new_shape[axis])
        shape = [1, 1, 1]
        shape[axis] = -1
        a = np.take(x, i0, axis=axis)
        b = np.take(x, i1, axis=axis)
        x = (a * w0.reshape(shape) + b * w1.reshape(shape)).astype(np.float32)
    return x


def nearest_axis(n_in, n_out):
    """torch legacy nearest source indices along one axis."""
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) // 2
    scale = np.float32(n_in) / np.float32(n_out)
    return np.array(
        [min(int(np.floor(np.float32(np.float32(i) * scale))), n_in - 1) for i in range(n_out)],
        dtype=np.int64,
    )


def nearest_legacy(array, new_shape):
    """``interpolate(mode="nearest")`` of a 3-D array (dtype kept)."""
    z, y, x = (nearest_axis(a, b) for a, b in zip(array.shape, new_shape, strict=False))
    return np.asarray(array)[np.ix_(z, y, x)]


def clip_normalize(x, lo=-79.0, hi=304.0, mean=101.0, std=76.9):
    """The reference's float32 ``(clip(x, lo, hi) - mean) / std``."""
    x = np.asarray(x).astype(np.float32)
    x = np.clip(x, lo, hi)
    return ((x - mean) / std).astype(np.float32)


def pad_to_min(x, min_shape=(128, 128, 128)):
    """Edge pad each of the last three axes to ``min_shape`` (deficit b: b//2 before)."""
    lead = x.ndim - 3
    widths = [(0, 0)] * lead
    for s, m in zip(x.shape[lead:], min_shape, strict=False):
        b = max(0, m - s)
        widths.append((b // 2, b - b // 2))
    return np.pad(x, widths, mode="edge")


def reference_preprocess(image, label, spacing, target=(1.6, 1.2, 1.2)):
    """The offline reference preprocessing with the numpy twins: (1, D, H, W) float32, uint8."""
    image = np.asarray(image).astype(np.float32)
    if tuple(float(s) for s in spacing) != tuple(target):
        shape = (
            np.array(spacing, np.float64) / np.array(target, np.float64) * np.array(image.shape)
        ).astype(int)
        image = trilinear_align_corners(image, tuple(shape))
        label = nearest_legacy(np.asarray(label).astype(np.uint8), tuple(shape))
    image = clip_normalize(image)
    return pad_to_min(image[None]), pad_to_min(np.asarray(label, np.uint8)[None])


def _randrange(rng, n):
    return 0 if n == 0 else int(rng.integers(n))


def balanced_crop_window(rng, label, patch=(128, 128, 128), oversampling=0.4):
    """The reference's RandBalancedCrop window, recomputing components every call.

    Same draw order as :func:`fastload.volume.transforms.balanced_crop_window`. Returns
    ``(starts, foreground)``.
    """
    label = np.asarray(label)
    if label.ndim == 4:
        label = label[0]
    if rng.random() < oversampling:
        classes = np.unique(label[label > 0])
        if len(classes):
            cl = classes[int(rng.integers(len(classes)))]
            comps = scipy.ndimage.label(label == cl)[0]
            slices = [s for s in scipy.ndimage.find_objects(comps) if s is not None]
            vols = [np.prod([s.stop - s.start for s in sl]) for sl in slices]
            top = [slices[i] for i in np.argsort(vols)[-2:]]
            box = top[int(rng.integers(len(top)))]
            starts = []
            for a in range(3):
                want = patch[a]
                start, stop = box[a].start, box[a].stop
                diff = want - (stop - start)
                if diff >= 0:
                    l = _randrange(rng, diff)
                    low = max(0, start - l)
                    high = min(label.shape[a], stop + (diff - l))
                    if high - low < want:
                        if low == 0:
                            high = want
                        else:
                            low = high - want
                else:
                    l = _randrange(rng, -diff)
                    low = start + l
                starts.append(low)
            return tuple(starts), True
    return tuple(_randrange(rng, s - p) for s, p in zip(label.shape, patch, strict=False)), False


def gaussian_importance(roi=128, sigma_scale=0.125):
    """float64 cube-rooted Gaussian, max-normalised, written with explicit broadcasting."""
    g = scipy.signal.windows.gaussian(roi, std=sigma_scale * roi)
    w = g[:, None, None] * g[None, :, None] * g[None, None, :]
    w = w ** (1.0 / 3.0)
    return w / w.max()


def sliding_window_blend(padded_shape, windows, logits_fn, roi, importance):
    """Blend ``logits_fn(start)`` (C, roi, roi, roi) at every start with the importance map."""
    acc = None
    norm = np.zeros(padded_shape, np.float32)
    for start in windows:
        sl = tuple(slice(s, s + roi) for s in start)
        lg = logits_fn(tuple(start)).astype(np.float32)
        if acc is None:
            acc = np.zeros((lg.shape[0],) + tuple(padded_shape), np.float32)
        acc[(slice(None),) + sl] += lg * importance
        norm[sl] += importance
    return acc / norm


def reference_train_transform(
    image, label, rng, patch=(128, 128, 128), oversampling=0.4, preset="reference"
):
    """numpy/scipy version of the reference's training transforms (the speed baseline).

    Balanced crop with scipy components every time, per-axis flips with copies, cast,
    brightness (float64 multiply then cast), gaussian noise (float64 normals then cast).
    """
    starts, _ = balanced_crop_window(rng, label, patch, oversampling)
    sl = (slice(None),) + tuple(slice(s, s + p) for s, p in zip(starts, patch, strict=False))
    image, label = image[sl], label[sl]
    for axis in (1, 2, 3):
        if rng.random() < 1 / 3:
            image = np.flip(image, axis=axis).copy()
            label = np.flip(label, axis=axis).copy()
    image = image.astype(np.float32)
    label = label.astype(np.uint8)
    if rng.random() < 0.1:
        f = rng.uniform(0.7, 1.3, size=1)
        image = (image * (1 + f if preset == "reference" else f)).astype(image.dtype)
    if rng.random() < 0.1:
        scale = rng.uniform(0.0, 0.1) if preset == "reference" else 0.1
        image = image + rng.normal(0.0, scale, size=image.shape).astype(image.dtype)
    return image, label
