/* Status codes and the per-thread error message shared by every fastload C kernel.
 *
 * Every kernel entry point returns one of these codes; on failure it first records a
 * message with fl_set_error, which fl_last_error returns on the same thread. The Cython
 * side turns the pair into the right exception in one place
 * (fastload/includes/common.pxd: check_status). Each extension module compiles its own
 * copy of csrc/common/error.c, so a module reads the messages its own kernels wrote.
 */
#ifndef FASTLOAD_STATUS_H
#define FASTLOAD_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define FL_OK 0
#define FL_ERR_DECODE 1      /* corrupt / truncated / unsupported data */
#define FL_ERR_LIMIT 2       /* declared size above the pixel limit */
#define FL_ERR_NOMEM 3       /* allocation failed */
#define FL_ERR_ARG 4         /* caller passed inconsistent arguments */
#define FL_ERR_STRICT 5      /* strict mode refused what libjpeg only warns about (corrupt
                                or truncated data, junk between markers, odd JFIF version) */
#define FL_ERR_UNSUPPORTED 6 /* a JPEG process this libjpeg-turbo does not decode (lossless,
                                hierarchical, 12/16-bit samples) */

/* Record a printf-style message for fl_last_error (thread-local, truncated to 320 bytes). */
void fl_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The message of the last failure on this thread ("" before any; never NULL). */
const char *fl_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
