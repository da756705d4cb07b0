# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython wrapper of fastload's FLAC frame decoder (csrc/audio/flac.c).

Private: :func:`fastload.audio.decode` parses the metadata, calls :func:`flac_decode` and
turns its status codes (the ``E_*`` constants here, with the ``H_*`` / ``S_*`` details and
the ``R_*`` slots of ``res``, all from csrc/include/fastload/audio.h) into messages.
"""

from libc.stdint cimport int64_t, uint8_t

from fastload.includes.audio cimport *

DONE = FL_FLAC_DONE
MORE = FL_FLAC_MORE
E_TRUNCATED = FL_FLAC_E_TRUNCATED
E_SYNC = FL_FLAC_E_SYNC
E_HEADER = FL_FLAC_E_HEADER
E_HEADER_CRC = FL_FLAC_E_HEADER_CRC
E_BLOCKSIZE = FL_FLAC_E_BLOCKSIZE
E_RATE = FL_FLAC_E_RATE
E_BPS = FL_FLAC_E_BPS
E_CHANNELS = FL_FLAC_E_CHANNELS
E_SUBFRAME = FL_FLAC_E_SUBFRAME
E_PADDING = FL_FLAC_E_PADDING
E_FRAME_CRC = FL_FLAC_E_FRAME_CRC
E_RANGE = FL_FLAC_E_RANGE
E_EXTRA = FL_FLAC_E_EXTRA
E_ARG = FL_FLAC_E_ARG
R_STATUS = FL_FLAC_R_STATUS
R_POS = FL_FLAC_R_POS
R_DONE = FL_FLAC_R_DONE
R_FRAME = FL_FLAC_R_FRAME
R_DETAIL = FL_FLAC_R_DETAIL
R_EXPECTED = FL_FLAC_R_EXPECTED
R_FOUND = FL_FLAC_R_FOUND
RES_SIZE = FL_FLAC_RES_SIZE
H_RESERVED_BIT = FL_FLAC_H_RESERVED_BIT
H_NUMBER = FL_FLAC_H_NUMBER
H_BLOCKSIZE_CODE = FL_FLAC_H_BLOCKSIZE_CODE
H_RATE_CODE = FL_FLAC_H_RATE_CODE
H_CHANNEL_CODE = FL_FLAC_H_CHANNEL_CODE
H_BPS_CODE = FL_FLAC_H_BPS_CODE
H_NO_RATE = FL_FLAC_H_NO_RATE
H_NO_BPS = FL_FLAC_H_NO_BPS
S_PAD_BIT = FL_FLAC_S_PAD_BIT
S_TYPE = FL_FLAC_S_TYPE
S_WASTED = FL_FLAC_S_WASTED
S_CODING = FL_FLAC_S_CODING
S_PARTITION = FL_FLAC_S_PARTITION
S_ORDER = FL_FLAC_S_ORDER
S_PRECISION = FL_FLAC_S_PRECISION
S_SHIFT = FL_FLAC_S_SHIFT
S_RICE = FL_FLAC_S_RICE
#: samples per channel a row of ``work`` holds; rows needed without STREAMINFO
WORK_LEN = FL_FLAC_WORK_LEN
MAX_CHANNELS = FL_FLAC_MAX_CHANNELS
#: flag of :func:`flac_decode`: the copy of the decoder compiled for any CPU (tests)
PORTABLE = FL_FLAC_PORTABLE
PATHS = {FL_FLAC_PATH_PORTABLE: "portable", FL_FLAC_PATH_V3: "x86-64-v3"}


def path(int flags=0):
    """Name of the path :func:`flac_decode` takes with ``flags``: 'x86-64-v3' (BMI2, LZCNT,
    AVX2; picked from the CPU) or 'portable'."""
    return PATHS[fl_audio_flac_path(flags)]


def flac_decode(const uint8_t[::1] buf, int64_t[::1] si, int64_t[:, ::1] work,
                float[::1] out, uint8_t[::1] md5, int64_t[::1] res, int flags=0):
    """Decode the frames of a FLAC stream, resumably (GIL released).

    Parameters
    ----------
    buf : bytes-like, uint8 (n,)
        The whole file (read-only buffers are accepted).
    si : ndarray, shape (4,), int64
        STREAMINFO channels (1..8), bits per sample (4..32), sample rate, total samples
        per channel (0: unknown). ``si[0] == 0`` (no STREAMINFO): the first frame header
        sets channels, bits and rate.
    work : ndarray, shape (>= channels or MAX_CHANNELS, >= WORK_LEN), int64
        Scratch.
    out : ndarray, shape (capacity * channels,), float32
        Interleaved samples ``v / 2 ** (bps - 1)``; its size bounds what one call decodes.
    md5 : ndarray, shape (capacity * channels * bytes,) or (0,), uint8
        When not empty, the samples as libFLAC's MD5 sees them: interleaved little-endian
        signed integers of ``ceil(bps / 8)`` bytes.
    res : ndarray, shape (RES_SIZE,), int64
        In: R_POS (byte offset of the next frame), R_DONE, R_FRAME. Out: those, R_STATUS
        and on error R_DETAIL / R_EXPECTED / R_FOUND.
    flags : int
        0, or PORTABLE: the path for any CPU, not the one :func:`path` names (tests; both
        give identical results).

    Returns
    -------
    int
        DONE (0): all frames decoded (or ``total`` reached); MORE (1): ``out`` is full and
        frames remain (call again with larger arrays); a negative ``E_*`` code on error.

    Raises
    ------
    ValueError
        Arrays of the wrong size (a caller bug, never the data).
    """
    cdef int code
    cdef const uint8_t *pbuf = NULL
    cdef uint8_t *pmd5 = NULL
    cdef float *pout = NULL
    cdef float dummy_out = 0
    if si.shape[0] < 4 or res.shape[0] < FL_FLAC_RES_SIZE or work.shape[0] == 0:
        raise ValueError(f"si needs 4 entries, res {FL_FLAC_RES_SIZE}, work a row or more")
    if buf.shape[0] > 0:
        pbuf = &buf[0]
    if md5.shape[0] > 0:
        pmd5 = &md5[0]
    pout = &out[0] if out.shape[0] > 0 else &dummy_out
    if pbuf == NULL:
        pbuf = <const uint8_t *>&dummy_out  # nothing is read: n_bytes is 0
    with nogil:
        code = fl_audio_flac_decode(pbuf, buf.shape[0], &si[0], &work[0, 0], work.shape[0],
                                    work.shape[1], pout, out.shape[0], pmd5, md5.shape[0],
                                    &res[0], flags)
    if code == FL_FLAC_E_ARG:
        raise ValueError(
            f"flac_decode: inconsistent arguments (si {list(si)}, work {work.shape[0]} x "
            f"{work.shape[1]}, out {out.shape[0]}, md5 {md5.shape[0]}, res {list(res)})"
        )
    return code


def crc8(const uint8_t[::1] data):
    """The FLAC frame-header CRC-8 (polynomial 0x07) of ``data``, as the decoder computes it."""
    return fl_audio_flac_crc8(&data[0] if data.shape[0] else NULL, data.shape[0])


def crc16(const uint8_t[::1] data):
    """The FLAC frame CRC-16 (polynomial 0x8005, four bytes a step) of ``data``."""
    return fl_audio_flac_crc16(&data[0] if data.shape[0] else NULL, data.shape[0])
