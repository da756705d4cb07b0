/* Private helpers shared by the C files in csrc/image (not part of the public header). */
#ifndef FASTLOAD_IMAGE_INTERNAL_H
#define FASTLOAD_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdlib.h>

/* A growable scratch buffer; contents are not preserved when it grows. */
typedef struct {
    void *ptr;
    size_t cap;
} fl_buf;

static inline void *fl_buf_get(fl_buf *b, size_t bytes)
{
    if (bytes <= b->cap && b->ptr != NULL)
        return b->ptr;
    size_t cap = b->cap + b->cap / 2;
    if (cap < bytes)
        cap = bytes;
    cap = (cap + 63) & ~(size_t)63;
    free(b->ptr);
    b->ptr = aligned_alloc(64, cap);
    b->cap = b->ptr ? cap : 0;
    return b->ptr;
}

static inline void fl_buf_free(fl_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->cap = 0;
}

#endif
