/* crescendo/model.h — the model zoo: named architectures built as graphs.
 * Parameter names and shapes are torchvision's (resnet*) so checkpoints load straight into
 * PyTorch; every model takes any input size its pooling allows (progressive resizing needs it). */
#ifndef CRESCENDO_MODEL_H
#define CRESCENDO_MODEL_H

#include <stdint.h>

#include "crescendo/graph.h"

typedef struct cr_model_config {
    int num_classes; /* >= 2 */
    int in_channels; /* 1 (gray) or 3 */
    float dropout;   /* before the classifier; resnet default 0 (torchvision has none) */
} cr_model_config;

/* Builds and finalizes `name` ("resnet18", "resnet34", "resnet50", "simple_cnn"), parameters
 * initialized from seed. Unknown names fail with the list of known ones. */
cr_status cr_model_create(cr_backend *be, const char *name, const cr_model_config *config,
                          uint64_t seed, cr_graph **out);

/* NULL-terminated list of the model names. */
const char *const *cr_model_names(void);

/* The smallest input side the model accepts. */
int cr_model_min_resolution(const char *name);

#endif
