# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrapper of the fused resize kernel (csrc/image/resize.c); no libjpeg needed.

Private: use :func:`fastload.image.resized_crop`, which validates arguments.
"""

from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport uint8_t

from fastload.image._image cimport (
    FL_OK,
    fill_spec,
    fl_image_last_error,
    fl_image_resize,
    fl_image_resize_simd,
    fl_resize_spec,
)


def simd():
    """The SIMD path of the resize kernel on this CPU: 'avx512f', 'avx2+fma' or 'portable'."""
    return fl_image_resize_simd().decode()


ITEMSIZE = {0: 1, 1: 4, 2: 2}


def resize(const uint8_t[:, :, :] src, double box_y, double box_x, double box_h,
           double box_w, object out, int out_h, int out_w, int out_c, int layout, int dtype,
           int flags, tuple mean, tuple std):
    """Resample ``src[box]`` (H, W, 3) uint8 into ``out`` (C-contiguous, written in place).

    ``layout`` 0 = HWC, 1 = CHW; ``dtype`` 0 = uint8, 1 = float32, 2 = float16;
    ``flags`` is a bit set of the FL_* resize flags. Raises ValueError on bad arguments.
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
    if status != FL_OK:
        raise ValueError(fl_image_last_error().decode("utf-8", "replace"))
