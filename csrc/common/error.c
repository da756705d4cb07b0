/* The per-thread error message behind fl_set_error / fl_last_error (fastload/status.h). */
#include <stdarg.h>
#include <stdio.h>

#include "fastload/status.h"

static _Thread_local char fl_errbuf[320];

void fl_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fl_errbuf, sizeof fl_errbuf, fmt, ap);
    va_end(ap);
}

const char *fl_last_error(void)
{
    return fl_errbuf;
}
