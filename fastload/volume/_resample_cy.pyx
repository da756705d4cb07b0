# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrappers of the volume kernels (csrc/volume/nearest.c, csrc/volume/trilinear.c).

Private: use :func:`fastload.volume.resample_to_spacing` (which computes the indices and
weights and validates arguments) and :func:`fastload.volume.clip_normalize`. Every call
releases the GIL for the C work; ``z_start:z_stop`` lets callers split the output planes
over threads.
"""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from fastload.includes.common cimport check_status
from fastload.includes.volume cimport *

FORCE_SCALAR = FL_VOLUME_FORCE_SCALAR
NO_AVX512 = FL_VOLUME_NO_AVX512
PATHS = {FL_VOLUME_PATH_SCALAR: "scalar", FL_VOLUME_PATH_SSSE3: "ssse3",
         FL_VOLUME_PATH_AVX512VBMI: "avx512vbmi"}
LINEAR_PATHS = {FL_VOLUME_PATH_SCALAR: "portable", FL_VOLUME_PATH_AVX2: "avx2"}

# voxel widths of the nearest gather (any dtype of that size, passed as an unsigned view)
ctypedef fused voxel_t:
    uint8_t
    uint16_t
    uint32_t
    uint64_t

# source dtypes of the trilinear kernel and of clip_normalize
ctypedef fused real_t:
    uint8_t
    int8_t
    int16_t
    uint16_t
    int32_t
    float
    double


def path(int flags=0):
    """Name of the path the 1-byte gather takes for contiguous rows: 'avx512vbmi', 'ssse3'
    or 'scalar'."""
    return PATHS[fl_volume_nearest_path(flags)]


def trilinear_path(int flags=0):
    """Name of the path the trilinear and clip + normalise kernels take: 'avx2' or
    'portable' (the compiler's baseline vectorisation; forced by ``FORCE_SCALAR``)."""
    return LINEAR_PATHS[fl_volume_trilinear_path(flags)]


def nearest(const voxel_t[:, :, :] src, voxel_t[:, :, :] out, const int64_t[::1] zi,
            const int64_t[::1] yi, const int64_t[::1] xi, Py_ssize_t z_start,
            Py_ssize_t z_stop, int flags=0):
    """``out[z, y, x] = src[zi[z], yi[y], xi[x]]`` for ``z`` in ``z_start:z_stop`` (GIL released).

    ``src`` (D, H, W) and ``out`` (D', H', W'): the same unsigned dtype of 1, 2, 4 or 8 bytes
    (pass other dtypes as a view: int16 as uint16, float64 as uint64), any strides.
    ``zi``, ``yi``, ``xi``: int64 of lengths D', H', W', in range. ``flags`` selects the
    SIMD path of the 1-byte gather (``FORCE_SCALAR``, ``NO_AVX512``; ignored for wider
    voxels). Raises ValueError on inconsistent arguments.
    """
    cdef int status
    if zi.shape[0] != out.shape[0] or yi.shape[0] != out.shape[1] or xi.shape[0] != out.shape[2]:
        raise ValueError("index lengths do not match the output shape")
    if src.shape[0] == 0 or src.shape[1] == 0 or src.shape[2] == 0:
        raise ValueError("empty source")
    if out.shape[0] == 0 or out.shape[1] == 0 or out.shape[2] == 0:
        return
    with nogil:
        if voxel_t is uint8_t:
            status = fl_volume_nearest_u8(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2],
                src.strides[0], src.strides[1], src.strides[2],
                &out[0, 0, 0], out.shape[0], out.shape[1], out.shape[2],
                out.strides[0], out.strides[1], out.strides[2],
                &zi[0], &yi[0], &xi[0], z_start, z_stop, flags)
        elif voxel_t is uint16_t:
            status = fl_volume_nearest_u16(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2],
                src.strides[0], src.strides[1], src.strides[2],
                &out[0, 0, 0], out.shape[0], out.shape[1], out.shape[2],
                out.strides[0], out.strides[1], out.strides[2],
                &zi[0], &yi[0], &xi[0], z_start, z_stop)
        elif voxel_t is uint32_t:
            status = fl_volume_nearest_u32(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2],
                src.strides[0], src.strides[1], src.strides[2],
                &out[0, 0, 0], out.shape[0], out.shape[1], out.shape[2],
                out.strides[0], out.strides[1], out.strides[2],
                &zi[0], &yi[0], &xi[0], z_start, z_stop)
        else:
            status = fl_volume_nearest_u64(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2],
                src.strides[0], src.strides[1], src.strides[2],
                &out[0, 0, 0], out.shape[0], out.shape[1], out.shape[2],
                out.strides[0], out.strides[1], out.strides[2],
                &zi[0], &yi[0], &xi[0], z_start, z_stop)
    check_status(status)


cdef int _axis(fl_volume_linear_axis *a, tuple arrays, Py_ssize_t n) except -1:
    """Fill ``a`` from ``(i0, i1, w0, w1)`` (int64, int64, float32, float32, length ``n``).
    The pointers stay valid while ``arrays`` is alive (the caller holds it)."""
    cdef const int64_t[::1] i0 = arrays[0]
    cdef const int64_t[::1] i1 = arrays[1]
    cdef const float[::1] w0 = arrays[2]
    cdef const float[::1] w1 = arrays[3]
    if i0.shape[0] != n or i1.shape[0] != n or w0.shape[0] != n or w1.shape[0] != n:
        raise ValueError("index or weight lengths do not match the output shape")
    a.i0 = &i0[0]
    a.i1 = &i1[0]
    a.w0 = &w0[0]
    a.w1 = &w1[0]
    return 0


def trilinear(const real_t[:, :, :] src, float[:, :, :] out, tuple z, tuple y, tuple x,
              float[:, ::1] plane, float[::1] row, Py_ssize_t z_start, Py_ssize_t z_stop,
              norm=None, int flags=0):
    """Trilinear resample of output planes ``z_start:z_stop`` into ``out`` (GIL released).

    ``src`` (D, H, W): uint8, int8, int16, uint16, int32, float32 or float64, any strides;
    ``out`` (D', H', W'): float32, any strides (aligned). ``z``, ``y``, ``x``: per axis
    ``(i0, i1, w0, w1)`` as :func:`fastload.volume.resample.linear_indices` returns them.
    ``plane`` (H, W) and ``row`` (W,): float32 scratch, one pair per concurrent call.
    ``norm``: None or ``(lo, hi, mean, std)``, the clip + normalise fused into the output.
    ``flags``: ``FORCE_SCALAR`` runs the portable path (see :func:`trilinear_path`).
    Raises ValueError on inconsistent arguments.
    """
    cdef fl_volume_linear_axis axes[3]
    cdef fl_volume_norm nv
    cdef fl_volume_norm *pn = NULL
    cdef int status
    if src.shape[0] == 0 or src.shape[1] == 0 or src.shape[2] == 0:
        raise ValueError("empty source")
    if (plane.shape[0] != src.shape[1] or plane.shape[1] != src.shape[2]
            or row.shape[0] != src.shape[2]):
        raise ValueError("scratch plane or row does not match the source shape")
    if out.shape[0] == 0 or out.shape[1] == 0 or out.shape[2] == 0:
        return
    _axis(&axes[0], z, out.shape[0])
    _axis(&axes[1], y, out.shape[1])
    _axis(&axes[2], x, out.shape[2])
    if norm is not None:
        nv.lo, nv.hi, nv.mean, nv.std = norm
        pn = &nv
    with nogil:
        if real_t is uint8_t:
            status = fl_volume_trilinear_u8(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        elif real_t is int8_t:
            status = fl_volume_trilinear_i8(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        elif real_t is int16_t:
            status = fl_volume_trilinear_i16(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        elif real_t is uint16_t:
            status = fl_volume_trilinear_u16(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        elif real_t is int32_t:
            status = fl_volume_trilinear_i32(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        elif real_t is float:
            status = fl_volume_trilinear_f32(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
        else:
            status = fl_volume_trilinear_f64(
                &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2], src.strides[0],
                src.strides[1], src.strides[2], &out[0, 0, 0], out.shape[0], out.shape[1],
                out.shape[2], out.strides[0], out.strides[1], out.strides[2], axes,
                &plane[0, 0], &row[0], z_start, z_stop, pn, flags)
    check_status(status)


def clip_normalize(const real_t[::1] src, float[::1] out, float lo, float hi, float mean,
                   float std, int flags=0):
    """``out = (clip(float32(src), lo, hi) - mean) / std`` in float32, one pass (GIL released).

    ``src`` and ``out``: contiguous, same length (``out`` may be ``src`` when float32).
    ``flags``: as for :func:`trilinear`.
    """
    cdef fl_volume_norm nv
    cdef int status
    cdef int64_t n = src.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} elements, src {n}")
    if n == 0:
        return
    nv.lo, nv.hi, nv.mean, nv.std = lo, hi, mean, std
    with nogil:
        if real_t is uint8_t:
            status = fl_volume_clip_normalize_u8(&src[0], &out[0], n, &nv, flags)
        elif real_t is int8_t:
            status = fl_volume_clip_normalize_i8(&src[0], &out[0], n, &nv, flags)
        elif real_t is int16_t:
            status = fl_volume_clip_normalize_i16(&src[0], &out[0], n, &nv, flags)
        elif real_t is uint16_t:
            status = fl_volume_clip_normalize_u16(&src[0], &out[0], n, &nv, flags)
        elif real_t is int32_t:
            status = fl_volume_clip_normalize_i32(&src[0], &out[0], n, &nv, flags)
        elif real_t is float:
            status = fl_volume_clip_normalize_f32(&src[0], &out[0], n, &nv, flags)
        else:
            status = fl_volume_clip_normalize_f64(&src[0], &out[0], n, &nv, flags)
    check_status(status)
