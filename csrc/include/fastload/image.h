/* fastload image kernels: libjpeg-turbo ROI / DCT-scaled decode and a fused
 * resize + flip + normalize + layout/dtype kernel.
 *
 * Plain C, no Python. Every function returns an FL_* status code (fastload/status.h); on
 * failure the thread's message buffer (fl_last_error) says what went wrong. All functions
 * are thread-safe: per-thread state (scratch buffers, derived Huffman tables keyed by
 * their bytes) lives in thread-local storage and is reused from call to call; every
 * call parses its JPEG with a fresh libjpeg decompress object, so no table, marker or
 * setting of an earlier image can reach the output.
 */
#ifndef FASTLOAD_IMAGE_H
#define FASTLOAD_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "fastload/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* decode flags (the `flags` argument of fl_jpeg_decode and fl_jpeg_decode_resize) */
#define FL_DECODE_STRICT 1    /* libjpeg warnings (truncated or corrupt data, junk between
                                 markers, odd JFIF version) are errors (FL_ERR_STRICT) */
#define FL_DECODE_FAST_IDCT 2 /* libjpeg's fast integer IDCT (JDCT_IFAST, TensorFlow's
                                 default) instead of the accurate one (JDCT_ISLOW), in
                                 every 8x8 IDCT (reduced 4x4/2x2/1x1 ones have one method) */

/* output dtypes */
#define FL_U8 0
#define FL_F32 1
#define FL_F16 2

/* layouts */
#define FL_HWC 0
#define FL_CHW 1

/* resize flags */
#define FL_ANTIALIAS 1       /* widen the triangle filter by the scale on downscale (PIL) */
#define FL_FLIP_OUTPUT 2     /* mirror the output left-right */
#define FL_FLIP_SOURCE 4     /* mirror the source crop left-right before resampling */
#define FL_LEGACY_CENTERS 8  /* TF1 resize_bilinear: src = dst * scale (no half-pixel offset) */
/* SIMD path caps, also in the resize flags (default: the fastest path the CPU runs) */
#define FL_SIMD_NO_AVX512 16 /* at most AVX2 + FMA */
#define FL_SIMD_PORTABLE 32  /* portable C only: no AVX2, FMA, AVX-512 or F16C code */

/* JPEG colour spaces reported by fl_jpeg_read_header (libjpeg J_COLOR_SPACE values) */
#define FL_CS_GRAY 1
#define FL_CS_RGB 2
#define FL_CS_YCBCR 3
#define FL_CS_CMYK 4
#define FL_CS_YCCK 5

typedef struct {
    int height;          /* pixels, full resolution */
    int width;
    int components;      /* 1, 3 or 4 */
    int color_space;     /* FL_CS_* */
    int progressive;     /* 1 for progressive / multi-scan files */
} fl_jpeg_info;

typedef struct {
    int out_h, out_w;    /* output size in pixels */
    int out_c;           /* 3, or 4 for a trailing zero channel */
    int layout;          /* FL_HWC or FL_CHW */
    int dtype;           /* FL_U8, FL_F32 or FL_F16 */
    int flags;           /* FL_ANTIALIAS | FL_FLIP_* | FL_LEGACY_CENTERS | FL_SIMD_* */
    float mean[3];       /* out = (value - mean) * inv_std, per RGB channel */
    float inv_std[3];
} fl_resize_spec;

/* The SIMD path fl_image_resize takes on this CPU with these resize flags (only the
 * FL_SIMD_* caps matter): "avx512f", "avx2+fma" or "portable". */
const char *fl_image_resize_simd(int flags);

/* Parse the JPEG header only. strict: libjpeg warnings in the header (extraneous bytes
 * before a marker, an unknown JFIF revision ...) are errors (FL_ERR_STRICT). */
int fl_jpeg_read_header(const uint8_t *data, size_t size, int strict, fl_jpeg_info *info);

/* Decode rows [y0, y0+h) x columns [x0, x0+w) of the image scaled by scale_num/8
 * (scale_num in 1, 2, 4, 8; region in scaled pixels) as RGB uint8 into out, whose
 * rows are out_stride bytes apart. Only the region's iMCU columns are decoded
 * (jpeg_crop_scanline), rows above are skipped and rows below are never read.
 * strict: libjpeg warnings (truncation, corrupt data) are errors (FL_ERR_STRICT), and
 * a single-scan image whose entropy-coded data is not followed by a marker (the file
 * ends inside the scan) is refused whatever the region, before any row is decoded. */
int fl_jpeg_decode(const uint8_t *data, size_t size, int scale_num,
                   int y0, int x0, int h, int w, uint64_t max_pixels, int strict,
                   uint8_t *out, ptrdiff_t out_stride);

/* fl_jpeg_decode in two steps, so that a caller can size its output from the header it
 * parsed once. fl_jpeg_open parses the header into this thread's decoder, checks the
 * pixel limit (and, with FL_DECODE_STRICT, that a single scan's data ends in a marker),
 * fills info and returns a token; data must stay valid until the image is decoded or
 * closed. fl_jpeg_decode_opened then decodes a region as fl_jpeg_decode does and closes
 * the image; it fails with FL_ERR_ARG when the token is stale (any other decode on the
 * thread discards the opened image). fl_jpeg_close discards it without decoding. */
int fl_jpeg_open(const uint8_t *data, size_t size, uint64_t max_pixels, int flags,
                 fl_jpeg_info *info, unsigned *token);
int fl_jpeg_decode_opened(unsigned token, int scale_num, int y0, int x0, int h, int w,
                          uint8_t *out, ptrdiff_t out_stride);
void fl_jpeg_close(void);

/* Fused: decode the region (full-resolution pixels: reg_y, reg_x, reg_h, reg_w) at
 * scale_num/8 into per-thread scratch, then resample the box (full-resolution
 * float coordinates, inside the region) into out as described by spec. Filter taps are
 * clamped to the decoded region. */
int fl_jpeg_decode_resize(const uint8_t *data, size_t size, int scale_num,
                          int reg_y, int reg_x, int reg_h, int reg_w,
                          double box_y, double box_x, double box_h, double box_w,
                          uint64_t max_pixels, int flags,
                          const fl_resize_spec *spec, void *out);

/* fl_jpeg_decode_resize of the image fl_jpeg_open opened (same token rule as
 * fl_jpeg_decode_opened): the header is parsed once. */
int fl_jpeg_decode_resize_opened(unsigned token, int scale_num, int reg_y, int reg_x,
                                 int reg_h, int reg_w, double box_y, double box_x,
                                 double box_h, double box_w, const fl_resize_spec *spec,
                                 void *out);

/* Resample the box (float pixel coordinates) of an RGB uint8 image (rows src_stride
 * bytes apart) into out, a C-contiguous array of spec->out_h x out_w x out_c (HWC) or
 * out_c x out_h x out_w (CHW) elements of spec->dtype. Taps are clamped to the image.
 * PIL / torchvision pixel-centre semantics (unless FL_LEGACY_CENTERS). */
int fl_image_resize(const uint8_t *src, int src_h, int src_w, ptrdiff_t src_stride,
                    double box_y, double box_x, double box_h, double box_w,
                    const fl_resize_spec *spec, void *out);

#ifdef __cplusplus
}
#endif
#endif
