/* crescendo/param.h — a model's named tensors as the optimizer, checkpoints and all-reduce see them.
 * Values and gradients live in two flat arenas (one range each), so whole-model operations are flat
 * loops; a cr_param names one slice of them with torchvision's key and PyTorch's shape. */
#ifndef CRESCENDO_PARAM_H
#define CRESCENDO_PARAM_H

#include <stddef.h>

#include "crescendo/tensor.h"

typedef enum cr_param_kind {
    CR_PARAM_WEIGHT, /* conv and linear weights: weight decay applies */
    CR_PARAM_BIAS,   /* biases */
    CR_PARAM_NORM,   /* BatchNorm gamma and beta */
    CR_PARAM_BUFFER  /* running_mean, running_var, num_batches_tracked: saved, never trained */
} cr_param_kind;

enum { CR_PARAM_NAME_MAX = 96 };

typedef struct cr_param {
    char name[CR_PARAM_NAME_MAX]; /* "layer1.0.conv1.weight" */
    cr_param_kind kind;
    cr_tensor value;   /* PyTorch's shape and order; F32 (I64 for num_batches_tracked) */
    float *grad;       /* same element count, in the gradient arena; NULL for buffers */
    size_t offset;     /* elements from the start of the value arena (trainable) or buffer arena */
} cr_param;

static inline int cr_param_trainable(const cr_param *p) { return p->kind != CR_PARAM_BUFFER; }

#endif
