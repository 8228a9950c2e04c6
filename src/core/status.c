/* Per-thread error messages behind cr_status.
 * A fixed thread-local buffer: reporting an error must never itself allocate or fail. */
#include "crescendo/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MESSAGE_CAPACITY = 1024 };
static _Thread_local char message[MESSAGE_CAPACITY];

cr_status cr_fail(cr_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return s;
}

cr_status cr_fail_context(cr_status s, const char *fmt, ...) {
    char previous[MESSAGE_CAPACITY];
    memcpy(previous, message, sizeof previous);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= sizeof message) return s;
    size_t room = sizeof message - (size_t)n - 2 - 1, length = strlen(previous);
    if (length > room) length = room; /* a long chain of context keeps its outermost part */
    memcpy(message + n, ": ", 2);
    memcpy(message + n + 2, previous, length);
    message[(size_t)n + 2 + length] = '\0';
    return s;
}

const char *cr_error_message(void) { return message; }

void cr_error_clear(void) { message[0] = '\0'; }

const char *cr_status_name(cr_status s) {
    switch (s) {
    case CR_STATUS_OK: return "ok";
    case CR_STATUS_END: return "end";
    case CR_STATUS_INVALID: return "invalid argument";
    case CR_STATUS_IO: return "i/o error";
    case CR_STATUS_DATA: return "bad data";
    case CR_STATUS_NOMEM: return "out of memory";
    case CR_STATUS_UNSUPPORTED: return "unsupported";
    case CR_STATUS_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void cr_assert_failed(const char *cond, const char *file, int line) {
    fprintf(stderr, "crescendo: internal invariant failed: %s (%s:%d)\n", cond, file, line);
    abort();
}
