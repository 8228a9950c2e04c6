/* text.h — building a console line piece by piece within a fixed buffer (report module only).
 * A value gone wild (a loss of 1e30 printed with %f) must cut the line short, never overrun it. */
#ifndef CR_REPORT_TEXT_H
#define CR_REPORT_TEXT_H

#include <stddef.h>

/* Appends printf-style text at out + *len, never past size - 1, and adds the untruncated length
 * to *len (as snprintf counts), so the total is known even when the line was cut. */
void cr_report_appendf(char *out, size_t size, int *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
