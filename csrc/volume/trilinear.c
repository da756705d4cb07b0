/* Trilinear (order 1) resample with torch's align_corners=True numerics, and the flat fused
 * clip + normalise, for every source dtype; see fastload/volume.h.
 *
 * Per output z plane: (1) blend the two source planes into the float32 scratch `plane`
 * (h_in x w_in), converting the source dtype on the fly (the input is read once per output
 * plane, no separate conversion pass); (2) per output row, blend two rows of `plane` into
 * the scratch `row` (w_in); (3) gather along x with two taps into the output row, then
 * the optional clip + normalise as a second pass over the contiguous output row.
 *
 * Steps 1 and 2 and the normalise pass are plain loops over contiguous data that GCC
 * vectorises at -O3 (restrict pointers). The same source is compiled twice: for the
 * baseline target (SSE2 on x86-64: the portable path) and, on x86, for AVX2, picked at run
 * time (__builtin_cpu_supports; FL_VOLUME_FORCE_SCALAR forces the portable path so tests
 * run both). Neither path fuses a multiply-add (no FMA target, and -std=c11 implies
 * -ffp-contract=off), so every rounding matches the float32 expressions written here and
 * both paths give bit-identical output. One function per source dtype, by FL_TRILINEAR.
 */
#include <stdint.h>

#include "fastload/volume.h"

/* FL_NO_SIMD: build the portable code only (what non-x86 targets get) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FL_NO_SIMD)
#define FL_VX86 1
#endif

#define FL_INLINE static inline __attribute__((always_inline))

static int axis_ok(const fl_volume_linear_axis *a, int64_t n_out, int64_t n_in, int64_t start)
{
    for (int64_t i = start; i < n_out; i++)
        if (a->i0[i] < 0 || a->i0[i] >= n_in || a->i1[i] < 0 || a->i1[i] >= n_in) return 0;
    return 1;
}

#ifdef FL_VX86
static int cpu_has_avx2(void)
{
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2");
    }
    return has;
}
#endif

int fl_volume_trilinear_path(int flags)
{
#ifdef FL_VX86
    if (!(flags & FL_VOLUME_FORCE_SCALAR) && cpu_has_avx2()) return FL_VOLUME_PATH_AVX2;
#endif
    (void)flags;
    return FL_VOLUME_PATH_SCALAR;
}

/* v -> (clip(v, lo, hi) - mean) / std; selects, not branches (the comparisons are
 * data-dependent and mispredict on CT values); NaN fails both comparisons and passes */
FL_INLINE float normalize1(float v, const fl_volume_norm *n)
{
    float c = v > n->hi ? n->hi : v;
    c = v < n->lo ? n->lo : c;
    return (c - n->mean) / n->std;
}

/* row[x] = v0 * p0[x] + v1 * p1[x] */
FL_INLINE void blend_row(const float *restrict p0, const float *restrict p1, float v0, float v1,
                         float *restrict row, int64_t w_in)
{
    for (int64_t x = 0; x < w_in; x++) row[x] = v0 * p0[x] + v1 * p1[x];
}

/* one output row: two taps along x, then the optional clip + normalise */
FL_INLINE void gather_x(const float *restrict row, float *restrict o, ptrdiff_t ox,
                        const fl_volume_linear_axis *restrict ax, int64_t w_out,
                        const fl_volume_norm *norm)
{
    const int64_t *restrict i0 = ax->i0, *restrict i1 = ax->i1;
    const float *restrict w0 = ax->w0, *restrict w1 = ax->w1;
    if (ox == 1) {
        for (int64_t x = 0; x < w_out; x++) o[x] = w0[x] * row[i0[x]] + w1[x] * row[i1[x]];
        if (norm) { /* a second pass over the contiguous row: vectorised */
            const fl_volume_norm n = *norm;
            for (int64_t x = 0; x < w_out; x++) o[x] = normalize1(o[x], &n);
        }
    } else if (norm) {
        const fl_volume_norm n = *norm;
        for (int64_t x = 0; x < w_out; x++)
            o[x * ox] = normalize1(w0[x] * row[i0[x]] + w1[x] * row[i1[x]], &n);
    } else {
        for (int64_t x = 0; x < w_out; x++) o[x * ox] = w0[x] * row[i0[x]] + w1[x] * row[i1[x]];
    }
}

/* checks shared by every dtype; returns FL_OK or FL_ERR_ARG with the message set */
static int trilinear_check(int64_t d_in, int64_t h_in, int64_t w_in, int64_t d_out,
                           int64_t h_out, int64_t w_out, ptrdiff_t ox,
                           const fl_volume_linear_axis *axes, const float *plane,
                           const float *row, int64_t z_start, int64_t z_stop)
{
    if (d_in < 1 || h_in < 1 || w_in < 1 || d_out < 0 || h_out < 0 || w_out < 0 ||
        z_start < 0 || z_stop > d_out || z_start > z_stop || ox % (ptrdiff_t)sizeof(float)) {
        fl_set_error("trilinear: inconsistent shapes, strides or z range (source "
                     "%lldx%lldx%lld, output %lldx%lldx%lld, z %lld:%lld)",
                     (long long)d_in, (long long)h_in, (long long)w_in, (long long)d_out,
                     (long long)h_out, (long long)w_out, (long long)z_start, (long long)z_stop);
        return FL_ERR_ARG;
    }
    if (z_start == z_stop || h_out == 0 || w_out == 0) return FL_OK;
    if (!plane || !row || !axes) {
        fl_set_error("trilinear: missing scratch or index arrays");
        return FL_ERR_ARG;
    }
    /* z indices only in [z_start, z_stop): each thread checks its own range */
    if (!axis_ok(&axes[0], z_stop, d_in, z_start) || !axis_ok(&axes[1], h_out, h_in, 0) ||
        !axis_ok(&axes[2], w_out, w_in, 0)) {
        fl_set_error("trilinear: a source index is out of range");
        return FL_ERR_ARG;
    }
    return FL_OK;
}

/* the per-dtype parts: the plane blend (the only loop that reads the source), the z loop
 * (inlined into one function per path), the flat clip + normalise, and the entry points */
#define FL_TRILINEAR_BODY(SUF, T)                                                            \
    /* plane[y, x] = wa * a[y, x] (+ wb * b[y, x]), a and b source planes (byte strides) */  \
    FL_INLINE void blend_plane_##SUF(const char *a, const char *b, ptrdiff_t sy,            \
                                     ptrdiff_t sx, int64_t h, int64_t w, float wa, float wb, \
                                     float *restrict plane)                                  \
    {                                                                                        \
        for (int64_t y = 0; y < h; y++) {                                                    \
            float *restrict p = plane + y * w;                                               \
            const char *ra = a + y * sy, *rb = b + y * sy;                                   \
            if (sx == (ptrdiff_t)sizeof(T)) { /* contiguous rows: vectorised */              \
                const T *restrict ta = (const T *)ra, *restrict tb = (const T *)rb;          \
                if (wb == 0.0f) {                                                            \
                    for (int64_t x = 0; x < w; x++) p[x] = wa * (float)ta[x];                \
                } else {                                                                     \
                    for (int64_t x = 0; x < w; x++)                                          \
                        p[x] = wa * (float)ta[x] + wb * (float)tb[x];                        \
                }                                                                            \
            } else if (wb == 0.0f) {                                                         \
                for (int64_t x = 0; x < w; x++) p[x] = wa * (float)*(const T *)(ra + x * sx); \
            } else {                                                                         \
                for (int64_t x = 0; x < w; x++)                                              \
                    p[x] = wa * (float)*(const T *)(ra + x * sx) +                           \
                           wb * (float)*(const T *)(rb + x * sx);                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    FL_INLINE void run_##SUF(const char *s, int64_t h_in, int64_t w_in, ptrdiff_t sz,        \
                             ptrdiff_t sy, ptrdiff_t sx, char *d, int64_t h_out,             \
                             int64_t w_out, ptrdiff_t oz, ptrdiff_t oy, ptrdiff_t oxf,       \
                             const fl_volume_linear_axis *axes, float *plane, float *row,    \
                             int64_t z_start, int64_t z_stop, const fl_volume_norm *norm)    \
    {                                                                                        \
        const fl_volume_linear_axis *za = &axes[0], *ya = &axes[1], *xa = &axes[2];          \
        for (int64_t z = z_start; z < z_stop; z++) {                                         \
            blend_plane_##SUF(s + za->i0[z] * sz, s + za->i1[z] * sz, sy, sx, h_in, w_in,    \
                              za->w0[z], za->w1[z], plane);                                  \
            for (int64_t y = 0; y < h_out; y++) {                                            \
                blend_row(plane + ya->i0[y] * w_in, plane + ya->i1[y] * w_in, ya->w0[y],     \
                          ya->w1[y], row, w_in);                                             \
                gather_x(row, (float *)(d + z * oz + y * oy), oxf, xa, w_out, norm);         \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
                                                                                             \
    /* dst may be src (float32): no restrict */                                              \
    FL_INLINE void clip_normalize_##SUF(const T *src, float *dst, int64_t n,                 \
                                        const fl_volume_norm *norm)                          \
    {                                                                                        \
        const fl_volume_norm nv = *norm;                                                     \
        for (int64_t i = 0; i < n; i++) dst[i] = normalize1((float)src[i], &nv);             \
    }

/* one copy of the loops per path: baseline (portable) and AVX2 */
#define FL_TRILINEAR_PATH(SUF, T, PATH, ATTR)                                                 \
    ATTR static void run_##PATH##_##SUF(                                                     \
        const char *s, int64_t h_in, int64_t w_in, ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, \
        char *d, int64_t h_out, int64_t w_out, ptrdiff_t oz, ptrdiff_t oy, ptrdiff_t oxf,    \
        const fl_volume_linear_axis *axes, float *plane, float *row, int64_t z_start,        \
        int64_t z_stop, const fl_volume_norm *norm)                                          \
    {                                                                                        \
        run_##SUF(s, h_in, w_in, sz, sy, sx, d, h_out, w_out, oz, oy, oxf, axes, plane, row, \
                  z_start, z_stop, norm);                                                    \
    }                                                                                        \
    ATTR static void clip_normalize_##PATH##_##SUF(const T *src, float *dst, int64_t n,      \
                                                   const fl_volume_norm *norm)               \
    {                                                                                        \
        clip_normalize_##SUF(src, dst, n, norm);                                             \
    }

#ifdef FL_VX86
#define FL_TRILINEAR_AVX2(SUF, T) FL_TRILINEAR_PATH(SUF, T, avx2, __attribute__((target("avx2"))))
#define FL_DISPATCH(flags, FN, SUF, ...)                                                      \
    do {                                                                                     \
        if (fl_volume_trilinear_path(flags) == FL_VOLUME_PATH_AVX2) FN##_avx2_##SUF(__VA_ARGS__); \
        else FN##_portable_##SUF(__VA_ARGS__);                                               \
    } while (0)
#else
#define FL_TRILINEAR_AVX2(SUF, T)
#define FL_DISPATCH(flags, FN, SUF, ...) ((void)(flags), FN##_portable_##SUF(__VA_ARGS__))
#endif

#define FL_TRILINEAR(SUF, T)                                                                  \
    FL_TRILINEAR_BODY(SUF, T)                                                                \
    FL_TRILINEAR_PATH(SUF, T, portable, )                                                    \
    FL_TRILINEAR_AVX2(SUF, T)                                                                \
                                                                                             \
    int fl_volume_trilinear_##SUF(                                                           \
        const T *src, int64_t d_in, int64_t h_in, int64_t w_in, ptrdiff_t sz, ptrdiff_t sy,  \
        ptrdiff_t sx, float *dst, int64_t d_out, int64_t h_out, int64_t w_out, ptrdiff_t oz, \
        ptrdiff_t oy, ptrdiff_t ox, const fl_volume_linear_axis *axes, float *plane,         \
        float *row, int64_t z_start, int64_t z_stop, const fl_volume_norm *norm, int flags)  \
    {                                                                                        \
        int status = trilinear_check(d_in, h_in, w_in, d_out, h_out, w_out, ox, axes, plane, \
                                     row, z_start, z_stop);                                  \
        if (status != FL_OK || z_start == z_stop || h_out == 0 || w_out == 0) return status; \
        ptrdiff_t oxf = ox / (ptrdiff_t)sizeof(float);                                       \
        FL_DISPATCH(flags, run, SUF, (const char *)src, h_in, w_in, sz, sy, sx, (char *)dst, \
                    h_out, w_out, oz, oy, oxf, axes, plane, row, z_start, z_stop, norm);     \
        return FL_OK;                                                                        \
    }                                                                                        \
                                                                                             \
    int fl_volume_clip_normalize_##SUF(const T *src, float *dst, int64_t n,                  \
                                       const fl_volume_norm *norm, int flags)                \
    {                                                                                        \
        if (n < 0 || !norm) {                                                                \
            fl_set_error("clip_normalize: invalid arguments (n = %lld)", (long long)n);      \
            return FL_ERR_ARG;                                                               \
        }                                                                                    \
        FL_DISPATCH(flags, clip_normalize, SUF, src, dst, n, norm);                          \
        return FL_OK;                                                                        \
    }

FL_TRILINEAR(u8, uint8_t)
FL_TRILINEAR(i8, int8_t)
FL_TRILINEAR(i16, int16_t)
FL_TRILINEAR(u16, uint16_t)
FL_TRILINEAR(i32, int32_t)
FL_TRILINEAR(f32, float)
FL_TRILINEAR(f64, double)
