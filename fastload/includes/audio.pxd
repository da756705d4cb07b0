# cython: language_level=3
"""extern declarations for csrc/include/fastload/audio.h (the FLAC frame decoder: its own
FL_FLAC_* status codes and res[] slots, worded by fastload/audio/codec.py)."""

from libc.stdint cimport int64_t, uint8_t


cdef extern from "fastload/audio.h" nogil:
    int FL_FLAC_DONE, FL_FLAC_MORE
    int FL_FLAC_E_TRUNCATED, FL_FLAC_E_SYNC, FL_FLAC_E_HEADER, FL_FLAC_E_HEADER_CRC
    int FL_FLAC_E_BLOCKSIZE, FL_FLAC_E_RATE, FL_FLAC_E_BPS, FL_FLAC_E_CHANNELS
    int FL_FLAC_E_SUBFRAME, FL_FLAC_E_PADDING, FL_FLAC_E_FRAME_CRC, FL_FLAC_E_RANGE
    int FL_FLAC_E_EXTRA, FL_FLAC_E_ARG
    int FL_FLAC_R_STATUS, FL_FLAC_R_POS, FL_FLAC_R_DONE, FL_FLAC_R_FRAME, FL_FLAC_R_DETAIL
    int FL_FLAC_R_EXPECTED, FL_FLAC_R_FOUND, FL_FLAC_RES_SIZE
    int FL_FLAC_H_RESERVED_BIT, FL_FLAC_H_NUMBER, FL_FLAC_H_BLOCKSIZE_CODE
    int FL_FLAC_H_RATE_CODE, FL_FLAC_H_CHANNEL_CODE, FL_FLAC_H_BPS_CODE, FL_FLAC_H_NO_RATE
    int FL_FLAC_H_NO_BPS
    int FL_FLAC_S_PAD_BIT, FL_FLAC_S_TYPE, FL_FLAC_S_WASTED, FL_FLAC_S_CODING
    int FL_FLAC_S_PARTITION, FL_FLAC_S_ORDER, FL_FLAC_S_PRECISION, FL_FLAC_S_SHIFT
    int FL_FLAC_S_RICE
    int FL_FLAC_WORK_LEN, FL_FLAC_MAX_CHANNELS
    int FL_FLAC_PORTABLE, FL_FLAC_PATH_PORTABLE, FL_FLAC_PATH_V3

    int fl_audio_flac_decode(const uint8_t *buf, int64_t n_bytes, int64_t *si, int64_t *work,
                             int64_t work_rows, int64_t work_len, float *out, int64_t out_len,
                             uint8_t *md5, int64_t md5_len, int64_t *res, int flags)
    int fl_audio_flac_path(int flags)
    unsigned fl_audio_flac_crc8(const uint8_t *buf, size_t n)
    unsigned fl_audio_flac_crc16(const uint8_t *buf, size_t n)
