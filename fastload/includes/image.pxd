# cython: language_level=3
"""extern declarations for csrc/include/fastload/image.h (resize and JPEG kernels; status
codes: common.pxd)."""

from libc.stdint cimport uint8_t, uint64_t


cdef extern from "fastload/image.h" nogil:
    int FL_DECODE_STRICT, FL_DECODE_FAST_IDCT
    int FL_U8, FL_F32, FL_F16
    int FL_HWC, FL_CHW
    int FL_ANTIALIAS, FL_FLIP_OUTPUT, FL_FLIP_SOURCE, FL_LEGACY_CENTERS
    int FL_SIMD_NO_AVX512, FL_SIMD_PORTABLE
    int FL_CS_GRAY, FL_CS_RGB, FL_CS_YCBCR, FL_CS_CMYK, FL_CS_YCCK

    ctypedef struct fl_jpeg_info:
        int height
        int width
        int components
        int color_space
        int progressive

    ctypedef struct fl_resize_spec:
        int out_h
        int out_w
        int out_c
        int layout
        int dtype
        int flags
        float mean[3]
        float inv_std[3]

    const char *fl_image_resize_simd(int flags)
    int fl_jpeg_read_header(const uint8_t *data, size_t size, int strict, fl_jpeg_info *info)
    int fl_jpeg_decode(const uint8_t *data, size_t size, int scale_num, int y0, int x0,
                       int h, int w, uint64_t max_pixels, int flags, uint8_t *out,
                       Py_ssize_t out_stride)
    int fl_jpeg_open(const uint8_t *data, size_t size, uint64_t max_pixels, int flags,
                     fl_jpeg_info *info, unsigned *token)
    int fl_jpeg_decode_opened(unsigned token, int scale_num, int y0, int x0, int h, int w,
                              uint8_t *out, Py_ssize_t out_stride)
    void fl_jpeg_close()
    int fl_jpeg_decode_resize(const uint8_t *data, size_t size, int scale_num, int reg_y,
                              int reg_x, int reg_h, int reg_w, double box_y, double box_x,
                              double box_h, double box_w, uint64_t max_pixels, int flags,
                              const fl_resize_spec *spec, void *out)
    int fl_jpeg_decode_resize_opened(unsigned token, int scale_num, int reg_y, int reg_x,
                                     int reg_h, int reg_w, double box_y, double box_x,
                                     double box_h, double box_w, const fl_resize_spec *spec,
                                     void *out)
    int fl_image_resize(const uint8_t *src, int src_h, int src_w, Py_ssize_t src_stride,
                        double box_y, double box_x, double box_h, double box_w,
                        const fl_resize_spec *spec, void *out)


cdef inline void fill_spec(fl_resize_spec *spec, int out_h, int out_w, int out_c, int layout,
                           int dtype, int flags, double m0, double m1, double m2, double s0,
                           double s1, double s2) noexcept nogil:
    spec.out_h = out_h
    spec.out_w = out_w
    spec.out_c = out_c
    spec.layout = layout
    spec.dtype = dtype
    spec.flags = flags
    spec.mean[0] = <float>m0
    spec.mean[1] = <float>m1
    spec.mean[2] = <float>m2
    spec.inv_std[0] = <float>(1.0 / s0)
    spec.inv_std[1] = <float>(1.0 / s1)
    spec.inv_std[2] = <float>(1.0 / s2)
