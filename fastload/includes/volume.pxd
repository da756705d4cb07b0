# cython: language_level=3
"""extern declarations for csrc/include/fastload/volume.h (status codes: common.pxd)."""

from libc.stdint cimport int64_t, uint8_t


cdef extern from "fastload/volume.h" nogil:
    int FL_VOLUME_FORCE_SCALAR, FL_VOLUME_NO_AVX512
    int FL_VOLUME_PATH_SCALAR, FL_VOLUME_PATH_SSSE3, FL_VOLUME_PATH_AVX512VBMI
    int fl_volume_nearest_u8(const uint8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                             Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, uint8_t *dst,
                             int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                             Py_ssize_t oy, Py_ssize_t ox, const int64_t *zi,
                             const int64_t *yi, const int64_t *xi, int64_t z_start,
                             int64_t z_stop, int flags)
    int fl_volume_nearest_path(int flags)
