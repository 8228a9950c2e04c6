/* crescendo/checkpoint.h — a run's checkpoints: the model's state dict (torchvision names), the
 * optimizer's state under "optimizer.", and in __metadata__ what is needed to rebuild the model and
 * its input pipeline (architecture, classes, channels, resolution, normalization) and to resume.
 *
 * A checkpoint without optimizer state (best.safetensors) loads into PyTorch as it is:
 * model.load_state_dict(safetensors.torch.load_file(path), strict=True). One with it
 * (last.safetensors) loads after dropping the keys that start with "optimizer.". */
#ifndef CRESCENDO_CHECKPOINT_H
#define CRESCENDO_CHECKPOINT_H

#include <stdint.h>

#include "crescendo/backend.h"
#include "crescendo/graph.h"
#include "crescendo/optim.h"
#include "crescendo/progressive.h"
#include "crescendo/safetensors.h"

enum { CR_CHECKPOINT_MAX_CLASSES = 4096, CR_CHECKPOINT_NAME_MAX = 64 };

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
    const char *const *class_names; /* (num_classes); on read, owned by the info (cr_checkpoint_info_free) */
    const char *config;   /* the run's configuration as YAML, or NULL */
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

#endif
