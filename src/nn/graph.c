/* Graph construction: nodes appended in topological order, parameters registered under
 * torchvision's names, and the parameter arenas allocated and initialized at finalize. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/rng.h"
#include "nn/graph_internal.h"

cr_status cr_graph_create(cr_backend *be, int in_channels, cr_graph **out) {
    if (in_channels < 1)
        return cr_fail(CR_STATUS_INVALID, "a model needs at least one input channel, not %d",
                       in_channels);
    cr_graph *g = calloc(1, sizeof *g);
    if (!g) return cr_fail(CR_STATUS_NOMEM, "cannot allocate a graph");
    g->be = be;
    g->node_capacity = 64;
    g->nodes = calloc((size_t)g->node_capacity, sizeof *g->nodes);
    if (!g->nodes) {
        free(g);
        return cr_fail(CR_STATUS_NOMEM, "cannot allocate a graph");
    }
    g->node_count = 1;
    g->train_from = 1;
    g->nodes[0] = (cr_node){.op = CR_OP_INPUT, .c = in_channels, .weight = -1, .bias = -1,
                            .running_mean = -1, .running_var = -1, .batches_tracked = -1};
    *out = g;
    return CR_STATUS_OK;
}

void cr_graph_destroy(cr_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->node_count; i++)
        if (g->nodes[i].cache) g->be->ops->cache_destroy(g->be, g->nodes[i].cache);
    if (g->values) g->be->ops->free(g->be, g->values);
    if (g->grads) g->be->ops->free(g->be, g->grads);
    if (g->buffers) g->be->ops->free(g->be, g->buffers);
    if (g->activations) g->be->ops->free(g->be, g->activations);
    free(g->batches_tracked);
    free(g->params);
    free(g->nodes);
    free(g);
}

/* Records the first error and returns -1, so builders can be chained without checks. */
static int build_error(cr_graph *g, cr_status s) {
    if (g->error == CR_STATUS_OK) g->error = s;
    return -1;
}

static int check_input(cr_graph *g, int input) {
    if (g->error != CR_STATUS_OK) return -1;
    if (g->finalized)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "the graph is finalized; no more nodes"));
    if (input < 0 || input >= g->node_count)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "node %d reads node %d, which does not "
                                      "exist yet", g->node_count, input));
    return 0;
}

static cr_node *append(cr_graph *g, cr_op op, int input, const char *name) {
    if (g->node_count == g->node_capacity) {
        int capacity = g->node_capacity * 2;
        cr_node *nodes = realloc(g->nodes, (size_t)capacity * sizeof *nodes);
        if (!nodes) {
            build_error(g, cr_fail(CR_STATUS_NOMEM, "cannot grow the graph"));
            return NULL;
        }
        g->nodes = nodes;
        g->node_capacity = capacity;
    }
    cr_node *node = &g->nodes[g->node_count++];
    *node = (cr_node){.op = op, .inputs = {input, -1}, .input_count = 1, .weight = -1,
                      .bias = -1, .running_mean = -1, .running_var = -1, .batches_tracked = -1};
    if (name) snprintf(node->name, sizeof node->name, "%s", name);
    g->nodes[input].consumers++;
    return node;
}

/* Registers "<module>.<suffix>" with PyTorch's shape; memory comes at finalize. */
static int add_param(cr_graph *g, const char *module, const char *suffix, cr_param_kind kind,
                     cr_dtype dtype, int ndim, const int64_t *shape) {
    if (g->param_count == g->param_capacity) {
        int capacity = g->param_capacity ? g->param_capacity * 2 : 64;
        cr_param *params = realloc(g->params, (size_t)capacity * sizeof *params);
        if (!params) return build_error(g, cr_fail(CR_STATUS_NOMEM, "cannot grow the parameters"));
        g->params = params;
        g->param_capacity = capacity;
    }
    cr_param *p = &g->params[g->param_count];
    memset(p, 0, sizeof *p);
    int n = snprintf(p->name, sizeof p->name, "%s.%s", module, suffix);
    if (n < 0 || (size_t)n >= sizeof p->name)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "parameter name %s.%s is too long",
                                      module, suffix));
    for (int i = 0; i < g->param_count; i++)
        if (strcmp(g->params[i].name, p->name) == 0)
            return build_error(g, cr_fail(CR_STATUS_INVALID, "two parameters are named %s",
                                          p->name));
    p->kind = kind;
    p->value = cr_tensor_make(dtype, ndim, shape, NULL);
    return g->param_count++;
}

static int needs_name(cr_graph *g, const char *name, const char *what) {
    if (name && name[0]) return 0;
    return build_error(g, cr_fail(CR_STATUS_INVALID, "a %s layer needs a name", what));
}

int cr_graph_conv2d(cr_graph *g, int input, const char *name, int out_channels, int kernel,
                    int stride, int pad, int groups, bool bias) {
    if (check_input(g, input) < 0 || needs_name(g, name, "conv2d") < 0) return -1;
    if (out_channels < 1 || kernel < 1 || stride < 1 || pad < 0 || groups < 1 ||
        out_channels % groups != 0)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "%s: invalid convolution (out %d, "
                                      "kernel %d, stride %d, pad %d, groups %d)", name,
                                      out_channels, kernel, stride, pad, groups));
    int in_channels = g->nodes[input].c;
    if (in_channels % groups != 0)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "%s: %d input channels do not split "
                                      "into %d groups", name, in_channels, groups));
    cr_node *node = append(g, CR_OP_CONV2D, input, name);
    if (!node) return -1;
    node->out_channels = node->c = out_channels;
    node->kernel = kernel, node->stride = stride, node->pad = pad, node->groups = groups;
    node->has_bias = bias;
    int64_t wshape[4] = {out_channels, in_channels / groups, kernel, kernel};
    node->weight = add_param(g, name, "weight", CR_PARAM_WEIGHT, CR_DTYPE_F32, 4, wshape);
    if (bias) {
        int64_t bshape[1] = {out_channels};
        node->bias = add_param(g, name, "bias", CR_PARAM_BIAS, CR_DTYPE_F32, 1, bshape);
    }
    return g->node_count - 1;
}

int cr_graph_batchnorm(cr_graph *g, int input, const char *name) {
    if (check_input(g, input) < 0 || needs_name(g, name, "batchnorm") < 0) return -1;
    cr_node *node = append(g, CR_OP_BATCHNORM, input, name);
    if (!node) return -1;
    int channels = node->c = g->nodes[input].c;
    int64_t shape[1] = {channels};
    node->weight = add_param(g, name, "weight", CR_PARAM_NORM, CR_DTYPE_F32, 1, shape);
    node->bias = add_param(g, name, "bias", CR_PARAM_NORM, CR_DTYPE_F32, 1, shape);
    node->running_mean = add_param(g, name, "running_mean", CR_PARAM_BUFFER, CR_DTYPE_F32, 1, shape);
    node->running_var = add_param(g, name, "running_var", CR_PARAM_BUFFER, CR_DTYPE_F32, 1, shape);
    node->batches_tracked =
        add_param(g, name, "num_batches_tracked", CR_PARAM_BUFFER, CR_DTYPE_I64, 0, NULL);
    return g->node_count - 1;
}

/* Ops whose output has the input's channel count and no parameters. */
static int append_simple(cr_graph *g, cr_op op, int input) {
    if (check_input(g, input) < 0) return -1;
    cr_node *node = append(g, op, input, NULL);
    if (!node) return -1;
    node->c = g->nodes[input].c;
    if (op != CR_OP_POOL2D) node->h = g->nodes[input].h, node->w = g->nodes[input].w;
    return g->node_count - 1;
}

int cr_graph_relu(cr_graph *g, int input) { return append_simple(g, CR_OP_RELU, input); }

static int append_pool(cr_graph *g, cr_pool_kind kind, int input, int kernel, int stride, int pad) {
    if (check_input(g, input) < 0) return -1;
    if (kernel < 1 || stride < 1 || pad < 0 || pad * 2 > kernel)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "invalid pooling (kernel %d, stride %d, "
                                      "pad %d): pad must be at most half the kernel",
                                      kernel, stride, pad));
    int id = append_simple(g, CR_OP_POOL2D, input);
    if (id < 0) return -1;
    cr_node *node = &g->nodes[id];
    node->pool = kind, node->kernel = kernel, node->stride = stride, node->pad = pad;
    return id;
}

int cr_graph_maxpool(cr_graph *g, int input, int kernel, int stride, int pad) {
    return append_pool(g, CR_POOL_MAX, input, kernel, stride, pad);
}

int cr_graph_avgpool(cr_graph *g, int input, int kernel, int stride, int pad) {
    return append_pool(g, CR_POOL_AVG, input, kernel, stride, pad);
}

int cr_graph_adaptive_avgpool(cr_graph *g, int input, int out_h, int out_w) {
    if (check_input(g, input) < 0) return -1;
    if (out_h < 1 || out_w < 1)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "adaptive pooling to %dx%d", out_h,
                                      out_w));
    int id = append_simple(g, CR_OP_ADAPTIVE_AVGPOOL, input);
    if (id < 0) return -1;
    g->nodes[id].pool_h = g->nodes[id].h = out_h;
    g->nodes[id].pool_w = g->nodes[id].w = out_w;
    return id;
}

int cr_graph_flatten(cr_graph *g, int input) {
    if (check_input(g, input) < 0) return -1;
    const cr_node *in = &g->nodes[input];
    if (in->h < 1 || in->w < 1)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "flatten must follow an adaptive pool, "
                                      "so that every input size gives the same features"));
    int features = in->c * in->h * in->w;
    int id = append_simple(g, CR_OP_FLATTEN, input);
    if (id >= 0) g->nodes[id].c = features, g->nodes[id].h = g->nodes[id].w = 1;
    return id;
}

int cr_graph_linear(cr_graph *g, int input, const char *name, int out_features, bool bias) {
    if (check_input(g, input) < 0 || needs_name(g, name, "linear") < 0) return -1;
    if (out_features < 1)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "%s: %d output features", name,
                                      out_features));
    const cr_node *in = &g->nodes[input];
    if (in->h != 1 || in->w != 1)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "%s: a linear layer reads features: "
                                      "put flatten after an adaptive pool before it", name));
    int in_features = in->c;
    cr_node *node = append(g, CR_OP_LINEAR, input, name);
    if (!node) return -1;
    node->out_features = node->c = out_features;
    node->h = node->w = 1;
    node->has_bias = bias;
    int64_t wshape[2] = {out_features, in_features};
    node->weight = add_param(g, name, "weight", CR_PARAM_WEIGHT, CR_DTYPE_F32, 2, wshape);
    if (bias) {
        int64_t bshape[1] = {out_features};
        node->bias = add_param(g, name, "bias", CR_PARAM_BIAS, CR_DTYPE_F32, 1, bshape);
    }
    return g->node_count - 1;
}

int cr_graph_add(cr_graph *g, int a, int b) {
    if (check_input(g, a) < 0 || check_input(g, b) < 0) return -1;
    if (g->nodes[a].c != g->nodes[b].c)
        return build_error(g, cr_fail(CR_STATUS_INVALID, "add: %d channels + %d channels",
                                      g->nodes[a].c, g->nodes[b].c));
    int id = append_simple(g, CR_OP_ADD, a);
    if (id < 0) return -1;
    g->nodes[id].inputs[1] = b;
    g->nodes[id].input_count = 2;
    g->nodes[b].consumers++;
    return id;
}

int cr_graph_dropout(cr_graph *g, int input, float p) {
    if (check_input(g, input) < 0) return -1;
    if (!(p >= 0.0f && p < 1.0f))
        return build_error(g, cr_fail(CR_STATUS_INVALID, "dropout probability %g is not in "
                                      "[0, 1)", (double)p));
    int id = append_simple(g, CR_OP_DROPOUT, input);
    if (id >= 0) g->nodes[id].p = p;
    return id;
}

/* torchvision's initialization: kaiming-normal (fan-out, relu) for convolutions; PyTorch's
 * default for linear layers, uniform(+-1/sqrt(fan_in)) for weight and bias; BN (1, 0). */
static void init_param(const cr_param *p, float *host, uint64_t seed, int index) {
    size_t count = (size_t)cr_tensor_numel(&p->value);
    cr_rng rng = cr_rng_stream(seed, 0x1417, (uint64_t)index);
    const char *suffix = strrchr(p->name, '.') + 1;
    bool is_norm = p->kind == CR_PARAM_NORM || p->kind == CR_PARAM_BUFFER;
    if (is_norm) {
        float fill = strcmp(suffix, "weight") == 0 || strcmp(suffix, "running_var") == 0 ? 1.0f : 0.0f;
        for (size_t i = 0; i < count; i++) host[i] = fill;
    } else if (p->value.ndim == 4) {
        double fan_out = (double)(p->value.shape[0] * p->value.shape[2] * p->value.shape[3]);
        float std = (float)sqrt(2.0 / fan_out);
        for (size_t i = 0; i < count; i++) host[i] = std * cr_rng_normal(&rng);
    } else {
        /* a linear weight (out, in), or a bias whose layer's weight precedes it */
        const cr_param *weight = p->kind == CR_PARAM_BIAS ? p - 1 : p;
        int64_t fan_in = weight->value.shape[1];
        for (int d = 2; d < weight->value.ndim; d++) fan_in *= weight->value.shape[d];
        float bound = (float)(1.0 / sqrt((double)fan_in));
        for (size_t i = 0; i < count; i++) host[i] = bound * (2.0f * cr_rng_uniform(&rng) - 1.0f);
    }
}

cr_status cr_graph_finalize(cr_graph *g, uint64_t seed) {
    if (g->error != CR_STATUS_OK) return g->error;
    if (g->finalized) return cr_fail(CR_STATUS_INVALID, "the graph is already finalized");
    if (g->node_count < 2) return cr_fail(CR_STATUS_INVALID, "the graph has no layers");
    cr_node *last = &g->nodes[g->node_count - 1];
    if (last->op != CR_OP_LINEAR)
        return cr_fail(CR_STATUS_INVALID, "a classifier ends with a linear layer");
    for (int i = 1; i < g->node_count - 1; i++)
        if (g->nodes[i].consumers == 0)
            return cr_fail(CR_STATUS_INVALID, "node %d (%s) feeds nothing", i, g->nodes[i].name);

    size_t trainable = 0, buffers = 0, counters = 0;
    for (int i = 0; i < g->param_count; i++) {
        cr_param *p = &g->params[i];
        size_t count = (size_t)cr_tensor_numel(&p->value);
        if (p->value.dtype == CR_DTYPE_I64) p->offset = counters++;
        else if (p->kind == CR_PARAM_BUFFER) p->offset = buffers, buffers += count;
        else p->offset = trainable, trainable += count;
    }
    cr_backend *be = g->be;
    g->trainable_count = trainable;
    g->buffer_count = buffers;
    g->values = be->ops->alloc(be, trainable * sizeof(float));
    g->grads = be->ops->alloc(be, trainable * sizeof(float));
    g->buffers = be->ops->alloc(be, (buffers ? buffers : 1) * sizeof(float));
    g->batches_tracked = calloc(counters ? counters : 1, sizeof *g->batches_tracked);
    float *host = malloc((trainable > buffers ? trainable : buffers) * sizeof(float) + 1);
    if (!g->values || !g->grads || !g->buffers || !g->batches_tracked || !host) {
        free(host);
        return cr_fail(CR_STATUS_NOMEM, "cannot allocate %zu parameters", trainable);
    }
    for (int pass = 0; pass < 2; pass++) { /* 0: trainable values, 1: buffers */
        for (int i = 0; i < g->param_count; i++) {
            cr_param *p = &g->params[i];
            if (p->value.dtype == CR_DTYPE_I64 || (p->kind == CR_PARAM_BUFFER) != (pass == 1))
                continue;
            init_param(p, host + p->offset, seed, i);
        }
        float *dst = pass == 0 ? g->values : g->buffers;
        size_t count = pass == 0 ? trainable : buffers;
        cr_status s = be->ops->copy_from_host(be, dst, host, count * sizeof(float));
        if (s != CR_STATUS_OK) {
            free(host);
            return s;
        }
    }
    free(host);
    CR_TRY(be->ops->zero(be, g->grads, trainable * sizeof(float)));
    for (int i = 0; i < g->param_count; i++) {
        cr_param *p = &g->params[i];
        if (p->value.dtype == CR_DTYPE_I64) {
            p->value.data = &g->batches_tracked[p->offset];
        } else if (p->kind == CR_PARAM_BUFFER) {
            p->value.data = g->buffers + p->offset;
        } else {
            p->value.data = g->values + p->offset;
            p->grad = g->grads + p->offset;
        }
        p->value.device = be->device;
    }
    g->finalized = true;
    return CR_STATUS_OK;
}

int cr_graph_param_count(const cr_graph *g) { return g->param_count; }

cr_param *cr_graph_params(cr_graph *g) { return g->params; }

cr_param *cr_graph_find_param(cr_graph *g, const char *name) {
    for (int i = 0; i < g->param_count; i++)
        if (strcmp(g->params[i].name, name) == 0) return &g->params[i];
    return NULL;
}

float *cr_graph_param_values(cr_graph *g, size_t *count) {
    *count = g->trainable_count;
    return g->values;
}

float *cr_graph_param_grads(cr_graph *g, size_t *count) {
    *count = g->trainable_count;
    return g->grads;
}

float *cr_graph_buffer_values(cr_graph *g, size_t *count) {
    *count = g->buffer_count;
    return g->buffers;
}

int cr_graph_num_classes(const cr_graph *g) { return g->nodes[g->node_count - 1].c; }

const char *cr_graph_classifier_name(const cr_graph *g) { return g->nodes[g->node_count - 1].name; }

void cr_graph_freeze_body(cr_graph *g, bool frozen) {
    g->train_from = frozen ? g->node_count - 1 : 1;
}

bool cr_graph_param_frozen(const cr_graph *g, int index) {
    for (int i = g->train_from; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        if (index == node->weight || index == node->bias || index == node->running_mean ||
            index == node->running_var || index == node->batches_tracked)
            return false;
    }
    return true;
}

cr_backend *cr_graph_backend(cr_graph *g) { return g->be; }

cr_status cr_graph_set_precision(cr_graph *g, cr_dtype precision) {
    if (precision != CR_DTYPE_F32 && precision != CR_DTYPE_BF16)
        return cr_fail(CR_STATUS_UNSUPPORTED, "precision %s: a model runs in F32 or BF16",
                       cr_dtype_name(precision));
    if (precision != g->precision) g->batch = 0, g->uploaded_n = g->last_n = 0; /* plan again */
    g->precision = precision;
    return CR_STATUS_OK;
}

cr_dtype cr_graph_precision(const cr_graph *g) { return g->precision; }

int cr_graph_planned_batch(const cr_graph *g) { return g->batch; }

int cr_graph_planned_side(const cr_graph *g) { return g->in_h; }

void cr_graph_set_batchnorm_sum(cr_graph *g, cr_batchnorm_sum sum) { g->batchnorm_sum = sum; }

void cr_graph_set_grads_ready(cr_graph *g, cr_grads_ready hook) { g->grads_ready = hook; }

void cr_graph_set_sample_place(cr_graph *g, int offset, int stride) {
    g->sample_offset = offset;
    g->sample_stride = stride;
}

void cr_graph_set_dropout_seed(cr_graph *g, uint64_t seed, uint64_t step) {
    g->dropout_seed = seed;
    g->dropout_step = step;
}

void cr_graph_set_dropout(cr_graph *g, float p) {
    for (int i = 0; i < g->node_count; i++)
        if (g->nodes[i].op == CR_OP_DROPOUT) g->nodes[i].p = p;
}
