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

from fastload.errors import DecodeError, LimitError

from fastload.image._image cimport (
    FL_ERR_ARG,
    FL_ERR_LIMIT,
    FL_ERR_NOMEM,
    FL_ERR_STRICT,
    FL_ERR_UNSUPPORTED,
    FL_DECODE_FAST_IDCT,
    FL_DECODE_STRICT,
    FL_OK,
    fill_spec,
    fl_image_last_error,
    fl_jpeg_decode,
    fl_jpeg_decode_resize,
    fl_jpeg_info,
    fl_jpeg_read_header,
    fl_resize_spec,
)


cdef extern from "../../csrc/image/huffman.h" nogil:
    void fl_jpeg_set_fast_huffman(int on)
    int fl_jpeg_fast_huffman()
    int fl_huff_verified()
    const char *fl_huff_verdict()
    const char *fl_libjpeg_build_version()
    const char *fl_libjpeg_runtime_version()
    const char *fl_libjpeg_link()
    const char *fl_libjpeg_library()


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

ITEMSIZE = {0: 1, 1: 4, 2: 2}


_WARNING_PREFIXES = ("Corrupt JPEG data: ", "Warning: ")

_SOF_PROCESSES = {
    0xC3: "lossless (SOF3)",
    0xC5: "hierarchical (SOF5)", 0xC6: "hierarchical progressive (SOF6)",
    0xC7: "hierarchical lossless (SOF7)", 0xCB: "lossless arithmetic-coded (SOF11)",
    0xCD: "hierarchical arithmetic-coded (SOF13)",
    0xCE: "hierarchical progressive arithmetic-coded (SOF14)",
    0xCF: "hierarchical lossless arithmetic-coded (SOF15)",
}


class UnsupportedJPEG(DecodeError):
    """A JPEG process or sample precision this libjpeg-turbo does not decode (lossless,
    hierarchical, 12/16-bit): not corrupt data. codec.py hands such files to Pillow."""


def _strict_message(msg):
    """libjpeg's text of a warning that strict mode refused, in fastload's words."""
    for prefix in _WARNING_PREFIXES:
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
            break
    return (f"JPEG data refused in strict mode: {msg} (libjpeg only warns about this; "
            f"strict=False lets it pass)")


def _error_message(msg):
    """libjpeg's text of a fatal error, in fastload's words."""
    precision = "Unsupported JPEG data precision "
    if msg.startswith(precision):
        bits = msg[len(precision):]
        return (f"unsupported JPEG: {bits}-bit samples (data precision {bits}); fastload "
                f"decodes 8-bit JPEGs only")
    process = "Unsupported JPEG process: SOF type 0x"
    if msg.startswith(process):
        try:
            sof = int(msg[len(process):], 16)
        except ValueError:
            sof = 0
        what = _SOF_PROCESSES.get(sof, f"SOF type 0x{sof:02x}")
        return (f"unsupported JPEG process: {what}; fastload's libjpeg-turbo decodes "
                f"baseline, extended sequential, progressive and arithmetic-coded JPEGs")
    return f"invalid JPEG data: {msg}"


cdef object _raise(int status, object name):
    """Turn a C status code into a fastload exception (called with the GIL held)."""
    msg = fl_image_last_error().decode("utf-8", "replace")
    where = f"{name}: " if name is not None else ""
    if status == FL_ERR_LIMIT:
        raise LimitError(f"{where}{msg}")
    if status == FL_ERR_NOMEM:
        raise MemoryError(f"{where}{msg}")
    if status == FL_ERR_ARG:
        raise ValueError(f"{where}{msg}")
    if status == FL_ERR_STRICT:
        raise DecodeError(f"{where}{_strict_message(msg)}")
    if status == FL_ERR_UNSUPPORTED:
        raise UnsupportedJPEG(f"{where}{_error_message(msg)}")
    raise DecodeError(f"{where}{_error_message(msg)}")


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
    if status != FL_OK:
        _raise(status, name)
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
    if status != FL_OK:
        _raise(status, name)


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
    if status != FL_OK:
        _raise(status, name)
