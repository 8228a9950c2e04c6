/* The bounded appender behind every console line of the report module.
 * One place does the clamping so that no caller does size arithmetic on its own. */
#include "report/text.h"

#include <stdarg.h>
#include <stdio.h>

void cr_report_appendf(char *out, size_t size, int *len, const char *fmt, ...) {
    size_t at = *len < 0 ? 0 : (size_t)*len;
    if (size > 0 && at >= size) at = size - 1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(size ? out + at : NULL, size ? size - at : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += n;
}
