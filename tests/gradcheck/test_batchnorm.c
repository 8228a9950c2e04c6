/* Gradient check of the CPU batch normalization: training and inference forwards, the saved
 * statistics and PyTorch's running-statistics update (unbiased variance, momentum) against a
 * double reference, and dx, dgamma, dbeta against central differences of the training forward
 * (whose batch statistics depend on x). Tolerances are those of gradcheck.h. */
#include <string.h>

#include "gradcheck.h"

typedef struct bn_case {
    const char *name;
    int n, c, h, w;
    bool constant_channel; /* channel 0 holds one value: variance 0, only eps under the root */
} bn_case;

static const bn_case cases[] = {
    {"N3 C5 4x3 (channels not a vector multiple)", 3, 5, 4, 3, false},
    {"N2 C64 5x4", 2, 64, 5, 4, false},
    {"N4 C17 1x1 (after global pooling)", 4, 17, 1, 1, false},
    {"N2 C32 7x6", 2, 32, 7, 6, false},
    {"N2 C16 3x3, a constant channel", 2, 16, 3, 3, true},
};
enum { CASES = sizeof cases / sizeof cases[0] };

static const float eps = 1e-5f, momentum = 0.1f;

/* Batch statistics per channel of x (N, H, W, C): mean and biased variance. */
static void bn_stats(const bn_case *k, const double *x, double *mean, double *var) {
    size_t rows = (size_t)k->n * k->h * k->w;
    for (int c = 0; c < k->c; c++) {
        double s = 0, q = 0;
        for (size_t r = 0; r < rows; r++) s += x[r * k->c + c];
        mean[c] = s / rows;
        for (size_t r = 0; r < rows; r++) {
            double d = x[r * k->c + c] - mean[c];
            q += d * d;
        }
        var[c] = q / rows;
    }
}

/* y = gamma (x - mean) / sqrt(var + eps) + beta with the given statistics. */
static void bn_apply(const bn_case *k, const double *x, const double *mean, const double *var,
                     const double *gamma, const double *beta, double *y) {
    size_t rows = (size_t)k->n * k->h * k->w;
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < k->c; c++)
            y[r * k->c + c] = gamma[c] * (x[r * k->c + c] - mean[c]) / sqrt(var[c] + eps) + beta[c];
}

typedef struct bn_ctx {
    const bn_case *k;
    const double *x, *gamma, *beta, *r;
    double *mean, *var, *y;
    size_t count;
} bn_ctx;

/* sum(r * y) for the training forward, which normalizes with the batch's own statistics. */
static double bn_loss(void *p) {
    bn_ctx *c = p;
    bn_stats(c->k, c->x, c->mean, c->var);
    bn_apply(c->k, c->x, c->mean, c->var, c->gamma, c->beta, c->y);
    return gc_dot(c->r, c->y, c->count);
}

static void check_case(cr_backend *be, const bn_case *k, uint64_t seed) {
    size_t count = (size_t)k->n * k->h * k->w * k->c, ch = (size_t)k->c;
    char what[160];
    /* an offset and a spread per channel, as real activations have */
    float *x = gc_uniform(count, seed, 1, -1, 1), *shift = gc_uniform(ch, seed, 2, -2, 2);
    for (size_t i = 0; i < count; i++)
        x[i] = k->constant_channel && i % ch == 0 ? 0.7f
                                                   : x[i] * (1.0f + 0.5f * (float)(i % ch)) +
                                                         shift[i % ch];
    float *gamma = gc_uniform(ch, seed, 3, 0.5f, 1.5f), *beta = gc_uniform(ch, seed, 4, -1, 1);
    float *rm = gc_uniform(ch, seed, 5, -1, 1), *rv = gc_uniform(ch, seed, 6, 0.5f, 2);
    float *rm0 = gc_alloc(ch * 4), *rv0 = gc_alloc(ch * 4);
    memcpy(rm0, rm, ch * 4);
    memcpy(rv0, rv, ch * 4);
    float *dy = gc_uniform(count, seed, 7, -1, 1), *y = gc_filled(count, NAN);
    float *saved_mean = gc_filled(ch, NAN), *saved_invstd = gc_filled(ch, NAN);
    double *xd = gc_to_double(x, count), *gd = gc_to_double(gamma, ch);
    double *bd = gc_to_double(beta, ch);
    double *rd = gc_to_double(dy, count), *yd = gc_alloc(count * 8);
    double *mean = gc_alloc(ch * 8), *var = gc_alloc(ch * 8), *want = gc_alloc(ch * 8);
    cr_op_cache *cache = NULL;
    cr_batchnorm_args a = {.n = k->n, .c = k->c, .h = k->h, .w = k->w, .eps = eps,
                           .momentum = momentum, .x = x, .y = y, .gamma = gamma, .beta = beta,
                           .running_mean = rm, .running_var = rv, .saved_mean = saved_mean,
                           .saved_invstd = saved_invstd};

    /* training forward: output, saved statistics, running statistics */
    CHECK_OK(be->ops->batchnorm_forward_train(be, &cache, &a));
    bn_stats(k, xd, mean, var);
    bn_apply(k, xd, mean, var, gd, bd, yd);
    snprintf(what, sizeof what, "%s: training forward", k->name);
    gc_compare(what, y, yd, count, GC_FORWARD_TOL);
    snprintf(what, sizeof what, "%s: saved mean", k->name);
    gc_compare(what, saved_mean, mean, ch, GC_FORWARD_TOL);
    for (size_t c = 0; c < ch; c++) want[c] = 1 / sqrt(var[c] + eps);
    snprintf(what, sizeof what, "%s: saved invstd", k->name);
    gc_compare(what, saved_invstd, want, ch, GC_FORWARD_TOL);
    double rows = (double)k->n * k->h * k->w;
    for (size_t c = 0; c < ch; c++) want[c] = (1 - momentum) * rm0[c] + momentum * mean[c];
    snprintf(what, sizeof what, "%s: running mean", k->name);
    gc_compare(what, rm, want, ch, GC_FORWARD_TOL);
    for (size_t c = 0; c < ch; c++)
        want[c] = (1 - momentum) * rv0[c] + momentum * var[c] * rows / (rows - 1);
    snprintf(what, sizeof what, "%s: running var (unbiased)", k->name);
    gc_compare(what, rv, want, ch, GC_FORWARD_TOL);

    /* inference forward: the running statistics, not the batch's */
    double *rmd = gc_to_double(rm, ch), *rvd = gc_to_double(rv, ch);
    float *yi = gc_filled(count, NAN);
    a.y = yi;
    CHECK_OK(be->ops->batchnorm_forward_infer(be, &cache, &a));
    bn_apply(k, xd, rmd, rvd, gd, bd, yd);
    snprintf(what, sizeof what, "%s: inference forward", k->name);
    gc_compare(what, yi, yd, count, GC_FORWARD_TOL);

    /* backward, from the statistics the training forward saved */
    float *dx = gc_filled(count, NAN);
    float *dg0 = gc_uniform(ch, seed, 8, -1, 1), *db0 = gc_uniform(ch, seed, 9, -1, 1);
    float *dg = gc_alloc(ch * 4), *db = gc_alloc(ch * 4);
    memcpy(dg, dg0, ch * 4);
    memcpy(db, db0, ch * 4);
    a.dy = dy, a.dx = dx, a.dgamma = dg, a.dbeta = db;
    CHECK_OK(be->ops->batchnorm_backward(be, &cache, &a));
    bn_ctx ctx = {k, xd, gd, bd, rd, mean, var, yd, count};
    snprintf(what, sizeof what, "%s: dx", k->name);
    gc_check_grad(what, bn_loss, &ctx, xd, count, 1e-4, dx, NULL, 1.0);
    snprintf(what, sizeof what, "%s: dgamma", k->name);
    gc_check_grad(what, bn_loss, &ctx, gd, ch, 1e-4, dg, dg0, 1.0);
    snprintf(what, sizeof what, "%s: dbeta", k->name);
    gc_check_grad(what, bn_loss, &ctx, bd, ch, 1e-4, db, db0, 1.0);
    CHECK_OK(be->ops->batchnorm_backward(be, &cache, &a));
    snprintf(what, sizeof what, "%s: dgamma after two calls (+=)", k->name);
    gc_check_grad(what, bn_loss, &ctx, gd, ch, 1e-4, dg, dg0, 2.0);
    snprintf(what, sizeof what, "%s: dbeta after two calls (+=)", k->name);
    gc_check_grad(what, bn_loss, &ctx, bd, ch, 1e-4, db, db0, 2.0);

    /* the same inputs give the same bits */
    float *dx2 = gc_filled(count, NAN);
    a.dx = dx2, a.dgamma = NULL, a.dbeta = NULL;
    CHECK_OK(be->ops->batchnorm_backward(be, &cache, &a));
    CHECK(memcmp(dx, dx2, count * 4) == 0);

    be->ops->cache_destroy(be, cache);
    float *bufs[] = {x, shift, gamma, beta, rm, rv, rm0, rv0, dy, y, saved_mean, saved_invstd,
                     yi, dx, dg0, db0, dg, db, dx2};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    double *dbufs[] = {xd, gd, bd, rd, yd, mean, var, want, rmd, rvd};
    for (size_t i = 0; i < sizeof dbufs / sizeof dbufs[0]; i++) free(dbufs[i]);
}

static void test_one_value_per_channel_fails(cr_backend *be) {
    float x[3] = {1, 2, 3}, y[3], g[3] = {1, 1, 1}, b[3] = {0}, m[3], s[3];
    cr_op_cache *cache = NULL;
    cr_batchnorm_args a = {.n = 1, .c = 3, .h = 1, .w = 1, .eps = eps, .momentum = momentum,
                           .x = x, .y = y, .gamma = g, .beta = b, .saved_mean = m,
                           .saved_invstd = s};
    CHECK_FAILS(be->ops->batchnorm_forward_train(be, &cache, &a), CR_STATUS_INVALID,
                "one value per channel");
    a.eps = 0;
    CHECK_FAILS(be->ops->batchnorm_forward_train(be, &cache, &a), CR_STATUS_INVALID, "eps");
    be->ops->cache_destroy(be, cache);
}

int main(void) {
    cr_backend *be = gc_backend();
    for (int i = 0; i < CASES; i++) {
        printf("%s\n", cases[i].name);
        check_case(be, &cases[i], 200 + (uint64_t)i);
    }
    test_one_value_per_channel_fails(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/batchnorm");
}
