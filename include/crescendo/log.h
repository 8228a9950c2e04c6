/* crescendo/log.h — leveled diagnostics and a monotonic clock.
 * The library never prints on its own: messages go to a sink the program installs (the CLI's
 * writes to stderr); with no sink they are dropped. */
#ifndef CRESCENDO_LOG_H
#define CRESCENDO_LOG_H

typedef enum cr_log_level {
    CR_LOG_DEBUG,
    CR_LOG_INFO,
    CR_LOG_WARN,
    CR_LOG_ERROR
} cr_log_level;

typedef void (*cr_log_sink)(cr_log_level level, const char *message, void *user);

/* Installs the sink and the lowest level passed to it. Not thread-safe: call at start-up. */
void cr_log_set_sink(cr_log_sink sink, void *user, cr_log_level min_level);
void cr_log(cr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds on a monotonic clock, for timings and ETAs. */
double cr_now_seconds(void);

#endif
