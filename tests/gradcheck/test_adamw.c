/* Check of the CPU AdamW step against a hand-written double reference of torch.optim.AdamW over
 * five steps (default betas, others, no first-moment decay, a large eps), on a table of segments
 * with and without decay that one call updates. Parameters and both moments agree to 1e-6
 * relative; the result is the same, bit for bit, on 1, 2 and 3 threads. */
#include <string.h>

#include "gradcheck.h"

enum { COUNT = GC_OPTIM_COUNT, STEPS = 5 };

typedef struct adamw_case {
    const char *name;
    double lr, beta1, beta2, eps;
    double weight_decay; /* of the decayed segments */
} adamw_case;

static const adamw_case cases[] = {
    {"torch's defaults", 1e-3, 0.9, 0.999, 1e-8, 1e-2},
    {"betas 0.8 0.99, eps 1e-6, weight decay 0.05", 1e-2, 0.8, 0.99, 1e-6, 0.05},
    {"beta1 0, no weight decay", 0.1, 0.0, 0.999, 1e-8, 0.0},
    {"betas 0.5 0.9, eps 1e-3, weight decay 0.3", 0.05, 0.5, 0.9, 1e-3, 0.3},
};
enum { CASES = sizeof cases / sizeof cases[0] };

/* The args of step t (from 1), the scalars computed as src/optim/adamw.c computes them. */
static cr_adamw_args step_args(const adamw_case *k, int t, const cr_optim_segment *segments,
                               float *exp_avg, float *exp_avg_sq) {
    double bias1 = 1.0 - pow(k->beta1, t), bias2 = 1.0 - pow(k->beta2, t);
    return (cr_adamw_args){.segments = segments, .segment_count = GC_OPTIM_SEGMENTS, .lr = k->lr,
                           .beta1 = (float)k->beta1, .one_minus_beta1 = (float)(1.0 - k->beta1),
                           .beta2 = (float)k->beta2, .one_minus_beta2 = (float)(1.0 - k->beta2),
                           .step_size = (float)(k->lr / bias1), .bias2_sqrt = (float)sqrt(bias2),
                           .eps = (float)k->eps, .exp_avg = exp_avg, .exp_avg_sq = exp_avg_sq};
}

/* torch.optim.AdamW, written from its documentation, each segment with its own weight decay. */
static void adamw_ref(const adamw_case *k, int t, const cr_optim_segment *segments, double *p,
                      const double *grad, double *m, double *v) {
    double bias1 = 1.0 - pow(k->beta1, t), bias2 = 1.0 - pow(k->beta2, t);
    for (int s = 0; s < GC_OPTIM_SEGMENTS; s++) {
        size_t begin = segments[s].state_offset, end = begin + segments[s].count;
        for (size_t i = begin; i < end; i++) {
            p[i] *= 1.0 - k->lr * segments[s].weight_decay;
            m[i] = k->beta1 * m[i] + (1.0 - k->beta1) * grad[i];
            v[i] = k->beta2 * v[i] + (1.0 - k->beta2) * grad[i] * grad[i];
            p[i] -= k->lr * (m[i] / bias1) / (sqrt(v[i] / bias2) + k->eps);
        }
    }
}

/* Runs STEPS steps of case k on be from the case's start; returns param, m and v in out[0..2]. */
static void run_case(cr_backend *be, const adamw_case *k, uint64_t seed, float *out[3]) {
    float *param = gc_uniform(COUNT, seed, 1, -1, 1);
    float *m = gc_filled(COUNT, 0.0f), *v = gc_filled(COUNT, 0.0f);
    cr_optim_segment segments[GC_OPTIM_SEGMENTS];
    for (int t = 1; t <= STEPS; t++) {
        float *grad = gc_uniform(COUNT, seed, 10 + (uint64_t)t, -1, 1);
        gc_optim_segments(segments, param, grad, k->weight_decay);
        cr_adamw_args a = step_args(k, t, segments, m, v);
        CHECK_OK(be->ops->adamw_step(be, &a));
        free(grad);
    }
    out[0] = param, out[1] = m, out[2] = v;
}

static void check_case(cr_backend *be, cr_backend *other_threads[2], const adamw_case *k,
                       uint64_t seed) {
    float *got[3];
    run_case(be, k, seed, got);
    float *param = gc_uniform(COUNT, seed, 1, -1, 1);
    double *pd = gc_to_double(param, COUNT), *md = gc_alloc(COUNT * 8), *vd = gc_alloc(COUNT * 8);
    memset(md, 0, COUNT * 8);
    memset(vd, 0, COUNT * 8);
    cr_optim_segment segments[GC_OPTIM_SEGMENTS];
    gc_optim_segments(segments, param, param, k->weight_decay); /* only the decays are read */
    for (int t = 1; t <= STEPS; t++) {
        float *grad = gc_uniform(COUNT, seed, 10 + (uint64_t)t, -1, 1);
        double *gd = gc_to_double(grad, COUNT);
        adamw_ref(k, t, segments, pd, gd, md, vd);
        free(grad);
        free(gd);
    }
    const char *names[3] = {"parameters", "exp_avg", "exp_avg_sq"};
    const double *want[3] = {pd, md, vd};
    char what[160];
    for (int j = 0; j < 3; j++) {
        snprintf(what, sizeof what, "%s: %s after %d steps", k->name, names[j], STEPS);
        gc_compare(what, got[j], want[j], COUNT, 1e-6);
    }
    for (int b = 0; b < 2; b++) {
        float *again[3];
        run_case(other_threads[b], k, seed, again);
        for (int j = 0; j < 3; j++) {
            cr_test_checks++;
            if (memcmp(again[j], got[j], COUNT * 4) != 0)
                cr_test_fail(__FILE__, __LINE__, "%s: %s on %d threads differ from %d threads",
                             k->name, names[j], other_threads[b]->threads, be->threads);
            free(again[j]);
        }
    }
    for (int j = 0; j < 3; j++) free(got[j]);
    free(param), free(pd), free(md), free(vd);
}

/* A step that cannot run fails before it writes anything. */
static void test_bad_args_change_nothing(cr_backend *be) {
    float *param = gc_uniform(COUNT, 9, 1, -1, 1), *grad = gc_uniform(COUNT, 9, 2, -1, 1);
    float *m = gc_filled(COUNT, 0.0f), *v = gc_filled(COUNT, 0.0f), *before = gc_alloc(COUNT * 4);
    memcpy(before, param, COUNT * 4);
    cr_optim_segment segments[GC_OPTIM_SEGMENTS];
    gc_optim_segments(segments, param, grad, 0.01);
    cr_adamw_args a = step_args(&cases[0], 1, segments, m, NULL);
    CHECK_FAILS(be->ops->adamw_step(be, &a), CR_STATUS_INVALID, "exp_avg and exp_avg_sq");
    a.exp_avg_sq = v;
    segments[4].param = NULL;
    CHECK_FAILS(be->ops->adamw_step(be, &a), CR_STATUS_INVALID, "segment 4 needs param and grad");
    CHECK(memcmp(before, param, COUNT * 4) == 0);
    a.segment_count = 0; /* an empty table is a step of nothing */
    a.exp_avg = a.exp_avg_sq = NULL;
    CHECK_OK(be->ops->adamw_step(be, &a));
    free(param), free(grad), free(m), free(v), free(before);
}

int main(void) {
    cr_backend *be = gc_backend(), *other_threads[2] = {NULL, NULL};
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 1, &other_threads[0]));
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 3, &other_threads[1]));
    if (!other_threads[0] || !other_threads[1]) return cr_test_summary("gradcheck/adamw");
    for (int i = 0; i < CASES; i++) check_case(be, other_threads, &cases[i], 900 + (uint64_t)i);
    test_bad_args_change_nothing(be);
    cr_backend_destroy(other_threads[0]);
    cr_backend_destroy(other_threads[1]);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/adamw");
}
