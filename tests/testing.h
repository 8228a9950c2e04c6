/* testing.h — the few checks every C test uses, each printing where and why it failed.
 * A test program runs its cases, then returns cr_test_summary(): non-zero if any check failed. */
#ifndef CRESCENDO_TESTING_H
#define CRESCENDO_TESTING_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "crescendo/status.h"

extern int cr_test_failures;
extern int cr_test_checks;

void cr_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints "N passed, M failed" and returns 0 when nothing failed. */
int cr_test_summary(const char *name);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        cr_test_checks++;                                                                          \
        if (!(cond)) cr_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                         \
    } while (0)

/* |got - want| <= tol * max(1, |want|): absolute near zero, relative elsewhere. */
#define CHECK_NEAR(got, want, tol)                                                                 \
    do {                                                                                           \
        double g_ = (double)(got), w_ = (double)(want);                                            \
        cr_test_checks++;                                                                          \
        if (!(fabs(g_ - w_) <= (tol) * fmax(1.0, fabs(w_))))                                       \
            cr_test_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #got, g_, w_,    \
                         (double)(tol));                                                           \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        cr_status s_ = (expr);                                                                     \
        cr_test_checks++;                                                                          \
        if (s_ != CR_STATUS_OK)                                                                    \
            cr_test_fail(__FILE__, __LINE__, "%s -> %s: %s", #expr, cr_status_name(s_),            \
                         cr_error_message());                                                      \
    } while (0)

/* The call fails with `want` and its message contains `needle`. */
#define CHECK_FAILS(expr, want, needle)                                                            \
    do {                                                                                           \
        cr_status s_ = (expr);                                                                     \
        cr_test_checks++;                                                                          \
        if (s_ != (want) || !strstr(cr_error_message(), (needle)))                                 \
            cr_test_fail(__FILE__, __LINE__, "%s -> %s \"%s\", expected %s containing \"%s\"",     \
                         #expr, cr_status_name(s_), cr_error_message(), cr_status_name(want),      \
                         (needle));                                                                \
    } while (0)

#endif
