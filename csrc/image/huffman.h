/* Baseline JPEG Huffman decoding that replaces libjpeg-turbo's decode_mcu (private to
 * csrc/image; see huffman.c). */
#ifndef FASTLOAD_IMAGE_HUFFMAN_H
#define FASTLOAD_IMAGE_HUFFMAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>

/* bits looked up at once: codes + extra bits up to this long decode in one step */
#define FL_HUFF_FAST 11

/* One derived table. fast[] entry, indexed by the next FL_HUFF_FAST bits:
 *   bits 0-5   bits to consume (0: the code is longer than FL_HUFF_FAST, use the slow path)
 *   bit  6     the extra bits are included and bits 16-31 hold the extended value
 *   bits 8-11  run (AC) ; bits 12-15 size (AC) or category (DC)
 *   bits 16-31 the coefficient (int16), when bit 6 is set */
typedef struct {
    uint32_t fast[1 << FL_HUFF_FAST];
    int32_t maxcode[18];  /* largest code of each length, -1 when none; [17] sentinel */
    int32_t valoff[17];   /* huffval index of code c of length l: c + valoff[l] */
    uint8_t huffval[256];
    uint8_t key[17 + 256]; /* the JHUFF_TBL bits + huffval it was built from */
    int valid;
} fl_huff_table;

typedef struct {
    /* bit reader: the next bits are the most significant bits of buf */
    uint64_t buf;
    int nbits;         /* valid bits in buf, genuine or padding */
    int pad;           /* zero bits appended after the data ended or a marker was hit */
    const uint8_t *pos, *end;
    int last_dc[4];
    unsigned restarts_to_go;
    int next_restart;
    /* per block of an MCU */
    const fl_huff_table *dc[10], *ac[10];
    int comp[10];
    int ac_needed[10];
    fl_huff_table tables[8]; /* DC 0-3, AC 0-3 */
} fl_huff_state;

/* After jpeg_start_decompress: take over entropy decoding of a single-scan baseline or
 * extended-sequential Huffman image. Returns 1 when installed, 0 when the image is left
 * to libjpeg's own decoder (progressive, arithmetic, multi-scan, unusual layouts).
 * Requirements: the source holds the whole file in memory (jpeg_mem_src: the decoder
 * reads src->next_input_byte .. + bytes_in_buffer directly and never calls
 * fill_input_buffer), and the caller's error manager treats warnings as errors (strict
 * mode): corrupt data raises through cinfo->err where libjpeg would warn. Known
 * differences on corrupt data: an undefined Huffman code always raises (libjpeg-turbo's
 * fast path reads it as symbol 0), whole stray bytes before an RSTn marker always raise
 * (libjpeg reports them only at its next marker search). Data ending without a marker
 * after the scan never gets here: jpeg.c refuses it in strict mode before decoding. */
int fl_huff_install(j_decompress_ptr cinfo, fl_huff_state *st);

/* fl_huff_install without the switch and version checks (huffcheck.c's self-test) */
int fl_huff_take_over(j_decompress_ptr cinfo, fl_huff_state *st);

/* huffcheck.c: 1 when the running libjpeg-turbo is a release huffman.c was verified
 * against and the load-time self-test passed (computed once, thread-safe); the verdict
 * in words; the library versions and how it was linked ("static" or "shared"). */
int fl_huff_verified(void);
const char *fl_huff_verdict(void);
const char *fl_libjpeg_build_version(void);
const char *fl_libjpeg_runtime_version(void);
const char *fl_libjpeg_link(void);
const char *fl_libjpeg_library(void); /* "linked statically" or the shared library's path */

/* 1 (default) to use fl_huff_install, 0 to keep libjpeg-turbo's decoder everywhere */
void fl_jpeg_set_fast_huffman(int on);
int fl_jpeg_fast_huffman(void);

#endif
