/* The dataset writers' shared plumbing: threads over ranges of images, and CSVs written to a
 * written atomically (cr_write_atomically), so a half-written one is never read. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/files.h"
#include "data/prepare/output.h"

enum { MESSAGE_SIZE = 1024 };

cr_status cr_prepare_join(char *buf, const char *a, const char *b) {
    int n = snprintf(buf, CR_PREPARE_PATH_SIZE, "%s/%s", a, b);
    if (n < 0 || n >= CR_PREPARE_PATH_SIZE)
        return cr_fail(CR_STATUS_INVALID, "%s/%s: path too long", a, b);
    return CR_STATUS_OK;
}

typedef struct range_job {
    pthread_t thread;
    cr_prepare_range range;
    void *context;
    int begin, end;
    atomic_int *stop; /* set by the first job that fails, so the others end early */
    cr_status status;
    char message[MESSAGE_SIZE];
} range_job;

static void *range_main(void *arg) {
    range_job *job = arg;
    job->status = job->range(job->context, job->begin, job->end, job->stop);
    if (job->status != CR_STATUS_OK) {
        snprintf(job->message, sizeof job->message, "%s", cr_error_message());
        atomic_store(job->stop, 1);
    }
    return NULL;
}

cr_status cr_prepare_parallel(int total, int threads, cr_prepare_range range, void *context) {
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores < 1 ? 1 : cores > CR_PREPARE_MAX_THREADS ? CR_PREPARE_MAX_THREADS
                                                                 : (int)cores;
    }
    range_job jobs[CR_PREPARE_MAX_THREADS];
    atomic_int stop = 0;
    int started = 0;
    cr_status s = CR_STATUS_OK;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (range_job){.range = range, .context = context, .stop = &stop,
                              .begin = (int)((long)total * t / threads),
                              .end = (int)((long)total * (t + 1) / threads)};
        int err = pthread_create(&jobs[t].thread, NULL, range_main, &jobs[t]);
        if (err) {
            s = cr_fail(CR_STATUS_INTERNAL, "cannot start a writing thread: %s", strerror(err));
            atomic_store(&stop, 1);
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) pthread_join(jobs[t].thread, NULL);
    for (int t = 0; t < started && s == CR_STATUS_OK; t++)
        if (jobs[t].status != CR_STATUS_OK) s = cr_fail(jobs[t].status, "%s", jobs[t].message);
    return s;
}

/* The header and the rows, as cr_write_atomically's writer. */
typedef struct csv_text {
    int rows;
    cr_prepare_row row;
    void *context;
} csv_text;

static cr_status write_rows(FILE *out, void *context) {
    const csv_text *t = context;
    fputs("class_name,image_path,target\n", out);
    for (int i = 0; i < t->rows; i++) t->row(t->context, i, out);
    return CR_STATUS_OK;
}

cr_status cr_prepare_write_csv(const char *out, const char *name, int rows, cr_prepare_row row,
                               void *context) {
    char path[CR_PREPARE_PATH_SIZE];
    CR_TRY(cr_prepare_join(path, out, name));
    return cr_write_atomically(path, write_rows,
                               &(csv_text){.rows = rows, .row = row, .context = context});
}
