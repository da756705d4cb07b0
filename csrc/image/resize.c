/* Fused separable resample (triangle filter, PIL pixel-centre semantics, optional
 * antialias) + flip + per-channel normalize + HWC/CHW layout + uint8/float32/float16
 * output, written straight into the caller's buffer.
 *
 * One pass per output row: the vertical taps of the source rows are blended into a
 * float row (contiguous, vectorised), then each output pixel takes its horizontal taps
 * from that row as 4-float vectors (R, G, B, next), normalizes, and is stored. Per-thread
 * scratch (coefficients, the float row) is reused between calls.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fastload/image.h"
#include "internal.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FL_X86 1
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ errors */

static _Thread_local char fl_errbuf[320];

void fl_image_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fl_errbuf, sizeof fl_errbuf, fmt, ap);
    va_end(ap);
}

const char *fl_image_last_error(void)
{
    return fl_errbuf;
}

/* ------------------------------------------------------------------ scratch */

typedef struct {
    fl_buf wy, ty, wx, tx; /* weights and (start, count) per output row / column */
    fl_buf row;            /* vertically blended float row */
    fl_buf rowptr;         /* source row pointers of one output row */
    fl_buf stage;          /* normalized output row, 4 floats per pixel */
    fl_buf pairw;          /* horizontal weights of pixel pairs (AVX2 path) */
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

#if defined(FL_X86) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define FL_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef FL_CLONES
#define FL_CLONES
#endif

/* dst[i] = sum_k w[k] * rows[k][i] for i < len */
FL_CLONES static void blend_rows(float *restrict dst, const uint8_t *const *rows,
                                 const float *w, int n, int len)
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
static int cpu_has_avx2_fma(void)
{
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return has;
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

static void to_f16(uint16_t *dst, const float *src, int n)
{
#ifdef FL_X86
    static int has_f16c = -1;
    if (has_f16c < 0) {
        __builtin_cpu_init();
        has_f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    }
    if (has_f16c) {
        to_f16_hw(dst, src, n);
        return;
    }
#endif
    for (int i = 0; i < n; i++)
        dst[i] = f32_to_f16_soft(src[i]);
}

static inline uint8_t to_u8(float v)
{
    v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    return (uint8_t)(v + 0.5f);
}

/* round to nearest and saturate to 0..255 */
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
 * CHW: three planes of out_w (+4) floats. tmp: scratch of >= 8 * out_w bytes. */
static void store_row(const float *restrict stage, void *restrict tmp, const fl_resize_spec *s,
                      void *out, int y)
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
                to_f16(o, stage, 4 * W);
            } else {
                uint16_t *t = tmp;
                to_f16(t, stage, 4 * W);
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
            const float *src = stage + (size_t)c * (W + 4);
            if (c == 3)
                memset(o, 0, esz * (size_t)W);
            else if (s->dtype == FL_F32)
                memcpy(o, src, sizeof(float) * (size_t)W);
            else if (s->dtype == FL_F16)
                to_f16((uint16_t *)o, src, W);
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
        fl_image_set_error("resize: invalid arguments (source %dx%d, box %gx%g, output %dx%dx%d)",
                           src_h, src_w, box_h, box_w, s ? s->out_h : 0, s ? s->out_w : 0,
                           s ? s->out_c : 0);
        return FL_ERR_ARG;
    }
    resize_scratch *sc = thread_scratch();
    if (sc == NULL) {
        fl_image_set_error("resize: out of memory");
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
        fl_image_set_error("resize: out of memory");
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
        fl_image_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    float *planes = stage + 4 * W + 8;
    void *tmp = stage + 7 * W + 24;
    int planar = s->layout == FL_CHW;
    const float *pw = NULL;
#ifdef FL_X86
    if (cpu_has_avx2_fma()) {
        pw = pair_weights(&sc->pairw, wx, nx, used_x, s->out_w);
        if (pw == NULL) {
            fl_image_set_error("resize: out of memory");
            return FL_ERR_NOMEM;
        }
    }
#endif
    memset(row + len, 0, sizeof(float) * pad);
    v4f mean = {s->mean[0], s->mean[1], s->mean[2], 0.0f};
    v4f inv_std = {s->inv_std[0], s->inv_std[1], s->inv_std[2], 0.0f};
    const uint8_t **rows = fl_buf_get(&sc->rowptr, sizeof(uint8_t *) * (size_t)ny);
    if (rows == NULL) {
        fl_image_set_error("resize: out of memory");
        return FL_ERR_NOMEM;
    }
    for (int y = 0; y < s->out_h; y++) {
        int n = ty[y].n;
        for (int k = 0; k < n; k++)
            rows[k] = src + (ptrdiff_t)(ty[y].start + k) * src_stride + (ptrdiff_t)xlo * 3;
        blend_rows(row, rows, wy + (size_t)y * ny, n, len);
#ifdef FL_X86
        if (pw != NULL) {
            blend_cols_avx2(stage, row, xlo, pw, tx, used_x, s->out_w, s->mean, s->inv_std);
            if (planar)
                deinterleave(planes, stage, s->out_w);
        } else
#endif
            blend_cols(planar ? planes : stage, row, xlo, wx, tx, nx, used_x, s->out_w, mean,
                       inv_std, planar);
        store_row(planar ? planes : stage, tmp, s, out, y);
    }
    return FL_OK;
}
