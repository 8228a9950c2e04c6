/* output.h — what the dataset writers share: paths under the output folder, work spread over
 * threads by contiguous ranges, and CSVs that appear whole or not at all. Private to src/data. */
#ifndef CR_DATA_PREPARE_OUTPUT_H
#define CR_DATA_PREPARE_OUTPUT_H

#include <stdatomic.h>
#include <stdio.h>

#include "crescendo/status.h"

enum { CR_PREPARE_PATH_SIZE = 4096, CR_PREPARE_MAX_THREADS = 64 };

/* a/b into buf (CR_PREPARE_PATH_SIZE bytes); CR_STATUS_INVALID when it does not fit. */
cr_status cr_prepare_join(char *buf, const char *a, const char *b);

/* Handles the items [begin, end) of a job, looking at *stop between items: another range has
 * failed, and the work should end early. */
typedef cr_status (*cr_prepare_range)(void *context, int begin, int end, const atomic_int *stop);

/* Splits [0, total) into `threads` contiguous ranges (0: one per core) and runs each on its own
 * thread. The first failure sets stop for the others and is the call's status and message. */
cr_status cr_prepare_parallel(int total, int threads, cr_prepare_range range, void *context);

/* Writes one row (its line, with the newline) of a CSV. */
typedef void (*cr_prepare_row)(void *context, int row, FILE *f);

/* out/name with the header "class_name,image_path,target" and `rows` rows, written to
 * out/name.partial and renamed (cr_write_atomically), so a reader never sees half a file. */
cr_status cr_prepare_write_csv(const char *out, const char *name, int rows, cr_prepare_row row,
                               void *context);

#endif
