/* Gradient clipping in the training step (cr_step_config.clip_grad_norm): two twins take one
 * plain SGD step (lr 1, no momentum, no weight decay, so the update is the gradient) on the same
 * batch, one unclipped; the clipped twin's update must be the other's scaled by
 * max / (norm + 1e-6), with the reported norm the unclipped update's, and a bound above the norm
 * must change nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/model.h"
#include "crescendo/rng.h"
#include "crescendo/step.h"
#include "testing.h"

enum { BATCH = 4, SIDE = 16, CLASSES = 3 };

typedef struct twin {
    cr_graph *graph;
    cr_optimizer *optimizer;
    cr_step *step;
    float *before; /* the weights before the step */
    size_t count;
} twin;

static void twin_create(cr_backend *be, double clip, twin *t) {
    cr_model_config mc = {.num_classes = CLASSES, .in_channels = 3};
    CHECK_OK(cr_model_create(be, "simple_cnn", &mc, 7, &t->graph));
    cr_optimizer_config oc = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    CHECK_OK(cr_optimizer_create(be, &oc, cr_graph_params(t->graph),
                                 cr_graph_param_count(t->graph), &t->optimizer));
    cr_step_config sc = {.clip_grad_norm = clip};
    CHECK_OK(cr_step_create(t->graph, t->optimizer, &sc, &t->step));
    CHECK_OK(cr_step_prepare(t->step, BATCH, SIDE));
    const float *values = cr_graph_param_values(t->graph, &t->count);
    t->before = malloc(t->count * sizeof *t->before);
    memcpy(t->before, values, t->count * sizeof *t->before);
}

static void twin_destroy(twin *t) {
    cr_step_destroy(t->step);
    cr_optimizer_destroy(t->optimizer);
    cr_graph_destroy(t->graph);
    free(t->before);
}

/* One step; the update (before - after) in *update, the result in *r. */
static void twin_step(twin *t, const float *images, const int32_t *labels, double *update,
                      cr_step_result *r) {
    CHECK_OK(cr_step_train(t->step, images, labels, BATCH, 1.0, 0, r));
    const float *after = cr_graph_param_values(t->graph, &t->count);
    for (size_t i = 0; i < t->count; i++) update[i] = (double)t->before[i] - after[i];
}

int main(void) {
    cr_backend *be;
    if (cr_backend_create(CR_DEVICE_CPU, 1, &be) != CR_STATUS_OK) return 1;
    float images[BATCH * SIDE * SIDE * 3];
    cr_rng rng = cr_rng_stream(11, 0, 0);
    for (size_t i = 0; i < sizeof images / sizeof *images; i++) images[i] = cr_rng_normal(&rng);
    int32_t labels[BATCH] = {0, 2, 1, 2};

    twin plain, clipped, loose;
    twin_create(be, 0.0, &plain);
    double *g = malloc(plain.count * sizeof *g), *h = malloc(plain.count * sizeof *h);
    cr_step_result r;
    twin_step(&plain, images, labels, g, &r);
    CHECK(isnan(r.grad_norm));
    double squares = 0.0;
    for (size_t i = 0; i < plain.count; i++) squares += g[i] * g[i];
    double norm = sqrt(squares);
    CHECK(norm > 0.0);

    double bound = norm / 4.0;
    twin_create(be, bound, &clipped);
    twin_step(&clipped, images, labels, h, &r);
    CHECK_NEAR(r.grad_norm, norm, 1e-4);
    double factor = bound / (norm + 1e-6), worst = 0.0, clipped_squares = 0.0;
    for (size_t i = 0; i < plain.count; i++) {
        worst = fmax(worst, fabs(h[i] - g[i] * factor));
        clipped_squares += h[i] * h[i];
    }
    CHECK(worst <= 1e-6 * fmax(1.0, norm));
    CHECK_NEAR(sqrt(clipped_squares), bound, 1e-4);

    twin_create(be, norm * 2.0, &loose);
    twin_step(&loose, images, labels, h, &r);
    bool same = true;
    for (size_t i = 0; i < plain.count; i++) same &= h[i] == g[i];
    CHECK(same); /* a bound above the norm leaves the step as it was */

    twin_destroy(&plain);
    twin_destroy(&clipped);
    twin_destroy(&loose);
    free(g);
    free(h);
    cr_backend_destroy(be);
    return cr_test_summary("clip");
}
