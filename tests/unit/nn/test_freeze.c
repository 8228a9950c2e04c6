/* Freezing the body (cr_graph_freeze_body), for training a new classifier on pretrained layers:
 * a training step then runs BatchNorm on its running statistics and leaves them, gives the body no
 * gradient and the classifier the gradient of its own inputs; thawed, everything trains again. */
#include <stdlib.h>

#include "crescendo/model.h"
#include "graph_check.h"

enum { BATCH = 3, CLASSES = 4 };

typedef struct freeze_case {
    const char *model, *classifier;
    int side;
} freeze_case;

/* The gradient a linear layer gets from features x (N, F) and dy (N, K), in double:
 * dw[k][f] = sum_n dy[n][k] x[n][f], dbias[k] = sum_n dy[n][k]. */
static void linear_grads(const float *x, const float *dy, int n, int f, int k, double *dw,
                         double *dbias) {
    for (int o = 0; o < k; o++) {
        dbias[o] = 0.0;
        for (int i = 0; i < f; i++) dw[(size_t)o * f + i] = 0.0;
        for (int s = 0; s < n; s++) {
            double d = dy[(size_t)s * k + o];
            dbias[o] += d;
            for (int i = 0; i < f; i++) dw[(size_t)o * f + i] += d * x[(size_t)s * f + i];
        }
    }
}

/* Trainable parameters other than the classifier's: how many there are, and how many of them have
 * a gradient element that is not zero. */
static void body_gradients(cr_graph *g, const float *grads, int *tensors, int *nonzero) {
    const cr_node *last = &g->nodes[g->node_count - 1];
    *tensors = *nonzero = 0;
    for (int i = 0; i < cr_graph_param_count(g); i++) {
        const cr_param *p = &cr_graph_params(g)[i];
        if (!cr_param_trainable(p) || i == last->weight || i == last->bias) continue;
        bool any = false;
        for (int64_t k = 0; k < cr_tensor_numel(&p->value); k++) any |= grads[p->offset + k] != 0;
        (*tensors)++;
        *nonzero += any;
    }
}

static bool same_tensors(const cr_graph_state *a, const cr_graph_state *b, bool trainable,
                         cr_graph *g) {
    for (int i = 0; i < a->count; i++) {
        if (cr_param_trainable(&cr_graph_params(g)[i]) != trainable) continue;
        if (memcmp(a->tensors[i].tensor.data, b->tensors[i].tensor.data,
                   cr_tensor_bytes(&a->tensors[i].tensor)) != 0)
            return false;
    }
    return true;
}

static void check_freeze(cr_backend *be, const freeze_case *c) {
    cr_model_config config = {.num_classes = CLASSES, .in_channels = 3};
    cr_graph *g = NULL;
    CHECK_OK(cr_model_create(be, c->model, &config, 21, &g));
    if (!g) return;
    CHECK(strcmp(cr_graph_classifier_name(g), c->classifier) == 0);
    size_t pixels = (size_t)BATCH * c->side * c->side * 3;
    float *images = gc_alloc(pixels * sizeof *images);
    cr_rng rng = cr_rng_stream(3, 0, 0);
    for (size_t i = 0; i < pixels; i++) images[i] = cr_rng_normal(&rng);
    int32_t labels[BATCH] = {0, 3, 1};
    CHECK_OK(cr_graph_plan(g, BATCH, c->side, c->side));

    /* Statistics that are not (0, 1), so that running on them differs from batch statistics. */
    for (int i = 0; i < 2; i++) {
        CHECK_OK(cr_graph_upload(g, images, NULL, BATCH));
        CHECK_OK(cr_graph_forward(g, true));
    }
    CHECK_OK(cr_graph_upload(g, images, labels, BATCH));
    CHECK_OK(cr_graph_forward(g, false));
    const cr_node *last = &g->nodes[g->node_count - 1];
    float *eval_logits = nn_download(g, last->out, last->dtype, (size_t)BATCH * CLASSES);
    cr_graph_state before;
    CHECK_OK(cr_graph_state_export(g, &before));

    cr_graph_freeze_body(g, true);
    for (int i = 0; i < cr_graph_param_count(g); i++) {
        const char *name = cr_graph_params(g)[i].name;
        bool classifier = strncmp(name, c->classifier, strlen(c->classifier)) == 0 &&
                          name[strlen(c->classifier)] == '.';
        CHECK(cr_graph_param_frozen(g, i) == !classifier);
    }
    nn_step frozen = nn_step_run(g, images, labels, BATCH);
    CHECK(memcmp(frozen.logits, eval_logits, sizeof(float) * BATCH * CLASSES) == 0);
    CHECK(same_tensors(&frozen.state, &before, false, g)); /* running stats and counters */

    const cr_param *w = &cr_graph_params(g)[last->weight], *b = &cr_graph_params(g)[last->bias];
    const cr_node *in = &g->nodes[last->inputs[0]];
    int features = in->c;
    float *x = nn_download(g, in->out, in->dtype, (size_t)BATCH * features);
    float *dy = nn_download(g, last->grad, last->dtype, (size_t)BATCH * CLASSES);
    double *dw = gc_alloc(sizeof *dw * (size_t)CLASSES * features);
    double dbias[CLASSES];
    linear_grads(x, dy, BATCH, features, CLASSES, dw, dbias);
    gc_compare("classifier weight gradient", frozen.grads + w->offset, dw,
               (size_t)CLASSES * features, NN_F32_TOL);
    gc_compare("classifier bias gradient", frozen.grads + b->offset, dbias, CLASSES, NN_F32_TOL);
    int tensors, nonzero;
    body_gradients(g, frozen.grads, &tensors, &nonzero);
    CHECK(tensors > 0 && nonzero == 0);

    cr_graph_freeze_body(g, false);
    for (int i = 0; i < cr_graph_param_count(g); i++) CHECK(!cr_graph_param_frozen(g, i));
    nn_step thawed = nn_step_run(g, images, labels, BATCH);
    CHECK(memcmp(thawed.logits, eval_logits, sizeof(float) * BATCH * CLASSES) != 0);
    CHECK(!same_tensors(&thawed.state, &before, false, g));
    body_gradients(g, thawed.grads, &tensors, &nonzero);
    CHECK(nonzero == tensors);

    nn_step_free(&frozen);
    nn_step_free(&thawed);
    cr_graph_state_free(&before);
    free(eval_logits);
    free(x);
    free(dy);
    free(dw);
    free(images);
    cr_graph_destroy(g);
}

int main(void) {
    cr_backend *be;
    if (cr_backend_create(CR_DEVICE_CPU, 2, &be) != CR_STATUS_OK) {
        fprintf(stderr, "no CPU backend: %s\n", cr_error_message());
        return 1;
    }
    static const freeze_case cases[] = {{"simple_cnn", "head.5", 16}, {"resnet18", "fc", 32}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_freeze(be, &cases[i]);
    cr_backend_destroy(be);
    return cr_test_summary("freeze");
}
