/* crescendo/distributed.h — the processes of one training run: this one's rank, how many there are,
 * the collectives training needs, and which process writes the run folder.
 *
 * A context is created once per run. Started by mpirun (or asked for), it joins the MPI job; a
 * build without MPI, or a process started alone, gets a context of one process in which every
 * collective returns at once with the data unchanged. Every function also takes NULL for that
 * one-process context, so code that never trains on several processes passes nothing.
 *
 * Collectives are called by every process in the same order with the same counts (as MPI's);
 * the buffers are host memory. A process that fails calls cr_dist_abort, which ends every process
 * of the job, so that none waits forever in a collective. */
#ifndef CRESCENDO_DISTRIBUTED_H
#define CRESCENDO_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crescendo/status.h"

typedef struct cr_dist cr_dist;

/* Whether this build can run on several processes (it was built with MPI). */
bool cr_dist_available(void);
/* The MPI library this build runs on, in its own words (first line), or why there is none. */
void cr_dist_library(char *text, size_t size);

/* Whether this process was started by a launcher of several (mpirun sets OMPI_COMM_WORLD_SIZE or
 * PMI_SIZE), so that cr_dist_create should join the job. */
bool cr_dist_launched(void);

/* Joins the job when `join` (and this build has MPI: CR_STATUS_UNSUPPORTED otherwise), or makes
 * a context of one process. */
cr_status cr_dist_create(bool join, cr_dist **out);
/* Leaves the job after every process has reached this point. NULL is allowed. */
void cr_dist_destroy(cr_dist *d);
/* Ends every process of the job with `code`, now; returns only in a context of one process. */
void cr_dist_abort(cr_dist *d, int code);

int cr_dist_rank(const cr_dist *d);
int cr_dist_size(const cr_dist *d);
/* The process that writes the run folder and the console: rank 0. */
bool cr_dist_writes(const cr_dist *d);

/* In place over all processes: the sum (or the largest) of each element. */
cr_status cr_dist_sum_f32(cr_dist *d, float *x, size_t n);
cr_status cr_dist_sum_f64(cr_dist *d, double *x, size_t n);
cr_status cr_dist_sum_i64(cr_dist *d, int64_t *x, size_t n);
cr_status cr_dist_max_f64(cr_dist *d, double *x, size_t n);
/* Rank 0's n bytes to every process. */
cr_status cr_dist_broadcast(cr_dist *d, void *bytes, size_t n);
/* Rank 0's byte count, then its bytes, to every process: *bytes is rank 0's buffer there and a
 * malloc'ed copy elsewhere (the caller frees it on ranks other than 0). */
cr_status cr_dist_broadcast_owned(cr_dist *d, void **bytes, size_t *n);

/* The mean over processes of x (n floats) in place: the sum, divided by the process count. */
cr_status cr_dist_mean_f32(cr_dist *d, float *x, size_t n);

/* Sums that travel while the caller goes on computing: cr_dist_sum_f32_start begins summing x in
 * place over the processes (x must stay untouched until cr_dist_finish), cr_dist_progress lets
 * the sums begun move on (MPI moves them only inside its calls), and cr_dist_finish waits for
 * all of them. Every process starts the same ranges in the same order. */
cr_status cr_dist_sum_f32_start(cr_dist *d, float *x, size_t n);
cr_status cr_dist_progress(cr_dist *d);
cr_status cr_dist_finish(cr_dist *d);

#endif
