/* Nearest-neighbour (order 0) gather of 1-byte volumes, see fastload/volume.h.
 *
 * The hot loop is the x-gather of bytes within one source row. For each call a "plan" is
 * built once from xi and shared by every row: the output row is cut into blocks of B
 * consecutive outputs (B = 64 for AVX-512 VBMI, 16 for SSSE3); a block whose source indices
 * lie in a window of at most 2B bytes is served by one or two loads of the window and a byte
 * permutation (vpermb / vpermi2b, or two pshufb + or) with a precomputed index vector; other
 * blocks (strong downsampling, the ragged end) are gathered one byte at a time. Runs of equal
 * yi (zi) copy the previous output row (plane), which is the common case when upsampling.
 * Runtime dispatch with __builtin_cpu_supports; no -march flags needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastload/volume.h"

/* FL_NO_SIMD: build the portable code only (what non-x86 targets get) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FL_NO_SIMD)
#define FL_VX86 1
#include <immintrin.h>
#endif

#ifndef FL_PREFETCH_ROWS
#define FL_PREFETCH_ROWS 2
#endif

enum { KIND_SCALAR = 0, KIND_ONE = 1, KIND_TWO = 2 };

typedef struct {
    int64_t block;    /* outputs per block */
    int64_t n_blocks;
    int64_t *base;    /* first source byte of each block's window */
    int64_t *x0;      /* first output of each block */
    int64_t *n;       /* outputs in each block */
    uint8_t *kind;    /* KIND_* */
    uint8_t *idx;     /* 2 * block bytes per block: shuffle indices */
    uint64_t *mask0;  /* VBMI: valid bytes of the first / second 64-byte load */
    uint64_t *mask1;
    void *mem;
} plan_t;

static void plan_free(plan_t *p) { free(p->mem); }

#ifdef FL_VX86
/* block = 64: VBMI plan; block = 16: SSSE3 plan. Returns 0, or -1 on allocation failure. */
static int plan_build(plan_t *p, const int64_t *xi, int64_t w_out, int64_t w_in, int64_t block)
{
    int64_t nb = (w_out + block - 1) / block;
    size_t bytes = (size_t)nb * (5 * sizeof(int64_t) + 1 + 2 * (size_t)block);
    p->mem = malloc(bytes ? bytes : 1);
    if (!p->mem) return -1;
    p->block = block;
    p->n_blocks = nb;
    p->base = (int64_t *)p->mem;
    p->x0 = p->base + nb;
    p->n = p->x0 + nb;
    p->mask0 = (uint64_t *)(p->n + nb);
    p->mask1 = p->mask0 + nb;
    p->idx = (uint8_t *)(p->mask1 + nb);
    p->kind = p->idx + (size_t)nb * 2 * block;
    for (int64_t b = 0; b < nb; b++) {
        int64_t x0 = b * block, x1 = x0 + block < w_out ? x0 + block : w_out;
        int64_t lo = xi[x0], hi = xi[x0];
        for (int64_t x = x0; x < x1; x++) {
            if (xi[x] < lo) lo = xi[x];
            if (xi[x] > hi) hi = xi[x];
        }
        int64_t span = hi - lo;
        uint8_t *ix = p->idx + (size_t)b * 2 * block;
        memset(ix, 0x80, 2 * (size_t)block);
        p->base[b] = lo;
        p->x0[b] = x0;
        p->n[b] = x1 - x0;
        p->mask0[b] = p->mask1[b] = 0;
        p->kind[b] = KIND_SCALAR;
        if (block == 64) {
            if (span >= 128) continue;
            int64_t avail = w_in - lo; /* bytes of the row from the window start */
            p->mask0[b] = avail >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << avail) - 1);
            if (span >= 64) {
                int64_t a1 = avail - 64;
                p->mask1[b] = a1 >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << a1) - 1);
            }
            p->kind[b] = span < 64 ? KIND_ONE : KIND_TWO;
            for (int64_t x = x0; x < x1; x++) ix[x - x0] = (uint8_t)(xi[x] - lo);
        } else {
            /* SSSE3: full blocks whose 32-byte window lies inside the row */
            if (span >= 32 || x1 - x0 != block || lo + 32 > w_in) continue;
            p->kind[b] = KIND_TWO;
            for (int64_t x = x0; x < x1; x++) {
                int64_t d = xi[x] - lo;
                if (d < 16) ix[x - x0] = (uint8_t)d;
                else ix[block + x - x0] = (uint8_t)(d - 16);
            }
        }
    }
    return 0;
}
#endif

static inline void gather_scalar_block(const uint8_t *restrict r, uint8_t *restrict o,
                                       const int64_t *restrict xi, int64_t x0, int64_t n)
{
    for (int64_t x = x0; x < x0 + n; x++) o[x] = r[xi[x]];
}

/* contiguous rows, no SIMD */
static void row_scalar(const uint8_t *restrict r, uint8_t *restrict o, const int64_t *restrict xi,
                       int64_t w_out)
{
    gather_scalar_block(r, o, xi, 0, w_out);
}

/* any strides (bytes) */
static void row_strided(const uint8_t *r, ptrdiff_t sx, uint8_t *o, ptrdiff_t ox,
                        const int64_t *restrict xi, int64_t w_out)
{
    for (int64_t x = 0; x < w_out; x++) o[x * ox] = r[xi[x] * sx];
}

#ifdef FL_VX86
static int cpu_has_vbmi(void)
{
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512vbmi");
    }
    return has;
}

static int cpu_has_ssse3(void)
{
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("ssse3");
    }
    return has;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void
row_vbmi(const uint8_t *restrict r, uint8_t *restrict o, const int64_t *restrict xi,
         const plan_t *restrict p)
{
    for (int64_t b = 0; b < p->n_blocks; b++) {
        const uint8_t *w = r + p->base[b];
        uint8_t *d = o + p->x0[b];
        __m512i ix = _mm512_loadu_si512((const void *)(p->idx + (size_t)b * 128));
        __m512i v;
        if (p->kind[b] == KIND_ONE) {
            v = _mm512_permutexvar_epi8(ix, _mm512_maskz_loadu_epi8(p->mask0[b], w));
        } else if (p->kind[b] == KIND_TWO) {
            __m512i a = _mm512_maskz_loadu_epi8(p->mask0[b], w);
            __m512i c = _mm512_maskz_loadu_epi8(p->mask1[b], w + 64);
            v = _mm512_permutex2var_epi8(a, ix, c);
        } else {
            gather_scalar_block(r, o, xi, p->x0[b], p->n[b]);
            continue;
        }
        if (p->n[b] == 64) _mm512_storeu_si512((void *)d, v);
        else _mm512_mask_storeu_epi8(d, ((uint64_t)1 << p->n[b]) - 1, v);
    }
}

__attribute__((target("ssse3"))) static void row_ssse3(const uint8_t *restrict r,
                                                       uint8_t *restrict o,
                                                       const int64_t *restrict xi,
                                                       const plan_t *restrict p)
{
    for (int64_t b = 0; b < p->n_blocks; b++) {
        if (p->kind[b] != KIND_TWO) {
            gather_scalar_block(r, o, xi, p->x0[b], p->n[b]);
            continue;
        }
        const uint8_t *w = r + p->base[b];
        const uint8_t *ix = p->idx + (size_t)b * 32;
        __m128i lo = _mm_loadu_si128((const __m128i *)w);
        __m128i hi = _mm_loadu_si128((const __m128i *)(w + 16));
        __m128i v = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_loadu_si128((const __m128i *)ix)),
                                 _mm_shuffle_epi8(hi, _mm_loadu_si128((const __m128i *)(ix + 16))));
        _mm_storeu_si128((__m128i *)(o + p->x0[b]), v);
    }
}
#endif

int fl_volume_nearest_path(int flags)
{
    if (flags & FL_VOLUME_FORCE_SCALAR) return FL_VOLUME_PATH_SCALAR;
#ifdef FL_VX86
    if (!(flags & FL_VOLUME_NO_AVX512) && cpu_has_vbmi()) return FL_VOLUME_PATH_AVX512VBMI;
    if (cpu_has_ssse3()) return FL_VOLUME_PATH_SSSE3;
#endif
    return FL_VOLUME_PATH_SCALAR;
}

static int in_range(const int64_t *ix, int64_t n, int64_t limit)
{
    for (int64_t i = 0; i < n; i++)
        if (ix[i] < 0 || ix[i] >= limit) return 0;
    return 1;
}

static void copy_row(uint8_t *dst, const uint8_t *src, ptrdiff_t ox, int64_t w_out)
{
    if (ox == 1) {
        memcpy(dst, src, (size_t)w_out);
    } else {
        for (int64_t x = 0; x < w_out; x++) dst[x * ox] = src[x * ox];
    }
}

int fl_volume_nearest_u8(const uint8_t *src, int64_t d_in, int64_t h_in, int64_t w_in,
                         ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, uint8_t *dst,
                         int64_t d_out, int64_t h_out, int64_t w_out, ptrdiff_t oz,
                         ptrdiff_t oy, ptrdiff_t ox, const int64_t *zi, const int64_t *yi,
                         const int64_t *xi, int64_t z_start, int64_t z_stop, int flags)
{
    if (d_in < 1 || h_in < 1 || w_in < 1 || d_out < 0 || h_out < 0 || w_out < 0 ||
        z_start < 0 || z_stop > d_out || z_start > z_stop) {
        fl_set_error("nearest_u8: inconsistent shapes or z range (source %lldx%lldx%lld, "
                     "output %lldx%lldx%lld, z %lld:%lld)", (long long)d_in, (long long)h_in,
                     (long long)w_in, (long long)d_out, (long long)h_out, (long long)w_out,
                     (long long)z_start, (long long)z_stop);
        return FL_ERR_ARG;
    }
    if (z_start == z_stop || h_out == 0 || w_out == 0) return FL_OK;
    if (!in_range(zi + z_start, z_stop - z_start, d_in) || !in_range(yi, h_out, h_in) ||
        !in_range(xi, w_out, w_in)) {
        fl_set_error("nearest_u8: a source index is out of range");
        return FL_ERR_ARG;
    }

    int path = (sx == 1 && ox == 1) ? fl_volume_nearest_path(flags) : -1;
    plan_t plan = {0};
#ifdef FL_VX86
    if (path == FL_VOLUME_PATH_AVX512VBMI || path == FL_VOLUME_PATH_SSSE3) {
        if (plan_build(&plan, xi, w_out, w_in, path == FL_VOLUME_PATH_AVX512VBMI ? 64 : 16)) {
            fl_set_error("nearest_u8: out of memory for the shuffle plan");
            return FL_ERR_NOMEM;
        }
    }
#endif
    for (int64_t z = z_start; z < z_stop; z++) {
        uint8_t *op = dst + z * oz;
        if (z > z_start && zi[z] == zi[z - 1]) {
            for (int64_t y = 0; y < h_out; y++) copy_row(op + y * oy, op - oz + y * oy, ox, w_out);
            continue;
        }
        const uint8_t *sp = src + zi[z] * sz;
        for (int64_t y = 0; y < h_out; y++) {
            uint8_t *o = op + y * oy;
            if (y > 0 && yi[y] == yi[y - 1]) {
                copy_row(o, o - oy, ox, w_out);
                continue;
            }
            const uint8_t *r = sp + yi[y] * sy;
#ifdef __GNUC__
            if (sx == 1 && y + FL_PREFETCH_ROWS < h_out) { /* rows jump: help the prefetcher */
                const uint8_t *nr = sp + yi[y + FL_PREFETCH_ROWS] * sy + xi[0];
                int64_t span = xi[w_out - 1] - xi[0];
                for (int64_t k = 0; k <= span; k += 64) __builtin_prefetch(nr + k, 0, 3);
            }
#endif
            switch (path) {
#ifdef FL_VX86
            case FL_VOLUME_PATH_AVX512VBMI: row_vbmi(r, o, xi, &plan); break;
            case FL_VOLUME_PATH_SSSE3: row_ssse3(r, o, xi, &plan); break;
#endif
            case FL_VOLUME_PATH_SCALAR: row_scalar(r, o, xi, w_out); break;
            default: row_strided(r, sx, o, ox, xi, w_out); break;
            }
        }
    }
    plan_free(&plan);
    return FL_OK;
}

/* one output row of w_out voxels of `size` bytes, x stride ox bytes, copied from another */
static void copy_row_wide(char *dst, const char *src, ptrdiff_t ox, int64_t w_out, size_t size)
{
    if (ox == (ptrdiff_t)size) {
        memcpy(dst, src, (size_t)w_out * size);
    } else {
        for (int64_t x = 0; x < w_out; x++) memcpy(dst + x * ox, src + x * ox, size);
    }
}

/* Wider voxels (2, 4, 8 bytes: any dtype of that size, gathered as unsigned integers).
 * Four output rows share each load of xi; contiguous rows (sx == ox == itemsize) index
 * typed pointers, other strides go through byte offsets. A run of equal zi copies the
 * previous output plane (upsampling along z). */
#define FL_NEAREST_WIDE(SUF, T)                                                               \
    int fl_volume_nearest_##SUF(const T *src, int64_t d_in, int64_t h_in, int64_t w_in,     \
                                ptrdiff_t sz, ptrdiff_t sy, ptrdiff_t sx, T *dst,            \
                                int64_t d_out, int64_t h_out, int64_t w_out, ptrdiff_t oz,   \
                                ptrdiff_t oy, ptrdiff_t ox, const int64_t *zi,               \
                                const int64_t *yi, const int64_t *xi, int64_t z_start,       \
                                int64_t z_stop)                                              \
    {                                                                                        \
        if (d_in < 1 || h_in < 1 || w_in < 1 || d_out < 0 || h_out < 0 || w_out < 0 ||       \
            z_start < 0 || z_stop > d_out || z_start > z_stop) {                             \
            fl_set_error("nearest_" #SUF ": inconsistent shapes or z range (source "         \
                         "%lldx%lldx%lld, output %lldx%lldx%lld, z %lld:%lld)",              \
                         (long long)d_in, (long long)h_in, (long long)w_in,                  \
                         (long long)d_out, (long long)h_out, (long long)w_out,               \
                         (long long)z_start, (long long)z_stop);                             \
            return FL_ERR_ARG;                                                               \
        }                                                                                    \
        if (z_start == z_stop || h_out == 0 || w_out == 0) return FL_OK;                     \
        if (!in_range(zi + z_start, z_stop - z_start, d_in) || !in_range(yi, h_out, h_in) || \
            !in_range(xi, w_out, w_in)) {                                                    \
            fl_set_error("nearest_" #SUF ": a source index is out of range");                \
            return FL_ERR_ARG;                                                               \
        }                                                                                    \
        const int contiguous = sx == (ptrdiff_t)sizeof(T) && ox == (ptrdiff_t)sizeof(T);     \
        for (int64_t z = z_start; z < z_stop; z++) {                                         \
            const char *sp = (const char *)src + zi[z] * sz;                                 \
            char *op = (char *)dst + z * oz;                                                 \
            if (z > z_start && zi[z] == zi[z - 1]) {                                         \
                for (int64_t y = 0; y < h_out; y++)                                          \
                    copy_row_wide(op + y * oy, op - oz + y * oy, ox, w_out, sizeof(T));      \
                continue;                                                                    \
            }                                                                                \
            int64_t y = 0;                                                                   \
            for (; y + 4 <= h_out; y += 4) {                                                 \
                const char *r0 = sp + yi[y] * sy, *r1 = sp + yi[y + 1] * sy;                 \
                const char *r2 = sp + yi[y + 2] * sy, *r3 = sp + yi[y + 3] * sy;             \
                char *o0 = op + y * oy, *o1 = o0 + oy, *o2 = o1 + oy, *o3 = o2 + oy;         \
                if (contiguous) {                                                            \
                    const T *t0 = (const T *)r0, *t1 = (const T *)r1;                        \
                    const T *t2 = (const T *)r2, *t3 = (const T *)r3;                        \
                    T *restrict d0 = (T *)o0, *restrict d1 = (T *)o1;                        \
                    T *restrict d2 = (T *)o2, *restrict d3 = (T *)o3;                        \
                    for (int64_t x = 0; x < w_out; x++) {                                    \
                        int64_t k = xi[x];                                                   \
                        d0[x] = t0[k];                                                       \
                        d1[x] = t1[k];                                                       \
                        d2[x] = t2[k];                                                       \
                        d3[x] = t3[k];                                                       \
                    }                                                                        \
                } else {                                                                     \
                    for (int64_t x = 0; x < w_out; x++) {                                    \
                        ptrdiff_t k = xi[x] * sx, j = x * ox;                                \
                        *(T *)(o0 + j) = *(const T *)(r0 + k);                               \
                        *(T *)(o1 + j) = *(const T *)(r1 + k);                               \
                        *(T *)(o2 + j) = *(const T *)(r2 + k);                               \
                        *(T *)(o3 + j) = *(const T *)(r3 + k);                               \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            for (; y < h_out; y++) {                                                         \
                const char *r = sp + yi[y] * sy;                                             \
                char *o = op + y * oy;                                                       \
                for (int64_t x = 0; x < w_out; x++)                                          \
                    *(T *)(o + x * ox) = *(const T *)(r + xi[x] * sx);                       \
            }                                                                                \
        }                                                                                    \
        return FL_OK;                                                                        \
    }

FL_NEAREST_WIDE(u16, uint16_t)
FL_NEAREST_WIDE(u32, uint32_t)
FL_NEAREST_WIDE(u64, uint64_t)
