/* fastload volume kernels: nearest-neighbour (order 0) gather of 1-byte voxels.
 *
 * Plain C, no Python, no global state: every function is thread-safe and may be called
 * concurrently on disjoint output ranges. Indices are precomputed by the caller (torch's
 * legacy "nearest" rule lives in fastload/volume/resample.py); the kernel only gathers.
 */
#ifndef FASTLOAD_VOLUME_H
#define FASTLOAD_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#include "fastload/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* status codes: FL_OK, FL_ERR_ARG (index out of range / inconsistent shapes),
 * FL_ERR_NOMEM (allocation of the per-call shuffle plan failed); the message is in
 * fl_last_error (fastload/status.h) */

/* flags of fl_volume_nearest_u8 */
#define FL_VOLUME_FORCE_SCALAR 1 /* portable scalar path only (tests) */
#define FL_VOLUME_NO_AVX512 2    /* skip the AVX-512 VBMI path (tests: exercise SSSE3) */

/* paths reported by fl_volume_nearest_path */
#define FL_VOLUME_PATH_SCALAR 0
#define FL_VOLUME_PATH_SSSE3 1
#define FL_VOLUME_PATH_AVX512VBMI 2

/* Nearest gather of output planes [z_start, z_stop):
 *   dst[z, y, x] = src[zi[z], yi[y], xi[x]]
 * src: (d_in, h_in, w_in) bytes with byte strides (sz, sy, sx), any sign;
 * dst: (d_out, h_out, w_out) bytes with byte strides (oz, oy, ox), any sign;
 * zi, yi, xi: int64 source index per output index (checked to be in range).
 * The SIMD paths need sx == 1 and ox == 1; other strides use the scalar path.
 * A run of equal yi (zi) copies the previous output row (plane) instead of gathering.
 * Returns FL_OK or an error code (message in fl_last_error). */
int fl_volume_nearest_u8(const uint8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                         ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, uint8_t *dst,
                         int64_t d_out, int64_t h_out, int64_t w_out, ptrdiff_t oz,
                         ptrdiff_t oy, ptrdiff_t ox, const int64_t *zi, const int64_t *yi,
                         const int64_t *xi, int64_t z_start, int64_t z_stop, int flags);

/* The path fl_volume_nearest_u8 takes for contiguous rows with these flags (FL_VOLUME_PATH_*). */
int fl_volume_nearest_path(int flags);

#ifdef __cplusplus
}
#endif

#endif
