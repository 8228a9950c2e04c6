/* The distributed context's calls that do not depend on MPI: creation, the one-process shortcuts,
 * large buffers cut into collectives of a bounded size, the mean, broadcasts of a length first. */
#include "crescendo/distributed.h"

#include <stdlib.h>
#include <string.h>

#include "train/distributed_impl.h"

/* Elements per collective: 16 MB of floats, so that a ResNet's gradients go in a few buckets and
 * no count passes MPI's int. */
enum { BUCKET = 1 << 22 };

bool cr_dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL ||
           getenv("PMIX_RANK") != NULL;
}

cr_status cr_dist_create(bool join, cr_dist **out) {
    cr_dist *d = calloc(1, sizeof *d);
    if (!d) return cr_fail(CR_STATUS_NOMEM, "cannot allocate the distributed context");
    d->size = 1;
    if (join) {
        cr_status s = cr_dist_join(d);
        if (s != CR_STATUS_OK) {
            free(d);
            return s;
        }
    }
    *out = d;
    return CR_STATUS_OK;
}

void cr_dist_destroy(cr_dist *d) {
    if (!d) return;
    if (d->joined) cr_dist_leave(d);
    free(d);
}

void cr_dist_abort(cr_dist *d, int code) {
    if (d && d->size > 1) cr_dist_end_job(code);
}

int cr_dist_rank(const cr_dist *d) { return d ? d->rank : 0; }
int cr_dist_size(const cr_dist *d) { return d ? d->size : 1; }
bool cr_dist_writes(const cr_dist *d) { return cr_dist_rank(d) == 0; }

static cr_status reduce(cr_dist *d, void *x, size_t n, size_t element, cr_dist_type type,
                        cr_dist_op op) {
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    for (size_t done = 0; done < n; done += BUCKET) {
        size_t count = n - done < BUCKET ? n - done : BUCKET;
        CR_TRY(cr_dist_allreduce(d, (char *)x + done * element, (int)count, type, op));
    }
    return CR_STATUS_OK;
}

cr_status cr_dist_sum_f32(cr_dist *d, float *x, size_t n) {
    return reduce(d, x, n, sizeof *x, CR_DIST_F32, CR_DIST_SUM);
}

cr_status cr_dist_sum_f64(cr_dist *d, double *x, size_t n) {
    return reduce(d, x, n, sizeof *x, CR_DIST_F64, CR_DIST_SUM);
}

cr_status cr_dist_sum_i64(cr_dist *d, int64_t *x, size_t n) {
    return reduce(d, x, n, sizeof *x, CR_DIST_I64, CR_DIST_SUM);
}

cr_status cr_dist_max_f64(cr_dist *d, double *x, size_t n) {
    return reduce(d, x, n, sizeof *x, CR_DIST_F64, CR_DIST_MAX);
}

cr_status cr_dist_mean_f32(cr_dist *d, float *x, size_t n) {
    int size = cr_dist_size(d);
    if (size == 1) return CR_STATUS_OK;
    CR_TRY(cr_dist_sum_f32(d, x, n));
    float scale = 1.0f / (float)size;
    for (size_t i = 0; i < n; i++) x[i] *= scale;
    return CR_STATUS_OK;
}

cr_status cr_dist_sum_f32_start(cr_dist *d, float *x, size_t n) {
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    for (size_t done = 0; done < n; done += BUCKET) {
        if (d->pending == CR_DIST_MAX_PENDING) CR_TRY(cr_dist_finish(d));
        size_t count = n - done < BUCKET ? n - done : BUCKET;
        CR_TRY(cr_dist_iallreduce(d, x + done, (int)count));
        d->pending++;
    }
    return CR_STATUS_OK;
}

cr_status cr_dist_progress(cr_dist *d) {
    return cr_dist_size(d) > 1 && d->pending > 0 ? cr_dist_test(d) : CR_STATUS_OK;
}

cr_status cr_dist_finish(cr_dist *d) {
    if (cr_dist_size(d) == 1 || d->pending == 0) return CR_STATUS_OK;
    cr_status s = cr_dist_wait(d);
    d->pending = 0;
    return s;
}

cr_status cr_dist_broadcast(cr_dist *d, void *bytes, size_t n) {
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    for (size_t done = 0; done < n; done += 4 * (size_t)BUCKET) {
        size_t count = n - done < 4 * (size_t)BUCKET ? n - done : 4 * (size_t)BUCKET;
        CR_TRY(cr_dist_bcast(d, (char *)bytes + done, (int)count));
    }
    return CR_STATUS_OK;
}

cr_status cr_dist_broadcast_owned(cr_dist *d, void **bytes, size_t *n) {
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    int64_t length = cr_dist_rank(d) == 0 ? (int64_t)*n : 0;
    CR_TRY(cr_dist_broadcast(d, &length, sizeof length));
    if (cr_dist_rank(d) != 0) {
        *bytes = malloc(length > 0 ? (size_t)length : 1);
        if (!*bytes) return cr_fail(CR_STATUS_NOMEM, "cannot receive %lld bytes", (long long)length);
        *n = (size_t)length;
    }
    cr_status s = cr_dist_broadcast(d, *bytes, (size_t)length);
    if (s != CR_STATUS_OK && cr_dist_rank(d) != 0) {
        free(*bytes);
        *bytes = NULL;
    }
    return s;
}
