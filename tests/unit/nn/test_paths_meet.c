/* Gradients where paths meet (a residual block's input, read by two convolutions and the add) held
 * to central differences in double, and parameter gradients accumulating over two passes. */
#include <stdlib.h>

#include "graph_check.h"

enum { BATCH = 4, SIDE = 6, CLASSES = 5 };

/* The nodes the test reads gradients at. */
typedef struct meeting_points {
    int stem; /* its gradient is the BatchNorm backward of x's */
    int x;    /* read by the block's first conv, the add and the right conv, in that order */
    int sum;  /* the block's add */
    int relu; /* after the add, in place: its gradient buffer is the add's */
} meeting_points;

/* stem conv -> bn -> relu = x
 * x -> conv -> bn -> relu -> conv -> add(x, .) -> relu -> left conv 3x3
 * x -> right conv 1x1; add(left, right) -> relu -> pool 1x1 -> flatten -> linear
 * Backward reaches x first from the right conv, then from the add, then from the block: the add's
 * share arrives second and must be added to what is there. */
static cr_graph *build_residual(cr_backend *be, cr_dtype precision, meeting_points *at) {
    cr_graph *g;
    CHECK_OK(cr_graph_create(be, 3, &g));
    at->stem = cr_graph_conv2d(g, CR_GRAPH_INPUT, "stem", 4, 3, 1, 1, 1, false);
    at->x = cr_graph_relu(g, cr_graph_batchnorm(g, at->stem, "stem_bn"));
    int y = cr_graph_conv2d(g, at->x, "block.conv1", 4, 3, 1, 1, 1, false);
    y = cr_graph_relu(g, cr_graph_batchnorm(g, y, "block.bn1"));
    y = cr_graph_conv2d(g, y, "block.conv2", 4, 3, 1, 1, 1, false);
    at->sum = cr_graph_add(g, at->x, y);
    at->relu = cr_graph_relu(g, at->sum);
    int left = cr_graph_conv2d(g, at->relu, "left", 4, 3, 1, 1, 1, false);
    int right = cr_graph_conv2d(g, at->x, "right", 4, 1, 1, 0, 1, true);
    int z = cr_graph_relu(g, cr_graph_add(g, left, right));
    z = cr_graph_flatten(g, cr_graph_adaptive_avgpool(g, z, 1, 1));
    cr_graph_linear(g, z, "fc", CLASSES, true);
    CHECK_OK(cr_graph_finalize(g, 9));
    CHECK_OK(cr_graph_set_precision(g, precision));
    CHECK_OK(cr_graph_plan(g, BATCH, SIDE, SIDE));
    return g;
}

static const int32_t labels[BATCH] = {2, 0, 4, 1};

/* The fp32 step against the double reference: loss, logits, every parameter gradient (those
 * upstream of x get all three paths' shares), and the gradient buffers the test can read: x's
 * holds d loss / d x, its three contributions summed; the relu after the block's add overwrites
 * the add, shares its gradient buffer, and leaves d loss / d sum there after its backward in place;
 * the stem's is what BatchNorm makes of x's. */
static void test_against_reference(cr_backend *be) {
    meeting_points at;
    cr_graph *g = build_residual(be, CR_DTYPE_F32, &at);
    float *images = nn_images(g, BATCH, 21);
    ref_net r = nn_check_reference(g, "paths meet", images, labels, BATCH);
    CHECK(g->nodes[at.x].consumers == 3 && g->nodes[at.sum].grad == g->nodes[at.relu].grad);
    const int nodes[] = {at.x, at.sum, at.stem};
    const char *names[] = {"paths meet: d loss / d x (two convs and the add)",
                           "paths meet: d loss / d sum", "paths meet: d loss / d stem"};
    for (int i = 0; i < 3; i++) {
        const cr_node *node = &g->nodes[nodes[i]];
        float *grad = nn_download(g, node->grad, node->dtype, cr_node_size(node) * BATCH);
        ref_check_node_grad(&r, names[i], nodes[i], grad);
        free(grad);
    }
    ref_destroy(&r);
    free(images);
    cr_graph_destroy(g);
}

/* In any precision: the step is bit for bit the unshared twin's, and parameter gradients are
 * accumulated, so two backward passes of the same batch without zeroing leave exactly twice one
 * pass's (x + x is exact). */
static void test_unshared_and_accumulated(cr_backend *be, cr_dtype precision) {
    meeting_points at;
    cr_graph *g = build_residual(be, precision, &at);
    cr_graph *twin = build_residual(be, precision, &at);
    nn_unshared private_buffers = nn_unshare(twin);
    float *images = nn_images(g, BATCH, 21);
    char what[80];
    snprintf(what, sizeof what, "paths meet (%s)", cr_dtype_name(precision));
    nn_step once = nn_step_run(g, images, labels, BATCH);
    nn_step unshared = nn_step_run(twin, images, labels, BATCH);
    nn_check_same_step(&once, &unshared, what);

    float loss;
    nn_run(g, images, labels, BATCH, false, &loss);
    nn_run(g, images, labels, BATCH, true, &loss);
    size_t count;
    const float *device_grads = cr_graph_param_grads(g, &count);
    float *twice = nn_download(g, device_grads, CR_DTYPE_F32, count);
    size_t wrong = 0, first = 0;
    for (size_t i = 0; i < count; i++)
        if (twice[i] != 2.0f * once.grads[i] && wrong++ == 0) first = i;
    cr_test_checks++;
    if (wrong)
        cr_test_fail(__FILE__, __LINE__, "%s: %zu of %zu gradients are not twice one pass's after "
                     "two passes (first at %zu: %.9g, once %.9g)", what, wrong, count, first,
                     (double)twice[first], (double)once.grads[first]);
    CHECK(loss == once.loss);
    free(twice);
    free(images);
    nn_step_free(&once);
    nn_step_free(&unshared);
    nn_unshared_free(&private_buffers);
    cr_graph_destroy(twin);
    cr_graph_destroy(g);
}

int main(void) {
    cr_backend *be = gc_backend();
    cr_log_set_sink(gc_log, &gc_warnings, CR_LOG_WARN);
    test_against_reference(be);
    test_unshared_and_accumulated(be, CR_DTYPE_F32);
    if (cr_backend_supports(be, CR_DTYPE_BF16)) test_unshared_and_accumulated(be, CR_DTYPE_BF16);
    else printf("bf16: this CPU has no fast bf16 arithmetic; its cases are left out\n");
    cr_backend_destroy(be);
    return cr_test_summary("nn/paths_meet");
}
