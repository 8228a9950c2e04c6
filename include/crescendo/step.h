/* crescendo/step.h — one training or evaluation step, the only place where the host meets the model.
 *
 * A step drives a planned graph (and, to train, its optimizer) one batch at a time. It uploads a
 * batch from host memory (images and labels as the loader hands them out) into buffers the graph's
 * plan owns, runs forward, loss, backward and the optimizer on the backend, and hands back to the
 * host only what the host needs: the mean loss and the logits (N, K) for the metrics. Training,
 * validation, eval, predict, bench and the parity tool all step through here; nothing above it
 * calls an op or reads the backend's memory. */
#ifndef CRESCENDO_STEP_H
#define CRESCENDO_STEP_H

#include <stdbool.h>
#include <stdint.h>

#include "crescendo/distributed.h"
#include "crescendo/graph.h"
#include "crescendo/optim.h"
#include "crescendo/status.h"

typedef struct cr_step cr_step;

typedef struct cr_step_config {
    float label_smoothing; /* of the training loss; evaluation scores plain cross-entropy */
    uint64_t seed;         /* with the step number, keys the dropout masks */
    bool time_phases;      /* synchronize after each phase of a training step to time it */
    cr_dist *dist;         /* the run's processes, whose gradients each training step averages
                            * before the update; NULL: one process */
    double clip_grad_norm; /* > 0: gradients whose L2 norm (all parameters as one vector, after
                            * averaging over processes) is above it are scaled to it before the
                            * update, as torch.nn.utils.clip_grad_norm_ does */
} cr_step_config;

/* Seconds spent in each phase of the last training step (with time_phases). */
typedef struct cr_step_times {
    double upload, forward, backward, allreduce, optimizer;
} cr_step_times;

typedef struct cr_step_result {
    float loss;           /* the batch mean; NaN for a batch without labels */
    const float *logits;  /* (N, K) in host memory, valid until the next step */
    double grad_norm;     /* a training step with clip_grad_norm: the norm before clipping;
                           * NaN otherwise */
} cr_step_result;

/* A step over `graph` and `optimizer` (NULL for a step that only evaluates); neither is owned. */
cr_status cr_step_create(cr_graph *graph, cr_optimizer *optimizer, const cr_step_config *config,
                         cr_step **out);
void cr_step_destroy(cr_step *step);

/* Plans the graph for batches of up to `batch` images of side x side, unless the plan already
 * holds them. The plan's memory only grows, so alternating sizes allocate nothing. */
cr_status cr_step_prepare(cr_step *step, int batch, int side);

/* One optimizer step on n images (N, H, W, C) and their labels: the gradients zeroed, forward in
 * training mode, loss, backward, the gradients averaged over the processes (each with its own n
 * images: the step of one process with all of them, when every n is the same), and the update
 * at `lr`. `number` counts the steps before this one
 * and keys dropout. Fails with CR_STATUS_DATA when the loss is not finite. */
cr_status cr_step_train(cr_step *step, const float *images, const int32_t *labels, int n,
                        double lr, int64_t number, cr_step_result *out);

/* Makes the next cr_step_train's batch a mixed one (its images already mixed by the caller): the
 * loss targets weight times the batch's labels plus (1 - weight) times mix_labels (n of them,
 * host memory read at that step). */
void cr_step_mix_next(cr_step *step, const int32_t *mix_labels, float weight);

/* Forward in evaluation mode and the loss: validation, eval. With labels NULL, the forward and
 * logits alone, and the loss NaN: images nobody has labeled (predict). */
cr_status cr_step_eval(cr_step *step, const float *images, const int32_t *labels, int n,
                       cr_step_result *out);

/* Forward in training mode alone: BatchNorm's running statistics move by the layers' momentum and
 * nothing else changes (BatchNorm re-estimation at a new size). */
cr_status cr_step_forward_train(cr_step *step, const float *images, int n, int64_t number);

cr_step_times cr_step_last_times(const cr_step *step);

#endif
