/* fastload audio kernels: the FLAC frame decoder.
 *
 * Plain C, no Python, no global state but constant tables: every function is thread-safe
 * and may run concurrently on different streams. Every read of the encoded buffer is
 * bounds-checked (the input is untrusted), all sample arithmetic is 64-bit (wrapping,
 * as two's complement, on corrupt data: never undefined behaviour).
 *
 * Unlike the other kernels, fl_audio_flac_decode reports a FLAC-specific status (the
 * FL_FLAC_E_* codes below) with its facts in res[] instead of a message: the caller
 * (fastload/audio/codec.py) words them.
 */
#ifndef FASTLOAD_AUDIO_H
#define FASTLOAD_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Return values of fl_audio_flac_decode (also stored in res[FL_FLAC_R_STATUS]). */
#define FL_FLAC_DONE 0          /* all frames decoded (or STREAMINFO's total reached) */
#define FL_FLAC_MORE 1          /* out (or md5) is full and frames remain: call again, larger */
#define FL_FLAC_E_TRUNCATED -1  /* the data ends inside a frame */
#define FL_FLAC_E_SYNC -2       /* no frame sync code where a frame must start (found) */
#define FL_FLAC_E_HEADER -3     /* a reserved or invalid frame header field (detail: H_*) */
#define FL_FLAC_E_HEADER_CRC -4 /* frame header CRC-8 (expected: stored, found: computed) */
#define FL_FLAC_E_BLOCKSIZE -5  /* block size 65536 (the format's maximum is 65535) */
#define FL_FLAC_E_RATE -6       /* frame sample rate differs from STREAMINFO (expected, found) */
#define FL_FLAC_E_BPS -7        /* frame bits per sample differ from STREAMINFO */
#define FL_FLAC_E_CHANNELS -8   /* frame channel count differs from STREAMINFO */
#define FL_FLAC_E_SUBFRAME -9   /* a corrupt subframe (detail: S_*, found: the channel) */
#define FL_FLAC_E_PADDING -10   /* non-zero bits between the last subframe and the CRC-16 */
#define FL_FLAC_E_FRAME_CRC -11 /* frame CRC-16 (expected: stored, found: computed) */
#define FL_FLAC_E_RANGE -12     /* a decoded sample outside the bit depth (found: the value) */
#define FL_FLAC_E_EXTRA -13     /* more samples than STREAMINFO's total (expected: total) */
#define FL_FLAC_E_ARG -14       /* inconsistent arguments (a caller bug, not the data) */

/* res[] slots: status, byte position, samples per channel done, frame index, detail,
 * expected, found. */
#define FL_FLAC_R_STATUS 0
#define FL_FLAC_R_POS 1
#define FL_FLAC_R_DONE 2
#define FL_FLAC_R_FRAME 3
#define FL_FLAC_R_DETAIL 4
#define FL_FLAC_R_EXPECTED 5
#define FL_FLAC_R_FOUND 6
#define FL_FLAC_RES_SIZE 7

/* res[FL_FLAC_R_DETAIL] with FL_FLAC_E_HEADER: which header field is invalid */
#define FL_FLAC_H_RESERVED_BIT 1
#define FL_FLAC_H_NUMBER 2         /* the UTF-8-like coded frame / sample number */
#define FL_FLAC_H_BLOCKSIZE_CODE 3 /* block size code 0 */
#define FL_FLAC_H_RATE_CODE 4      /* sample rate code 15 */
#define FL_FLAC_H_CHANNEL_CODE 5   /* channel assignment 11..15 (found: the code) */
#define FL_FLAC_H_BPS_CODE 6       /* bit depth code 3 */
#define FL_FLAC_H_NO_RATE 7        /* no STREAMINFO and no rate in this header */
#define FL_FLAC_H_NO_BPS 8         /* no STREAMINFO and no bit depth in this header */

/* res[FL_FLAC_R_DETAIL] with FL_FLAC_E_SUBFRAME: which subframe field is corrupt */
#define FL_FLAC_S_PAD_BIT 1
#define FL_FLAC_S_TYPE 2
#define FL_FLAC_S_WASTED 3
#define FL_FLAC_S_CODING 4
#define FL_FLAC_S_PARTITION 5
#define FL_FLAC_S_ORDER 6
#define FL_FLAC_S_PRECISION 7
#define FL_FLAC_S_SHIFT 8
#define FL_FLAC_S_RICE 9

/* Samples per channel one work row must hold (the largest block is 65535). */
#define FL_FLAC_WORK_LEN 65536
/* Channels a FLAC frame can hold (work rows needed when STREAMINFO is absent). */
#define FL_FLAC_MAX_CHANNELS 8

/* flags of fl_audio_flac_decode: FL_FLAC_PORTABLE runs the copy of the decoder compiled
 * for any CPU (tests), not the x86-64-v3 one (BMI2 + LZCNT + AVX2) the CPU may allow */
#define FL_FLAC_PORTABLE 1
/* paths reported by fl_audio_flac_path */
#define FL_FLAC_PATH_PORTABLE 0
#define FL_FLAC_PATH_V3 1

/* Decode the frames of a FLAC stream (metadata already parsed), resumably.
 *
 * buf, n_bytes   the whole file.
 * si[4]          STREAMINFO channels (1..8), bits per sample (4..32), sample rate, total
 *                samples per channel (0: unknown). si[0] == 0 (no STREAMINFO): the first
 *                frame header sets channels, bits and rate (written back into si).
 * work           int64 scratch, work_rows rows of work_len (>= FL_FLAC_WORK_LEN) samples;
 *                work_rows >= si[0], or >= FL_FLAC_MAX_CHANNELS when si[0] == 0.
 * out, out_len   interleaved float32 samples v / 2 ** (bps - 1); out_len bounds what one
 *                call decodes.
 * md5, md5_len   when md5_len > 0: the samples as libFLAC's MD5 sees them, interleaved
 *                little-endian signed integers of ceil(bps / 8) bytes (md5 may be NULL
 *                when md5_len is 0). Its size bounds what one call decodes too.
 * res[FL_FLAC_RES_SIZE]
 *                in: R_POS (byte offset of the next frame), R_DONE, R_FRAME; out: those,
 *                R_STATUS and, on error, R_DETAIL / R_EXPECTED / R_FOUND.
 *
 * Returns FL_FLAC_DONE, FL_FLAC_MORE (out full, frames remain: call again with larger
 * arrays holding the samples decoded so far) or a negative FL_FLAC_E_* code.
 * flags: 0, or FL_FLAC_PORTABLE (tests: the path for any CPU). */
int fl_audio_flac_decode(const uint8_t *buf, int64_t n_bytes, int64_t *si, int64_t *work,
                         int64_t work_rows, int64_t work_len, float *out, int64_t out_len,
                         uint8_t *md5, int64_t md5_len, int64_t *res, int flags);

/* The path fl_audio_flac_decode takes with these flags (FL_FLAC_PATH_*). */
int fl_audio_flac_path(int flags);

/* The FLAC frame header CRC-8 (polynomial 0x07) and frame CRC-16 (0x8005, four bytes a
 * step) of buf[0:n], as the decoder computes them (exposed for tests). */
unsigned fl_audio_flac_crc8(const uint8_t *buf, size_t n);
unsigned fl_audio_flac_crc16(const uint8_t *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
