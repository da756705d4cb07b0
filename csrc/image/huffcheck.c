/* May huffman.c replace libjpeg-turbo's decode_mcu in the library this module runs with?
 *
 * huffman.c writes a function pointer into libjpeg-turbo's private struct
 * jpeg_entropy_decoder and relies on how that release drives it (restart handling,
 * insufficient_data, the memory source). That was verified against the releases listed in
 * VERIFIED below, and only those get it:
 *   - build time: the headers' LIBJPEG_TURBO_VERSION_NUMBER must be one of them (else the
 *     plug-in is compiled out and the compiler warns);
 *   - load time: the release of the library that runs must be one of them. Linked
 *     statically (the default), that is the release setup.py read from the archive it
 *     linked (FL_LIBJPEG_LINKED_VERSION), so an archive from another release than the
 *     headers is caught; linked as a shared library, it is read from the file the dynamic
 *     loader mapped (dladdr), so a libjpeg swapped under the module is caught;
 *   - self-test: a small embedded JPEG (selftest_jpeg.h: 4:2:0, partial MCUs, restart
 *     markers) is decoded with libjpeg's decoder and with huffman.c, in full, with rows
 *     skipped and at 1/8 scale; any difference keeps libjpeg's decoder.
 * The verdict is computed once (first decode or first query) and never changes.
 * Testing hooks (read once, at that moment): FASTLOAD_TEST_LIBJPEG_VERSION pretends the
 * running library is that version; FASTLOAD_TEST_HUFFMAN_MISMATCH=1 corrupts one pixel of
 * the self-test's fast decode. To verify a new release: build against it, run
 * tests/image/test_huffman.py and the fuzz regressions, then add it to both lists.
 */
#ifndef FL_LIBJPEG_LINKED_VERSION
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#endif
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "huffman.h"
#include "selftest_jpeg.h"

static const char *const VERIFIED[] = {"2.1.5", NULL};
#define FL_VERIFIED_NUMBER(n) ((n) == 2001005)

#define FL_STR2(x) #x
#define FL_STR(x) FL_STR2(x)

#if defined(LIBJPEG_TURBO_VERSION_NUMBER) && FL_VERIFIED_NUMBER(LIBJPEG_TURBO_VERSION_NUMBER) && \
    JPEG_LIB_VERSION == 62 && (!defined(BITS_IN_JSAMPLE) || BITS_IN_JSAMPLE == 8)
#define FL_BUILD_VERIFIED 1
#else
#define FL_BUILD_VERIFIED 0
#warning "fastload: these libjpeg headers are not a libjpeg-turbo release huffman.c was verified against; its Huffman decoder is disabled (libjpeg-turbo's own is used)"
#endif

#ifdef LIBJPEG_TURBO_VERSION
#define FL_BUILD_VERSION "libjpeg-turbo " FL_STR(LIBJPEG_TURBO_VERSION)
#else
#define FL_BUILD_VERSION "libjpeg " FL_STR(JPEG_LIB_VERSION) " (not libjpeg-turbo)"
#endif

#ifndef FL_LIBJPEG_LINK
#define FL_LIBJPEG_LINK "shared"
#endif

/* setup.py renames the static libjpeg.a's non-PIC reference to libc's stderr (jerror.c's
 * default output_message) to this hidden pointer, set when the module loads */
__attribute__((visibility("hidden"))) FILE *fl_libjpeg_stderr;

__attribute__((constructor)) static void set_libjpeg_stderr(void)
{
    fl_libjpeg_stderr = stderr;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int verified;
static char verdict[1024];
static char runtime_version[64];
static char library[512];

const char *fl_libjpeg_build_version(void)
{
    return FL_BUILD_VERSION;
}

const char *fl_libjpeg_link(void)
{
    return FL_LIBJPEG_LINK;
}

/* ------------------------------------------------------------------ self-test */

struct st_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
};

static void st_error_exit(j_common_ptr c)
{
    longjmp(((struct st_err *)c->err)->jb, 1);
}

static void st_emit_message(j_common_ptr c, int level)
{
    if (level < 0) /* strict, as huffman.c requires: warnings are errors */
        longjmp(((struct st_err *)c->err)->jb, 1);
}

static void st_output_message(j_common_ptr c)
{
    (void)c;
}

/* Decode the embedded image: mode 0 in full, 1 with the first rows skipped, 2 at 1/8
 * scale. Writes rows to out (cap bytes) and their byte count to *n. Returns 0 when done,
 * -1 on a libjpeg error, -2 when fast was asked for and huffman.c declined the image. */
static int st_decode(int fast, int mode, fl_huff_state *st, unsigned char *out, size_t cap,
                     size_t *n)
{
    struct jpeg_decompress_struct cinfo;
    struct st_err err;
    volatile int created = 0;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = st_error_exit;
    err.pub.emit_message = st_emit_message;
    err.pub.output_message = st_output_message;
    if (setjmp(err.jb)) {
        if (created)
            jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_mem_src(&cinfo, fl_selftest_jpeg, sizeof fl_selftest_jpeg);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    if (mode == 2) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = 8;
    }
    jpeg_start_decompress(&cinfo);
    if (fast && !fl_huff_take_over(&cinfo, st)) {
        jpeg_destroy_decompress(&cinfo);
        return -2;
    }
    size_t row = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if (row * cinfo.output_height > cap) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (mode == 1)
        jpeg_skip_scanlines(&cinfo, 17);
    size_t done = 0;
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW r = out + done;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1)
            break;
        done += row;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *n = done;
    return 0;
}

/* "" when huffman.c and libjpeg agree on the embedded image, else what went wrong */
static const char *self_test(void)
{
    enum { CAP = 64 * 48 * 3 };
    fl_huff_state *st = calloc(1, sizeof *st);
    unsigned char *ref = malloc(CAP), *got = malloc(CAP);
    const char *why = "";
    if (st == NULL || ref == NULL || got == NULL) {
        why = "out of memory";
        goto done;
    }
    for (int mode = 0; mode < 3 && !*why; mode++) {
        size_t nref = 0, ngot = 0;
        if (st_decode(0, mode, st, ref, CAP, &nref) != 0) {
            why = "libjpeg could not decode the self-test image";
            break;
        }
        int rc = st_decode(1, mode, st, got, CAP, &ngot);
        if (rc == -2)
            why = "huffman.c declined the self-test image";
        else if (rc != 0)
            why = "huffman.c failed on the self-test image";
        else {
            if (getenv("FASTLOAD_TEST_HUFFMAN_MISMATCH") && ngot > 0)
                got[ngot / 2] ^= 1;
            if (ngot != nref || nref == 0 || memcmp(ref, got, nref) != 0)
                why = "huffman.c's pixels differ from libjpeg's on the self-test image";
        }
    }
done:
    free(st);
    free(ref);
    free(got);
    return why;
}

/* ------------------------------------------------------------------ verdict */

#ifndef FL_LIBJPEG_LINKED_VERSION
/* The first "libjpeg-turbo version X.Y.Z" in a file, copied to runtime_version. libjpeg's
 * API exposes no release number (JMSG_VERSION is the emulated libjpeg's, "6b" for the
 * 6.2 ABI); every libjpeg-turbo build carries this string (jcmaster.c). */
static void scan_for_version(const char *path)
{
    static const char tag[] = "libjpeg-turbo version ";
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    enum { CHUNK = 1 << 16, KEEP = 64 };
    char *buf = malloc(CHUNK + KEEP + 1);
    size_t have = 0, got;
    while (buf != NULL && (got = fread(buf + have, 1, CHUNK, f)) > 0) {
        have += got;
        buf[have] = '\0';
        for (size_t i = 0; i + sizeof tag - 1 <= have; i++) {
            if (memcmp(buf + i, tag, sizeof tag - 1) != 0)
                continue;
            size_t j = i + sizeof tag - 1, k = 0;
            if (have - j < 16 && !feof(f))
                break; /* the version may run into the next chunk */
            while (j < have && k + 1 < sizeof runtime_version &&
                   (buf[j] == '.' || (buf[j] >= '0' && buf[j] <= '9')))
                runtime_version[k++] = buf[j++];
            runtime_version[k] = '\0';
            goto done;
        }
        /* keep the tail: the tag may straddle two chunks */
        size_t keep = have < KEEP ? have : KEEP;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
done:
    free(buf);
    fclose(f);
}
#endif

static void read_runtime_version(void)
{
    const char *fake = getenv("FASTLOAD_TEST_LIBJPEG_VERSION");
    if (fake != NULL && *fake) {
        snprintf(runtime_version, sizeof runtime_version, "%s", fake);
        snprintf(library, sizeof library, "FASTLOAD_TEST_LIBJPEG_VERSION");
        return;
    }
#ifdef FL_LIBJPEG_LINKED_VERSION
    /* static: setup.py read it from the archive it linked, and nothing can swap that */
    snprintf(runtime_version, sizeof runtime_version, "%s", FL_LIBJPEG_LINKED_VERSION);
    snprintf(library, sizeof library, "linked statically");
#else
    /* shared: the file the dynamic loader mapped jpeg_std_error from */
    Dl_info info;
    if (dladdr((void *)jpeg_std_error, &info) && info.dli_fname != NULL) {
        snprintf(library, sizeof library, "%s", info.dli_fname);
        scan_for_version(info.dli_fname);
    }
#endif
}

static void decide(void)
{
    read_runtime_version();
    if (!FL_BUILD_VERIFIED) {
        snprintf(verdict, sizeof verdict,
                 "built against %s, which huffman.c was not verified against", FL_BUILD_VERSION);
        return;
    }
    int known = 0;
    for (int i = 0; VERIFIED[i] != NULL; i++)
        known |= strcmp(runtime_version, VERIFIED[i]) == 0;
    if (!known) {
        snprintf(verdict, sizeof verdict,
                 "running with libjpeg-turbo '%s' (%s; built against %s), which huffman.c "
                 "was not verified against",
                 runtime_version, library, FL_BUILD_VERSION);
        return;
    }
    const char *why = self_test();
    if (*why) {
        snprintf(verdict, sizeof verdict, "load-time self-test failed: %s", why);
        return;
    }
    snprintf(verdict, sizeof verdict,
             "verified: libjpeg-turbo %s, load-time self-test passed", runtime_version);
    verified = 1;
}

int fl_huff_verified(void)
{
    pthread_once(&once, decide);
    return verified;
}

const char *fl_huff_verdict(void)
{
    pthread_once(&once, decide);
    return verdict;
}

const char *fl_libjpeg_runtime_version(void)
{
    pthread_once(&once, decide);
    return runtime_version;
}

const char *fl_libjpeg_library(void)
{
    pthread_once(&once, decide);
    return library;
}
