/* The weights' exponential moving average: a copy of the trainable values and buffers, moved
 * towards the model after every optimizer step and swapped into it to validate or save. */
#include "train/ema.h"

#include <stdlib.h>
#include <string.h>

struct cr_ema {
    cr_graph *graph;
    float rate;       /* 1 - decay */
    float *values;    /* (value_count) the averaged trainable values */
    float *buffers;   /* (buffer_count) the averaged buffers */
    size_t value_count, buffer_count;
};

cr_status cr_ema_create(cr_graph *g, double decay, cr_ema **out) {
    if (!(decay >= 0.0 && decay < 1.0))
        return cr_fail(CR_STATUS_INVALID, "an EMA decay of %g is not in [0, 1)", decay);
    cr_ema *e = calloc(1, sizeof *e);
    if (!e) return cr_fail(CR_STATUS_NOMEM, "cannot allocate the EMA");
    e->graph = g;
    e->rate = (float)(1.0 - decay);
    const float *values = cr_graph_param_values(g, &e->value_count);
    const float *buffers = cr_graph_buffer_values(g, &e->buffer_count);
    e->values = malloc((e->value_count + 1) * sizeof *e->values);
    e->buffers = malloc((e->buffer_count + 1) * sizeof *e->buffers);
    if (!e->values || !e->buffers) {
        cr_ema_destroy(e);
        return cr_fail(CR_STATUS_NOMEM, "cannot allocate the EMA of %zu values",
                       e->value_count + e->buffer_count);
    }
    memcpy(e->values, values, e->value_count * sizeof *e->values);
    memcpy(e->buffers, buffers, e->buffer_count * sizeof *e->buffers);
    *out = e;
    return CR_STATUS_OK;
}

void cr_ema_destroy(cr_ema *e) {
    if (!e) return;
    free(e->values);
    free(e->buffers);
    free(e);
}

static void move_towards(float *average, const float *value, size_t count, float rate) {
    for (size_t i = 0; i < count; i++) average[i] += rate * (value[i] - average[i]);
}

void cr_ema_update(cr_ema *e) {
    size_t count;
    move_towards(e->values, cr_graph_param_values(e->graph, &count), e->value_count, e->rate);
    move_towards(e->buffers, cr_graph_buffer_values(e->graph, &count), e->buffer_count, e->rate);
}

static void exchange(float *a, float *b, size_t count) {
    for (size_t i = 0; i < count; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

void cr_ema_swap(cr_ema *e) {
    size_t count;
    exchange(e->values, cr_graph_param_values(e->graph, &count), e->value_count);
    exchange(e->buffers, cr_graph_buffer_values(e->graph, &count), e->buffer_count);
}

float *cr_ema_buffers(cr_ema *e, size_t *count) {
    *count = e->buffer_count;
    return e->buffers;
}

static const char *const NAMES[CR_EMA_TENSORS] = {CR_OPTIMIZER_PREFIX "ema.values",
                                                  CR_OPTIMIZER_PREFIX "ema.buffers"};

void cr_ema_state(cr_ema *e, cr_named_tensor out[CR_EMA_TENSORS]) {
    int64_t values = (int64_t)e->value_count, buffers = (int64_t)e->buffer_count;
    out[0] = (cr_named_tensor){NAMES[0], cr_tensor_make(CR_DTYPE_F32, 1, &values, e->values)};
    out[1] = (cr_named_tensor){NAMES[1], cr_tensor_make(CR_DTYPE_F32, 1, &buffers, e->buffers)};
}

cr_status cr_ema_load(cr_ema *e, const cr_safetensors *file) {
    int64_t values = (int64_t)e->value_count, buffers = (int64_t)e->buffer_count;
    const cr_tensor *v, *b;
    CR_TRY(cr_safetensors_expect(file, NAMES[0], CR_DTYPE_F32, 1, &values, &v));
    CR_TRY(cr_safetensors_expect(file, NAMES[1], CR_DTYPE_F32, 1, &buffers, &b));
    memcpy(e->values, v->data, e->value_count * sizeof *e->values);
    memcpy(e->buffers, b->data, e->buffer_count * sizeof *e->buffers);
    return CR_STATUS_OK;
}
