/* An exponential moving average of a model's weights and BatchNorm statistics, as timm's ModelEmaV2
 * keeps it; private to src/train, where the trainer validates and saves it beside the raw model. */
#ifndef CR_TRAIN_EMA_H
#define CR_TRAIN_EMA_H

#include "crescendo/graph.h"
#include "crescendo/optim.h"
#include "crescendo/safetensors.h"

typedef struct cr_ema cr_ema;

/* An average of g's trainable values and buffers starting from their current values, each
 * update moving it by (1 - decay) towards g's: ema += (1 - decay) * (value - ema), in float as
 * torch's lerp_. decay in [0, 1). */
cr_status cr_ema_create(cr_graph *g, double decay, cr_ema **out);
void cr_ema_destroy(cr_ema *e);
void cr_ema_update(cr_ema *e);
/* Exchanges the averages with the model's values, so that the model evaluates, saves or loads
 * the average; the second call exchanges them back. */
void cr_ema_swap(cr_ema *e);
/* The averaged buffers (BatchNorm statistics), which processes average like the model's. */
float *cr_ema_buffers(cr_ema *e, size_t *count);

/* The average as two flat tensors (values, buffers) named CR_OPTIMIZER_PREFIX "ema.values" and
 * "ema.buffers", views of its memory, so that a checkpoint keeps it with the optimizer's state. */
enum { CR_EMA_TENSORS = 2 };
void cr_ema_state(cr_ema *e, cr_named_tensor out[CR_EMA_TENSORS]);
/* The average as cr_ema_state wrote it into `file`; CR_STATUS_DATA naming the file when it has
 * none or of another size. */
cr_status cr_ema_load(cr_ema *e, const cr_safetensors *file);

#endif
