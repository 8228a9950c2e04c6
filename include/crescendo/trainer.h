/* crescendo/trainer.h — the training run: epochs over a resolution schedule, validation after each,
 * and everything a run leaves in its folder (metrics.jsonl, confusion/<epoch>.csv,
 * last.safetensors, best.safetensors).
 *
 * The trainer owns the model, the optimizer and the loaders for the length of cr_train; the caller
 * owns the backend and the datasets. A run folder with a last.safetensors can be resumed: the
 * model, the optimizer state, the step count and the best metric come back, and the epochs that
 * follow are the ones an uninterrupted run would have trained. A run can start from pretrained
 * weights (init_path) and train its classifier alone for its first epochs (freeze_epochs). */
#ifndef CRESCENDO_TRAINER_H
#define CRESCENDO_TRAINER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "crescendo/backend.h"
#include "crescendo/checkpoint.h"
#include "crescendo/dataset.h"
#include "crescendo/distributed.h"
#include "crescendo/loader.h"
#include "crescendo/mix.h"
#include "crescendo/optim.h"
#include "crescendo/progressive.h"

/* How the LR schedule advances: a unit per optimizer step, or by the pixels each step trains on,
 * so that it spends on a stage of small images the share of the compute they take. */
typedef enum cr_lr_pace { CR_LR_PACE_PIXELS, CR_LR_PACE_STEPS } cr_lr_pace;

/* The validation metric an auto schedule watches. */
typedef enum cr_stage_metric { CR_STAGE_METRIC_VAL_LOSS, CR_STAGE_METRIC_VAL_ACC } cr_stage_metric;

typedef struct cr_train_config {
    /* model */
    const char *model;  /* "simple_cnn", "resnet18", ... */
    int channels;       /* 1 (gray) or 3 */
    float dropout;
    cr_dtype precision; /* F32, or BF16 mixed precision (cr_graph_set_precision) */

    /* data */
    const cr_dataset *train;
    const cr_dataset *val; /* NULL: no validation (no best checkpoint, no early stopping) */
    float mean[3], std[3];
    bool flip;             /* random horizontal flip of training images */
    float crop_scale_min;  /* > 0: training images are random resized crops of at least this
                            * fraction of the area, aspect 3/4 to 4/3, as torchvision's
                            * RandomResizedCrop(scale=(crop_scale_min, 1)); 0: whole images.
                            * Validation never crops */
    int workers;           /* loader threads; 0: one per core */
    cr_on_bad on_bad;
    uint64_t max_image_pixels; /* larger images are bad samples; 0: PIL's limit */
    cr_jpeg_scale jpeg_scale; /* how small JPEGs are decoded (cr_loader_options.jpeg_scale) */
    size_t cache_bytes;    /* decoded images kept between epochs of a stage, shared by the
                            * training and validation loaders in proportion to their images;
                            * 0: none (cr_loader_options.cache_bytes) */

    /* schedule */
    cr_schedule schedule;  /* resolution stages; their epochs add up to the run's length, or
                            * stage_rules.epochs bounds it for an auto schedule */
    cr_stage_rules stage_rules; /* the batch of stages without their own (batch_size or
                                 * batch_pixels), the lr scaling, and an auto schedule's epochs,
                                 * patience and min_delta; the trainer sets max_batch (the
                                 * training set's size) and maximize (from stage_metric) */
    cr_stage_metric stage_metric; /* what an auto stage watches */
    int bn_recalibrate;    /* at each switch, this many forward batches in training mode at the
                            * new size before training resumes: BatchNorm's running statistics
                            * move, no weight does; 0: none */
    bool eval_at_switch;   /* validate at each new stage's size before its first epoch (after
                            * bn_recalibrate): the accuracy right after a switch, logged as the
                            * epoch's switch_val_loss and switch_val_acc */
    bool progressive_reg;  /* regularization grows with the stages, as EfficientNetV2's
                            * progressive learning: stage i of n trains with dropout
                            * dropout (i + 1) / n and, with crop_scale_min > 0, random crops of
                            * scale at least 1 - (1 - crop_scale_min) (i + 1) / n */
    bool match_scale;      /* stages below the last size train on random crops of at least
                            * (side / last side)^2 of the area (or crop_scale_min, if lower), so
                            * that they see objects at the sizes the last stage shows them */
    int eval_resolution;   /* 0: validate at the stage's resolution */
    bool test_res_search;  /* after the last epoch, validate at the last training size times 1.15
                            * and 1.3 (multiples of 8) too and report the best (FixRes) */

    /* optimization */
    cr_optimizer_config optimizer;
    cr_lr_schedule lr_schedule; /* kind, peak lr and shape; the trainer sets total_steps and
                                 * warmup_steps from the schedule and warmup_epochs (an auto
                                 * stage counted at its most epochs), and the scale hook to the
                                 * stages' lr scaling */
    int plateau_patience;  /* lr_schedule plateau: epochs without improvement of the stage
                            * metric before the lr is lowered ... */
    double plateau_factor; /* ... by this factor */
    int warmup_epochs;
    cr_lr_pace lr_pace;    /* how the LR schedule advances through the stages */
    float label_smoothing;
    int early_stop;        /* stop after this many epochs without a better val accuracy; 0: off */
    uint64_t seed;

    /* fine-tuning */
    const char *init_path; /* pretrained weights to start from (cr_checkpoint_load_init: a state
                            * dict under the model's names; a classifier for another class count
                            * is swapped for a fresh one); NULL: a fresh initialization. Not with
                            * resume, which restores its own weights */
    int freeze_epochs;     /* the first freeze_epochs epochs train the classifier alone: every
                            * layer before it is frozen (cr_graph_freeze_body: BatchNorm on its
                            * running statistics, no backward, no optimizer step), the rest of the
                            * run trains everything; needs init_path, or resume of such a run */

    /* outputs */
    const char *out_dir;   /* the run folder; NULL writes nothing */
    bool resume;           /* continue from out_dir/last.safetensors */
    const char *config_yaml; /* the resolved configuration, kept in checkpoints; may be NULL */
    FILE *console;         /* progress bars and epoch lines; NULL: silent */

    /* processes */
    cr_dist *dist;         /* the run's processes (NULL: one). Each trains on its share of every
                            * epoch with batches of the stage's batch size (so a step takes
                            * processes x batch images), gradients and BatchNorm statistics are
                            * averaged, metrics summed; rank 0 reads the checkpoint it resumes
                            * from and --init's weights and hands them to the others, and alone
                            * writes out_dir */
    bool sync_batchnorm;   /* BatchNorm's training statistics over every process's batch */
    cr_mix_config mix;     /* mixup / cutmix of the training batches (with progressive_reg,
                            * stage i of n mixes with i/n of each alpha) */
    double clip_grad_norm; /* > 0: each step's gradients scaled to at most this L2 norm */
    double ema_decay;      /* > 0: keep an exponential moving average of the weights and
                            * BatchNorm statistics (timm's ModelEmaV2), validated every epoch
                            * beside the raw weights and saved as out_dir/ema.safetensors */
    bool best_raw;         /* with ema_decay: best.safetensors, early stopping and auto stages
                            * follow the raw weights' validation instead of the average's */

    /* stopping on request */
    const volatile sig_atomic_t *stop; /* set non-zero (by a signal handler, say): the run ends
                            * after the step under way, with last.safetensors written there
                            * (mid-epoch: --resume continues with the next batch), or at the end
                            * of the epoch when it comes during validation; NULL: never */
} cr_train_config;

typedef struct cr_train_result {
    int epochs;            /* epochs completed, counting those before a resume */
    double val_acc, val_loss; /* of the last epoch (of the moving average when it decides);
                               * NaN without validation */
    double best_val_acc;
    int best_epoch;
    double seconds;        /* wall time, across resumes */
    bool stopped_early;
    bool stopped;          /* ended at config->stop's request, resumable */
    int stopped_batch;     /* ... after this many batches of epoch `epochs` + 1 (0: at its
                            * start) */
    int test_resolution;   /* test_res_search: the size with the best val accuracy, 0 without */
    double test_acc;       /* its val accuracy */
} cr_train_result;

/* A configuration with the defaults the command line documents. */
cr_train_config cr_train_defaults(void);

cr_status cr_train(cr_backend *be, const cr_train_config *config, cr_train_result *result);

/* The size the test-resolution search of the run in `run_dir` found best, from its
 * test_res_search.json (the first of the best accuracies, as cr_train_result.test_resolution);
 * 0 when the run has no such file or it holds no result. */
int cr_train_searched_resolution(const char *run_dir);

#endif
