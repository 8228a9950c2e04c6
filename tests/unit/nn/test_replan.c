/* Re-planning, which progressive resizing rests on: a graph planned at 64, 128, then 64 px again
 * gives at each size, to the bit, the numbers of a graph planned only at that size. */
#include <stdlib.h>

#include "crescendo/model.h"
#include "graph_check.h"

enum { BATCH = 2, CLASSES = 5, SMALL = 64, LARGE = 128 };

/* A zoo model as the trainer builds it; the choices a case varies. */
typedef struct model_case {
    const char *name;
    float dropout;
    cr_dtype precision;
} model_case;

static cr_graph *create(cr_backend *be, const model_case *m) {
    cr_model_config config = {.num_classes = CLASSES, .in_channels = 3, .dropout = m->dropout};
    cr_graph *g = NULL;
    CHECK_OK(cr_model_create(be, m->name, &config, 11, &g));
    CHECK_OK(cr_graph_set_precision(g, m->precision));
    return g;
}

/* Plans g at side x side and runs one step with dropout masks keyed alike at every size. */
static nn_step step_at(cr_graph *g, int side, const float *images, const int32_t *labels) {
    CHECK_OK(cr_graph_plan(g, BATCH, side, side));
    cr_graph_set_dropout_seed(g, 5, 0);
    return nn_step_run(g, images, labels, BATCH);
}

/* A step on a graph created for it and planned at this size only: what re-planning must give. */
static nn_step fresh_step(cr_backend *be, const model_case *m, int side, const float *images,
                          const int32_t *labels, size_t *activation_bytes) {
    cr_graph *g = create(be, m);
    nn_step s = step_at(g, side, images, labels);
    *activation_bytes = cr_graph_activation_bytes(g);
    cr_graph_destroy(g);
    return s;
}

/* Puts back every parameter and buffer (running statistics, batch counters) exported earlier. */
static void restore(cr_graph *g, const cr_graph_state *state) {
    cr_backend *be = cr_graph_backend(g);
    cr_param *params = cr_graph_params(g);
    CHECK(state->count == cr_graph_param_count(g));
    for (int i = 0; i < state->count && i < cr_graph_param_count(g); i++) {
        const cr_tensor *t = &state->tensors[i].tensor;
        CHECK(strcmp(state->tensors[i].name, params[i].name) == 0);
        if (t->dtype == CR_DTYPE_I64) memcpy(params[i].value.data, t->data, cr_tensor_bytes(t));
        else CHECK_OK(be->ops->copy_from_host(be, params[i].value.data, t->data,
                                              cr_tensor_bytes(t)));
    }
}

static void check_step(nn_step *got, const nn_step *want, const model_case *m, const char *when) {
    char what[160];
    snprintf(what, sizeof what, "%s %s: %s", m->name, cr_dtype_name(m->precision), when);
    CHECK(isfinite(got->loss));
    nn_check_same_step(got, want, what);
    nn_step_free(got);
}

static void test_replan(cr_backend *be, const model_case *m) {
    int32_t labels[BATCH] = {1, 3};
    float *small = nn_normal((size_t)BATCH * SMALL * SMALL * 3, 1);
    float *large = nn_normal((size_t)BATCH * LARGE * LARGE * 3, 2);

    size_t small_bytes, large_bytes;
    nn_step at_small = fresh_step(be, m, SMALL, small, labels, &small_bytes);
    nn_step at_large = fresh_step(be, m, LARGE, large, labels, &large_bytes);
    CHECK(small_bytes < large_bytes);

    cr_graph *g = create(be, m);
    cr_graph_state start;
    CHECK_OK(cr_graph_state_export(g, &start));
    nn_step s = step_at(g, SMALL, small, labels);
    check_step(&s, &at_small, m, "64 px, first plan");
    /* a training step moved the running statistics; each step starts from the fresh graphs' */
    restore(g, &start);
    s = step_at(g, LARGE, large, labels);
    check_step(&s, &at_large, m, "128 px after 64 px");
    restore(g, &start);
    /* the larger arena stays; the 64 px plan lays out the same bytes inside it */
    s = step_at(g, SMALL, small, labels);
    CHECK(cr_graph_activation_bytes(g) == small_bytes);
    check_step(&s, &at_small, m, "64 px after 128 px");

    cr_graph_state_free(&start);
    cr_graph_destroy(g);
    nn_step_free(&at_small);
    nn_step_free(&at_large);
    free(small);
    free(large);
}

/* Each model at one precision: one more precision is one more call. */
static void run_cases(cr_backend *be, cr_dtype precision) {
    const model_case cases[] = {{"resnet18", 0.0f, precision}, {"simple_cnn", 0.2f, precision}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_replan(be, &cases[i]);
}

int main(void) {
    cr_backend *be = gc_backend();
    cr_log_set_sink(gc_log, &gc_warnings, CR_LOG_WARN);
    nn_each_precision(be, run_cases);
    cr_backend_destroy(be);
    return cr_test_summary("nn/replan");
}
