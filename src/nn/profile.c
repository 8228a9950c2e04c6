/* Per-node timing of forward and backward passes, summed by op kind for a quick answer to
 * "where does a step go", with the costliest single nodes listed after. */
#include <stdlib.h>

#include "nn/graph_internal.h"

static const char *const op_names[] = {
    [CR_OP_INPUT] = "input", [CR_OP_CONV2D] = "conv2d", [CR_OP_BATCHNORM] = "batchnorm",
    [CR_OP_RELU] = "relu", [CR_OP_POOL2D] = "pool2d", [CR_OP_ADAPTIVE_AVGPOOL] = "adaptive_pool",
    [CR_OP_FLATTEN] = "flatten", [CR_OP_LINEAR] = "linear", [CR_OP_ADD] = "add",
    [CR_OP_DROPOUT] = "dropout",
};
enum { OP_KINDS = sizeof op_names / sizeof op_names[0], TOP_NODES = 8 };

void cr_graph_set_profiling(cr_graph *g, bool on) {
    g->profiling = on;
    for (int i = 0; i < g->node_count; i++)
        g->nodes[i].forward_seconds = g->nodes[i].backward_seconds = 0.0;
}

static const cr_graph *sort_graph; /* qsort's comparator has no user pointer */

static int by_total_time(const void *a, const void *b) {
    const cr_node *x = &sort_graph->nodes[*(const int *)a], *y = &sort_graph->nodes[*(const int *)b];
    double tx = x->forward_seconds + x->backward_seconds;
    double ty = y->forward_seconds + y->backward_seconds;
    return (tx < ty) - (tx > ty);
}

void cr_graph_print_profile(const cr_graph *g, FILE *out) {
    double forward[OP_KINDS] = {0}, backward[OP_KINDS] = {0}, total = 0.0;
    int count[OP_KINDS] = {0};
    for (int i = 1; i < g->node_count; i++) {
        const cr_node *node = &g->nodes[i];
        forward[node->op] += node->forward_seconds;
        backward[node->op] += node->backward_seconds;
        count[node->op]++;
        total += node->forward_seconds + node->backward_seconds;
    }
    if (total <= 0.0) return;
    fprintf(out, "%-14s %5s %11s %11s %6s\n", "op", "nodes", "forward ms", "backward ms", "share");
    for (int k = 0; k < OP_KINDS; k++)
        if (count[k])
            fprintf(out, "%-14s %5d %11.2f %11.2f %5.1f%%\n", op_names[k], count[k],
                    1e3 * forward[k], 1e3 * backward[k], 100.0 * (forward[k] + backward[k]) / total);
    int order[g->node_count];
    for (int i = 0; i < g->node_count - 1; i++) order[i] = i + 1;
    sort_graph = g;
    qsort(order, (size_t)(g->node_count - 1), sizeof order[0], by_total_time);
    fprintf(out, "costliest nodes:\n");
    for (int i = 0; i < TOP_NODES && i < g->node_count - 1; i++) {
        const cr_node *node = &g->nodes[order[i]];
        fprintf(out, "  %3d %-14s %-24s %4dx%-4d x%-5d %9.2f ms %9.2f ms\n", order[i],
                op_names[node->op], node->name[0] ? node->name : "-", node->h, node->w, node->c,
                1e3 * node->forward_seconds, 1e3 * node->backward_seconds);
    }
}
