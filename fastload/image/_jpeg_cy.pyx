# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrapper of the libjpeg-turbo kernels (csrc/image/jpeg.c + resize.c).

Private: use :mod:`fastload.image.codec` and the pipelines, which validate arguments.
Every call holds a buffer on ``data`` (any C-contiguous bytes-like object, no copy)
for as long as the GIL-free C code reads it.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from libc.stdint cimport uint8_t, uint64_t

from fastload._cstatus import UnsupportedJPEG
from fastload.errors import DecodeError

from fastload.includes.common cimport check_status
from fastload.includes.image cimport (
    FL_DECODE_FAST_IDCT,
    FL_DECODE_STRICT,
    FL_F16,
    FL_F32,
    FL_U8,
    fill_spec,
    fl_jpeg_close,
    fl_jpeg_decode,
    fl_jpeg_decode_opened,
    fl_jpeg_decode_resize,
    fl_jpeg_decode_resize_opened,
    fl_jpeg_open,
    fl_jpeg_info,
    fl_jpeg_read_header,
    fl_resize_spec,
)
from fastload.includes.jpeg cimport (
    fl_huff_verdict,
    fl_huff_verified,
    fl_jpeg_fast_huffman,
    fl_jpeg_set_fast_huffman,
    fl_libjpeg_build_version,
    fl_libjpeg_library,
    fl_libjpeg_link,
    fl_libjpeg_runtime_version,
)

__all__ = ["IDCT_FLAGS", "UnsupportedJPEG", "decode", "decode_planned", "decode_resize",
           "decode_resize_planned", "fast_huffman",
           "huffman_check", "libjpeg_versions", "read_header", "set_fast_huffman"]


def huffman_check():
    """Whether huffman.c may be used with the libjpeg-turbo this module runs with
    (csrc/image/huffcheck.c: version at build and load time, then a self-test), as
    ``(verified, verdict)``. Computed once per process."""
    return bool(fl_huff_verified()), fl_huff_verdict().decode()


def libjpeg_versions():
    """``{"built_against", "running", "link", "library"}``: the libjpeg headers this
    module was compiled with, the libjpeg-turbo release that runs, "static" or "shared",
    and where it comes from ("linked statically" or the shared library's path)."""
    return {"built_against": fl_libjpeg_build_version().decode(),
            "running": fl_libjpeg_runtime_version().decode(),
            "link": fl_libjpeg_link().decode(),
            "library": fl_libjpeg_library().decode()}


def set_fast_huffman(bint on):
    """Entropy-decode baseline JPEGs with fastload's Huffman decoder (True, the default)
    or with libjpeg-turbo's own (False). Both give the same coefficients."""
    fl_jpeg_set_fast_huffman(on)


def fast_huffman():
    """Whether fastload's Huffman decoder is in use (see :func:`set_fast_huffman`)."""
    return bool(fl_jpeg_fast_huffman())

ITEMSIZE = {FL_U8: 1, FL_F32: 4, FL_F16: 2}


cdef int _get_input(object data, Py_buffer *buf, object name) except -1:
    try:
        PyObject_GetBuffer(data, buf, PyBUF_SIMPLE)
    except (BufferError, TypeError) as exc:
        where = f"{name}: " if name is not None else ""
        raise DecodeError(f"{where}expected a C-contiguous bytes-like object, "
                          f"got {type(data).__name__}") from exc
    return 0


def read_header(object data, bint strict=True, object name=None):
    """Return ``(height, width, components, color_space, progressive)`` of JPEG bytes.
    ``strict``: libjpeg warnings in the header raise DecodeError."""
    cdef Py_buffer buf
    cdef fl_jpeg_info info
    cdef int status
    _get_input(data, &buf, name)
    try:
        with nogil:
            status = fl_jpeg_read_header(<const uint8_t *>buf.buf, <size_t>buf.len, strict, &info)
    finally:
        PyBuffer_Release(&buf)
    check_status(status, name)
    return info.height, info.width, info.components, info.color_space, info.progressive


#: libjpeg IDCT per ``idct=`` name (csrc/include/fastload/image.h FL_DECODE_FAST_IDCT)
IDCT_FLAGS = {"accurate": 0, "fast": FL_DECODE_FAST_IDCT}


def decode(object data, int scale_num, int y0, int x0, int h, int w, uint8_t[:, :, :] out,
           unsigned long long max_pixels, bint strict, object name=None, int idct_flag=0):
    """Decode scaled rows [y0, y0+h) x cols [x0, x0+w) as RGB into ``out`` (h, w, 3).
    ``idct_flag``: a value of :data:`IDCT_FLAGS`."""
    cdef Py_buffer buf
    cdef int status
    cdef int flags = (FL_DECODE_STRICT if strict else 0) | idct_flag
    if out.shape[0] != h or out.shape[1] != w or out.shape[2] != 3 or out.strides[1] != 3 or out.strides[2] != 1:
        raise ValueError(f"out must be a packed ({h}, {w}, 3) uint8 array")
    _get_input(data, &buf, name)
    try:
        with nogil:
            status = fl_jpeg_decode(<const uint8_t *>buf.buf, <size_t>buf.len, scale_num,
                                    y0, x0, h, w, max_pixels, flags, &out[0, 0, 0],
                                    out.strides[0])
    finally:
        PyBuffer_Release(&buf)
    check_status(status, name)


def decode_planned(object data, object plan, unsigned long long max_pixels, bint strict,
                   object name=None, int idct_flag=0):
    """Decode with one header parse: open the JPEG (header, pixel limit, strict checks),
    call ``plan(height, width, components)``, which returns ``(scale_num, y0, x0, h, w,
    out)`` (the scaled region and a packed (h, w, 3) uint8 destination), decode the region
    into ``out`` and return it. An exception from ``plan`` closes the image and propagates.
    """
    cdef Py_buffer buf
    cdef fl_jpeg_info info
    cdef unsigned token = 0
    cdef int status
    cdef int flags = (FL_DECODE_STRICT if strict else 0) | idct_flag
    cdef int scale_num, y0, x0, h, w
    cdef uint8_t[:, :, :] o
    _get_input(data, &buf, name)
    try:
        with nogil:
            status = fl_jpeg_open(<const uint8_t *>buf.buf, <size_t>buf.len, max_pixels, flags,
                                  &info, &token)
        check_status(status, name)
        try:
            scale_num, y0, x0, h, w, out = plan(info.height, info.width, info.components)
            o = out
            if (o.shape[0] != h or o.shape[1] != w or o.shape[2] != 3 or o.strides[1] != 3
                    or o.strides[2] != 1):
                raise ValueError(f"out must be a packed ({h}, {w}, 3) uint8 array")
        except BaseException:
            fl_jpeg_close()
            raise
        with nogil:
            status = fl_jpeg_decode_opened(token, scale_num, y0, x0, h, w, &o[0, 0, 0],
                                           o.strides[0])
    finally:
        PyBuffer_Release(&buf)
    check_status(status, name)
    return out


def decode_resize(object data, int scale_num, int reg_y, int reg_x, int reg_h, int reg_w,
                  double box_y, double box_x, double box_h, double box_w,
                  unsigned long long max_pixels, bint strict, object out, int out_h, int out_w,
                  int out_c, int layout, int dtype, int flags, tuple mean, tuple std,
                  object name=None, int idct_flag=0):
    """Fused ROI decode at ``scale_num/8`` + resample of ``box`` into ``out`` (in place)."""
    cdef int dflags = (FL_DECODE_STRICT if strict else 0) | idct_flag
    cdef Py_buffer buf
    cdef Py_buffer obuf
    cdef fl_resize_spec spec
    cdef int status
    cdef Py_ssize_t expected = <Py_ssize_t>out_h * out_w * out_c * ITEMSIZE[dtype]
    fill_spec(&spec, out_h, out_w, out_c, layout, dtype, flags, mean[0], mean[1], mean[2],
              std[0], std[1], std[2])
    PyObject_GetBuffer(out, &obuf, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
    try:
        if obuf.len != expected:
            raise ValueError(f"out has {obuf.len} bytes, expected {expected}")
        _get_input(data, &buf, name)
        try:
            with nogil:
                status = fl_jpeg_decode_resize(<const uint8_t *>buf.buf, <size_t>buf.len,
                                               scale_num, reg_y, reg_x, reg_h, reg_w, box_y,
                                               box_x, box_h, box_w, max_pixels, dflags, &spec,
                                               obuf.buf)
        finally:
            PyBuffer_Release(&buf)
    finally:
        PyBuffer_Release(&obuf)
    check_status(status, name)


def decode_resize_planned(object data, object plan, unsigned long long max_pixels, bint strict,
                          object out, int out_h, int out_w, int out_c, int layout, int dtype,
                          int flags, tuple mean, tuple std, object name=None,
                          int idct_flag=0):
    """:func:`decode_resize` with one header parse: open the JPEG, call
    ``plan(height, width, components)``, which returns ``(scale_num, region, box, flags)``
    (full-resolution ``(top, left, h, w)`` of the region to decode and of the box to
    resample; the resize flags, which replace ``flags``: a flip drawn after the box),
    then decode and resample into ``out``. An exception from ``plan`` closes the image
    and propagates."""
    cdef int dflags = (FL_DECODE_STRICT if strict else 0) | idct_flag
    cdef Py_buffer buf
    cdef Py_buffer obuf
    cdef fl_resize_spec spec
    cdef fl_jpeg_info info
    cdef unsigned token = 0
    cdef int status
    cdef int scale_num, reg_y, reg_x, reg_h, reg_w
    cdef double box_y, box_x, box_h, box_w
    cdef Py_ssize_t expected = <Py_ssize_t>out_h * out_w * out_c * ITEMSIZE[dtype]
    fill_spec(&spec, out_h, out_w, out_c, layout, dtype, flags, mean[0], mean[1], mean[2],
              std[0], std[1], std[2])
    PyObject_GetBuffer(out, &obuf, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
    try:
        if obuf.len != expected:
            raise ValueError(f"out has {obuf.len} bytes, expected {expected}")
        _get_input(data, &buf, name)
        try:
            with nogil:
                status = fl_jpeg_open(<const uint8_t *>buf.buf, <size_t>buf.len, max_pixels,
                                      dflags, &info, &token)
            check_status(status, name)
            try:
                scale_num, region, box, flags = plan(info.height, info.width, info.components)
                reg_y, reg_x, reg_h, reg_w = region
                box_y, box_x, box_h, box_w = box
                spec.flags = flags
            except BaseException:
                fl_jpeg_close()
                raise
            with nogil:
                status = fl_jpeg_decode_resize_opened(token, scale_num, reg_y, reg_x, reg_h,
                                                      reg_w, box_y, box_x, box_h, box_w,
                                                      &spec, obuf.buf)
        finally:
            PyBuffer_Release(&buf)
    finally:
        PyBuffer_Release(&obuf)
    check_status(status, name)
    return out
