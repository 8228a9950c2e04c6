/* The activation plan: every node's output shape and element type for a batch and input size, and
 * the memory for outputs and gradients, with in-place aliasing where an op's backward allows it and
 * a ReLU fused into the BatchNorm or residual add it is the only reader of. */
#include <string.h>

#include "crescendo/arena.h"
#include "nn/graph_internal.h"

/* Output shape of one node from its inputs; fails when a window does not fit. */
static cr_status infer_shape(cr_graph *g, cr_node *node) {
    const cr_node *in = &g->nodes[node->inputs[0]];
    switch (node->op) {
    case CR_OP_INPUT:
        return CR_STATUS_OK;
    case CR_OP_CONV2D:
    case CR_OP_POOL2D: {
        int h = cr_conv2d_output_size(in->h, node->kernel, node->stride, node->pad, 1);
        int w = cr_conv2d_output_size(in->w, node->kernel, node->stride, node->pad, 1);
        if (h < 1 || w < 1 || in->h + 2 * node->pad < node->kernel ||
            in->w + 2 * node->pad < node->kernel)
            return cr_fail(CR_STATUS_INVALID, "a %dx%d input is too small for the model: a %dx%d "
                           "window meets a %dx%d map at node %d%s%s", g->in_h, g->in_w,
                           node->kernel, node->kernel, in->h, in->w, (int)(node - g->nodes),
                           node->name[0] ? " " : "", node->name);
        node->h = h, node->w = w;
        node->c = node->op == CR_OP_CONV2D ? node->out_channels : in->c;
        return CR_STATUS_OK;
    }
    case CR_OP_ADAPTIVE_AVGPOOL:
        node->h = node->pool_h, node->w = node->pool_w, node->c = in->c;
        return CR_STATUS_OK;
    case CR_OP_FLATTEN:
        node->c = in->c * in->h * in->w, node->h = node->w = 1;
        return CR_STATUS_OK;
    case CR_OP_LINEAR:
        node->c = node->out_features, node->h = node->w = 1;
        return CR_STATUS_OK;
    case CR_OP_ADD: {
        const cr_node *b = &g->nodes[node->inputs[1]];
        if (in->h != b->h || in->w != b->w || in->c != b->c)
            return cr_fail(CR_STATUS_INVALID, "add at node %d: %dx%dx%d + %dx%dx%d",
                           (int)(node - g->nodes), in->c, in->h, in->w, b->c, b->h, b->w);
        node->h = in->h, node->w = in->w, node->c = in->c;
        return CR_STATUS_OK;
    }
    case CR_OP_BATCHNORM:
    case CR_OP_RELU:
    case CR_OP_DROPOUT:
        node->h = in->h, node->w = in->w, node->c = in->c;
        return CR_STATUS_OK;
    }
    return cr_fail(CR_STATUS_INTERNAL, "unknown op %d", (int)node->op);
}

/* The single consumer of node i, or -1 when it has none or several. */
static int sole_consumer(const cr_graph *g, int i) {
    if (g->nodes[i].consumers != 1) return -1;
    for (int j = i + 1; j < g->node_count; j++)
        for (int k = 0; k < g->nodes[j].input_count; k++)
            if (g->nodes[j].inputs[k] == i) return j;
    return -1;
}

static bool is_inplace_elementwise(cr_op op) { return op == CR_OP_RELU || op == CR_OP_DROPOUT; }

/* A flatten of a 1x1 map of its own type is the same memory read as (N, C). */
static bool is_view(const cr_node *in, const cr_node *flatten) {
    return in->h == 1 && in->w == 1 && in->dtype == flatten->dtype;
}

/* Whether backward rewrites node i's gradient buffer in place: i's own backward when it is an
 * elementwise op (whose gradient is its input's), or, for a flatten that is a view, the backward of
 * the node it views, whose gradient is the flatten's. */
static bool grad_rewritten_in_place(const cr_graph *g, int i) {
    while (g->nodes[i].op == CR_OP_FLATTEN) {
        int in = g->nodes[i].inputs[0];
        if (in == CR_GRAPH_INPUT || g->nodes[in].consumers != 1 ||
            !is_view(&g->nodes[in], &g->nodes[i]))
            return false;
        i = in;
    }
    return is_inplace_elementwise(g->nodes[i].op);
}

/* Which buffers may be shared. Outputs: an elementwise op (relu, dropout) overwrites its input when
 * it is that input's only reader, and a flatten of a 1x1 map of its type is a view. Gradients: a
 * node's gradient is its sole consumer's when that consumer's backward runs in place (relu,
 * dropout), is a 1x1 flatten, or is an add, which passes its gradient through unchanged. An add's
 * input whose gradient is rewritten in place (an elementwise op, or a view of one) keeps its own
 * buffer: the in-place backward would otherwise overwrite the gradient its sibling still has to
 * read. Returns, per node, the node whose buffer it uses. */
static void plan_aliases(const cr_graph *g, int *out_owner, int *grad_owner) {
    for (int i = 0; i < g->node_count; i++) out_owner[i] = grad_owner[i] = i;
    for (int i = 1; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        int in = node->inputs[0];
        bool view = node->op == CR_OP_FLATTEN && is_view(&g->nodes[in], node);
        if (in != CR_GRAPH_INPUT && g->nodes[in].consumers == 1 &&
            (is_inplace_elementwise(node->op) || view))
            out_owner[i] = out_owner[in];
    }
    /* Walk backwards so that an alias chain resolves to its final owner. */
    for (int i = g->node_count - 1; i >= 1; i--) {
        int c = sole_consumer(g, i);
        if (c < 0) continue;
        const cr_node *consumer = &g->nodes[c];
        bool view = consumer->op == CR_OP_FLATTEN && is_view(&g->nodes[i], consumer);
        bool through_add = consumer->op == CR_OP_ADD && !grad_rewritten_in_place(g, i);
        if (is_inplace_elementwise(consumer->op) || view || through_add)
            grad_owner[i] = grad_owner[c];
    }
}

/* Element types, autocast's split: a bf16 plan stores what convolutions produce and every
 * activation between them in bf16; the input, the pooling into the classifier, and the classifier
 * after it stay fp32, as do the loss and everything the optimizer sees. */
static cr_status choose_dtypes(cr_graph *g) {
    g->nodes[0].dtype = CR_DTYPE_F32;
    for (int i = 1; i < g->node_count; i++) {
        cr_node *node = &g->nodes[i];
        const cr_node *in = &g->nodes[node->inputs[0]];
        switch (node->op) {
        case CR_OP_CONV2D:
            node->dtype = g->precision;
            break;
        case CR_OP_ADAPTIVE_AVGPOOL:
        case CR_OP_FLATTEN:
        case CR_OP_LINEAR:
            node->dtype = CR_DTYPE_F32;
            break;
        case CR_OP_ADD:
            if (in->dtype != g->nodes[node->inputs[1]].dtype)
                return cr_fail(CR_STATUS_UNSUPPORTED, "add at node %d: a %s and a %s input", i,
                               cr_dtype_name(in->dtype),
                               cr_dtype_name(g->nodes[node->inputs[1]].dtype));
            node->dtype = in->dtype;
            break;
        default:
            node->dtype = in->dtype;
        }
    }
    return CR_STATUS_OK;
}

/* A ReLU that is a BatchNorm's or a residual add's only reader and overwrites it in place runs
 * inside it: one pass over the activations instead of two, forward, and for a BatchNorm backward
 * too (the add's backward only passes its gradient on, so the ReLU's own backward stays). */
static void plan_fusion(cr_graph *g, const int *out_owner) {
    for (int i = 1; i < g->node_count; i++) {
        cr_node *node = &g->nodes[i];
        node->fused_relu = node->fused = false;
        int in = node->inputs[0];
        cr_op producer = g->nodes[in].op;
        if (node->op == CR_OP_RELU &&
            (producer == CR_OP_BATCHNORM || producer == CR_OP_ADD) &&
            out_owner[i] == out_owner[in]) {
            node->fused = true;
            g->nodes[in].fused_relu = true;
        }
    }
}

cr_status cr_graph_plan(cr_graph *g, int batch, int in_h, int in_w) {
    if (!g->finalized) return cr_fail(CR_STATUS_INVALID, "plan before finalize");
    if (batch < 1 || in_h < 1 || in_w < 1)
        return cr_fail(CR_STATUS_INVALID, "cannot plan for batch %d at %dx%d", batch, in_h, in_w);
    g->batch = batch, g->in_h = in_h, g->in_w = in_w;
    g->uploaded_n = g->last_n = 0;
    g->nodes[0].h = in_h, g->nodes[0].w = in_w;
    size_t largest = 0;
    for (int i = 1; i < g->node_count; i++) {
        CR_TRY(infer_shape(g, &g->nodes[i]));
        if (cr_node_size(&g->nodes[i]) > largest) largest = cr_node_size(&g->nodes[i]);
    }

    CR_TRY(choose_dtypes(g));
    int out_owner[g->node_count], grad_owner[g->node_count];
    plan_aliases(g, out_owner, grad_owner);
    plan_fusion(g, out_owner);

    /* Two passes: the first sums the bytes, the second hands out addresses. */
    const size_t align = 64;
    int k = cr_graph_num_classes(g);
    for (int pass = 0; pass < 2; pass++) {
        char *base = g->activations;
        size_t used = 0;
#define TAKE(ptr, bytes)                                                                           \
    do {                                                                                           \
        size_t bytes_ = cr_align_up((bytes), align);                                               \
        if (pass == 1) (ptr) = (void *)(base + used);                                              \
        used += bytes_;                                                                            \
    } while (0)
        TAKE(g->scratch, largest * (size_t)batch * sizeof(float)); /* the widest dtype */
        TAKE(g->probs, (size_t)batch * (size_t)k * sizeof(float));
        TAKE(g->labels, (size_t)batch * sizeof(int32_t));
        TAKE(g->mix_labels, (size_t)batch * sizeof(int32_t));
        TAKE(g->nodes[0].out, cr_node_bytes(&g->nodes[0], batch));
        for (int i = 1; i < g->node_count; i++) {
            cr_node *node = &g->nodes[i];
            if (out_owner[i] == i) TAKE(node->out, cr_node_bytes(node, batch));
            if (grad_owner[i] == i) TAKE(node->grad, cr_node_bytes(node, batch));
            if (node->op == CR_OP_BATCHNORM) {
                TAKE(node->saved_mean, (size_t)node->c * sizeof(float));
                TAKE(node->saved_invstd, (size_t)node->c * sizeof(float));
            }
        }
#undef TAKE
        if (pass == 0) {
            g->activation_bytes = used;
            if (used > g->activation_capacity) {
                if (g->activations) g->be->ops->free(g->be, g->activations);
                g->activations = g->be->ops->alloc(g->be, used);
                g->activation_capacity = g->activations ? used : 0;
                if (!g->activations)
                    return cr_fail(CR_STATUS_NOMEM, "cannot allocate %.1f MiB of activations for "
                                   "batch %d at %dx%d; try a smaller --batch-size",
                                   (double)used / (1 << 20), batch, in_h, in_w);
            }
        }
    }
    for (int i = 1; i < g->node_count; i++) {
        cr_node *node = &g->nodes[i];
        node->out = g->nodes[out_owner[i]].out;
        node->grad = g->nodes[grad_owner[i]].grad;
        node->grad_is_alias = grad_owner[i] != i;
    }
    g->nodes[0].grad = NULL;
    return CR_STATUS_OK;
}

size_t cr_graph_activation_bytes(const cr_graph *g) { return g->activation_bytes; }

double cr_graph_flops(const cr_graph *g, bool training) {
    double flop = 0.0;
    for (int i = 1; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i], *in = &g->nodes[node->inputs[0]];
        double products = 0.0;
        if (node->op == CR_OP_CONV2D)
            products = 2.0 * cr_node_size(node) * (in->c / node->groups) * node->kernel *
                       node->kernel;
        else if (node->op == CR_OP_LINEAR)
            products = 2.0 * (double)in->c * node->c;
        int passes = !training ? 1 : node->inputs[0] == CR_GRAPH_INPUT ? 2 : 3;
        flop += passes * products;
    }
    return flop;
}
