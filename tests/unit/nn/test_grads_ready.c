/* The gradients-ready hook of backward (cr_graph_set_grads_ready), which lets gradients travel
 * to the other processes while backward goes on: its offsets only fall and end at 0, and every
 * gradient it has declared final is, at that moment, what it is after backward. A hook that lied
 * would send a bucket before its last contribution arrived. */
#include <stdlib.h>

#include "crescendo/model.h"
#include "graph_check.h"

enum { BATCH = 2, CLASSES = 3, MAX_CALLS = 512 };

typedef struct watch {
    cr_graph *g;
    size_t offsets[MAX_CALLS];
    float *seen[MAX_CALLS]; /* the gradients from offsets[i] on, when told */
    int calls;
} watch;

static cr_status on_ready(void *user, size_t offset) {
    watch *w = user;
    if (w->calls == MAX_CALLS) return cr_fail(CR_STATUS_INTERNAL, "too many calls");
    size_t count;
    const float *grads = cr_graph_param_grads(w->g, &count);
    w->offsets[w->calls] = offset;
    w->seen[w->calls] = gc_alloc((count - offset + 1) * sizeof(float));
    memcpy(w->seen[w->calls], grads + offset, (count - offset) * sizeof(float));
    w->calls++;
    return CR_STATUS_OK;
}

static void check_model(cr_backend *be, const char *model, int side) {
    cr_model_config config = {.num_classes = CLASSES, .in_channels = 3};
    cr_graph *g = NULL;
    CHECK_OK(cr_model_create(be, model, &config, 5, &g));
    if (!g) return;
    size_t pixels = (size_t)BATCH * side * side * 3;
    float *images = gc_alloc(pixels * sizeof *images);
    cr_rng rng = cr_rng_stream(9, 0, 0);
    for (size_t i = 0; i < pixels; i++) images[i] = cr_rng_normal(&rng);
    int32_t labels[BATCH] = {2, 0};
    watch *w = calloc(1, sizeof *w);
    w->g = g;
    cr_graph_set_grads_ready(g, (cr_grads_ready){.ready = on_ready, .user = w});
    float loss;
    CHECK_OK(cr_graph_plan(g, BATCH, side, side));
    CHECK_OK(cr_graph_upload(g, images, labels, BATCH));
    CHECK_OK(cr_graph_zero_grad(g));
    CHECK_OK(cr_graph_forward(g, true));
    CHECK_OK(cr_graph_loss(g, 0.0f, &loss));
    CHECK_OK(cr_graph_backward(g));

    size_t count;
    const float *grads = cr_graph_param_grads(g, &count);
    CHECK(w->calls > 2); /* several buckets' worth of news, not only the end */
    CHECK(w->calls > 0 && w->offsets[w->calls - 1] == 0);
    int late = 0;
    for (int i = 0; i < w->calls; i++) {
        if (i > 0) CHECK(w->offsets[i] <= w->offsets[i - 1]);
        if (memcmp(w->seen[i], grads + w->offsets[i], (count - w->offsets[i]) * sizeof(float)))
            late++;
        free(w->seen[i]);
    }
    if (late) cr_test_fail(__FILE__, __LINE__, "%s: %d of %d calls declared gradients final "
                           "that changed afterwards", model, late, w->calls);
    cr_test_checks++;
    free(w);
    free(images);
    cr_graph_destroy(g);
}

int main(void) {
    cr_backend *be;
    if (cr_backend_create(CR_DEVICE_CPU, 2, &be) != CR_STATUS_OK) {
        fprintf(stderr, "no CPU backend: %s\n", cr_error_message());
        return 1;
    }
    check_model(be, "simple_cnn", 16);
    check_model(be, "resnet18", 32); /* residual blocks: a downsample beside the main path */
    cr_backend_destroy(be);
    return cr_test_summary("grads_ready");
}
