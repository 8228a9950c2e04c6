/* Leveled diagnostics routed to a sink chosen by the program, and the monotonic clock.
 * Messages are formatted on the stack so logging from worker threads needs no lock here. */
#include "crescendo/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static cr_log_sink log_sink;
static void *log_user;
static cr_log_level log_min_level = CR_LOG_INFO;

void cr_log_set_sink(cr_log_sink sink, void *user, cr_log_level min_level) {
    log_sink = sink;
    log_user = user;
    log_min_level = min_level;
}

void cr_log(cr_log_level level, const char *fmt, ...) {
    if (!log_sink || level < log_min_level) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log_sink(level, message, log_user);
}

double cr_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
