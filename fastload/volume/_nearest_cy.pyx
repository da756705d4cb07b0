# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrapper of the 1-byte nearest gather (csrc/volume/nearest.c).

Private: use :func:`fastload.volume.resample_to_spacing` with ``order=0``, which computes
the indices and validates arguments.
"""

from libc.stdint cimport int64_t, uint8_t

from fastload.includes.common cimport check_status
from fastload.includes.volume cimport (
    FL_VOLUME_FORCE_SCALAR,
    FL_VOLUME_NO_AVX512,
    FL_VOLUME_PATH_AVX512VBMI,
    FL_VOLUME_PATH_SCALAR,
    FL_VOLUME_PATH_SSSE3,
    fl_volume_nearest_path,
    fl_volume_nearest_u8,
)

FORCE_SCALAR = FL_VOLUME_FORCE_SCALAR
NO_AVX512 = FL_VOLUME_NO_AVX512
PATHS = {FL_VOLUME_PATH_SCALAR: "scalar", FL_VOLUME_PATH_SSSE3: "ssse3",
         FL_VOLUME_PATH_AVX512VBMI: "avx512vbmi"}


def path(int flags=0):
    """Name of the path taken for contiguous rows: 'avx512vbmi', 'ssse3' or 'scalar'."""
    return PATHS[fl_volume_nearest_path(flags)]


def nearest_u8(const uint8_t[:, :, :] src, uint8_t[:, :, :] out, const int64_t[::1] zi,
               const int64_t[::1] yi, const int64_t[::1] xi, Py_ssize_t z_start,
               Py_ssize_t z_stop, int flags=0):
    """``out[z, y, x] = src[zi[z], yi[y], xi[x]]`` for ``z`` in ``z_start:z_stop`` (GIL released).

    ``src`` (D, H, W) and ``out`` (D', H', W'): 1-byte voxels (pass int8 / bool as a uint8
    view), any strides. ``zi``, ``yi``, ``xi``: int64 of lengths D', H', W', in range.
    Raises ValueError on inconsistent arguments.
    """
    cdef int status
    if zi.shape[0] != out.shape[0] or yi.shape[0] != out.shape[1] or xi.shape[0] != out.shape[2]:
        raise ValueError("index lengths do not match the output shape")
    if src.shape[0] == 0 or src.shape[1] == 0 or src.shape[2] == 0:
        raise ValueError("empty source")
    if out.shape[0] == 0 or out.shape[1] == 0 or out.shape[2] == 0:
        return
    with nogil:
        status = fl_volume_nearest_u8(
            &src[0, 0, 0], src.shape[0], src.shape[1], src.shape[2],
            src.strides[0], src.strides[1], src.strides[2],
            &out[0, 0, 0], out.shape[0], out.shape[1], out.shape[2],
            out.strides[0], out.strides[1], out.strides[2],
            &zi[0], &yi[0], &xi[0], z_start, z_stop, flags)
    check_status(status)
