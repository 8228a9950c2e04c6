/* crescendo/checkpoint.h — a run's checkpoints: the model's state dict (torchvision names), the
 * optimizer's state under "optimizer.", and in __metadata__ what is needed to rebuild the model and
 * its input pipeline (architecture, classes, channels, resolution, normalization) and to resume.
 *
 * A checkpoint without optimizer state (best.safetensors) loads into PyTorch as it is:
 * model.load_state_dict(safetensors.torch.load_file(path), strict=True). One with it
 * (last.safetensors) loads after dropping the keys that start with "optimizer.".
 *
 * Pretrained weights to start a run from (train --init) are read here too: any state dict under
 * the model's parameter names, with the classifier swapped for another class count. */
#ifndef CRESCENDO_CHECKPOINT_H
#define CRESCENDO_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "crescendo/backend.h"
#include "crescendo/graph.h"
#include "crescendo/metrics.h"
#include "crescendo/optim.h"
#include "crescendo/progressive.h"
#include "crescendo/safetensors.h"

enum { CR_CHECKPOINT_MAX_CLASSES = 4096, CR_CHECKPOINT_NAME_MAX = 64 };

/* Where a plateau LR schedule's watch is: the lr lowered `reductions` times so far, and the best
 * validation metric with the epochs since it. */
typedef struct cr_plateau_state {
    int reductions, bad_epochs;
    double best; /* NaN before the first validation */
} cr_plateau_state;

typedef struct cr_checkpoint_info {
    char model[CR_CHECKPOINT_NAME_MAX];
    int num_classes, channels;
    int resolution;       /* the side the model last trained at: the default for eval */
    float mean[3], std[3];
    int epoch;            /* epochs completed */
    int64_t step;         /* optimizer steps completed */
    double best_metric;   /* best validation accuracy so far, NaN when none */
    int best_epoch;
    double elapsed_seconds;
    uint64_t seed;
    cr_stage_state stage; /* where the resolution schedule is; on read, stage -1 when the file
                           * predates it */
    cr_plateau_state plateau; /* on read, 0 reductions and a NaN best when the file has none */
    int batch;            /* > 0: written in the middle of epoch `epoch` + 1, after this many of
                           * its batches (a stop on request); 0: at the end of an epoch */
    cr_metrics_totals batch_totals;        /* with batch > 0: what those batches scored */
    double switch_val_loss, switch_val_acc; /* with batch > 0: the epoch's validation at its
                                             * stage switch (NaN when none) */
    const char *const *class_names; /* (num_classes); on read, owned by the info (cr_checkpoint_info_free) */
    const char *config;   /* the run's configuration as YAML, or NULL */
    const cr_named_tensor *extra; /* written with the optimizer's state: more of the trainer's
                                   * state, named under CR_OPTIMIZER_PREFIX (the weights' moving
                                   * average); not read back by cr_checkpoint_read_info */
    int extra_count;
} cr_checkpoint_info;

/* Writes path atomically: the graph's state dict, the optimizer's state when opt is not NULL,
 * and info as metadata. */
cr_status cr_checkpoint_save(const char *path, cr_graph *g, cr_optimizer *opt,
                             const cr_checkpoint_info *info);

/* Reads the metadata of an opened checkpoint. Fails with CR_STATUS_DATA naming the file when it
 * was not written by crescendo or a field is missing or malformed. */
cr_status cr_checkpoint_read_info(const cr_safetensors *file, cr_checkpoint_info *info);
void cr_checkpoint_info_free(cr_checkpoint_info *info);

/* Opens path, builds the model its metadata names and loads its weights (optimizer state, if any,
 * is ignored). The caller destroys the graph and frees the info. */
cr_status cr_checkpoint_load_model(cr_backend *be, const char *path, cr_graph **graph,
                                   cr_checkpoint_info *info);

/* What cr_checkpoint_load_init did. */
typedef struct cr_init_result {
    int loaded;       /* tensors copied into the model */
    int ignored;      /* a crescendo checkpoint's optimizer state, left out */
    int file_classes; /* outputs of the file's classifier (0 when it has none of 2 dimensions) */
    bool swapped;     /* the file's classifier has file_classes outputs, the model another count:
                       * the model's keeps its fresh initialization */
} cr_init_result;

/* Loads pretrained weights into g from the safetensors file at path: a state dict under the
 * model's parameter names, such as torchvision's or timm's
 * safetensors.torch.save_file(model.state_dict(), path) or a crescendo checkpoint (whose optimizer
 * state is left out). Every parameter and buffer is loaded, BatchNorm's running statistics and
 * num_batches_tracked included, except in a classifier swap: when the file's classifier
 * (cr_graph_classifier_name) reads as many features as the model's but has another number of
 * outputs, the model's keeps its initialization. Everything is checked before anything is copied:
 * a tensor the model does not have, a parameter the file lacks, and another dtype or shape (both
 * named, and the input channels when the first layer differs in them alone) fail with
 * CR_STATUS_DATA, one line per mismatch in the message. */
cr_status cr_checkpoint_load_init(cr_graph *g, const char *path, cr_init_result *out);

#endif
