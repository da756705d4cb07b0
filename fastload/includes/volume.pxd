# cython: language_level=3
"""extern declarations for csrc/include/fastload/volume.h (status codes: common.pxd)."""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "fastload/volume.h" nogil:
    int FL_VOLUME_FORCE_SCALAR, FL_VOLUME_NO_AVX512
    int FL_VOLUME_PATH_SCALAR, FL_VOLUME_PATH_SSSE3, FL_VOLUME_PATH_AVX512VBMI
    int FL_VOLUME_PATH_AVX2

    ctypedef struct fl_volume_linear_axis:
        const int64_t *i0
        const int64_t *i1
        const float *w0
        const float *w1

    ctypedef struct fl_volume_norm:
        float lo, hi, mean, std

    int fl_volume_nearest_u8(const uint8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                             Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, uint8_t *dst,
                             int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                             Py_ssize_t oy, Py_ssize_t ox, const int64_t *zi,
                             const int64_t *yi, const int64_t *xi, int64_t z_start,
                             int64_t z_stop, int flags)
    int fl_volume_nearest_path(int flags)

    # fl_volume_nearest_u16 / _u32 / _u64: as fl_volume_nearest_u8 without flags
    int fl_volume_nearest_u16(const uint16_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                              Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, uint16_t *dst,
                              int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                              Py_ssize_t oy, Py_ssize_t ox, const int64_t *zi,
                              const int64_t *yi, const int64_t *xi, int64_t z_start,
                              int64_t z_stop)
    int fl_volume_nearest_u32(const uint32_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                              Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, uint32_t *dst,
                              int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                              Py_ssize_t oy, Py_ssize_t ox, const int64_t *zi,
                              const int64_t *yi, const int64_t *xi, int64_t z_start,
                              int64_t z_stop)
    int fl_volume_nearest_u64(const uint64_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                              Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, uint64_t *dst,
                              int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                              Py_ssize_t oy, Py_ssize_t ox, const int64_t *zi,
                              const int64_t *yi, const int64_t *xi, int64_t z_start,
                              int64_t z_stop)

    # fl_volume_trilinear_<dtype>(src, d_in, h_in, w_in, sz, sy, sx, dst, d_out, h_out, w_out,
    #     oz, oy, ox, axes[3], plane, row, z_start, z_stop, norm or NULL, flags)
    int fl_volume_trilinear_u8(const uint8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                               Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                               int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                               Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                               float *plane, float *row, int64_t z_start, int64_t z_stop,
                               const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_i8(const int8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                               Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                               int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                               Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                               float *plane, float *row, int64_t z_start, int64_t z_stop,
                               const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_i16(const int16_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                                Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                                int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                                Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                                float *plane, float *row, int64_t z_start, int64_t z_stop,
                                const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_u16(const uint16_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                                Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                                int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                                Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                                float *plane, float *row, int64_t z_start, int64_t z_stop,
                                const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_i32(const int32_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                                Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                                int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                                Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                                float *plane, float *row, int64_t z_start, int64_t z_stop,
                                const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_f32(const float *src, int64_t d_in, int64_t h_in, int64_t w_in,
                                Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                                int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                                Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                                float *plane, float *row, int64_t z_start, int64_t z_stop,
                                const fl_volume_norm *norm, int flags)
    int fl_volume_trilinear_f64(const double *src, int64_t d_in, int64_t h_in, int64_t w_in,
                                Py_ssize_t sz, Py_ssize_t sy, Py_ssize_t sx, float *dst,
                                int64_t d_out, int64_t h_out, int64_t w_out, Py_ssize_t oz,
                                Py_ssize_t oy, Py_ssize_t ox, const fl_volume_linear_axis *axes,
                                float *plane, float *row, int64_t z_start, int64_t z_stop,
                                const fl_volume_norm *norm, int flags)

    int fl_volume_trilinear_path(int flags)

    int fl_volume_clip_normalize_u8(const uint8_t *src, float *dst, int64_t n,
                                    const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_i8(const int8_t *src, float *dst, int64_t n,
                                    const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_i16(const int16_t *src, float *dst, int64_t n,
                                     const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_u16(const uint16_t *src, float *dst, int64_t n,
                                     const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_i32(const int32_t *src, float *dst, int64_t n,
                                     const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_f32(const float *src, float *dst, int64_t n,
                                     const fl_volume_norm *norm, int flags)
    int fl_volume_clip_normalize_f64(const double *src, float *dst, int64_t n,
                                     const fl_volume_norm *norm, int flags)
