/* Check of the CPU SGD step against a hand-written double reference of torch.optim.SGD over five
 * steps: plain, momentum, dampening, Nesterov and weight decay, the first step taking the
 * gradient itself as the momentum buffer, on a table of segments with and without decay that one
 * call updates. Parameters and buffers agree to 1e-6 relative (a few float roundings per step). */
#include <string.h>

#include "gradcheck.h"

enum { COUNT = GC_OPTIM_COUNT, STEPS = 5 };

typedef struct sgd_case {
    const char *name;
    float lr, momentum, dampening;
    double weight_decay; /* of the decayed segments */
    bool nesterov;
} sgd_case;

static const sgd_case cases[] = {
    {"plain", 0.1f, 0, 0, 0, false},
    {"momentum 0.9", 0.05f, 0.9f, 0, 0, false},
    {"momentum 0.9, dampening 0.3", 0.05f, 0.9f, 0.3f, 0, false},
    {"nesterov 0.9", 0.05f, 0.9f, 0, 0, true},
    {"nesterov 0.9, weight decay 5e-4", 0.1f, 0.9f, 0, 5e-4, true},
    {"momentum 0.8, dampening 0.5, weight decay 1e-2", 0.2f, 0.8f, 0.5f, 1e-2, false},
    {"weight decay 1e-2, no momentum", 0.1f, 0, 0, 1e-2, false},
};
enum { CASES = sizeof cases / sizeof cases[0] };

/* torch.optim.SGD, written from its documentation, each segment with its own weight decay. */
static void sgd_ref(const sgd_case *k, int step, const cr_optim_segment *segments, double *p,
                    const double *grad, double *buf) {
    for (int s = 0; s < GC_OPTIM_SEGMENTS; s++) {
        size_t begin = segments[s].state_offset, end = begin + segments[s].count;
        float wd = (float)segments[s].weight_decay; /* torch's alpha is a float */
        for (size_t i = begin; i < end; i++) {
            double g = grad[i] + wd * p[i];
            if (k->momentum != 0) {
                buf[i] = step == 0 ? g : k->momentum * buf[i] + (1 - k->dampening) * g;
                g = k->nesterov ? g + k->momentum * buf[i] : buf[i];
            }
            p[i] -= k->lr * g;
        }
    }
}

static void check_case(cr_backend *be, const sgd_case *k, uint64_t seed) {
    float *param = gc_uniform(COUNT, seed, 1, -1, 1), *buf = gc_filled(COUNT, NAN);
    double *pd = gc_to_double(param, COUNT), *bd = gc_alloc(COUNT * 8);
    cr_optim_segment segments[GC_OPTIM_SEGMENTS];
    char what[160];
    for (int step = 0; step < STEPS; step++) {
        float *grad = gc_uniform(COUNT, seed, 10 + (uint64_t)step, -1, 1);
        double *gd = gc_to_double(grad, COUNT);
        gc_optim_segments(segments, param, grad, k->weight_decay);
        cr_sgd_args a = {.segments = segments, .segment_count = GC_OPTIM_SEGMENTS, .lr = k->lr,
                         .momentum = k->momentum, .dampening = k->dampening,
                         .nesterov = k->nesterov, .first_step = step == 0,
                         .momentum_buffer = k->momentum != 0 ? buf : NULL};
        CHECK_OK(be->ops->sgd_step(be, &a));
        sgd_ref(k, step, segments, pd, gd, bd);
        free(grad);
        free(gd);
    }
    snprintf(what, sizeof what, "%s: parameters after %d steps", k->name, STEPS);
    gc_compare(what, param, pd, COUNT, 1e-6);
    if (k->momentum != 0) {
        snprintf(what, sizeof what, "%s: momentum buffer after %d steps", k->name, STEPS);
        gc_compare(what, buf, bd, COUNT, 1e-6);
    }
    free(param), free(buf), free(pd), free(bd);
}

/* The first step stores the gradient itself, undamped, whatever the buffer held; a step that
 * cannot run changes nothing. */
static void test_first_step_takes_the_gradient(cr_backend *be) {
    float *param = gc_uniform(COUNT, 7, 1, -1, 1), *grad = gc_uniform(COUNT, 7, 2, -1, 1);
    float *buf = gc_filled(COUNT, 123.0f), *before = gc_alloc(COUNT * 4);
    cr_optim_segment segments[GC_OPTIM_SEGMENTS];
    gc_optim_segments(segments, param, grad, 0.0);
    cr_sgd_args a = {.segments = segments, .segment_count = GC_OPTIM_SEGMENTS, .lr = 0.1f,
                     .momentum = 0.9f, .dampening = 0.5f, .first_step = true,
                     .momentum_buffer = buf};
    CHECK_OK(be->ops->sgd_step(be, &a));
    CHECK(memcmp(buf, grad, COUNT * 4) == 0);
    memcpy(before, param, COUNT * 4);
    a.momentum_buffer = NULL;
    CHECK_FAILS(be->ops->sgd_step(be, &a), CR_STATUS_INVALID, "momentum buffer");
    a.momentum_buffer = buf;
    segments[3].grad = NULL;
    CHECK_FAILS(be->ops->sgd_step(be, &a), CR_STATUS_INVALID, "segment 3 needs param and grad");
    CHECK(memcmp(before, param, COUNT * 4) == 0);
    free(param), free(grad), free(buf), free(before);
}

int main(void) {
    cr_backend *be = gc_backend();
    for (int i = 0; i < CASES; i++) check_case(be, &cases[i], 700 + (uint64_t)i);
    test_first_step_takes_the_gradient(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/sgd");
}
