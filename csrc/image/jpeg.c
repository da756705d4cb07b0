/* libjpeg-turbo decoding: header parse, region-of-interest + DCT-scaled decode, and the
 * fused decode -> resize entry point.
 *
 * Every call parses its image with a fresh decompress object (fresh_cinfo): libjpeg
 * keeps Huffman and quantisation tables in the object from one image to the next, so a
 * reused object would decode a stream that omits them (motion-JPEG frames rely on the
 * standard's default Huffman tables) with the previous image's. Scratch buffers and
 * huffman.c's derived tables (keyed by the table bytes) are per thread and reused.
 * libjpeg errors longjmp back here through a custom error manager that records the
 * message; in strict mode warnings (truncated data, corrupt entropy segments, junk
 * between markers) are errors too (FL_ERR_STRICT). Rows above the region are skipped
 * with jpeg_skip_scanlines (entropy decoding only), columns outside it are cropped with
 * jpeg_crop_scanline, and decoding stops after the region's last row; so that the
 * verdict on a truncated file does not depend on the region, strict mode first checks
 * that a marker follows a single scan's entropy-coded data (scan_is_terminated). In
 * strict mode baseline images are entropy-decoded by huffman.c instead of libjpeg's
 * decoder (same coefficients, less time).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "fastload/image.h"
#include "huffman.h"
#include "internal.h"

/* per-thread decode scratch above this size is released after use */
#define FL_SCRATCH_KEEP ((size_t)64 << 20)

struct fl_err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int strict;
    int warned; /* the last longjmp came from a warning that strict mode refused */
    int hit_eof; /* libjpeg warned that the data ended (JWRN_JPEG_EOF) */
    int unsupported; /* the error says the library lacks a feature, not bad data */
};

typedef struct {
    struct jpeg_decompress_struct cinfo;
    struct fl_err_mgr err;
    int ok;           /* cinfo created (by fresh_cinfo) */
    int in_header;    /* inside jpeg_read_header */
    int opened;       /* open_image succeeded: cinfo holds a parsed header, nothing decoded */
    int flags;        /* FL_DECODE_* of the opened image */
    int is_cmyk, inverted; /* the opened image is CMYK / YCCK (Adobe-inverted) */
    unsigned generation; /* counts open_image calls (fl_jpeg_open's token) */
    fl_buf pixels;    /* decoded region rows */
    fl_buf cmyk;      /* one CMYK row before conversion */
    fl_buf rowptr;    /* JSAMPROW array */
    fl_huff_state huff; /* our entropy decoder, tables kept between images */
} jpeg_ctx;

static void fl_error_exit(j_common_ptr c)
{
    char msg[JMSG_LENGTH_MAX];
    int code = c->err->msg_code;
    ((struct fl_err_mgr *)c->err)->unsupported =
        code == JERR_SOF_UNSUPPORTED || code == JERR_BAD_PRECISION ||
        code == JERR_NOT_COMPILED || code == JERR_ARITH_NOTIMPL;
    (*c->err->format_message)(c, msg);
    fl_set_error("%s", msg);
    longjmp(((struct fl_err_mgr *)c->err)->jb, 1);
}

static void fl_emit_message(j_common_ptr c, int level)
{
    struct fl_err_mgr *e = (struct fl_err_mgr *)c->err;
    if (level < 0) { /* warning: corrupt or truncated data */
        e->pub.num_warnings++;
        if (c->err->msg_code == JWRN_JPEG_EOF)
            e->hit_eof = 1;
        if (e->strict) {
            char msg[JMSG_LENGTH_MAX];
            (*c->err->format_message)(c, msg);
            fl_set_error("%s", msg);
            e->warned = 1;
            longjmp(e->jb, 1);
        }
    }
}

static void fl_output_message(j_common_ptr c)
{
    (void)c;
}

/* ------------------------------------------------------------------ per-thread context */

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_destroy(void *p)
{
    jpeg_ctx *ctx = p;
    if (ctx->ok)
        jpeg_destroy_decompress(&ctx->cinfo);
    fl_buf_free(&ctx->pixels);
    fl_buf_free(&ctx->cmyk);
    fl_buf_free(&ctx->rowptr);
    free(ctx);
}

static void ctx_make_key(void)
{
    pthread_key_create(&ctx_key, ctx_destroy);
}

static jpeg_ctx *thread_ctx(void)
{
    pthread_once(&ctx_once, ctx_make_key);
    jpeg_ctx *ctx = pthread_getspecific(ctx_key);
    if (ctx != NULL)
        return ctx;
    ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return NULL;
    ctx->cinfo.err = jpeg_std_error(&ctx->err.pub);
    ctx->err.pub.error_exit = fl_error_exit;
    ctx->err.pub.emit_message = fl_emit_message;
    ctx->err.pub.output_message = fl_output_message;
    if (pthread_setspecific(ctx_key, ctx) != 0) {
        ctx_destroy(ctx);
        return NULL;
    }
    return ctx;
}

/* Replace the thread's decompress object by a fresh one, set up for one call. libjpeg
 * keeps DHT/DQT tables (and more) in the object across jpeg_abort_decompress, and a
 * stream that lacks tables must get exactly what a new object gives (the standard
 * Huffman tables, or an error for a missing quantisation table), whatever was decoded
 * before. Costs about 0.2 us. Returns FL_OK, or FL_ERR_NOMEM (the caller says so). */
static int fresh_cinfo(jpeg_ctx *ctx, int strict)
{
    if (ctx->ok) {
        jpeg_destroy_decompress(&ctx->cinfo);
        ctx->ok = 0;
    }
    ctx->cinfo.err = &ctx->err.pub;
    ctx->err.strict = strict;
    ctx->err.warned = 0;
    ctx->err.hit_eof = 0;
    ctx->err.unsupported = 0;
    ctx->err.pub.num_warnings = 0;
    ctx->in_header = 0;
    ctx->opened = 0;
    if (setjmp(ctx->err.jb)) /* jpeg_create_decompress fails only when out of memory */
        return FL_ERR_NOMEM;
    jpeg_create_decompress(&ctx->cinfo);
    ctx->ok = 1;
    return FL_OK;
}

/* The status of a longjmp out of libjpeg: a refused warning or an error. A file that
 * ends before its first scan cannot be decoded leniently either: an error, in words. */
static int jump_status(jpeg_ctx *ctx)
{
    if (ctx->in_header && ctx->err.hit_eof) { /* strict, or a lenient "no image" */
        fl_set_error("Premature end of JPEG file: the data ends inside the header, "
                           "before the image data (truncated file)");
        return FL_ERR_DECODE;
    }
    if (ctx->err.warned)
        return FL_ERR_STRICT;
    return ctx->err.unsupported ? FL_ERR_UNSUPPORTED : FL_ERR_DECODE;
}

/* jpeg_read_header, noting that the header is being read (for jump_status). */
static void read_header(jpeg_ctx *ctx)
{
    ctx->in_header = 1;
    jpeg_read_header(&ctx->cinfo, TRUE);
    ctx->in_header = 0;
}

/* Whether a marker other than RSTn follows the entropy-coded data that starts at p: an
 * FF byte, then (after any FF fill bytes) a byte that is neither 00 (a stuffed FF data
 * byte) nor D0-D7 (a restart inside the scan). A file cut inside its (last) scan has
 * none. Searched from the end: files normally end with EOI, so this reads a few bytes;
 * only a truncated file (or one with long trailing junk) is read back to p. */
static int scan_is_terminated(const uint8_t *p, const uint8_t *end)
{
    for (const uint8_t *q = end - 1; q > p; q--) {
        unsigned c = *q;
        if (q[-1] == 0xFF && c != 0x00 && c != 0xFF && (c < 0xD0 || c > 0xD7))
            return 1;
    }
    return 0;
}

static int check_input(const uint8_t *data, size_t size)
{
    if (data == NULL || size == 0) {
        fl_set_error("empty input (0 bytes)");
        return FL_ERR_DECODE;
    }
    if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) {
        fl_set_error("not a JPEG file (no SOI marker 0xFFD8 at offset 0)");
        return FL_ERR_DECODE;
    }
    if (size > (size_t)0xFFFFFFFFu) {
        fl_set_error("JPEG input larger than 4 GiB");
        return FL_ERR_DECODE;
    }
    return FL_OK;
}

static int cs_code(J_COLOR_SPACE cs)
{
    switch (cs) {
    case JCS_GRAYSCALE: return FL_CS_GRAY;
    case JCS_RGB: return FL_CS_RGB;
    case JCS_YCbCr: return FL_CS_YCBCR;
    case JCS_CMYK: return FL_CS_CMYK;
    case JCS_YCCK: return FL_CS_YCCK;
    default: return 0;
    }
}

/* ------------------------------------------------------------------ header */

int fl_jpeg_read_header(const uint8_t *data, size_t size, int strict, fl_jpeg_info *info)
{
    int st = check_input(data, size);
    if (st != FL_OK)
        return st;
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL || fresh_cinfo(ctx, strict) != FL_OK) {
        fl_set_error("out of memory creating the JPEG decoder");
        return FL_ERR_NOMEM;
    }
    j_decompress_ptr cinfo = &ctx->cinfo;
    if (setjmp(ctx->err.jb)) {
        jpeg_abort_decompress(cinfo);
        return jump_status(ctx);
    }
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    read_header(ctx);
    info->height = (int)cinfo->image_height;
    info->width = (int)cinfo->image_width;
    info->components = cinfo->num_components;
    info->color_space = cs_code(cinfo->jpeg_color_space);
    info->progressive = jpeg_has_multiple_scans(cinfo) ? 1 : 0;
    jpeg_abort_decompress(cinfo);
    return FL_OK;
}

/* ------------------------------------------------------------------ region decode */

static inline void cmyk_to_rgb(uint8_t *restrict dst, const uint8_t *restrict src, int n,
                               int inverted)
{
    /* PIL: R = (255 - C) * (255 - K) / 255; Adobe files store inverted values */
    for (int i = 0; i < n; i++) {
        int c = src[4 * i], m = src[4 * i + 1], y = src[4 * i + 2], k = src[4 * i + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        int t;
        t = c * k + 128;
        dst[3 * i] = (uint8_t)((t + (t >> 8)) >> 8);
        t = m * k + 128;
        dst[3 * i + 1] = (uint8_t)((t + (t >> 8)) >> 8);
        t = y * k + 128;
        dst[3 * i + 2] = (uint8_t)((t + (t >> 8)) >> 8);
    }
}

/* Phase 1 of every decode: a fresh decompress object parses the header, the pixel limit
 * is checked, strict mode refuses a single scan that the data ends inside, and the output
 * colour space is set. On FL_OK the thread's object stays opened for decode_opened (the
 * data must stay alive until then); any later open_image or fresh_cinfo discards it. */
static int open_image(jpeg_ctx *ctx, const uint8_t *data, size_t size, uint64_t max_pixels,
                      int flags)
{
    int strict = (flags & FL_DECODE_STRICT) != 0;
    if (fresh_cinfo(ctx, strict) != FL_OK) {
        fl_set_error("out of memory creating the JPEG decoder");
        return FL_ERR_NOMEM;
    }
    ctx->generation++;
    j_decompress_ptr cinfo = &ctx->cinfo;
    if (setjmp(ctx->err.jb)) {
        jpeg_abort_decompress(cinfo);
        return jump_status(ctx);
    }
    jpeg_mem_src(cinfo, data, (unsigned long)size);
    read_header(ctx);
    uint64_t pixels = (uint64_t)cinfo->image_height * (uint64_t)cinfo->image_width;
    if (max_pixels > 0 && pixels > max_pixels) {
        fl_set_error("image is %ux%u = %llu pixels, above the limit of %llu",
                     cinfo->image_height, cinfo->image_width, (unsigned long long)pixels,
                     (unsigned long long)max_pixels);
        jpeg_abort_decompress(cinfo);
        return FL_ERR_LIMIT;
    }
    /* A multi-scan image is entropy-decoded whole in jpeg_start_decompress, so strict
     * mode sees any truncation. A single scan is decoded only down to the region: rows
     * below it are never read, and a file cut inside the scan would pass or fail with
     * the crop. Refuse it up front, whatever the region. */
    if (strict && !jpeg_has_multiple_scans(cinfo) &&
        !scan_is_terminated(cinfo->src->next_input_byte,
                            cinfo->src->next_input_byte + cinfo->src->bytes_in_buffer)) {
        fl_set_error("Premature end of JPEG file: the data ends inside the image's "
                     "scan, with no EOI marker after it");
        jpeg_abort_decompress(cinfo);
        return FL_ERR_STRICT;
    }
    ctx->is_cmyk = 0;
    ctx->inverted = 0;
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_RGB:
    case JCS_YCbCr:
        cinfo->out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo->out_color_space = JCS_CMYK;
        ctx->is_cmyk = 1;
        ctx->inverted = cinfo->saw_Adobe_marker;
        break;
    default:
        fl_set_error("unsupported JPEG colour space %d with %d components",
                     (int)cinfo->jpeg_color_space, cinfo->num_components);
        jpeg_abort_decompress(cinfo);
        return FL_ERR_DECODE;
    }
    ctx->flags = flags;
    ctx->opened = 1;
    return FL_OK;
}

/* Phase 2: decode scaled rows [y0, y0+h), columns [x0, x0+w) of the opened image as RGB
 * (full_res: the region is in full-resolution pixels, scaled here and written back).
 * With dst == NULL the pixels go to per-thread scratch; *px / *stride then point at pixel
 * (y0, x0). Always leaves the object closed. */
static int decode_opened(jpeg_ctx *ctx, int scale_num, int full_res, int *ry0, int *rx0,
                         int *rh, int *rw, uint8_t *dst, ptrdiff_t dst_stride,
                         const uint8_t **px, ptrdiff_t *stride)
{
    int y0 = *ry0, x0 = *rx0, h = *rh, w = *rw;
    j_decompress_ptr cinfo = &ctx->cinfo;
    if (!ctx->opened) {
        fl_set_error("no opened JPEG on this thread (another decode ran in between)");
        return FL_ERR_ARG;
    }
    ctx->opened = 0;
    int strict = (ctx->flags & FL_DECODE_STRICT) != 0;
    int cmyk = ctx->is_cmyk, inverted = ctx->inverted;
    if (setjmp(ctx->err.jb)) {
        jpeg_abort_decompress(cinfo);
        return jump_status(ctx);
    }
    cinfo->scale_num = (unsigned)scale_num;
    cinfo->scale_denom = 8;
    cinfo->dct_method = (ctx->flags & FL_DECODE_FAST_IDCT) ? JDCT_IFAST : JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    jpeg_calc_output_dimensions(cinfo);
    int H = (int)cinfo->output_height, W = (int)cinfo->output_width;
    if (full_res) { /* full-resolution region -> scaled: floor the start, ceil the end */
        int64_t sy0 = (int64_t)y0 * scale_num / 8, sx0 = (int64_t)x0 * scale_num / 8;
        int64_t sy1 = ((int64_t)(y0 + h) * scale_num + 7) / 8;
        int64_t sx1 = ((int64_t)(x0 + w) * scale_num + 7) / 8;
        sy1 = sy1 > H ? H : sy1;
        sx1 = sx1 > W ? W : sx1;
        y0 = (int)sy0;
        x0 = (int)sx0;
        h = (int)(sy1 - sy0);
        w = (int)(sx1 - sx0);
        *ry0 = y0;
        *rx0 = x0;
        *rh = h;
        *rw = w;
    }
    if (y0 < 0 || x0 < 0 || h <= 0 || w <= 0 || y0 + h > H || x0 + w > W) {
        fl_set_error("region %d,%d %dx%d outside the %dx%d image (scale %d/8)", y0, x0, h,
                           w, H, W, scale_num);
        jpeg_abort_decompress(cinfo);
        return FL_ERR_ARG;
    }
    jpeg_start_decompress(cinfo);
    if (strict) /* lenient mode keeps libjpeg's recovery from corrupt data */
        fl_huff_install(cinfo, &ctx->huff);
    /* one extra column each side: fancy upsampling replicates chroma at crop edges */
    JDIMENSION cx = (JDIMENSION)(x0 > 0 ? x0 - 1 : 0);
    JDIMENSION cend = (JDIMENSION)(x0 + w < W ? x0 + w + 1 : W);
    JDIMENSION cw = cend - cx;
    if (cx > 0 || cw < (JDIMENSION)W)
        jpeg_crop_scanline(cinfo, &cx, &cw);
    int ry = y0 > 0 ? y0 - 1 : 0; /* one extra row above, for the same reason */
    if (ry > 0) {
        JDIMENSION skipped = jpeg_skip_scanlines(cinfo, (JDIMENSION)ry);
        if ((int)skipped != ry) {
            fl_set_error("could not skip to row %d", ry);
            jpeg_abort_decompress(cinfo);
            return FL_ERR_DECODE;
        }
    }
    int nrows = y0 + h - ry;
    size_t row_bytes = (size_t)cw * 3;
    int direct = dst != NULL && cx == (JDIMENSION)x0 && cw == (JDIMENSION)w && !cmyk;
    uint8_t *base;
    ptrdiff_t bstride;
    if (direct) {
        /* rows land in the caller's buffer; the margin row above goes to scratch */
        base = NULL;
        bstride = dst_stride;
    } else {
        base = fl_buf_get(&ctx->pixels, row_bytes * (size_t)nrows + 64);
        bstride = (ptrdiff_t)row_bytes;
    }
    uint8_t *junk = NULL;
    if (direct && ry < y0)
        junk = fl_buf_get(&ctx->pixels, row_bytes + 64);
    uint8_t *cmykrow = cmyk ? fl_buf_get(&ctx->cmyk, (size_t)cw * 4 + 64) : NULL;
    JSAMPROW *rows = fl_buf_get(&ctx->rowptr, sizeof(JSAMPROW) * (size_t)nrows);
    if ((!direct && base == NULL) || (direct && ry < y0 && junk == NULL) ||
        (cmyk && cmykrow == NULL) || rows == NULL) {
        fl_set_error("out of memory for a %dx%u decode buffer", nrows, cw);
        jpeg_abort_decompress(cinfo);
        return FL_ERR_NOMEM;
    }
    for (int i = 0; i < nrows; i++) {
        int y = ry + i;
        if (direct)
            rows[i] = y < y0 ? junk : dst + (ptrdiff_t)(y - y0) * dst_stride;
        else
            rows[i] = base + (ptrdiff_t)i * bstride;
    }
    if (cmyk) {
        for (int i = 0; i < nrows; i++) {
            JSAMPROW r = cmykrow;
            if (jpeg_read_scanlines(cinfo, &r, 1) != 1)
                goto stalled;
            cmyk_to_rgb(rows[i], cmykrow, (int)cw, inverted);
        }
    } else {
        int done = 0;
        while (done < nrows) {
            JDIMENSION got = jpeg_read_scanlines(cinfo, rows + done, (JDIMENSION)(nrows - done));
            if (got == 0) /* a memory source never suspends: no progress means a bug */
                goto stalled;
            done += (int)got;
        }
    }
    jpeg_abort_decompress(cinfo);
    if (direct) {
        *px = dst;
        *stride = dst_stride;
    } else {
        *px = base + (ptrdiff_t)(y0 - ry) * bstride + (ptrdiff_t)(x0 - (int)cx) * 3;
        *stride = bstride;
        if (dst != NULL) {
            for (int i = 0; i < h; i++)
                memcpy(dst + (ptrdiff_t)i * dst_stride, *px + (ptrdiff_t)i * bstride,
                       (size_t)w * 3);
        }
    }
    return FL_OK;

stalled:
    fl_set_error("decoder made no progress at row %d", (int)cinfo->output_scanline);
    jpeg_abort_decompress(cinfo);
    return FL_ERR_DECODE;
}

static int valid_scale(int s)
{
    return s >= 1 && s <= 16;
}

int fl_jpeg_decode(const uint8_t *data, size_t size, int scale_num, int y0, int x0, int h,
                   int w, uint64_t max_pixels, int flags, uint8_t *out, ptrdiff_t out_stride)
{
    int st = check_input(data, size);
    if (st != FL_OK)
        return st;
    if (!valid_scale(scale_num) || out == NULL || out_stride < (ptrdiff_t)w * 3) {
        fl_set_error("invalid decode arguments (scale %d/8, stride %td)", scale_num,
                     out_stride);
        return FL_ERR_ARG;
    }
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL) {
        fl_set_error("out of memory creating the JPEG decoder");
        return FL_ERR_NOMEM;
    }
    const uint8_t *px;
    ptrdiff_t stride;
    st = open_image(ctx, data, size, max_pixels, flags);
    if (st != FL_OK)
        return st;
    return decode_opened(ctx, scale_num, 0, &y0, &x0, &h, &w, out, out_stride, &px, &stride);
}

int fl_jpeg_open(const uint8_t *data, size_t size, uint64_t max_pixels, int flags,
                 fl_jpeg_info *info, unsigned *token)
{
    int st = check_input(data, size);
    if (st != FL_OK)
        return st;
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL) {
        fl_set_error("out of memory creating the JPEG decoder");
        return FL_ERR_NOMEM;
    }
    st = open_image(ctx, data, size, max_pixels, flags);
    if (st != FL_OK)
        return st;
    j_decompress_ptr cinfo = &ctx->cinfo;
    info->height = (int)cinfo->image_height;
    info->width = (int)cinfo->image_width;
    info->components = cinfo->num_components;
    info->color_space = cs_code(cinfo->jpeg_color_space);
    info->progressive = jpeg_has_multiple_scans(cinfo) ? 1 : 0;
    *token = ctx->generation;
    return FL_OK;
}

int fl_jpeg_decode_opened(unsigned token, int scale_num, int y0, int x0, int h, int w,
                          uint8_t *out, ptrdiff_t out_stride)
{
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL || !ctx->opened || ctx->generation != token) {
        fl_set_error("fl_jpeg_decode_opened: the image opened by fl_jpeg_open is gone "
                     "(another decode ran on this thread in between)");
        return FL_ERR_ARG;
    }
    if (!valid_scale(scale_num) || out == NULL || out_stride < (ptrdiff_t)w * 3) {
        fl_jpeg_close();
        fl_set_error("invalid decode arguments (scale %d/8, stride %td)", scale_num,
                     out_stride);
        return FL_ERR_ARG;
    }
    const uint8_t *px;
    ptrdiff_t stride;
    return decode_opened(ctx, scale_num, 0, &y0, &x0, &h, &w, out, out_stride, &px, &stride);
}

void fl_jpeg_close(void)
{
    jpeg_ctx *ctx = thread_ctx();
    if (ctx != NULL && ctx->opened) {
        ctx->opened = 0;
        jpeg_abort_decompress(&ctx->cinfo);
    }
}

/* decode the opened image's region (full-resolution pixels) to scratch, then resample */
static int decode_resize_opened(jpeg_ctx *ctx, int scale_num, int reg_y, int reg_x, int reg_h,
                                int reg_w, double box_y, double box_x, double box_h,
                                double box_w, const fl_resize_spec *spec, void *out)
{
    if (!valid_scale(scale_num) || reg_h <= 0 || reg_w <= 0 || reg_y < 0 || reg_x < 0) {
        fl_jpeg_close();
        fl_set_error("invalid decode arguments (scale %d/8, region %d,%d %dx%d)",
                     scale_num, reg_y, reg_x, reg_h, reg_w);
        return FL_ERR_ARG;
    }
    const uint8_t *px;
    ptrdiff_t stride;
    int y0 = reg_y, x0 = reg_x, h = reg_h, w = reg_w;
    int st = decode_opened(ctx, scale_num, 1, &y0, &x0, &h, &w, NULL, 0, &px, &stride);
    if (st != FL_OK)
        return st;
    double f = scale_num / 8.0;
    st = fl_image_resize(px, h, w, stride, box_y * f - y0, box_x * f - x0, box_h * f,
                         box_w * f, spec, out);
    if (ctx->pixels.cap > FL_SCRATCH_KEEP) /* do not pin one huge image's buffer */
        fl_buf_free(&ctx->pixels);
    return st;
}

int fl_jpeg_decode_resize(const uint8_t *data, size_t size, int scale_num, int reg_y, int reg_x,
                          int reg_h, int reg_w, double box_y, double box_x, double box_h,
                          double box_w, uint64_t max_pixels, int flags,
                          const fl_resize_spec *spec, void *out)
{
    int st = check_input(data, size);
    if (st != FL_OK)
        return st;
    if (!valid_scale(scale_num) || reg_h <= 0 || reg_w <= 0 || reg_y < 0 || reg_x < 0) {
        fl_set_error("invalid decode arguments (scale %d/8, region %d,%d %dx%d)",
                     scale_num, reg_y, reg_x, reg_h, reg_w);
        return FL_ERR_ARG;
    }
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL) {
        fl_set_error("out of memory creating the JPEG decoder");
        return FL_ERR_NOMEM;
    }
    st = open_image(ctx, data, size, max_pixels, flags);
    if (st != FL_OK)
        return st;
    return decode_resize_opened(ctx, scale_num, reg_y, reg_x, reg_h, reg_w, box_y, box_x, box_h,
                                box_w, spec, out);
}

int fl_jpeg_decode_resize_opened(unsigned token, int scale_num, int reg_y, int reg_x,
                                 int reg_h, int reg_w, double box_y, double box_x,
                                 double box_h, double box_w, const fl_resize_spec *spec,
                                 void *out)
{
    jpeg_ctx *ctx = thread_ctx();
    if (ctx == NULL || !ctx->opened || ctx->generation != token) {
        fl_set_error("fl_jpeg_decode_resize_opened: the image opened by fl_jpeg_open is gone "
                     "(another decode ran on this thread in between)");
        return FL_ERR_ARG;
    }
    return decode_resize_opened(ctx, scale_num, reg_y, reg_x, reg_h, reg_w, box_y, box_x, box_h,
                                box_w, spec, out);
}
