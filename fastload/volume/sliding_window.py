"""Sliding-window evaluation helpers of the MLPerf 3D U-Net reference (``runtime/inference.py``).

Per case (spatial shape (D, H, W), roi 128, overlap 0.5 -> stride 64):

1. pre-crop (:func:`precrop_bounds`): on each axis with ``r = dim % stride < stride // 2``,
   cut ``r`` voxels, ``r // 2`` at the start and the rest at the end (image and label);
2. pad (:func:`pad_bounds`): ``p = (stride - dim % stride) % stride``, plus ``stride`` more
   when ``dim + p < roi``; ``p // 2`` before, the rest after, constant -2.2;
3. windows (:func:`sliding_windows`): ``(padded - roi) // stride + 1`` per axis, starts at
   multiples of the stride, z outermost;
4. blend (:class:`WindowAccumulator`): each window's logits times
   :func:`gaussian_importance` are summed, divided by the summed weights, and cropped back
   to the pre-padded extent.

Difference from the reference: the reference crops the blended result with the original
(pre-crop) extent, which can include padded voxels when an axis was both pre-cropped and
padded (only for axes shorter than 128 + 32, which preprocessed KiTS19 never has); this
module crops to the pre-padded extent, the same shape as the pre-cropped label.
"""

import numpy as np
import scipy.signal

__all__ = [
    "WindowAccumulator",
    "gaussian_importance",
    "pad_bounds",
    "precrop_bounds",
    "prepare_eval",
    "sliding_windows",
]


def _stride(roi, overlap):
    stride = int(roi * (1 - overlap))
    if stride < 1:
        raise ValueError(f"overlap {overlap} leaves no stride for roi {roi}")
    return stride


def _three(v):
    return (int(v),) * 3 if np.isscalar(v) else tuple(int(x) for x in v)


def precrop_bounds(shape, *, roi=128, overlap=0.5):
    """Per-axis ``(start, stop)`` of the reference's pre-crop of ``shape`` (spatial, 3 ints)."""
    rois = _three(roi)
    out = []
    for dim, r in zip(shape, rois, strict=False):
        s = _stride(r, overlap)
        b = dim % s
        b = b if b < s // 2 else 0
        out.append((b // 2, dim - (b - b // 2)))
    return tuple(out)


def pad_bounds(shape, *, roi=128, overlap=0.5):
    """Per-axis ``(before, after)`` constant padding of the (pre-cropped) ``shape``."""
    rois = _three(roi)
    out = []
    for dim, r in zip(shape, rois, strict=False):
        s = _stride(r, overlap)
        p = (s - dim % s) % s
        if dim + p < r:
            p += s
        out.append((p // 2, p - p // 2))
    return tuple(out)


def sliding_windows(shape, *, roi=128, overlap=0.5):
    """Window start positions for a padded spatial ``shape``.

    Returns
    -------
    ndarray, shape (n, 3), int64
        ``(z, y, x)`` starts, z outermost then y then x (the reference's loop order);
        ``n = prod((shape - roi) // stride + 1)``.
    """
    rois = _three(roi)
    axes = []
    for dim, r in zip(shape, rois, strict=False):
        s = _stride(r, overlap)
        if dim < r:
            raise ValueError(f"padded shape {tuple(shape)} is smaller than the roi {rois}")
        n = (dim - r) // s + 1
        axes.append(np.arange(n, dtype=np.int64) * s)
    grid = np.meshgrid(*axes, indexing="ij")
    return np.stack([g.reshape(-1) for g in grid], axis=1)


def gaussian_importance(roi=128, *, sigma_scale=0.125, dtype=np.float32):
    """The reference's blending weights: cube root of a 3-D Gaussian, max-normalised.

    ``w = cbrt(g[:, None, None] * g[None, :, None] * g[None, None, :]) / max`` with
    ``g = scipy.signal.windows.gaussian(roi, std=sigma_scale * roi)`` (computed in float64,
    like the reference, then cast to ``dtype``). Only cubic rois (as in the reference).

    Returns
    -------
    ndarray, shape (roi, roi, roi), ``dtype``
    """
    rois = _three(roi)
    if len(set(rois)) != 1:
        raise ValueError(f"the reference's importance map is cubic, got roi {rois}")
    n = rois[0]
    g = scipy.signal.windows.gaussian(n, sigma_scale * n)
    w = np.outer(np.outer(g, g), g).reshape(n, n, n)
    w = np.cbrt(w)
    w /= w.max()
    return w.astype(dtype)


def prepare_eval(image, label=None, *, roi=128, overlap=0.5, padding_val=-2.2):
    """Pre-crop image (and label), then constant-pad the image for sliding windows.

    Parameters
    ----------
    image : ndarray, shape (C, D, H, W) or (D, H, W), float32
    label : ndarray, same spatial shape, optional

    Returns
    -------
    image : ndarray, padded, float32 (a new array)
    label : ndarray or None, pre-cropped (a view)
    paddings : tuple of 3 (before, after)
    """
    if image.ndim not in (3, 4):
        raise ValueError(f"image must be (C, D, H, W) or (D, H, W), got shape {image.shape}")
    spatial = image.shape[-3:]
    if label is not None and label.shape[-3:] != spatial:
        raise ValueError(f"label shape {label.shape} does not match image shape {image.shape}")
    crop = precrop_bounds(spatial, roi=roi, overlap=overlap)
    index = (Ellipsis,) + tuple(slice(a, b) for a, b in crop)
    image = image[index]
    if label is not None:
        label = label[index]
    pads = pad_bounds(image.shape[-3:], roi=roi, overlap=overlap)
    widths = ((0, 0),) * (image.ndim - 3) + pads
    image = np.pad(
        image, widths, mode="constant", constant_values=np.asarray(padding_val, image.dtype)
    )
    return image, label, pads


class WindowAccumulator:
    """Blend per-window logits into a volume with importance weights.

    Parameters
    ----------
    shape : tuple of 3 int, the padded spatial shape
    n_classes : int
    roi : int, window size (cubic)
    paddings : tuple of 3 (before, after), optional: cropped off in :meth:`result`
    importance : ndarray (roi, roi, roi) float32, optional (default :func:`gaussian_importance`)
    dtype : float dtype of the accumulators (float32 like the reference)

    Memory: ``(n_classes + 1) * prod(shape)`` values of ``dtype``.
    """

    def __init__(
        self, shape, n_classes, *, roi=128, paddings=None, importance=None, dtype=np.float32
    ):
        self.shape = tuple(int(s) for s in shape)
        self.roi = _three(roi)
        self.n_classes = int(n_classes)
        self.paddings = tuple(paddings) if paddings is not None else ((0, 0),) * 3
        self.importance = (
            gaussian_importance(self.roi, dtype=dtype)
            if importance is None
            else np.asarray(importance, dtype=dtype)
        )
        if self.importance.shape != self.roi:
            raise ValueError(f"importance has shape {self.importance.shape}, expected {self.roi}")
        self.logits = np.zeros((self.n_classes,) + self.shape, dtype=dtype)
        self.weights = np.zeros(self.shape, dtype=dtype)
        self._scratch = np.empty((self.n_classes,) + self.roi, dtype=dtype)

    def add(self, start, logits):
        """Add one window's ``logits`` (n_classes, roi, roi, roi) at ``start`` (z, y, x)."""
        logits = np.asarray(logits)
        if logits.ndim == 5 and logits.shape[0] == 1:
            logits = logits[0]
        if logits.shape != (self.n_classes,) + self.roi:
            raise ValueError(
                f"logits have shape {logits.shape}, expected {(self.n_classes,) + self.roi}"
            )
        start = tuple(int(s) for s in start)
        if any(s < 0 or s + r > d for s, r, d in zip(start, self.roi, self.shape, strict=False)):
            raise ValueError(f"window at {start} of size {self.roi} leaves the volume {self.shape}")
        sl = tuple(slice(s, s + r) for s, r in zip(start, self.roi, strict=False))
        np.multiply(logits, self.importance, out=self._scratch)
        self.logits[(slice(None),) + sl] += self._scratch
        self.weights[sl] += self.importance

    def result(self):
        """Blended logits (n_classes, D, H, W), cropped back to the pre-padded extent."""
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.logits / self.weights
        index = tuple(slice(b, d - a) for (b, a), d in zip(self.paddings, self.shape, strict=False))
        return out[(slice(None),) + index]
