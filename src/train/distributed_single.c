/* The distributed context of a build without MPI: one process, which cannot join a job. */
#include <stdio.h>

#include "train/distributed_impl.h"

bool cr_dist_available(void) { return false; }

void cr_dist_library(char *text, size_t size) {
    snprintf(text, size, "none: built without MPI, training runs on one process");
}

cr_status cr_dist_join(cr_dist *d) {
    return cr_fail(CR_STATUS_UNSUPPORTED, "this crescendo was built without MPI, so it trains on "
                   "one process: install libopenmpi-dev and rebuild to train on several");
}

void cr_dist_leave(cr_dist *d) { (void)d; }

void cr_dist_end_job(int code) { (void)code; }

cr_status cr_dist_allreduce(cr_dist *d, void *x, int n, cr_dist_type type, cr_dist_op op) {
    return CR_STATUS_OK;
}

cr_status cr_dist_bcast(cr_dist *d, void *bytes, int n) {
    return CR_STATUS_OK;
}

cr_status cr_dist_iallreduce(cr_dist *d, float *x, int n) { return CR_STATUS_OK; }

cr_status cr_dist_test(cr_dist *d) { return CR_STATUS_OK; }

cr_status cr_dist_wait(cr_dist *d) { return CR_STATUS_OK; }
