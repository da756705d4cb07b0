# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrapper of the fused resize kernel (csrc/image/resize.c); no libjpeg needed.

Private: use :func:`fastload.image.resized_crop`, which validates arguments. The kernel's
constants (flags, layouts, dtypes, SIMD path selection) are exported from here, read from
csrc/include/fastload/image.h through fastload/includes/image.pxd.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport uint8_t

from fastload.includes.common cimport check_status
from fastload.includes.image cimport (
    FL_ANTIALIAS,
    FL_CHW,
    FL_F16,
    FL_F32,
    FL_FLIP_OUTPUT,
    FL_FLIP_SOURCE,
    FL_HWC,
    FL_LEGACY_CENTERS,
    FL_SIMD_NO_AVX512,
    FL_SIMD_PORTABLE,
    FL_U8,
    fill_spec,
    fl_image_resize,
    fl_image_resize_simd,
    fl_resize_spec,
)

#: resize flags (``fl_resize_spec.flags``)
ANTIALIAS = FL_ANTIALIAS
FLIP_OUTPUT = FL_FLIP_OUTPUT
FLIP_SOURCE = FL_FLIP_SOURCE
LEGACY_CENTERS = FL_LEGACY_CENTERS
#: kernel codes of the layouts and dtypes
LAYOUTS = {"HWC": FL_HWC, "CHW": FL_CHW}
DTYPES = {"uint8": FL_U8, "float32": FL_F32, "float16": FL_F16}
ITEMSIZE = {FL_U8: 1, FL_F32: 4, FL_F16: 2}
#: flags capping the SIMD path: the most a given path name may use, per name of
#: :func:`simd` (tests and benchmarks run each path the CPU supports)
SIMD_CAPS = {"avx512f": 0, "avx2+fma": FL_SIMD_NO_AVX512, "portable": FL_SIMD_PORTABLE}


def simd(int flags=0):
    """The SIMD path of the resize kernel on this CPU under these flags: 'avx512f',
    'avx2+fma' or 'portable'."""
    return fl_image_resize_simd(flags).decode()


def simd_paths():
    """Every path this CPU runs, fastest first (always ends with 'portable')."""
    return [name for name, cap in SIMD_CAPS.items() if simd(cap) == name]


def resize(const uint8_t[:, :, :] src, double box_y, double box_x, double box_h,
           double box_w, object out, int out_h, int out_w, int out_c, int layout, int dtype,
           int flags, tuple mean, tuple std):
    """Resample ``src[box]`` (H, W, 3) uint8 into ``out`` (C-contiguous, written in place).

    ``layout``: a value of :data:`LAYOUTS`; ``dtype``: of :data:`DTYPES`; ``flags``: a bit
    set of the resize flags and a :data:`SIMD_CAPS` value. Raises ValueError on bad
    arguments.
    """
    cdef fl_resize_spec spec
    cdef Py_buffer buf
    cdef int status
    cdef Py_ssize_t expected
    if src.shape[0] == 0 or src.shape[1] == 0 or src.shape[2] != 3:
        raise ValueError(f"source must be (H, W, 3) with H, W > 0, got ({src.shape[0]}, {src.shape[1]}, {src.shape[2]})")
    if src.strides[1] != 3 or src.strides[2] != 1:
        raise ValueError("source pixels must be packed (strides[1] == 3)")
    fill_spec(&spec, out_h, out_w, out_c, layout, dtype, flags, mean[0], mean[1], mean[2],
              std[0], std[1], std[2])
    PyObject_GetBuffer(out, &buf, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
    try:
        expected = <Py_ssize_t>out_h * out_w * out_c * ITEMSIZE[dtype]
        if buf.len != expected:
            raise ValueError(f"out has {buf.len} bytes, expected {expected}")
        with nogil:
            status = fl_image_resize(&src[0, 0, 0], <int>src.shape[0], <int>src.shape[1],
                                     src.strides[0], box_y, box_x, box_h, box_w, &spec, buf.buf)
    finally:
        PyBuffer_Release(&buf)
    check_status(status)
