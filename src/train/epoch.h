/* The trainer's inner loop, shared by training and validation passes; private to src/train.
 * The context holds what lives across epochs; a pass describes one walk over a loader. */
#ifndef CR_TRAIN_EPOCH_H
#define CR_TRAIN_EPOCH_H

#include <signal.h>
#include <stdio.h>

#include "crescendo/graph.h"
#include "crescendo/loader.h"
#include "crescendo/metrics.h"
#include "crescendo/mix.h"
#include "crescendo/optim.h"
#include "crescendo/step.h"
#include "crescendo/trainer.h"
#include "train/ema.h"
#include "train/misclassified.h"

typedef struct cr_epoch_context {
    cr_step *step_runner; /* the model and its optimizer, one batch at a time */
    const cr_lr_schedule *lr_schedule;
    cr_metrics *metrics;
    FILE *console;
    cr_dist *dist; /* the run's processes: each passes over its share of the set, and the metrics
                    * and image counts of a pass are summed over them; NULL: one */
    const volatile sig_atomic_t *stop; /* non-zero: end a training pass after the step under way (any
                               * process's request ends every one's at the same step); NULL:
                               * never */
    cr_ema *ema;   /* moved towards the weights after every optimizer step; NULL: none */
    int64_t step;  /* optimizer steps so far: the schedule's position, the dropout key */
    double lr;     /* of the last step */
} cr_epoch_context;

typedef struct cr_epoch_pass {
    cr_loader *loader;
    bool training; /* shuffle, augment, drop the short last batch, update the weights */
    bool flip;
    float crop_scale_min; /* training: > 0 draws a random resized crop (cr_loader_epoch's) */
    int epoch;     /* 0-based */
    int resolution, batch_size;
    cr_misclassified *misclassified; /* validation: emptied, then given the pass's wrong
                                      * predictions for the report; NULL: none kept */
    const cr_mix_config *mix;        /* training: mixup / cutmix of each batch; NULL: none */
    uint64_t seed;                   /* with the epoch and the batch, keys the mixing */
    int first_batch;                 /* training resumed in the middle of the epoch: the batches
                                      * before this one were trained before the stop */
    const cr_metrics_totals *carry;  /* ... and what they scored; NULL: nothing */
} cr_epoch_pass;

typedef struct cr_epoch_outcome {
    cr_metrics_summary summary; /* of every process's samples */
    int64_t images;             /* of every process */
    double seconds;      /* wall time of the pass */
    double wait_seconds; /* of it, waiting for the loader */
    bool stopped;        /* a training pass ended early at ctx->stop's request ... */
    int batches;         /* ... after this many batches of the epoch */
    cr_metrics_totals totals; /* ... having scored this (every process's samples) */
} cr_epoch_outcome;

/* The loader settings of a run's configuration (cache size aside): what its training and
 * validation loaders, and the time budget's timing, read images with. */
cr_loader_options cr_epoch_loader_options(const cr_train_config *c);

cr_status cr_epoch_run(cr_epoch_context *ctx, const cr_epoch_pass *pass, cr_epoch_outcome *out);

/* Whether ctx->stop asks to stop, as every process agrees: any one's request counts for all. */
cr_status cr_epoch_stop_requested(const cr_epoch_context *ctx, bool *stop);

/* BatchNorm re-estimation at a new size: the first `batches` batches of the training pass (the
 * ones its epoch will start with) forward in training mode, which moves the running statistics by
 * the layers' momentum and changes no weight, no step count and no metric. */
cr_status cr_epoch_recalibrate(cr_epoch_context *ctx, const cr_epoch_pass *pass, int batches);

#endif
