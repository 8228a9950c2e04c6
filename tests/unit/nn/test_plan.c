/* The graph's activation plan and its run, in fp32 and bf16: which buffers the plan shares (in
 * place ops, views, BatchNorm + ReLU fusion), gradients where two paths meet, and re-planning
 * 64 -> 128 -> 64 px giving the numbers of a freshly planned graph to the bit. */
#include <stdlib.h>

#include "crescendo/model.h"
#include "crescendo/rng.h"
#include "nn/graph_internal.h"
#include "testing.h"

static const cr_dtype precisions[] = {CR_DTYPE_F32, CR_DTYPE_BF16};
enum { PRECISIONS = sizeof precisions / sizeof precisions[0], CLASSES = 5 };

static float *random_images(int n, int side, int channels, uint64_t seed) {
    size_t count = (size_t)n * side * side * channels;
    float *x = malloc(count * sizeof *x);
    cr_rng rng = cr_rng_stream(seed, 0, 0);
    for (size_t i = 0; x && i < count; i++) x[i] = cr_rng_normal(&rng);
    return x;
}

/* What one training step leaves: the loss, the logits and every parameter gradient. */
typedef struct step_numbers {
    float loss;
    float logits[8 * CLASSES];
    cr_graph_state grads;
} step_numbers;

/* Zeroed gradients, a training forward, the loss and backward on n images of the planned size. */
static void train_step(cr_graph *g, const float *images, const int32_t *labels, int n,
                       step_numbers *out) {
    CHECK_OK(cr_graph_upload(g, images, labels, n));
    CHECK_OK(cr_graph_zero_grad(g));
    CHECK_OK(cr_graph_forward(g, true));
    CHECK_OK(cr_graph_loss(g, 0.0f, &out->loss));
    CHECK_OK(cr_graph_backward(g));
    CHECK_OK(cr_graph_download_logits(g, out->logits));
    CHECK_OK(cr_graph_gradients_export(g, &out->grads));
}

static bool same_bits(const step_numbers *a, const step_numbers *b, int n) {
    if (memcmp(&a->loss, &b->loss, sizeof a->loss) != 0) return false;
    if (memcmp(a->logits, b->logits, sizeof(float) * (size_t)n * CLASSES) != 0) return false;
    if (a->grads.count != b->grads.count) return false;
    for (int i = 0; i < a->grads.count; i++)
        if (memcmp(a->grads.tensors[i].tensor.data, b->grads.tensors[i].tensor.data,
                   cr_tensor_bytes(&a->grads.tensors[i].tensor)) != 0)
            return false;
    return true;
}

/* Progressive resizing re-plans one graph at each size. A plan for 64 px made after one for
 * 128 px (whose larger arena it keeps, with other offsets, and whose primitives it replaces) must
 * give exactly what a graph planned only at 64 px gives. Weights do not move (no optimizer); the
 * running statistics do, but a training forward does not read them. */
static void test_replan_matches_fresh_plan(cr_backend *be, const char *model, cr_dtype precision) {
    enum { N = 2 };
    cr_model_config mc = {.num_classes = CLASSES, .in_channels = 3};
    cr_graph *walked, *fresh;
    CHECK_OK(cr_model_create(be, model, &mc, 11, &walked));
    CHECK_OK(cr_model_create(be, model, &mc, 11, &fresh));
    CHECK_OK(cr_graph_set_precision(walked, precision));
    CHECK_OK(cr_graph_set_precision(fresh, precision));
    float *small = random_images(N, 64, 3, 1), *large = random_images(N, 128, 3, 2);
    int32_t labels[N] = {1, 3};
    step_numbers first = {0}, at_large = {0}, back = {0}, reference = {0};

    CHECK_OK(cr_graph_plan(walked, N, 64, 64));
    train_step(walked, small, labels, N, &first);
    CHECK_OK(cr_graph_plan(walked, N, 128, 128));
    train_step(walked, large, labels, N, &at_large);
    size_t large_bytes = cr_graph_activation_bytes(walked);
    CHECK_OK(cr_graph_plan(walked, N, 64, 64));
    train_step(walked, small, labels, N, &back);
    CHECK_OK(cr_graph_plan(fresh, N, 64, 64));
    train_step(fresh, small, labels, N, &reference);

    CHECK(cr_graph_activation_bytes(fresh) < large_bytes);
    CHECK(isfinite(reference.loss) && isfinite(at_large.loss));
    CHECK(same_bits(&back, &reference, N));
    CHECK(same_bits(&first, &reference, N));
    if (!same_bits(&back, &reference, N))
        printf("%s %s: 64 px after 128 px gives loss %.9g, a fresh plan %.9g\n", model,
               cr_dtype_name(precision), back.loss, reference.loss);
    step_numbers *all[] = {&first, &at_large, &back, &reference};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cr_graph_state_free(&all[i]->grads);
    free(small);
    free(large);
    cr_graph_destroy(walked);
    cr_graph_destroy(fresh);
}

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
    /* the ReLU after the add overwrites it, unfused (an add is not a BatchNorm) */
    CHECK(node[s.out_relu].out == node[s.residual].out && !node[s.out_relu].fused);
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

/* The loss of the small net's training step, from the host, for central differences. */
static double small_loss(small_net *s, const float *images, const int32_t *labels, int n) {
    float loss;
    CHECK_OK(cr_graph_upload(s->g, images, labels, n));
    CHECK_OK(cr_graph_forward(s->g, true));
    CHECK_OK(cr_graph_loss(s->g, 0.0f, &loss));
    return loss;
}

/* Gradients of parameters upstream of every meeting point (the stem feeds the relu whose output
 * three nodes read; left and right meet at an add) against central differences of the loss in
 * fp32, at the elements with the largest gradients. A wrong alias or a lost contribution moves
 * them by far more than the tolerance. Then a second backward without zeroing doubles them. */
static void test_gradients_where_paths_meet(cr_backend *be) {
    enum { N = 4, SIDE = 6, PICKS = 6 };
    small_net s = build_small(be, CR_DTYPE_F32);
    CHECK_OK(cr_graph_plan(s.g, N, SIDE, SIDE));
    float *images = random_images(N, SIDE, 3, 7);
    int32_t labels[N] = {0, 4, 2, 1};
    CHECK_OK(cr_graph_zero_grad(s.g));
    small_loss(&s, images, labels, N);
    CHECK_OK(cr_graph_backward(s.g));
    const char *names[] = {"stem.weight", "bn.weight", "bn.bias", "left.weight", "right.weight",
                           "right.bias"};
    for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
        cr_param *p = cr_graph_find_param(s.g, names[t]);
        CHECK(p != NULL);
        if (!p) continue;
        float *value = p->value.data;
        size_t count = (size_t)cr_tensor_numel(&p->value);
        float scale = 0.0f;
        for (size_t i = 0; i < count; i++) scale = fmaxf(scale, fabsf(p->grad[i]));
        CHECK(scale > 0.0f);
        for (int k = 0; k < PICKS; k++) {
            size_t begin = (size_t)k * count / PICKS, end = (size_t)(k + 1) * count / PICKS;
            size_t at = begin;
            for (size_t i = begin; i < end; i++) /* the largest in this stretch */
                if (fabsf(p->grad[i]) > fabsf(p->grad[at])) at = i;
            const float h = 3e-4f, kept = value[at]; /* small enough to cross no ReLU kink */
            value[at] = kept + h;
            double up = small_loss(&s, images, labels, N);
            value[at] = kept - h;
            double down = small_loss(&s, images, labels, N);
            value[at] = kept;
            double numeric = (up - down) / (2.0 * h);
            cr_test_checks++;
            if (!(fabs(numeric - p->grad[at]) <= 2e-2 * scale))
                cr_test_fail(__FILE__, __LINE__, "%s[%zu]: backward %.6g, central differences "
                             "%.6g (scale %.3g)", names[t], at, (double)p->grad[at], numeric,
                             (double)scale);
        }
    }
    /* parameter gradients accumulate: a second backward of the same batch doubles them exactly */
    size_t count;
    const float *grads = cr_graph_param_grads(s.g, &count);
    float *once = malloc(count * sizeof *once);
    memcpy(once, grads, count * sizeof *once);
    CHECK_OK(cr_graph_zero_grad(s.g));
    small_loss(&s, images, labels, N);
    CHECK_OK(cr_graph_backward(s.g));
    CHECK_OK(cr_graph_backward(s.g));
    int wrong = 0;
    for (size_t i = 0; i < count; i++) wrong += grads[i] != 2.0f * once[i];
    CHECK(wrong == 0);
    free(once);
    free(images);
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
    CHECK_FAILS(cr_graph_upload(s.g, images, labels + 1, 2), CR_STATUS_DATA, "label 9 of image 1");
    CHECK_OK(cr_graph_upload(s.g, images, NULL, 2));
    CHECK_OK(cr_graph_forward(s.g, false));
    float loss;
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
        test_replan_matches_fresh_plan(be, "resnet18", precisions[i]);
        test_replan_matches_fresh_plan(be, "simple_cnn", precisions[i]);
    }
    test_gradients_where_paths_meet(be);
    test_upload_checks_the_batch(be);
    cr_backend_destroy(be);
    return cr_test_summary("nn/plan");
}
