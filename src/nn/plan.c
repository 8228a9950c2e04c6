/* The activation plan: every node's output shape for a batch and input size, and the memory for
 * outputs and gradients, with in-place aliasing where an op's backward allows it. */
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

/* Which buffers may be shared. Outputs: an elementwise op (relu, dropout) overwrites its input when
 * it is that input's only reader, and a flatten of a 1x1 map is a view. Gradients: a node's
 * gradient is its sole consumer's when that consumer's backward runs in place (relu, dropout), is
 * a 1x1 flatten, or is an add, which passes its gradient through unchanged. An add's input that is
 * itself in place keeps its own buffer: its in-place backward would otherwise overwrite the
 * gradient its sibling still has to read. Returns, per node, the node whose buffer it uses. */
static void plan_aliases(const cr_graph *g, int *out_owner, int *grad_owner) {
    for (int i = 0; i < g->node_count; i++) out_owner[i] = grad_owner[i] = i;
    for (int i = 1; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        int in = node->inputs[0];
        bool view = node->op == CR_OP_FLATTEN && g->nodes[in].h == 1 && g->nodes[in].w == 1;
        if (in != CR_GRAPH_INPUT && g->nodes[in].consumers == 1 &&
            (is_inplace_elementwise(node->op) || view))
            out_owner[i] = out_owner[in];
    }
    /* Walk backwards so that an alias chain resolves to its final owner. */
    for (int i = g->node_count - 1; i >= 1; i--) {
        int c = sole_consumer(g, i);
        if (c < 0) continue;
        const cr_node *consumer = &g->nodes[c];
        bool view = consumer->op == CR_OP_FLATTEN && g->nodes[i].h == 1 && g->nodes[i].w == 1;
        bool through_add = consumer->op == CR_OP_ADD && !is_inplace_elementwise(g->nodes[i].op);
        if (is_inplace_elementwise(consumer->op) || view || through_add)
            grad_owner[i] = grad_owner[c];
    }
}

cr_status cr_graph_plan(cr_graph *g, int batch, int in_h, int in_w) {
    if (!g->finalized) return cr_fail(CR_STATUS_INVALID, "plan before finalize");
    if (batch < 1 || in_h < 1 || in_w < 1)
        return cr_fail(CR_STATUS_INVALID, "cannot plan for batch %d at %dx%d", batch, in_h, in_w);
    g->batch = batch, g->in_h = in_h, g->in_w = in_w;
    g->nodes[0].h = in_h, g->nodes[0].w = in_w;
    size_t largest = 0;
    for (int i = 1; i < g->node_count; i++) {
        CR_TRY(infer_shape(g, &g->nodes[i]));
        if (cr_node_size(&g->nodes[i]) > largest) largest = cr_node_size(&g->nodes[i]);
    }

    int out_owner[g->node_count], grad_owner[g->node_count];
    plan_aliases(g, out_owner, grad_owner);

    /* Two passes: the first sums the bytes, the second hands out addresses. */
    const size_t align = 64;
    int k = cr_graph_num_classes(g);
    for (int pass = 0; pass < 2; pass++) {
        char *base = g->activations;
        size_t used = 0;
#define TAKE(ptr, floats)                                                                          \
    do {                                                                                           \
        size_t bytes_ = cr_align_up((floats) * sizeof(float), align);                              \
        if (pass == 1) (ptr) = (float *)(base + used);                                             \
        used += bytes_;                                                                            \
    } while (0)
        TAKE(g->scratch, largest * (size_t)batch);
        TAKE(g->probs, (size_t)batch * (size_t)k);
        for (int i = 1; i < g->node_count; i++) {
            cr_node *node = &g->nodes[i];
            size_t floats = cr_node_size(node) * (size_t)batch;
            if (out_owner[i] == i) TAKE(node->out, floats);
            if (grad_owner[i] == i) TAKE(node->grad, floats);
            if (node->op == CR_OP_BATCHNORM) {
                TAKE(node->saved_mean, (size_t)node->c);
                TAKE(node->saved_invstd, (size_t)node->c);
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
