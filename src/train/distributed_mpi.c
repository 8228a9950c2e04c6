/* The distributed context over MPI: joining and leaving the job, and the collectives, each a
 * blocking MPI call whose failure becomes a cr_status with MPI's own words. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/distributed_impl.h"

bool cr_dist_available(void) { return true; }

void cr_dist_library(char *text, size_t size) {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    version[strcspn(version, "\n,")] = '\0';
    snprintf(text, size, "%s", version);
}

static cr_status check(int code, const char *what) {
    if (code == MPI_SUCCESS) return CR_STATUS_OK;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    return cr_fail(CR_STATUS_IO, "%s failed: %.*s", what, length, text);
}

cr_status cr_dist_join(cr_dist *d) {
    int provided;
    /* only the thread that called this one calls MPI; OpenMP and the loader's threads never do */
    CR_TRY(check(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread"));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    d->requests = calloc(CR_DIST_MAX_PENDING, sizeof(MPI_Request));
    if (!d->requests) return cr_fail(CR_STATUS_NOMEM, "cannot allocate MPI requests");
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->joined = true;
    return CR_STATUS_OK;
}

void cr_dist_leave(cr_dist *d) {
    free(d->requests);
    MPI_Finalize();
}

void cr_dist_end_job(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

cr_status cr_dist_allreduce(cr_dist *d, void *x, int n, cr_dist_type type, cr_dist_op op) {
    MPI_Datatype t = type == CR_DIST_F32 ? MPI_FLOAT : type == CR_DIST_F64 ? MPI_DOUBLE
                                                                           : MPI_INT64_T;
    return check(MPI_Allreduce(MPI_IN_PLACE, x, n, t, op == CR_DIST_SUM ? MPI_SUM : MPI_MAX,
                               MPI_COMM_WORLD), "MPI_Allreduce");
}

cr_status cr_dist_bcast(cr_dist *d, void *bytes, int n) {
    return check(MPI_Bcast(bytes, n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

cr_status cr_dist_iallreduce(cr_dist *d, float *x, int n) {
    MPI_Request *requests = d->requests;
    return check(MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                &requests[d->pending]), "MPI_Iallreduce");
}

cr_status cr_dist_test(cr_dist *d) {
    int flag;
    return check(MPI_Testall(d->pending, d->requests, &flag, MPI_STATUSES_IGNORE), "MPI_Testall");
}

cr_status cr_dist_wait(cr_dist *d) {
    return check(MPI_Waitall(d->pending, d->requests, MPI_STATUSES_IGNORE), "MPI_Waitall");
}
