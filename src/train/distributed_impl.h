/* What the two builds of the distributed context share: the context itself and the few calls that
 * differ between a build with MPI (distributed_mpi.c) and one without (distributed_single.c). */
#ifndef CR_TRAIN_DISTRIBUTED_IMPL_H
#define CR_TRAIN_DISTRIBUTED_IMPL_H

#include "crescendo/distributed.h"

/* Sums begun and not yet finished, at most this many at a time. */
enum { CR_DIST_MAX_PENDING = 64 };

struct cr_dist {
    int rank, size;
    bool joined;  /* of an MPI job, which cr_dist_destroy leaves */
    int pending;  /* sums begun by cr_dist_sum_f32_start and not finished */
    void *requests; /* (CR_DIST_MAX_PENDING) the library's handles of those sums */
};

typedef enum cr_dist_type { CR_DIST_F32, CR_DIST_F64, CR_DIST_I64 } cr_dist_type;
typedef enum cr_dist_op { CR_DIST_SUM, CR_DIST_MAX } cr_dist_op;

/* Joins the job: sets rank and size. */
cr_status cr_dist_join(cr_dist *d);
void cr_dist_leave(cr_dist *d);
/* Ends every process of the job. */
void cr_dist_end_job(int code);
/* One collective of at most INT_MAX elements, called only with several processes. */
cr_status cr_dist_allreduce(cr_dist *d, void *x, int n, cr_dist_type type, cr_dist_op op);
cr_status cr_dist_bcast(cr_dist *d, void *bytes, int n);
/* A sum of floats begun (its handle the d->pending'th), progressed, and all of them waited for;
 * called only with several processes. */
cr_status cr_dist_iallreduce(cr_dist *d, float *x, int n);
cr_status cr_dist_test(cr_dist *d);
cr_status cr_dist_wait(cr_dist *d);

#endif
