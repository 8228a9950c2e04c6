/* Running a planned graph: the batch uploaded into the plan, forward in topological order, the
 * loss, and backward in reverse order, each node one call into the backend's op table. */
#include <string.h>

#include "crescendo/log.h"

#include "nn/graph_internal.h"

static const float *param_data(const cr_graph *g, int index) {
    return index < 0 ? NULL : (const float *)g->params[index].value.data;
}

static float *param_mut(const cr_graph *g, int index) {
    return index < 0 ? NULL : (float *)g->params[index].value.data;
}

static float *param_grad(const cr_graph *g, int index) {
    return index < 0 ? NULL : g->params[index].grad;
}

static cr_conv2d_args conv_args(const cr_graph *g, const cr_node *node, int n) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_conv2d_args){
        .n = n, .c_in = in->c, .h_in = in->h, .w_in = in->w,
        .c_out = node->c, .h_out = node->h, .w_out = node->w,
        .kernel_h = node->kernel, .kernel_w = node->kernel,
        .stride_h = node->stride, .stride_w = node->stride,
        .pad_h = node->pad, .pad_w = node->pad,
        .dilation_h = 1, .dilation_w = 1, .groups = node->groups,
        .compute = g->precision, .x_dtype = in->dtype, .y_dtype = node->dtype,
        .x = in->out, .w = param_data(g, node->weight), .bias = param_data(g, node->bias),
        .y = node->out, .dy = node->grad,
        .dw = param_grad(g, node->weight), .dbias = param_grad(g, node->bias),
    };
}

static cr_batchnorm_args batchnorm_args(const cr_graph *g, const cr_node *node, int n) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_batchnorm_args){
        .n = n, .c = node->c, .h = node->h, .w = node->w, .eps = 1e-5f, .momentum = 0.1f,
        .dtype = node->dtype, .relu = node->fused_relu, .x = in->out, .y = node->out,
        .gamma = param_data(g, node->weight), .beta = param_data(g, node->bias),
        .running_mean = param_mut(g, node->running_mean),
        .running_var = param_mut(g, node->running_var),
        .saved_mean = node->saved_mean, .saved_invstd = node->saved_invstd,
        .dy = node->grad,
        .dgamma = param_grad(g, node->weight), .dbeta = param_grad(g, node->bias),
        .sum = g->batchnorm_sum,
    };
}

static cr_pool2d_args pool_args(const cr_graph *g, const cr_node *node, int n) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_pool2d_args){
        .kind = node->pool, .n = n, .c = node->c, .h_in = in->h, .w_in = in->w,
        .h_out = node->h, .w_out = node->w, .kernel_h = node->kernel, .kernel_w = node->kernel,
        .stride_h = node->stride, .stride_w = node->stride, .pad_h = node->pad,
        .pad_w = node->pad, .exclude_pad = false, /* PyTorch's count_include_pad=True */
        .x = in->out, .y = node->out, .dy = node->grad, .dtype = node->dtype,
    };
}

static cr_adaptive_avgpool_args adaptive_args(const cr_graph *g, const cr_node *node, int n) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_adaptive_avgpool_args){
        .n = n, .c = node->c, .h_in = in->h, .w_in = in->w, .h_out = node->h, .w_out = node->w,
        .x = in->out, .y = node->out, .dy = node->grad, .x_dtype = in->dtype,
    };
}

static cr_linear_args linear_args(const cr_graph *g, const cr_node *node, int n) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_linear_args){
        .n = n, .in_features = in->c, .out_features = node->c, .compute = CR_DTYPE_F32,
        .x = in->out, .w = param_data(g, node->weight), .bias = param_data(g, node->bias),
        .y = node->out, .dy = node->grad,
        .dw = param_grad(g, node->weight), .dbias = param_grad(g, node->bias),
    };
}

static cr_dropout_args dropout_args(const cr_graph *g, const cr_node *node, int n, float p) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    return (cr_dropout_args){
        .count = cr_node_size(node) * (size_t)n, .p = p, .seed = g->dropout_seed,
        .stream = g->dropout_step * (uint64_t)g->node_count + (uint64_t)(node - g->nodes),
        .sample_size = cr_node_size(node), .sample_offset = g->sample_offset,
        .sample_stride = g->sample_stride, .dtype = node->dtype, .x = in->out, .y = node->out, .dy = node->grad,
    };
}

static cr_status forward_node(cr_graph *g, cr_node *node, int n, bool training) {
    cr_backend *be = g->be;
    const cr_backend_ops *ops = be->ops;
    const cr_node *in = &g->nodes[node->inputs[0]];
    size_t count = cr_node_size(node) * (size_t)n;
    switch (node->op) {
    case CR_OP_INPUT:
        return CR_STATUS_OK;
    case CR_OP_CONV2D: {
        cr_conv2d_args a = conv_args(g, node, n);
        return ops->conv2d_forward(be, &node->cache, &a);
    }
    case CR_OP_BATCHNORM: {
        cr_batchnorm_args a = batchnorm_args(g, node, n);
        bool frozen = node - g->nodes < g->train_from;
        if (!training || frozen) return ops->batchnorm_forward_infer(be, &node->cache, &a);
        g->batches_tracked[g->params[node->batches_tracked].offset]++;
        return ops->batchnorm_forward_train(be, &node->cache, &a);
    }
    case CR_OP_RELU:
        if (node->fused) return CR_STATUS_OK; /* its input's op ran it */
        return ops->relu_forward(be, node->dtype, count, in->out, node->out);
    case CR_OP_POOL2D: {
        cr_pool2d_args a = pool_args(g, node, n);
        return ops->pool2d_forward(be, &node->cache, &a);
    }
    case CR_OP_ADAPTIVE_AVGPOOL: {
        cr_adaptive_avgpool_args a = adaptive_args(g, node, n);
        return ops->adaptive_avgpool_forward(be, &a);
    }
    case CR_OP_FLATTEN:
        if (node->out == in->out) return CR_STATUS_OK; /* a 1x1 map: already (N, C) */
        return ops->transpose(be, n, in->h * in->w, in->c, in->dtype, in->out, node->dtype,
                              node->out);
    case CR_OP_LINEAR: {
        cr_linear_args a = linear_args(g, node, n);
        return ops->linear_forward(be, &node->cache, &a);
    }
    case CR_OP_ADD:
        return ops->add(be, node->dtype, count, in->out, g->nodes[node->inputs[1]].out,
                        node->fused_relu, node->out);
    case CR_OP_DROPOUT: {
        bool active = training && node->p > 0.0f;
        if (!active && node->out == in->out) return CR_STATUS_OK;
        cr_dropout_args a = dropout_args(g, node, n, active ? node->p : 0.0f);
        return ops->dropout_forward(be, &a);
    }
    }
    return cr_fail(CR_STATUS_INTERNAL, "unknown op %d", (int)node->op);
}

cr_status cr_graph_upload(cr_graph *g, const float *images, const int32_t *labels, int n) {
    if (g->batch == 0) return cr_fail(CR_STATUS_INVALID, "upload before plan");
    if (n < 1 || n > g->batch)
        return cr_fail(CR_STATUS_INVALID, "a batch of %d does not fit the plan for %d", n,
                       g->batch);
    cr_backend *be = g->be;
    CR_TRY(be->ops->copy_from_host(be, g->nodes[0].out, images, cr_node_bytes(&g->nodes[0], n)));
    if (labels) /* the loss op checks their range where they are */
        CR_TRY(be->ops->copy_from_host(be, g->labels, labels, (size_t)n * sizeof *labels));
    g->uploaded_n = n;
    g->has_labels = labels != NULL;
    g->mixed = false;
    g->last_n = 0;
    return CR_STATUS_OK;
}

cr_status cr_graph_upload_mix(cr_graph *g, const int32_t *mix_labels, float weight) {
    if (g->uploaded_n == 0 || !g->has_labels)
        return cr_fail(CR_STATUS_INVALID, "mixing labels before a labeled batch is uploaded");
    cr_backend *be = g->be;
    CR_TRY(be->ops->copy_from_host(be, g->mix_labels, mix_labels,
                                   (size_t)g->uploaded_n * sizeof *mix_labels));
    g->mix_weight = weight;
    g->mixed = true;
    return CR_STATUS_OK;
}

cr_status cr_graph_forward(cr_graph *g, bool training) {
    if (g->uploaded_n == 0) return cr_fail(CR_STATUS_INVALID, "forward before a batch is uploaded");
    int n = g->uploaded_n;
    for (int i = 1; i < g->node_count; i++) {
        double start = g->profiling ? cr_now_seconds() : 0.0;
        CR_TRY(forward_node(g, &g->nodes[i], n, training));
        if (g->profiling) {
            CR_TRY(g->be->ops->synchronize(g->be));
            g->nodes[i].forward_seconds += cr_now_seconds() - start;
        }
    }
    g->last_n = n;
    return CR_STATUS_OK;
}

cr_status cr_graph_loss(cr_graph *g, float smoothing, float *loss) {
    if (g->last_n == 0) return cr_fail(CR_STATUS_INVALID, "loss before forward");
    if (!g->has_labels)
        return cr_fail(CR_STATUS_INVALID, "loss of a batch uploaded without labels");
    const cr_node *last = &g->nodes[g->node_count - 1];
    cr_xent_args a = {.n = g->last_n, .k = last->c, .smoothing = smoothing, .logits = last->out,
                      .labels = g->labels, .probs = g->probs, .loss = loss, .dlogits = last->grad,
                      .grad_scale = 1.0f, .mix_labels = g->mixed ? g->mix_labels : NULL,
                      .weight = g->mix_weight};
    CR_TRY(g->be->ops->softmax_xent_forward(g->be, &a));
    return g->be->ops->softmax_xent_backward(g->be, &a);
}

cr_status cr_graph_download_logits(cr_graph *g, float *logits) {
    if (g->last_n == 0) return cr_fail(CR_STATUS_INVALID, "logits before forward");
    const cr_node *last = &g->nodes[g->node_count - 1];
    return g->be->ops->copy_to_host(g->be, logits, last->out, cr_node_bytes(last, g->last_n));
}

/* Whether node j's output needs a gradient: not the graph input, nor a frozen layer. */
static bool needs_grad(const cr_graph *g, int j) { return j >= g->train_from; }

/* Where a node's backward writes the gradient for input `j`: straight into j's buffer when it is
 * the first contribution, else into scratch to be added by finish_contribution. NULL when j needs
 * no gradient. */
static void *contribution_target(cr_graph *g, int j, const int *remaining) {
    if (!needs_grad(g, j)) return NULL;
    const cr_node *in = &g->nodes[j];
    return remaining[j] == in->consumers ? in->grad : g->scratch;
}

static cr_status finish_contribution(cr_graph *g, int j, int *remaining, int n) {
    if (!needs_grad(g, j)) return CR_STATUS_OK;
    cr_node *in = &g->nodes[j];
    bool first = remaining[j] == in->consumers;
    remaining[j]--;
    if (first) return CR_STATUS_OK;
    return g->be->ops->accumulate(g->be, in->dtype, cr_node_size(in) * (size_t)n, g->scratch,
                                  in->grad);
}

/* An add passes its gradient to both inputs. An input whose gradient is the add's own buffer
 * already has it; another gets it added. */
static cr_status backward_add(cr_graph *g, cr_node *node, int *remaining, int n) {
    size_t count = cr_node_size(node) * (size_t)n;
    for (int k = 0; k < node->input_count; k++) {
        int j = node->inputs[k];
        cr_node *in = &g->nodes[j];
        if (!needs_grad(g, j)) continue;
        if (in->grad == node->grad) {
            remaining[j]--;
            continue;
        }
        if (remaining[j] == in->consumers)
            CR_TRY(g->be->ops->zero(g->be, in->grad, cr_node_bytes(in, n)));
        CR_TRY(g->be->ops->accumulate(g->be, in->dtype, count, node->grad, in->grad));
        remaining[j]--;
    }
    return CR_STATUS_OK;
}

static cr_status backward_node(cr_graph *g, cr_node *node, int *remaining, int n) {
    cr_backend *be = g->be;
    const cr_backend_ops *ops = be->ops;
    int j = node->inputs[0];
    const cr_node *in = &g->nodes[j];
    size_t count = cr_node_size(node) * (size_t)n;
    void *dx = contribution_target(g, j, remaining);
    switch (node->op) {
    case CR_OP_INPUT:
        return CR_STATUS_OK;
    case CR_OP_CONV2D: {
        cr_conv2d_args a = conv_args(g, node, n);
        a.dx = dx;
        CR_TRY(ops->conv2d_backward_weights(be, &node->cache, &a));
        if (dx) CR_TRY(ops->conv2d_backward_data(be, &node->cache, &a));
        break;
    }
    case CR_OP_BATCHNORM: {
        cr_batchnorm_args a = batchnorm_args(g, node, n);
        if (!dx) return cr_fail(CR_STATUS_UNSUPPORTED, "batchnorm directly on the input");
        a.dx = dx;
        CR_TRY(ops->batchnorm_backward(be, &node->cache, &a));
        break;
    }
    case CR_OP_RELU: /* fused after a batchnorm, the batchnorm's backward masks the gradient */
        if (dx && !(node->fused && in->op == CR_OP_BATCHNORM))
            CR_TRY(ops->relu_backward(be, node->dtype, count, node->out, node->grad, dx));
        break;
    case CR_OP_POOL2D: {
        cr_pool2d_args a = pool_args(g, node, n);
        a.dx = dx;
        if (dx) CR_TRY(ops->pool2d_backward(be, &node->cache, &a));
        break;
    }
    case CR_OP_ADAPTIVE_AVGPOOL: {
        cr_adaptive_avgpool_args a = adaptive_args(g, node, n);
        a.dx = dx;
        if (dx) CR_TRY(ops->adaptive_avgpool_backward(be, &a));
        break;
    }
    case CR_OP_FLATTEN:
        if (dx && dx != node->grad)
            CR_TRY(ops->transpose(be, n, in->c, in->h * in->w, node->dtype, node->grad, in->dtype,
                                  dx));
        break;
    case CR_OP_LINEAR: {
        cr_linear_args a = linear_args(g, node, n);
        a.dx = dx;
        CR_TRY(ops->linear_backward_weights(be, &node->cache, &a));
        if (dx) CR_TRY(ops->linear_backward_data(be, &node->cache, &a));
        break;
    }
    case CR_OP_ADD:
        return backward_add(g, node, remaining, n);
    case CR_OP_DROPOUT: {
        if (!dx) break;
        cr_dropout_args a = dropout_args(g, node, n, node->p);
        a.dx = dx;
        CR_TRY(ops->dropout_backward(be, &a));
        break;
    }
    }
    return finish_contribution(g, j, remaining, n);
}

/* The gradients backward has finished, as the first of the arena's final suffix: params
 * [*frontier, count) are done or buffers, their gradients no longer change. After node's backward,
 * tells the hook when the suffix grew. */
static cr_status mark_done(cr_graph *g, const cr_node *node, bool *done, int *frontier) {
    if (!g->grads_ready.ready) return CR_STATUS_OK;
    if (node->weight >= 0) done[node->weight] = true;
    if (node->bias >= 0) done[node->bias] = true;
    int before = *frontier;
    while (*frontier > 0 &&
           (done[*frontier - 1] || !cr_param_trainable(&g->params[*frontier - 1])))
        (*frontier)--;
    if (*frontier == before) return CR_STATUS_OK;
    size_t offset = g->trainable_count;
    for (int i = *frontier; i < g->param_count; i++)
        if (cr_param_trainable(&g->params[i])) {
            offset = g->params[i].offset;
            break;
        }
    return g->grads_ready.ready(g->grads_ready.user, offset);
}

cr_status cr_graph_backward(cr_graph *g) {
    if (g->last_n == 0) return cr_fail(CR_STATUS_INVALID, "backward before forward and loss");
    int remaining[g->node_count]; /* consumers whose gradient contribution is still to come */
    for (int i = 0; i < g->node_count; i++) remaining[i] = g->nodes[i].consumers;
    bool done[g->param_count > 0 ? g->param_count : 1];
    memset(done, 0, sizeof done);
    int frontier = g->param_count;
    for (int i = g->node_count - 1; i >= g->train_from; i--) {
        double start = g->profiling ? cr_now_seconds() : 0.0;
        CR_TRY(backward_node(g, &g->nodes[i], remaining, g->last_n));
        if (g->profiling) {
            CR_TRY(g->be->ops->synchronize(g->be));
            g->nodes[i].backward_seconds += cr_now_seconds() - start;
        }
        CR_TRY(mark_done(g, &g->nodes[i], done, &frontier));
    }
    /* a frozen body's gradients stay as they are: final too */
    return g->grads_ready.ready ? g->grads_ready.ready(g->grads_ready.user, 0) : CR_STATUS_OK;
}

cr_status cr_graph_zero_grad(cr_graph *g) {
    return g->be->ops->zero(g->be, g->grads, g->trainable_count * sizeof(float));
}
