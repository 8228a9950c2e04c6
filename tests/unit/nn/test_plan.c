/* The plan's element types under each precision, beside the sharing of a residual network, and
 * what the run refuses. The sharing and numbers in depth are test_aliasing.c's, gradients where
 * paths meet test_paths_meet.c's, re-planning test_replan.c's. */
#include "nn/graph_internal.h"
#include "testing.h"

static const cr_dtype precisions[] = {CR_DTYPE_F32, CR_DTYPE_BF16};
enum { PRECISIONS = sizeof precisions / sizeof precisions[0], CLASSES = 5 };

/* A small network with every sharing the plan knows:
 *   stem conv -> bn -> relu (fused into the bn, in place)
 *   two convs read the relu's output and meet at an add (a gradient from two paths)
 *   the add also takes the relu's output itself (a third reader: a residual)
 *   relu (in place on the add) -> adaptive pool 1x1 -> flatten (a view) -> linear */
typedef struct small_net {
    cr_graph *g;
    int stem, bn, relu, left, right, sum, residual, out_relu, pool, flat, fc;
} small_net;

static small_net build_small(cr_backend *be, cr_dtype precision) {
    small_net s = {0};
    CHECK_OK(cr_graph_create(be, 3, &s.g));
    cr_graph *g = s.g;
    s.stem = cr_graph_conv2d(g, CR_GRAPH_INPUT, "stem", 8, 3, 1, 1, 1, false);
    s.bn = cr_graph_batchnorm(g, s.stem, "bn");
    s.relu = cr_graph_relu(g, s.bn);
    s.left = cr_graph_conv2d(g, s.relu, "left", 8, 3, 1, 1, 1, false);
    s.right = cr_graph_conv2d(g, s.relu, "right", 8, 1, 1, 0, 1, true);
    s.sum = cr_graph_add(g, s.left, s.right);
    s.residual = cr_graph_add(g, s.sum, s.relu);
    s.out_relu = cr_graph_relu(g, s.residual);
    s.pool = cr_graph_adaptive_avgpool(g, s.out_relu, 1, 1);
    s.flat = cr_graph_flatten(g, s.pool);
    s.fc = cr_graph_linear(g, s.flat, "fc", CLASSES, true);
    CHECK_OK(cr_graph_finalize(g, 5));
    CHECK_OK(cr_graph_set_precision(g, precision));
    return s;
}

static void test_plan_shares_what_it_may(cr_backend *be, cr_dtype precision) {
    small_net s = build_small(be, precision);
    CHECK_OK(cr_graph_plan(s.g, 4, 6, 6));
    const cr_node *node = s.g->nodes;
    /* the ReLU overwrites its BatchNorm's output and runs inside it */
    CHECK(node[s.relu].out == node[s.bn].out);
    CHECK(node[s.bn].fused_relu && node[s.relu].fused);
    /* ... and its gradient is the BatchNorm's too: the fused backward reads it there */
    CHECK(node[s.bn].grad == node[s.relu].grad);
    /* three readers: the relu's output is kept; its gradient has a buffer of its own */
    CHECK(node[s.left].out != node[s.relu].out && node[s.right].out != node[s.relu].out);
    CHECK(node[s.relu].consumers == 3);
    /* the ReLU after the add overwrites it and runs inside it */
    CHECK(node[s.out_relu].out == node[s.residual].out);
    CHECK(node[s.residual].fused_relu && node[s.out_relu].fused);
    /* an add passes its gradient through: its first input's gradient is the add's own buffer */
    CHECK(node[s.sum].grad == node[s.residual].grad);
    /* a 1x1 map flattens as a view of the fp32 pooling */
    CHECK(node[s.flat].out == node[s.pool].out);
    /* element types: the body in the plan's precision, the head in fp32 */
    int body[] = {s.stem, s.bn, s.relu, s.left, s.right, s.sum, s.residual, s.out_relu};
    for (size_t i = 0; i < sizeof body / sizeof body[0]; i++)
        CHECK(node[body[i]].dtype == precision);
    CHECK(node[s.pool].dtype == CR_DTYPE_F32 && node[s.fc].dtype == CR_DTYPE_F32);
    CHECK(node[0].dtype == CR_DTYPE_F32);
    cr_graph_destroy(s.g);
}

/* The run refuses what the plan cannot hold. */
static void test_upload_checks_the_batch(cr_backend *be) {
    small_net s = build_small(be, CR_DTYPE_F32);
    float images[3 * 6 * 6 * 3] = {0};
    int32_t labels[3] = {0, 1, 9};
    CHECK_FAILS(cr_graph_upload(s.g, images, labels, 3), CR_STATUS_INVALID, "upload before plan");
    CHECK_OK(cr_graph_plan(s.g, 2, 6, 6));
    CHECK_FAILS(cr_graph_upload(s.g, images, labels, 3), CR_STATUS_INVALID, "does not fit");
    float loss;
    CHECK_OK(cr_graph_upload(s.g, images, labels + 1, 2));
    CHECK_OK(cr_graph_forward(s.g, false));
    CHECK_FAILS(cr_graph_loss(s.g, 0.0f, &loss), CR_STATUS_INVALID, "label 9 of sample 1");
    CHECK_OK(cr_graph_upload(s.g, images, NULL, 2));
    CHECK_OK(cr_graph_forward(s.g, false));
    CHECK_FAILS(cr_graph_loss(s.g, 0.0f, &loss), CR_STATUS_INVALID, "without labels");
    CHECK_FAILS(cr_graph_set_precision(s.g, CR_DTYPE_F16), CR_STATUS_UNSUPPORTED, "F16");
    CHECK_OK(cr_graph_set_precision(s.g, CR_DTYPE_BF16));
    CHECK_FAILS(cr_graph_forward(s.g, false), CR_STATUS_INVALID, "before a batch is uploaded");
    cr_graph_destroy(s.g);
}

int main(void) {
    cr_backend *be;
    if (cr_backend_create(CR_DEVICE_CPU, 2, &be) != CR_STATUS_OK) {
        fprintf(stderr, "cannot create the cpu backend: %s\n", cr_error_message());
        return 1;
    }
    bool bf16 = cr_backend_supports(be, CR_DTYPE_BF16);
    for (int i = 0; i < PRECISIONS; i++) {
        if (precisions[i] == CR_DTYPE_BF16 && !bf16) {
            printf("bf16: this CPU has no bf16 arithmetic; its cases are left out\n");
            continue;
        }
        test_plan_shares_what_it_may(be, precisions[i]);
    }
    test_upload_checks_the_batch(be);
    cr_backend_destroy(be);
    return cr_test_summary("nn/plan");
}
