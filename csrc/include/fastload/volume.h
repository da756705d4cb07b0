/* fastload volume kernels: nearest-neighbour (order 0) gather of 1-, 2-, 4- and 8-byte
 * voxels (csrc/volume/nearest.c), trilinear (order 1) resample of every source dtype with
 * the fused clip + normalise, and the flat clip + normalise (csrc/volume/trilinear.c).
 *
 * Plain C, no Python, no global state: every function is thread-safe and may be called
 * concurrently on disjoint output ranges. Indices and weights are precomputed by the caller
 * (torch's legacy "nearest" and align_corners=True rules live in
 * fastload/volume/resample.py); the kernels only gather and blend. Strides are in bytes,
 * any sign; every element pointer must be aligned for its type.
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

/* flags of fl_volume_nearest_u8, fl_volume_trilinear_* and fl_volume_clip_normalize_* */
#define FL_VOLUME_FORCE_SCALAR 1 /* portable path only, no runtime-dispatched SIMD (tests) */
#define FL_VOLUME_NO_AVX512 2    /* skip the AVX-512 VBMI path (tests: exercise SSSE3) */

/* paths reported by fl_volume_nearest_path and fl_volume_trilinear_path */
#define FL_VOLUME_PATH_SCALAR 0 /* portable C (the compiler's baseline vectorisation) */
#define FL_VOLUME_PATH_SSSE3 1
#define FL_VOLUME_PATH_AVX512VBMI 2
#define FL_VOLUME_PATH_AVX2 3

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

/* The same gather for 2-, 4- and 8-byte voxels (any dtype of that size; no flags, no SIMD
 * shuffle: four output rows share each load of xi). Same arguments and status codes. */
#define FL_VOLUME_NEAREST_WIDE(SUF, T)                                                      \
    int fl_volume_nearest_##SUF(const T *src, int64_t d_in, int64_t h_in, int64_t w_in,   \
                                ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, T *dst,          \
                                int64_t d_out, int64_t h_out, int64_t w_out, ptrdiff_t oz, \
                                ptrdiff_t oy, ptrdiff_t ox, const int64_t *zi,             \
                                const int64_t *yi, const int64_t *xi, int64_t z_start,     \
                                int64_t z_stop);
FL_VOLUME_NEAREST_WIDE(u16, uint16_t)
FL_VOLUME_NEAREST_WIDE(u32, uint32_t)
FL_VOLUME_NEAREST_WIDE(u64, uint64_t)
#undef FL_VOLUME_NEAREST_WIDE

/* Per-axis linear interpolation: output i reads sources i0[i] and i1[i] with float32
 * weights w0[i] and w1[i] (torch's align_corners=True values, computed by the caller). */
typedef struct {
    const int64_t *i0, *i1;
    const float *w0, *w1;
} fl_volume_linear_axis;

/* v -> (clip(v, lo, hi) - mean) / std in float32 (NaN passes through the clip). */
typedef struct {
    float lo, hi, mean, std;
} fl_volume_norm;

/* Trilinear resample of output planes [z_start, z_stop), one function per source dtype
 * (u8, i8, i16, u16, i32, f32, f64; converted to float32 on the fly):
 *   src: (d_in, h_in, w_in) with byte strides (sz, sy, sx);
 *   dst: float32 (d_out, h_out, w_out) with byte strides (oz, oy, ox);
 *   axes[0], axes[1], axes[2]: the z, y, x axes (lengths d_out, h_out, w_out; indices
 *   checked to be in range, z only over [z_start, z_stop));
 *   plane: float32 scratch of h_in * w_in, row: float32 scratch of w_in (one pair per
 *   concurrent caller);
 *   norm: NULL, or the clip + normalise fused into the output pass;
 *   flags: FL_VOLUME_FORCE_SCALAR or 0 (the AVX2 path where the CPU has it; both paths
 *   give bit-identical output).
 * Per output plane: blend two source planes into `plane`, then per output row blend two
 * rows of `plane` into `row` and gather two taps along x. Returns FL_OK or FL_ERR_ARG. */
#define FL_VOLUME_TRILINEAR(SUF, T)                                                         \
    int fl_volume_trilinear_##SUF(const T *src, int64_t d_in, int64_t h_in, int64_t w_in, \
                                  ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, float *dst,    \
                                  int64_t d_out, int64_t h_out, int64_t w_out,             \
                                  ptrdiff_t oz, ptrdiff_t oy, ptrdiff_t ox,                \
                                  const fl_volume_linear_axis *axes, float *plane,         \
                                  float *row, int64_t z_start, int64_t z_stop,             \
                                  const fl_volume_norm *norm, int flags);                  \
    /* dst[i] = norm(float32(src[i])) for i < n (contiguous; dst may alias a float32 src) */ \
    int fl_volume_clip_normalize_##SUF(const T *src, float *dst, int64_t n,                \
                                       const fl_volume_norm *norm, int flags);
FL_VOLUME_TRILINEAR(u8, uint8_t)
FL_VOLUME_TRILINEAR(i8, int8_t)
FL_VOLUME_TRILINEAR(i16, int16_t)
FL_VOLUME_TRILINEAR(u16, uint16_t)
FL_VOLUME_TRILINEAR(i32, int32_t)
FL_VOLUME_TRILINEAR(f32, float)
FL_VOLUME_TRILINEAR(f64, double)
#undef FL_VOLUME_TRILINEAR

/* The path fl_volume_trilinear_* and fl_volume_clip_normalize_* take with these flags:
 * FL_VOLUME_PATH_AVX2 or FL_VOLUME_PATH_SCALAR. */
int fl_volume_trilinear_path(int flags);

/* The path fl_volume_nearest_u8 takes for contiguous rows with these flags (FL_VOLUME_PATH_*). */
int fl_volume_nearest_path(int flags);

#ifdef __cplusplus
}
#endif

#endif
