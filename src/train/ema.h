/* An exponential moving average of a model's weights and BatchNorm statistics, as timm's ModelEmaV2
 * keeps it; private to src/train, where the trainer validates and saves it beside the raw model. */
#ifndef CR_TRAIN_EMA_H
#define CR_TRAIN_EMA_H

#include "crescendo/graph.h"

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

#endif
