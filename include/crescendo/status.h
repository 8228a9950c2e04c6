/* crescendo/status.h — errors as values.
 * Every fallible function returns a cr_status; the human-readable message is kept per thread. */
#ifndef CRESCENDO_STATUS_H
#define CRESCENDO_STATUS_H

typedef enum cr_status {
    CR_STATUS_OK = 0,
    CR_STATUS_END,         /* not an error: an iterator (loader, CSV) has nothing more to give */
    CR_STATUS_INVALID,     /* an argument or configuration is out of range */
    CR_STATUS_IO,          /* a file could not be opened, read or written */
    CR_STATUS_DATA,        /* input data is malformed: a CSV row, an image, a checkpoint */
    CR_STATUS_NOMEM,       /* an allocation failed */
    CR_STATUS_UNSUPPORTED, /* valid, but not implemented by this build or backend */
    CR_STATUS_INTERNAL     /* a library invariant broke or a dependency failed unexpectedly */
} cr_status;

/* Stores a printf-style message for the calling thread and returns s, so that a failure reads
 * `return cr_fail(CR_STATUS_DATA, "%s (row %d): ...", path, row);`. */
cr_status cr_fail(cr_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the calling thread's message, adding context on the way up. */
cr_status cr_fail_context(cr_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message stored by this thread ("" when none). Valid until the thread's next cr_fail. */
const char *cr_error_message(void);
void cr_error_clear(void);

/* "ok", "invalid argument", ... */
const char *cr_status_name(cr_status s);

/* Returns from the enclosing function when expr fails. */
#define CR_TRY(expr)                                                                               \
    do {                                                                                           \
        cr_status cr_try_status_ = (expr);                                                         \
        if (cr_try_status_ != CR_STATUS_OK) return cr_try_status_;                                 \
    } while (0)

/* For the library's own invariants only, never for user input: prints and aborts when false. */
#define CR_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) cr_assert_failed(#cond, __FILE__, __LINE__);                                  \
    } while (0)
_Noreturn void cr_assert_failed(const char *cond, const char *file, int line);

#endif
