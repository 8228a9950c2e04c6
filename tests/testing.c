/* The counters and reporting behind testing.h.
 * The closing line is the plain "N passed, M failed" that CI and ctest logs are read for. */
#include "testing.h"

#include <stdarg.h>

int cr_test_failures;
int cr_test_checks;

void cr_test_fail(const char *file, int line, const char *fmt, ...) {
    cr_test_failures++;
    fprintf(stderr, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cr_test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, cr_test_checks - cr_test_failures, cr_test_failures);
    return cr_test_failures ? 1 : 0;
}
