"""Resample a volume to a new voxel spacing with the MLPerf 3D U-Net reference's numerics.

The reference (``preprocess_dataset.py``) calls ``torch.nn.functional.interpolate`` with
``size=new_shape``: trilinear with ``align_corners=True`` for the image, legacy
``mode="nearest"`` for the label. Both are reproduced here, index and weight arithmetic in
float32 exactly as torch's CPU kernels do it, by C kernels that read the input once
(wrapped by :mod:`fastload.volume._resample_cy`): order 1 by one fused trilinear kernel per
source dtype (``csrc/volume/trilinear.c``), order 0 by a gather per voxel width
(``csrc/volume/nearest.c``; 1-byte voxels, uint8 labels and int8, through a
runtime-dispatched SIMD byte shuffle: AVX-512 VBMI ``vpermb``/``vpermi2b``, SSSE3
``pshufb``, scalar elsewhere). The kernels release the GIL; ``threads > 1`` splits the
output planes over plain threads.

Shape rule (reference): ``new_shape = trunc(spacing / new_spacing * shape)`` per axis,
computed in float64.
"""

import math
import threading

import numpy as np

from fastload.errors import LimitError
from fastload.volume import _resample_cy  # C kernels (csrc/volume/nearest.c, trilinear.c)
from fastload.volume._pool import OutputPool

#: flags passed to the 1-byte nearest kernel (tests set ``_resample_cy.FORCE_SCALAR`` /
#: ``NO_AVX512``)
_nearest_flags = 0
#: flags passed to the trilinear kernel (tests set ``_resample_cy.FORCE_SCALAR``)
_linear_flags = 0

__all__ = [
    "DEFAULT_MAX_VOXELS",
    "linear_indices",
    "nearest_indices",
    "output_pool",
    "resample_to_spacing",
    "resampled_shape",
]

#: Largest output (and input) voxel count accepted before allocating (2**31, 8 GiB float32).
DEFAULT_MAX_VOXELS = 1 << 31

#: Where allocated outputs come from: buffers of outputs the caller has dropped are reused
#: (no page faults; see :mod:`fastload.volume._pool` for the measurements). Holds at most
#: ``output_pool.max_bytes`` (1 GiB) of free buffers; ``output_pool.max_bytes = 0`` turns it off.
output_pool = OutputPool()

_LINEAR_DTYPES = (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32, np.float64)


def _as_spacing(spacing, name):
    try:
        s = np.asarray(spacing, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be 3 positive numbers, got {spacing!r}") from exc
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(
            f"{name} must be 3 positive finite numbers (z, y, x) in mm, got {spacing!r}"
        )
    return s


def resampled_shape(shape, spacing, new_spacing):
    """Output shape for resampling ``shape`` from ``spacing`` to ``new_spacing``.

    Parameters
    ----------
    shape : tuple of 3 int, (D, H, W)
    spacing, new_spacing : sequence of 3 float, (z, y, x) in mm

    Returns
    -------
    tuple of 3 int
        ``trunc(spacing / new_spacing * shape)`` per axis, in float64 (the reference rule).
    """
    s = _as_spacing(spacing, "spacing")
    t = _as_spacing(new_spacing, "new_spacing")
    shp = np.asarray(shape, dtype=np.float64)
    with np.errstate(over="ignore"):
        v = s / t * shp
    if not np.all(np.isfinite(v)) or v.max() > 2.0**40:
        raise LimitError(
            f"resampling {tuple(shape)} from {s.tolist()} to {t.tolist()} mm gives an absurd shape"
        )
    return tuple(int(x) for x in v.astype(np.int64))


def linear_indices(n_in, n_out):
    """Source indices and weights of ``interpolate(..., align_corners=True)`` along one axis.

    Computed in float32 as torch's CPU kernel does: ``scale = float32(n_in - 1) / (n_out - 1)``,
    ``real = scale * i``, ``i0 = min(int(real), n_in - 1)``, ``i1 = i0 + (i0 < n_in - 1)``,
    ``w1 = real - i0``, ``w0 = 1 - w1``; identity when ``n_out == n_in``.

    Returns
    -------
    i0, i1 : ndarray, shape (n_out,), int64
    w0, w1 : ndarray, shape (n_out,), float32
    """
    i = np.arange(n_out, dtype=np.int64)
    if n_out == n_in:
        return i, i.copy(), np.ones(n_out, np.float32), np.zeros(n_out, np.float32)
    scale = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0.0)
    real = (scale * i.astype(np.float32)).astype(np.float32)
    i0 = np.minimum(real.astype(np.int64), n_in - 1)
    i1 = i0 + (i0 < n_in - 1)
    w1 = np.clip(real - i0.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)
    w0 = (np.float32(1.0) - w1).astype(np.float32)
    return i0, i1, w0, w1


def nearest_indices(n_in, n_out):
    """Source index per output index of torch's legacy ``mode="nearest"`` along one axis.

    ``scale = float32(n_in) / n_out``; ``src = min(floor(float32(i) * scale), n_in - 1)``
    (identity when ``n_out == n_in``, ``i >> 1`` when ``n_out == 2 * n_in``).

    Returns
    -------
    ndarray, shape (n_out,), int64
    """
    i = np.arange(n_out, dtype=np.int64)
    if n_out == n_in:
        return i
    if n_out == 2 * n_in:
        return i >> 1
    scale = np.float32(n_in) / np.float32(n_out)
    real = (i.astype(np.float32) * scale).astype(np.float32)
    return np.minimum(np.floor(real).astype(np.int64), n_in - 1)


def _check_out(out, shape, dtype):
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise ValueError(f"out has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")


def resample_to_spacing(
    array,
    spacing,
    new_spacing,
    *,
    order=1,
    out=None,
    threads=1,
    clip=None,
    normalize=None,
    max_voxels=DEFAULT_MAX_VOXELS,
):
    """Resample a volume from ``spacing`` to ``new_spacing`` (reference numerics).

    Parameters
    ----------
    array : ndarray, shape (D, H, W) or (C, D, H, W)
        Order 1: uint8, int8, int16, uint16, int32, float32 or float64 (converted to float32
        on the fly, no separate conversion pass). Order 0: any numeric dtype (kept).
        C-contiguous input is fastest; any strides work.
    spacing, new_spacing : sequence of 3 float
        Voxel size (z, y, x) in mm, positive.
    order : {1, 0}
        1: trilinear, ``align_corners=True`` (matches torch ``interpolate`` to ~1e-7 relative).
        0: torch legacy ``mode="nearest"`` (bit-identical).
    out : ndarray, optional
        Output of shape ``resampled_shape(...)`` (with the channel axis if any); float32
        for order 1, ``array.dtype`` for order 0. Any strides (e.g. the interior of a padded
        buffer). Allocated when None, from :data:`output_pool`: a large output reuses the
        memory of an earlier output that is no longer referenced (no page faults), so a
        long-lived process does not pay for fresh pages on every call.
    threads : int
        1 (default): the kernel on the calling thread, safe to call from loader threads.
        > 1: the output planes split over that many plain threads (at most one per output
        plane; the C kernels release the GIL), for whole-volume work outside loader threads.
    clip : (float, float), optional
        Order 1 only: clip the output to ``[lo, hi]`` in the same pass.
    normalize : (float, float), optional
        Order 1 only: then ``(v - mean) / std`` in float32 in the same pass.
    max_voxels : int
        Input or output voxel counts above this raise :class:`~fastload.errors.LimitError`
        before anything is allocated.

    Returns
    -------
    ndarray, shape (D', H', W') or (C, D', H', W')
        float32 for order 1, ``array.dtype`` for order 0. Peak extra memory: the output plus,
        for order 1, one (H, W) float32 plane and one row per thread.
    """
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"array must be 3-D (D, H, W) or 4-D (C, D, H, W), got shape {array.shape}"
        )
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (nearest) or 1 (trilinear), got {order!r}")
    if array.dtype.kind not in "uif" or array.dtype.itemsize > 8:
        raise ValueError(f"unsupported dtype {array.dtype}")
    if order == 1 and array.dtype.type not in _LINEAR_DTYPES:
        raise ValueError(
            f"order 1 supports {[np.dtype(d).name for d in _LINEAR_DTYPES]}, not {array.dtype}"
        )
    if (clip is not None or normalize is not None) and order != 1:
        raise ValueError("clip/normalize are fused into order 1 only")
    if array.size == 0:
        raise ValueError(f"empty array of shape {array.shape}")
    if array.size > max_voxels:
        raise LimitError(f"input has {array.size} voxels, above the limit of {max_voxels}")
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    spatial = array.shape[-3:]
    new = resampled_shape(spatial, spacing, new_spacing)
    lead = array.shape[:-3]
    if min(new) < 1:
        raise ValueError(
            f"resampling {spatial} from {tuple(spacing)} to {tuple(new_spacing)} mm "
            f"gives an empty shape {new}"
        )
    n_out = math.prod(new) * math.prod(lead)
    if n_out > max_voxels:
        raise LimitError(
            f"output shape {lead + new} has {n_out} voxels, above the limit of {max_voxels}"
        )
    out_dtype = np.dtype(np.float32) if order == 1 else array.dtype
    if out is None:
        out = output_pool.empty(lead + new, out_dtype)
    else:
        _check_out(out, lead + new, out_dtype)
    src3 = array.reshape((-1,) + spatial) if array.ndim == 4 else array[None]
    dst3 = out.reshape((-1,) + new) if out.ndim == 4 else out[None]
    if out.ndim == 4 and not np.shares_memory(dst3, out):
        raise ValueError("a 4-D out must be reshapeable without a copy")
    n_threads = min(threads, new[0])
    if not array.flags.aligned:  # the C kernels read whole elements
        array = np.require(array, requirements="A")
        src3 = array.reshape((-1,) + spatial) if array.ndim == 4 else array[None]
    if not out.flags.aligned:  # resample into an aligned buffer, then copy
        out[...] = resample_to_spacing(
            array,
            spacing,
            new_spacing,
            order=order,
            threads=threads,
            clip=clip,
            normalize=normalize,
            max_voxels=max_voxels,
        )
        return out

    if order == 0:
        zi, yi, xi = (nearest_indices(a, b) for a, b in zip(spatial, new, strict=False))
        view = np.dtype(f"u{array.dtype.itemsize}")  # a gather by width, any dtype
        flags = _nearest_flags
        for s, d in zip(src3, dst3, strict=False):
            s, d = s.view(view), d.view(view)
            _split_planes(
                lambda c, z0, z1, s=s, d=d: _resample_cy.nearest(s, d, zi, yi, xi, z0, z1, flags),
                new[0],
                n_threads,
            )
        return out

    z, y, x = (linear_indices(a, b) for a, b in zip(spatial, new, strict=False))
    lo, hi = (-np.inf, np.inf) if clip is None else (float(clip[0]), float(clip[1]))
    mean, std = (0.0, 1.0) if normalize is None else (float(normalize[0]), float(normalize[1]))
    if normalize is not None and not std:
        raise ValueError("normalize std must be non-zero")
    norm = None if clip is None and normalize is None else (lo, hi, mean, std)
    h_in, w_in = spatial[1], spatial[2]
    planes = np.empty((n_threads, h_in, w_in), np.float32)
    rows = np.empty((n_threads, w_in), np.float32)
    flags = _linear_flags
    for s, d in zip(src3, dst3, strict=False):
        _split_planes(
            lambda c, z0, z1, s=s, d=d: _resample_cy.trilinear(
                s, d, z, y, x, planes[c], rows[c], z0, z1, norm, flags
            ),
            new[0],
            n_threads,
        )
    return out


def _split_planes(work, d_out, n_threads):
    """Run ``work(c, z0, z1)`` over output planes ``0:d_out`` split in ``n_threads`` chunks
    ``c``, each on its own plain thread (the C kernels release the GIL); the calling thread
    takes the first chunk. The first error is re-raised here after every thread is done."""
    if n_threads <= 1:
        work(0, 0, d_out)
        return
    bounds = [(d_out * c) // n_threads for c in range(n_threads + 1)]
    errors = []

    def run(c):
        try:
            work(c, bounds[c], bounds[c + 1])
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(c,), daemon=True) for c in range(1, n_threads)]
    for t in workers:
        t.start()
    run(0)
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
