/* Fused separable resample (triangle filter, PIL pixel-centre semantics, optional
 * antialias) + flip + per-channel normalize + HWC/CHW layout + uint8/float32/float16
 * output, written straight into the caller's buffer.
 *
 * One pass per output row: the vertical taps of the source rows are blended into a
 * float row (contiguous, vectorised), then the horizontal taps, normalize and store.
 * The horizontal pass is picked by CPU and layout:
 *  - AVX-512F (either layout): the vertical pass also splits the row into R, G, B planes;
 *    each block of 16 outputs gathers every tap's source values from a 32- or 64-pixel
 *    window of the plane with vpermt2ps (tables of index + weight per block and tap);
 *    HWC output is interleaved from the output planes. Used when every block spans <= 64
 *    source pixels (downscales up to ~3.5x).
 *  - CHW with AVX2 + FMA: blocks of 8 outputs; each source pixel of the block's span is
 *    broadcast per channel and multiplied by a dense column of the 8 outputs' weights.
 *  - HWC with AVX2 + FMA: two pixels (R, G, B, pad) per 256-bit vector, per-pixel taps.
 *  - otherwise portable 4-float vectors.
 * The path is picked at run time from the CPU, capped per call by the FL_SIMD_* flags
 * (fl_image_resize_simd names it), so tests run every path the machine supports.
 * All SIMD paths sum each output's taps in source order with FMA (zero weights add exact
 * zeros), so they give bit-identical results; the portable path differs by float rounding.
 * float16 output uses F16C unless FL_SIMD_PORTABLE (a software conversion, same bits).
 * Per-thread scratch (coefficients, tables, rows) is reused between calls.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fastload/image.h"
#include "internal.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FL_X86 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ scratch */

typedef struct {
    fl_buf wy, ty, wx, tx; /* weights and (start, count) per output row / column */
    fl_buf row;            /* vertically blended float row */
    fl_buf rowptr;         /* source row pointers of one output row */
    fl_buf stage;          /* normalized output row, 4 floats per pixel */
    fl_buf pairw;          /* horizontal weights of pixel pairs (AVX2 path) */
    fl_buf blockw;         /* dense weights of 8-output blocks (AVX2 planar path) */
    fl_buf blocki;         /* (first source pixel, span) of each 8-output block */
    fl_buf planes8;        /* three output planes padded to a multiple of 8 */
    fl_buf perm;           /* per 16-output block and tap: source index, weight (AVX-512) */
    fl_buf srcplanes;      /* the vertically blended row as three planes (AVX-512) */
} resize_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    resize_scratch *s = p;
    fl_buf_free(&s->wy);
    fl_buf_free(&s->ty);
    fl_buf_free(&s->wx);
    fl_buf_free(&s->tx);
    fl_buf_free(&s->row);
    fl_buf_free(&s->rowptr);
    fl_buf_free(&s->stage);
    fl_buf_free(&s->pairw);
    fl_buf_free(&s->blockw);
    fl_buf_free(&s->blocki);
    fl_buf_free(&s->planes8);
    fl_buf_free(&s->perm);
    fl_buf_free(&s->srcplanes);
    free(s);
}

static void scratch_make_key(void)
{
    pthread_key_create(&scratch_key, scratch_destroy);
}

static resize_scratch *thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_make_key);
    resize_scratch *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s != NULL && pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

/* ------------------------------------------------------------------ coefficients */

typedef struct {
    int start, n;
} tap_range;

/* Triangle-filter taps for out_size outputs covering [in0, in0 + len) of an axis of
 * in_size pixels. Weights for output i live at w[i * max_n]. */
static int make_coeffs(double in0, double len, int in_size, int out_size, int flags,
                       int flip_out, int flip_src, fl_buf *wbuf, fl_buf *tbuf,
                       float **w_out, tap_range **t_out, int *max_n_out, int *used_out)
{
    double scale = len / out_size;
    double fscale = ((flags & FL_ANTIALIAS) && scale > 1.0) ? scale : 1.0;
    double support = fscale;
    int max_n = (int)ceil(support) * 2 + 2;
    if (max_n > in_size + 1)
        max_n = in_size + 1;
    float *w = fl_buf_get(wbuf, sizeof(float) * (size_t)out_size * (size_t)max_n);
    tap_range *t = fl_buf_get(tbuf, sizeof(tap_range) * (size_t)out_size);
    if (w == NULL || t == NULL)
        return FL_ERR_NOMEM;
    for (int i = 0; i < out_size; i++) {
        double center = (flags & FL_LEGACY_CENTERS) ? in0 + i * scale + 0.5
                                                    : in0 + (i + 0.5) * scale;
        int lo = (int)floor(center - support + 0.5);
        int hi = (int)floor(center + support + 0.5);
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        if (hi - lo > max_n)
            hi = lo + max_n;
        int pos = flip_out ? out_size - 1 - i : i;
        float *wi = w + (size_t)pos * max_n;
        double sum = 0.0;
        for (int k = lo; k < hi; k++) {
            double v = 1.0 - fabs((k - center + 0.5) / fscale);
            v = v > 0.0 ? v : 0.0;
            wi[k - lo] = (float)v;
            sum += v;
        }
        if (!(sum > 0.0)) { /* box outside the image: nearest edge pixel */
            int k = (int)floor(center);
            k = k < 0 ? 0 : (k >= in_size ? in_size - 1 : k);
            lo = k;
            hi = k + 1;
            wi[0] = 1.0f;
            sum = 1.0;
        }
        int n = hi - lo;
        float inv = (float)(1.0 / sum);
        for (int k = 0; k < n; k++)
            wi[k] *= inv;
        if (flip_src) {
            for (int a = 0, b = n - 1; a < b; a++, b--) {
                float tw = wi[a];
                wi[a] = wi[b];
                wi[b] = tw;
            }
            t[pos].start = in_size - hi;
        } else {
            t[pos].start = lo;
        }
        t[pos].n = n;
    }
    /* pad every output to the same tap count with zero weights (fixed-length loops) */
    int used = 1;
    for (int i = 0; i < out_size; i++)
        used = t[i].n > used ? t[i].n : used;
    for (int i = 0; i < out_size; i++)
        for (int k = t[i].n; k < used; k++)
            w[(size_t)i * max_n + k] = 0.0f;
    *w_out = w;
    *t_out = t;
    *max_n_out = max_n;
    *used_out = used;
    return FL_OK;
}

/* ------------------------------------------------------------------ inner loops */

typedef float v4f __attribute__((vector_size(16)));

/* dst[i] = sum_k w[k] * rows[k][i] for i < len (portable; blend_rows_avx2 is the AVX2 one,
 * so no target clones here: FL_SIMD_PORTABLE really runs baseline code) */
static void blend_rows(float *restrict dst, const uint8_t *const *rows, const float *w, int n,
                       int len)
{
    const uint8_t *restrict r0 = rows[0];
    float w0 = w[0];
    if (n == 1) {
        for (int i = 0; i < len; i++)
            dst[i] = w0 * (float)r0[i];
        return;
    }
    const uint8_t *restrict r1 = rows[1];
    float w1 = w[1];
    for (int i = 0; i < len; i++)
        dst[i] = w0 * (float)r0[i] + w1 * (float)r1[i];
    for (int k = 2; k < n; k++) {
        const uint8_t *restrict rk = rows[k];
        float wk = w[k];
        for (int i = 0; i < len; i++)
            dst[i] += wk * (float)rk[i];
    }
}

/* horizontal taps + normalize into stage (4 floats per pixel, lane 3 = 0). Every output
 * reads nt taps (zero-padded weights; the row has nt zero pixels of tail padding); four
 * outputs at a time keep four independent accumulator chains in flight. */
static void blend_cols(float *restrict stage, const float *row, int xlo, const float *wx,
                       const tap_range *tx, int stride, int nt, int out_w, v4f mean,
                       v4f inv_std, int planar)
{
    float *restrict pr = stage, *restrict pg = stage + out_w + 4, *restrict pb = pg + out_w + 4;
    const v4f mask = {1.0f, 1.0f, 1.0f, 0.0f};
    int x = 0;
    for (; x + 4 <= out_w; x += 4) {
        const float *p0 = row + (size_t)(tx[x].start - xlo) * 3;
        const float *p1 = row + (size_t)(tx[x + 1].start - xlo) * 3;
        const float *p2 = row + (size_t)(tx[x + 2].start - xlo) * 3;
        const float *p3 = row + (size_t)(tx[x + 3].start - xlo) * 3;
        const float *w0 = wx + (size_t)x * stride;
        const float *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
        v4f a0 = {0.0f, 0.0f, 0.0f, 0.0f}, a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < nt; k++) {
            v4f v0, v1, v2, v3;
            memcpy(&v0, p0 + 3 * k, sizeof v0);
            memcpy(&v1, p1 + 3 * k, sizeof v1);
            memcpy(&v2, p2 + 3 * k, sizeof v2);
            memcpy(&v3, p3 + 3 * k, sizeof v3);
            a0 += v0 * w0[k];
            a1 += v1 * w1[k];
            a2 += v2 * w2[k];
            a3 += v3 * w3[k];
        }
        a0 = (a0 - mean) * inv_std * mask;
        a1 = (a1 - mean) * inv_std * mask;
        a2 = (a2 - mean) * inv_std * mask;
        a3 = (a3 - mean) * inv_std * mask;
        if (planar) { /* 4x4 transpose: R, G, B of four pixels */
            v4f t0 = __builtin_shufflevector(a0, a1, 0, 4, 1, 5);
            v4f t1 = __builtin_shufflevector(a2, a3, 0, 4, 1, 5);
            v4f t2 = __builtin_shufflevector(a0, a1, 2, 6, 3, 7);
            v4f t3 = __builtin_shufflevector(a2, a3, 2, 6, 3, 7);
            v4f r = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
            v4f g = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
            v4f b = __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
            memcpy(pr + x, &r, sizeof r);
            memcpy(pg + x, &g, sizeof g);
            memcpy(pb + x, &b, sizeof b);
            continue;
        }
        memcpy(stage + 4 * (size_t)x, &a0, sizeof a0);
        memcpy(stage + 4 * (size_t)x + 4, &a1, sizeof a1);
        memcpy(stage + 4 * (size_t)x + 8, &a2, sizeof a2);
        memcpy(stage + 4 * (size_t)x + 12, &a3, sizeof a3);
    }
    for (; x < out_w; x++) {
        const float *p = row + (size_t)(tx[x].start - xlo) * 3;
        const float *w = wx + (size_t)x * stride;
        v4f acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int k = 0; k < nt; k++) {
            v4f v;
            memcpy(&v, p + 3 * k, sizeof v);
            acc += v * w[k];
        }
        acc = (acc - mean) * inv_std * mask;
        if (planar) {
            pr[x] = acc[0];
            pg[x] = acc[1];
            pb[x] = acc[2];
        } else {
            memcpy(stage + 4 * (size_t)x, &acc, sizeof acc);
        }
    }
}

/* planes (3 x (out_w + 4) floats) from 4-floats-per-pixel stage */
static void deinterleave(float *restrict planes, const float *restrict inter, int out_w)
{
    float *pr = planes, *pg = planes + out_w + 4, *pb = pg + out_w + 4;
    int x = 0;
    for (; x + 4 <= out_w; x += 4) {
        v4f a0, a1, a2, a3;
        memcpy(&a0, inter + 4 * x, 16);
        memcpy(&a1, inter + 4 * x + 4, 16);
        memcpy(&a2, inter + 4 * x + 8, 16);
        memcpy(&a3, inter + 4 * x + 12, 16);
        v4f t0 = __builtin_shufflevector(a0, a1, 0, 4, 1, 5);
        v4f t1 = __builtin_shufflevector(a2, a3, 0, 4, 1, 5);
        v4f t2 = __builtin_shufflevector(a0, a1, 2, 6, 3, 7);
        v4f t3 = __builtin_shufflevector(a2, a3, 2, 6, 3, 7);
        v4f r = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);
        v4f g = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);
        v4f b = __builtin_shufflevector(t2, t3, 0, 1, 4, 5);
        memcpy(pr + x, &r, 16);
        memcpy(pg + x, &g, 16);
        memcpy(pb + x, &b, 16);
    }
    for (; x < out_w; x++) {
        pr[x] = inter[4 * x];
        pg[x] = inter[4 * x + 1];
        pb[x] = inter[4 * x + 2];
    }
}

#ifdef FL_X86
/* CPU features, read once when the library is loaded (before any thread can call in, so
 * the flags are never written while being read) */
static int cpu_avx2_fma, cpu_avx512f, cpu_f16c;

__attribute__((constructor)) static void detect_cpu(void)
{
    __builtin_cpu_init();
    cpu_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    cpu_avx512f = __builtin_cpu_supports("avx512f");
    cpu_f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
}

/* the AVX2 + FMA passes may run under these resize flags */
static int use_avx2(int flags)
{
    return cpu_avx2_fma && !(flags & FL_SIMD_PORTABLE);
}

/* AVX2 + FMA vertical pass: all n taps of 16 values accumulated in registers (one store
 * per vector instead of one load + store per tap); uint8 -> float widening from memory. */
__attribute__((target("avx2,fma"))) static void blend_rows_avx2(float *restrict dst,
                                                                const uint8_t *const *rows,
                                                                const float *w, int n, int len)
{
    int i = 0;
    for (; i + 32 <= len; i += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < n; k++) {
            const uint8_t *r = rows[k] + i;
            __m256 wk = _mm256_broadcast_ss(w + k);
            __m128i b0 = _mm_loadl_epi64((const __m128i *)r);
            __m128i b1 = _mm_loadl_epi64((const __m128i *)(r + 8));
            __m128i b2 = _mm_loadl_epi64((const __m128i *)(r + 16));
            __m128i b3 = _mm_loadl_epi64((const __m128i *)(r + 24));
            a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b0)), wk, a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b1)), wk, a1);
            a2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b2)), wk, a2);
            a3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b3)), wk, a3);
        }
        _mm256_storeu_ps(dst + i, a0);
        _mm256_storeu_ps(dst + i + 8, a1);
        _mm256_storeu_ps(dst + i + 16, a2);
        _mm256_storeu_ps(dst + i + 24, a3);
    }
    for (; i + 8 <= len; i += 8) {
        __m256 a0 = _mm256_setzero_ps();
        for (int k = 0; k < n; k++)
            a0 = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(rows[k] + i)))),
                _mm256_broadcast_ss(w + k), a0);
        _mm256_storeu_ps(dst + i, a0);
    }
    for (; i < len; i++) {
        float a = 0.0f;
        for (int k = 0; k < n; k++)
            a = fmaf((float)rows[k][i], w[k], a);
        dst[i] = a;
    }
}

/* Weights of pixel pairs: for pair j and tap k, 8 floats [w(2j, k) x 4, w(2j+1, k) x 4]. */
static float *pair_weights(fl_buf *b, const float *wx, int stride, int nt, int out_w)
{
    int npairs = (out_w + 1) / 2;
    float *pw = fl_buf_get(b, sizeof(float) * 8 * (size_t)npairs * (size_t)nt);
    if (pw == NULL)
        return NULL;
    for (int j = 0; j < npairs; j++) {
        const float *w0 = wx + (size_t)(2 * j) * stride;
        const float *w1 = 2 * j + 1 < out_w ? w0 + stride : NULL;
        for (int k = 0; k < nt; k++) {
            float *d = pw + ((size_t)j * nt + k) * 8;
            d[0] = d[1] = d[2] = d[3] = w0[k];
            d[4] = d[5] = d[6] = d[7] = w1 ? w1[k] : 0.0f;
        }
    }
    return pw;
}

/* AVX2 + FMA horizontal pass: two pixels per 256-bit vector, four pairs in flight.
 * Writes 4 floats per pixel (lane 3 = 0 through inv_std[3] = 0). */
__attribute__((target("avx2,fma"))) static void blend_cols_avx2(
    float *restrict inter, const float *row, int xlo, const float *pw, const tap_range *tx,
    int nt, int out_w, const float *mean3, const float *inv3)
{
    const __m256 mean = _mm256_setr_ps(mean3[0], mean3[1], mean3[2], 0.0f, mean3[0], mean3[1],
                                       mean3[2], 0.0f);
    const __m256 inv = _mm256_setr_ps(inv3[0], inv3[1], inv3[2], 0.0f, inv3[0], inv3[1],
                                      inv3[2], 0.0f);
    int npairs = (out_w + 1) / 2;
#define FL_PAIR_PTRS(j, lo, hi)                                                              \
    const float *lo = row + (size_t)(tx[2 * (j)].start - xlo) * 3;                           \
    const float *hi = 2 * (j) + 1 < out_w ? row + (size_t)(tx[2 * (j) + 1].start - xlo) * 3 : lo
    int j = 0;
    for (; j + 4 <= npairs; j += 4) {
        FL_PAIR_PTRS(j, l0, h0);
        FL_PAIR_PTRS(j + 1, l1, h1);
        FL_PAIR_PTRS(j + 2, l2, h2);
        FL_PAIR_PTRS(j + 3, l3, h3);
        const float *w0 = pw + (size_t)j * nt * 8;
        const float *w1 = w0 + (size_t)nt * 8, *w2 = w1 + (size_t)nt * 8, *w3 = w2 + (size_t)nt * 8;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < nt; k++) {
            a0 = _mm256_fmadd_ps(_mm256_loadu2_m128(h0 + 3 * k, l0 + 3 * k),
                                 _mm256_load_ps(w0 + 8 * k), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu2_m128(h1 + 3 * k, l1 + 3 * k),
                                 _mm256_load_ps(w1 + 8 * k), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu2_m128(h2 + 3 * k, l2 + 3 * k),
                                 _mm256_load_ps(w2 + 8 * k), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu2_m128(h3 + 3 * k, l3 + 3 * k),
                                 _mm256_load_ps(w3 + 8 * k), a3);
        }
        _mm256_storeu_ps(inter + 8 * (size_t)j, _mm256_mul_ps(_mm256_sub_ps(a0, mean), inv));
        _mm256_storeu_ps(inter + 8 * (size_t)j + 8, _mm256_mul_ps(_mm256_sub_ps(a1, mean), inv));
        _mm256_storeu_ps(inter + 8 * (size_t)j + 16, _mm256_mul_ps(_mm256_sub_ps(a2, mean), inv));
        _mm256_storeu_ps(inter + 8 * (size_t)j + 24, _mm256_mul_ps(_mm256_sub_ps(a3, mean), inv));
    }
    for (; j < npairs; j++) { /* inter has room for an even number of pixels */
        FL_PAIR_PTRS(j, l0, h0);
        const float *w0 = pw + (size_t)j * nt * 8;
        __m256 a0 = _mm256_setzero_ps();
        for (int k = 0; k < nt; k++)
            a0 = _mm256_fmadd_ps(_mm256_loadu2_m128(h0 + 3 * k, l0 + 3 * k),
                                 _mm256_load_ps(w0 + 8 * k), a0);
        _mm256_storeu_ps(inter + 8 * (size_t)j, _mm256_mul_ps(_mm256_sub_ps(a0, mean), inv));
    }
#undef FL_PAIR_PTRS
}

/* Dense weights of blocks of 8 consecutive outputs for the planar path: block b covers
 * source pixels [bi[b].start, bi[b].start + bi[b].n) and stores, for each of them, the
 * 8 output weights (zero where a tap does not reach) at bw[(b * smax + j) * 8]. Every
 * output's taps are summed in source order, as in the other paths. Returns smax (the
 * largest span) or -1 when out of memory. */
static int block_weights(fl_buf *wb, fl_buf *ib, const float *wx, const tap_range *tx,
                         int stride, int out_w, float **bw_out, tap_range **bi_out)
{
    int nblocks = (out_w + 7) / 8, smax = 1;
    tap_range *bi = fl_buf_get(ib, sizeof(tap_range) * (size_t)nblocks);
    if (bi == NULL)
        return -1;
    for (int b = 0; b < nblocks; b++) {
        int lo = INT32_MAX, hi = 0;
        for (int x = 8 * b; x < 8 * b + 8 && x < out_w; x++) {
            lo = tx[x].start < lo ? tx[x].start : lo;
            hi = tx[x].start + tx[x].n > hi ? tx[x].start + tx[x].n : hi;
        }
        bi[b].start = lo;
        bi[b].n = hi - lo;
        smax = hi - lo > smax ? hi - lo : smax;
    }
    float *bw = fl_buf_get(wb, sizeof(float) * 8 * (size_t)nblocks * (size_t)smax);
    if (bw == NULL)
        return -1;
    memset(bw, 0, sizeof(float) * 8 * (size_t)nblocks * (size_t)smax);
    for (int x = 0; x < out_w; x++) {
        int b = x / 8, lane = x % 8;
        float *d = bw + (size_t)b * smax * 8 + (size_t)(tx[x].start - bi[b].start) * 8 + lane;
        const float *w = wx + (size_t)x * stride;
        for (int k = 0; k < tx[x].n; k++)
            d[8 * k] = w[k];
    }
    *bw_out = bw;
    *bi_out = bi;
    return smax;
}

/* AVX2 + FMA horizontal pass straight to planes: 8 outputs of one block per vector, each
 * source pixel's R, G and B broadcast and multiplied by the block's weight column.
 * planes: R, G, B at p, p + pstride, p + 2 pstride (pstride a multiple of 8, room for
 * whole blocks). */
__attribute__((target("avx2,fma"))) static void blend_cols_planar_avx2(
    float *restrict planes, size_t pstride, const float *row, int xlo, const float *bw,
    const tap_range *bi, int smax, int out_w, const float *mean3, const float *inv3)
{
    const __m256 mr = _mm256_set1_ps(mean3[0]), mg = _mm256_set1_ps(mean3[1]),
                 mb = _mm256_set1_ps(mean3[2]);
    const __m256 ir = _mm256_set1_ps(inv3[0]), ig = _mm256_set1_ps(inv3[1]),
                 ib = _mm256_set1_ps(inv3[2]);
    int nblocks = (out_w + 7) / 8;
    /* two blocks at a time: six independent FMA chains; zero weights past a block's span
     * leave its sums exact, so every output is summed in source order */
    for (int b = 0; b < nblocks; b += 2) {
        int b2 = b + 1 < nblocks ? b + 1 : b;
        const float *p = row + (size_t)(bi[b].start - xlo) * 3;
        const float *q = row + (size_t)(bi[b2].start - xlo) * 3;
        const float *w = bw + (size_t)b * smax * 8, *v = bw + (size_t)b2 * smax * 8;
        int n = bi[b].n > bi[b2].n ? bi[b].n : bi[b2].n;
        __m256 r0 = _mm256_setzero_ps(), g0 = r0, b0 = r0, r1 = r0, g1 = r0, b1 = r0;
        for (int j = 0; j < n; j++) {
            __m256 w0 = _mm256_load_ps(w + 8 * j), w1 = _mm256_load_ps(v + 8 * j);
            r0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 3 * j), w0, r0);
            g0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 3 * j + 1), w0, g0);
            b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + 3 * j + 2), w0, b0);
            r1 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + 3 * j), w1, r1);
            g1 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + 3 * j + 1), w1, g1);
            b1 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + 3 * j + 2), w1, b1);
        }
        float *o = planes + 8 * (size_t)b;
        _mm256_store_ps(o, _mm256_mul_ps(_mm256_sub_ps(r0, mr), ir));
        _mm256_store_ps(o + pstride, _mm256_mul_ps(_mm256_sub_ps(g0, mg), ig));
        _mm256_store_ps(o + 2 * pstride, _mm256_mul_ps(_mm256_sub_ps(b0, mb), ib));
        if (b2 != b) {
            o += 8;
            _mm256_store_ps(o, _mm256_mul_ps(_mm256_sub_ps(r1, mr), ir));
            _mm256_store_ps(o + pstride, _mm256_mul_ps(_mm256_sub_ps(g1, mg), ig));
            _mm256_store_ps(o + 2 * pstride, _mm256_mul_ps(_mm256_sub_ps(b1, mb), ib));
        }
    }
}
#endif

#if defined(FL_X86) && !defined(FL_NO_AVX512)
#define FL_HAVE_AVX512 1
static int use_avx512(int flags)
{
    return cpu_avx512f && use_avx2(flags) && !(flags & FL_SIMD_NO_AVX512);
}

/* Tables of the AVX-512 horizontal pass. Block b of 16 outputs reads the 32 (or, for a
 * "wide" block, 64) source pixels from its base (two or four registers); for tap k, lane l
 * takes window[idx] times weight (zero past an output's taps). Layout per block: base and
 * wide flag (padded to 16 ints), then per tap 16 int32 indices and 16 float weights.
 * Returns 0 when some block spans more than 64 pixels (the caller uses another path), -1
 * when out of memory, 1 on success. */
static int perm_tables(fl_buf *b, const float *wx, const tap_range *tx, int stride, int nt,
                       int out_w, int xlo, int32_t **tab_out)
{
    int nblocks = (out_w + 15) / 16;
    size_t per = 16 + 32 * (size_t)nt;
    int32_t *tab = fl_buf_get(b, sizeof(int32_t) * per * (size_t)nblocks);
    if (tab == NULL)
        return -1;
    for (int bk = 0; bk < nblocks; bk++) {
        int32_t *t = tab + per * (size_t)bk;
        int lo = INT32_MAX, hi = 0;
        for (int x = 16 * bk; x < 16 * bk + 16 && x < out_w; x++) {
            lo = tx[x].start < lo ? tx[x].start : lo;
            hi = tx[x].start + tx[x].n > hi ? tx[x].start + tx[x].n : hi;
        }
        if (hi - lo > 64)
            return 0;
        memset(t, 0, sizeof(int32_t) * per);
        t[0] = lo - xlo;
        t[1] = hi - lo > 32;
        for (int l = 0; l < 16; l++) {
            int x = 16 * bk + l;
            if (x >= out_w)
                break;
            for (int k = 0; k < tx[x].n; k++) {
                float w = wx[(size_t)x * stride + k];
                t[16 + 32 * k + l] = tx[x].start + k - lo;
                memcpy(&t[16 + 32 * k + 16 + l], &w, sizeof w);
            }
        }
    }
    *tab_out = tab;
    return 1;
}

/* AVX-512 vertical pass fused with the deinterleave: n taps of 16 RGB pixels accumulated
 * in registers (same per-value FMA order as blend_rows_avx2), then split into the R, G, B
 * source planes (pstride apart). npx pixels. */
__attribute__((target("avx512f"))) static void blend_rows_planar_avx512(
    float *restrict planes, size_t pstride, const uint8_t *const *rows, const float *w, int n,
    int npx)
{
    float *pr = planes, *pg = planes + pstride, *pb = planes + 2 * pstride;
    const __m512i r1 = _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0);
    const __m512i r2 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29);
    const __m512i g1 = _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0);
    const __m512i g2 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30);
    const __m512i b1 = _mm512_setr_epi32(2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0);
    const __m512i b2 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31);
    int i = 0;
    for (; i + 16 <= npx; i += 16) {
        __m512 a = _mm512_setzero_ps(), b = a, c = a;
        for (int k = 0; k < n; k++) {
            const uint8_t *r = rows[k] + 3 * i;
            __m512 wk = _mm512_set1_ps(w[k]);
            a = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)r))),
                wk, a);
            b = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(
                    _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(r + 16)))),
                wk, b);
            c = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(
                    _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(r + 32)))),
                wk, c);
        }
        _mm512_storeu_ps(pr + i, _mm512_permutex2var_ps(_mm512_permutex2var_ps(a, r1, b), r2, c));
        _mm512_storeu_ps(pg + i, _mm512_permutex2var_ps(_mm512_permutex2var_ps(a, g1, b), g2, c));
        _mm512_storeu_ps(pb + i, _mm512_permutex2var_ps(_mm512_permutex2var_ps(a, b1, b), b2, c));
    }
    for (; i < npx; i++) {
        float vr = 0.0f, vg = 0.0f, vb = 0.0f;
        for (int k = 0; k < n; k++) {
            const uint8_t *r = rows[k] + 3 * i;
            vr = fmaf((float)r[0], w[k], vr);
            vg = fmaf((float)r[1], w[k], vg);
            vb = fmaf((float)r[2], w[k], vb);
        }
        pr[i] = vr;
        pg[i] = vg;
        pb[i] = vb;
    }
}

/* Three planes (pstride apart) -> 4 floats per pixel (R, G, B, 0), the HWC staging
 * format of store_row. n pixels. */
__attribute__((target("avx512f"))) static void interleave_rgb0_avx512(
    float *restrict stage, const float *restrict planes, size_t pstride, int n)
{
    const float *pr = planes, *pg = planes + pstride, *pb = planes + 2 * pstride;
    const __m512 z = _mm512_setzero_ps();
    int x = 0;
    for (; x + 16 <= n; x += 16) {
        __m512 r = _mm512_loadu_ps(pr + x), g = _mm512_loadu_ps(pg + x),
               b = _mm512_loadu_ps(pb + x);
        __m512 t0 = _mm512_unpacklo_ps(r, g), t1 = _mm512_unpackhi_ps(r, g);
        __m512 t2 = _mm512_unpacklo_ps(b, z), t3 = _mm512_unpackhi_ps(b, z);
        /* per 128-bit lane j: u0 = pixel 4j, u1 = 4j + 1, u2 = 4j + 2, u3 = 4j + 3 */
        __m512 u0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        __m512 u1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
        __m512 u2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        __m512 u3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
        __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44); /* pixels 0, 4, 1, 5 */
        __m512 v1 = _mm512_shuffle_f32x4(u2, u3, 0x44); /* 2, 6, 3, 7 */
        __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE); /* 8, 12, 9, 13 */
        __m512 v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE); /* 10, 14, 11, 15 */
        float *o = stage + 4 * (size_t)x;
        _mm512_storeu_ps(o, _mm512_shuffle_f32x4(v0, v1, 0x88));      /* 0, 1, 2, 3 */
        _mm512_storeu_ps(o + 16, _mm512_shuffle_f32x4(v0, v1, 0xDD)); /* 4 .. 7 */
        _mm512_storeu_ps(o + 32, _mm512_shuffle_f32x4(v2, v3, 0x88)); /* 8 .. 11 */
        _mm512_storeu_ps(o + 48, _mm512_shuffle_f32x4(v2, v3, 0xDD)); /* 12 .. 15 */
    }
    for (; x < n; x++) {
        stage[4 * x] = pr[x];
        stage[4 * x + 1] = pg[x];
        stage[4 * x + 2] = pb[x];
        stage[4 * x + 3] = 0.0f;
    }
}

/* AVX-512 horizontal pass from source planes: per block of 16 outputs, each tap gathers
 * its 16 source values from a 32-pixel window with one two-register permute per channel
 * (wide blocks: two permutes over a 64-pixel window and a blend on index bit 5).
 * Taps are summed in source order (same sums as the AVX2 paths). Writes output planes
 * (ostride apart, room for whole blocks). */
__attribute__((target("avx512f"))) static void blend_cols_avx512(
    float *restrict planes, size_t ostride, const float *src, size_t sstride,
    const int32_t *tab, int nt, int out_w, const float *mean3, const float *inv3)
{
    const __m512 mr = _mm512_set1_ps(mean3[0]), mg = _mm512_set1_ps(mean3[1]),
                 mb = _mm512_set1_ps(mean3[2]);
    const __m512 ir = _mm512_set1_ps(inv3[0]), ig = _mm512_set1_ps(inv3[1]),
                 ib = _mm512_set1_ps(inv3[2]);
    int nblocks = (out_w + 15) / 16;
    size_t per = 16 + 32 * (size_t)nt;
    for (int bk = 0; bk < nblocks; bk++) {
        const int32_t *t = tab + per * (size_t)bk;
        const float *pr = src + t[0], *pg = pr + sstride, *pb = pg + sstride;
        float *o = planes + 16 * (size_t)bk;
        if (t[1]) {
            __m512 r0 = _mm512_loadu_ps(pr), r1 = _mm512_loadu_ps(pr + 16);
            __m512 r2 = _mm512_loadu_ps(pr + 32), r3 = _mm512_loadu_ps(pr + 48);
            __m512 g0 = _mm512_loadu_ps(pg), g1 = _mm512_loadu_ps(pg + 16);
            __m512 g2 = _mm512_loadu_ps(pg + 32), g3 = _mm512_loadu_ps(pg + 48);
            __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
            __m512 b2 = _mm512_loadu_ps(pb + 32), b3 = _mm512_loadu_ps(pb + 48);
            const __m512i hi = _mm512_set1_epi32(32);
            __m512 ar = _mm512_setzero_ps(), ag = ar, ab = ar;
            for (int k = 0; k < nt; k++) {
                __m512i idx = _mm512_loadu_si512(t + 16 + 32 * k);
                __m512 w = _mm512_loadu_ps((const float *)(t + 32 + 32 * k));
                __mmask16 m = _mm512_test_epi32_mask(idx, hi);
                __m512 vr = _mm512_mask_blend_ps(m, _mm512_permutex2var_ps(r0, idx, r1),
                                                 _mm512_permutex2var_ps(r2, idx, r3));
                __m512 vg = _mm512_mask_blend_ps(m, _mm512_permutex2var_ps(g0, idx, g1),
                                                 _mm512_permutex2var_ps(g2, idx, g3));
                __m512 vb = _mm512_mask_blend_ps(m, _mm512_permutex2var_ps(b0, idx, b1),
                                                 _mm512_permutex2var_ps(b2, idx, b3));
                ar = _mm512_fmadd_ps(vr, w, ar);
                ag = _mm512_fmadd_ps(vg, w, ag);
                ab = _mm512_fmadd_ps(vb, w, ab);
            }
            _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_sub_ps(ar, mr), ir));
            _mm512_storeu_ps(o + ostride, _mm512_mul_ps(_mm512_sub_ps(ag, mg), ig));
            _mm512_storeu_ps(o + 2 * ostride, _mm512_mul_ps(_mm512_sub_ps(ab, mb), ib));
            continue;
        }
        __m512 r0 = _mm512_loadu_ps(pr), r1 = _mm512_loadu_ps(pr + 16);
        __m512 g0 = _mm512_loadu_ps(pg), g1 = _mm512_loadu_ps(pg + 16);
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
        __m512 ar = _mm512_setzero_ps(), ag = ar, ab = ar;
        for (int k = 0; k < nt; k++) {
            __m512i idx = _mm512_loadu_si512(t + 16 + 32 * k);
            __m512 w = _mm512_loadu_ps((const float *)(t + 32 + 32 * k));
            ar = _mm512_fmadd_ps(_mm512_permutex2var_ps(r0, idx, r1), w, ar);
            ag = _mm512_fmadd_ps(_mm512_permutex2var_ps(g0, idx, g1), w, ag);
            ab = _mm512_fmadd_ps(_mm512_permutex2var_ps(b0, idx, b1), w, ab);
        }
        _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_sub_ps(ar, mr), ir));
        _mm512_storeu_ps(o + ostride, _mm512_mul_ps(_mm512_sub_ps(ag, mg), ig));
        _mm512_storeu_ps(o + 2 * ostride, _mm512_mul_ps(_mm512_sub_ps(ab, mb), ib));
    }
}
#endif

static inline uint16_t f32_to_f16_soft(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mant = x & 0x007fffffu;
    int exp = (int)((x >> 23) & 0xff);
    if (exp == 0xff) /* inf / nan */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0u));
    int e = exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        mant |= 0x00800000u;
        int shift = 14 - e;
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent: still correct */
    return (uint16_t)(sign | half);
}

#ifdef FL_X86
__attribute__((target("f16c,avx"))) static void to_f16_hw(uint16_t *dst, const float *src,
                                                          int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        dst[i] = f32_to_f16_soft(src[i]);
}
#endif

static void to_f16(uint16_t *dst, const float *src, int n, int flags)
{
#ifdef FL_X86
    if (cpu_f16c && !(flags & FL_SIMD_PORTABLE)) {
        to_f16_hw(dst, src, n);
        return;
    }
#else
    (void)flags;
#endif
    for (int i = 0; i < n; i++)
        dst[i] = f32_to_f16_soft(src[i]);
}

/* round half to even (as cvtps2dq in the default rounding mode) and saturate */
static inline uint8_t to_u8(float v)
{
    v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    return (uint8_t)lrintf(v);
}

/* round to nearest (ties to even) and saturate to 0..255; SSE2 is baseline on x86-64 */
static void to_u8_row(uint8_t *dst, const float *src, int n)
{
    int i = 0;
#ifdef FL_X86
    const __m128 lo = _mm_setzero_ps(), hi = _mm_set1_ps(255.0f);
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + i), lo), hi));
        __m128i b = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + i + 4), lo), hi));
        __m128i c = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + i + 8), lo), hi));
        __m128i d = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(src + i + 12), lo), hi));
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
    }
#endif
    for (; i < n; i++)
        dst[i] = to_u8(src[i]);
}

/* Store one staged row as output row y. HWC: stage has 4 floats per pixel (lane 3 = 0);
 * CHW: three planes of out_w floats, pstride apart. tmp: scratch of >= 8 * out_w bytes. */
static void store_row(const float *restrict stage, size_t pstride, void *restrict tmp,
                      const fl_resize_spec *s, void *out, int y)
{
    const int W = s->out_w, H = s->out_h, C = s->out_c;
    if (s->layout == FL_HWC) {
        size_t base = (size_t)y * W * C;
        if (s->dtype == FL_F32) {
            float *o = (float *)out + base;
            if (C == 4) {
                memcpy(o, stage, sizeof(float) * 4 * (size_t)W);
            } else { /* overlapping 16-byte stores; the last pixel by hand */
                for (int x = 0; x < W - 1; x++)
                    memcpy(o + 3 * x, stage + 4 * x, 16);
                memcpy(o + 3 * (W - 1), stage + 4 * (W - 1), 12);
            }
        } else if (s->dtype == FL_F16) {
            uint16_t *o = (uint16_t *)out + base;
            if (C == 4) {
                to_f16(o, stage, 4 * W, s->flags);
            } else {
                uint16_t *t = tmp;
                to_f16(t, stage, 4 * W, s->flags);
                for (int x = 0; x < W - 1; x++)
                    memcpy(o + 3 * x, t + 4 * x, 8);
                memcpy(o + 3 * (W - 1), t + 4 * (W - 1), 6);
            }
        } else {
            uint8_t *o = (uint8_t *)out + base;
            if (C == 4) {
                to_u8_row(o, stage, 4 * W);
            } else {
                uint8_t *t = tmp;
                to_u8_row(t, stage, 4 * W);
                for (int x = 0; x < W - 1; x++)
                    memcpy(o + 3 * x, t + 4 * x, 4);
                memcpy(o + 3 * (W - 1), t + 4 * (W - 1), 3);
            }
        }
    } else {
        size_t plane = (size_t)H * W;
        size_t base = (size_t)y * W;
        size_t esz = s->dtype == FL_F32 ? 4 : (s->dtype == FL_F16 ? 2 : 1);
        for (int c = 0; c < C; c++) {
            char *o = (char *)out + (c * plane + base) * esz;
            const float *src = stage + (size_t)c * pstride;
            if (c == 3)
                memset(o, 0, esz * (size_t)W);
            else if (s->dtype == FL_F32)
                memcpy(o, src, sizeof(float) * (size_t)W);
            else if (s->dtype == FL_F16)
                to_f16((uint16_t *)o, src, W, s->flags);
            else
                to_u8_row((uint8_t *)o, src, W);
        }
    }
}

/* ------------------------------------------------------------------ entry point */

int fl_image_resize(const uint8_t *src, int src_h, int src_w, ptrdiff_t src_stride,
                    double box_y, double box_x, double box_h, double box_w,
                    const fl_resize_spec *s, void *out)
{
    if (src == NULL || out == NULL || s == NULL || src_h <= 0 || src_w <= 0 || s->out_h <= 0 ||
        s->out_w <= 0 || (s->out_c != 3 && s->out_c != 4) || !(box_h > 0.0) ||
        !(box_w > 0.0) || (s->dtype != FL_U8 && s->dtype != FL_F32 && s->dtype != FL_F16) ||
        (s->layout != FL_HWC && s->layout != FL_CHW)) {
        fl_set_error("resize: invalid arguments (source %dx%d, box %gx%g, output %dx%dx%d)",
                           src_h, src_w, box_h, box_w, s ? s->out_h : 0, s ? s->out_w : 0,
                           s ? s->out_c : 0);
        return FL_ERR_ARG;
    }
    resize_scratch *sc = thread_scratch();
    if (sc == NULL) {
        fl_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    float *wy, *wx;
    tap_range *ty, *tx;
    int ny, nx, used_y, used_x;
    int flip_out = (s->flags & FL_FLIP_OUTPUT) != 0;
    int flip_src = (s->flags & FL_FLIP_SOURCE) != 0;
    if (make_coeffs(box_y, box_h, src_h, s->out_h, s->flags, 0, 0, &sc->wy, &sc->ty, &wy, &ty,
                    &ny, &used_y) != FL_OK ||
        make_coeffs(flip_src ? src_w - box_x - box_w : box_x, box_w, src_w, s->out_w, s->flags,
                    flip_out, flip_src, &sc->wx, &sc->tx, &wx, &tx, &nx, &used_x) != FL_OK) {
        fl_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    int xlo = src_w, xhi = 0;
    for (int x = 0; x < s->out_w; x++) {
        if (tx[x].start < xlo)
            xlo = tx[x].start;
        if (tx[x].start + tx[x].n > xhi)
            xhi = tx[x].start + tx[x].n;
    }
    int len = (xhi - xlo) * 3;
    size_t pad = 3 * (size_t)used_x + 4; /* zero tail read by zero-weight padded taps */
    float *row = fl_buf_get(&sc->row, sizeof(float) * ((size_t)len + pad));
    /* stage: interleaved row (4W + 8) | planes (3 (W + 4)) | conversion scratch (2W + 8) */
    size_t W = (size_t)s->out_w;
    float *stage = fl_buf_get(&sc->stage, sizeof(float) * (9 * W + 64));
    if (row == NULL || stage == NULL) {
        fl_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    float *planes = stage + 4 * W + 8;
    void *tmp = stage + 7 * W + 24;
    int planar = s->layout == FL_CHW;
    const float *pw = NULL;
    size_t pstride = W + 4;
#ifdef FL_X86
    const int avx2 = use_avx2(s->flags);
    float *bw = NULL, *planes8 = NULL;
    tap_range *bi = NULL;
    int smax = 0;
#ifdef FL_HAVE_AVX512
    int32_t *tab = NULL;
    float *srcp = NULL;
    size_t sstride = 0;
    if (use_avx512(s->flags)) { /* both layouts: HWC is interleaved from the planes */
        int st = perm_tables(&sc->perm, wx, tx, nx, used_x, s->out_w, xlo, &tab);
        if (st == 1) {
            sstride = ((size_t)(xhi - xlo) + 64 + 15) / 16 * 16; /* 64-pixel window reads */
            pstride = (W + 15) / 16 * 16 + 16;
            srcp = fl_buf_get(&sc->srcplanes, sizeof(float) * 3 * sstride);
            planes8 = fl_buf_get(&sc->planes8, sizeof(float) * 3 * pstride);
            if (srcp != NULL)
                memset(srcp, 0, sizeof(float) * 3 * sstride);
        }
        if (st < 0 || (st == 1 && (srcp == NULL || planes8 == NULL))) {
            fl_set_error("resize: out of memory");
            return FL_ERR_NOMEM;
        }
    }
    if (tab != NULL) {
        /* AVX-512 path: tables ready */
    } else
#endif
    if (planar && avx2) {
        smax = block_weights(&sc->blockw, &sc->blocki, wx, tx, nx, s->out_w, &bw, &bi);
        pstride = (W + 7) / 8 * 8 + 8;
        planes8 = fl_buf_get(&sc->planes8, sizeof(float) * 3 * pstride);
        if (smax < 0 || planes8 == NULL) {
            fl_set_error("resize: out of memory");
            return FL_ERR_NOMEM;
        }
        /* the row is read up to a block's span (smax pixels) past its first pixel */
        if ((size_t)smax * 3 + 8 > pad) {
            pad = (size_t)smax * 3 + 8;
            row = fl_buf_get(&sc->row, sizeof(float) * ((size_t)len + pad));
            if (row == NULL) {
                fl_set_error("resize: out of memory");
                return FL_ERR_NOMEM;
            }
        }
    } else if (avx2) {
        pw = pair_weights(&sc->pairw, wx, nx, used_x, s->out_w);
        if (pw == NULL) {
            fl_set_error("resize: out of memory");
            return FL_ERR_NOMEM;
        }
    }
#endif
    memset(row + len, 0, sizeof(float) * pad);
    v4f mean = {s->mean[0], s->mean[1], s->mean[2], 0.0f};
    v4f inv_std = {s->inv_std[0], s->inv_std[1], s->inv_std[2], 0.0f};
    const uint8_t **rows = fl_buf_get(&sc->rowptr, sizeof(uint8_t *) * (size_t)ny);
    if (rows == NULL) {
        fl_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    for (int y = 0; y < s->out_h; y++) {
        int n = ty[y].n;
        for (int k = 0; k < n; k++)
            rows[k] = src + (ptrdiff_t)(ty[y].start + k) * src_stride + (ptrdiff_t)xlo * 3;
#ifdef FL_HAVE_AVX512
        if (tab != NULL) {
            blend_rows_planar_avx512(srcp, sstride, rows, wy + (size_t)y * ny, n, xhi - xlo);
            blend_cols_avx512(planes8, pstride, srcp, sstride, tab, used_x, s->out_w, s->mean,
                              s->inv_std);
            if (planar) {
                store_row(planes8, pstride, tmp, s, out, y);
            } else {
                interleave_rgb0_avx512(stage, planes8, pstride, s->out_w);
                store_row(stage, pstride, tmp, s, out, y);
            }
            continue;
        }
#endif
#ifdef FL_X86
        if (avx2)
            blend_rows_avx2(row, rows, wy + (size_t)y * ny, n, len);
        else
#endif
            blend_rows(row, rows, wy + (size_t)y * ny, n, len);
#ifdef FL_X86
        if (bw != NULL) {
            blend_cols_planar_avx2(planes8, pstride, row, xlo, bw, bi, smax, s->out_w, s->mean,
                                   s->inv_std);
            store_row(planes8, pstride, tmp, s, out, y);
            continue;
        }
        if (pw != NULL) {
            blend_cols_avx2(stage, row, xlo, pw, tx, used_x, s->out_w, s->mean, s->inv_std);
            if (planar)
                deinterleave(planes, stage, s->out_w);
        } else
#endif
            blend_cols(planar ? planes : stage, row, xlo, wx, tx, nx, used_x, s->out_w, mean,
                       inv_std, planar);
        store_row(planar ? planes : stage, pstride, tmp, s, out, y);
    }
    return FL_OK;
}

const char *fl_image_resize_simd(int flags)
{
#ifdef FL_X86
#ifdef FL_HAVE_AVX512
    if (use_avx512(flags))
        return "avx512f";
#endif
    if (use_avx2(flags))
        return "avx2+fma";
#else
    (void)flags;
#endif
    return "portable";
}
