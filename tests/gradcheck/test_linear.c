/* Gradient check of the CPU fully connected layer, y = x w^T + b: the forward against a double
 * reference, dx, dw and dbias against central differences of it, with and without a bias, and
 * the accumulation (+=) of dw and dbias. Tolerances are those of gradcheck.h. */
#include <string.h>

#include "gradcheck.h"

typedef struct linear_case {
    const char *name;
    int n, in, out;
    bool bias;
} linear_case;

static const linear_case cases[] = {
    {"3 x 7 -> 5, bias", 3, 7, 5, true},
    {"4 x 64 -> 10, no bias", 4, 64, 10, false},
    {"16 x 130 -> 67, bias", 16, 130, 67, true},
    {"1 x 200 -> 120, bias (one image)", 1, 200, 120, true},
};
enum { CASES = sizeof cases / sizeof cases[0] };

static void linear_ref(const linear_case *k, const double *x, const double *w, const double *b,
                       double *y) {
    for (int i = 0; i < k->n; i++)
        for (int o = 0; o < k->out; o++) {
            double s = b ? b[o] : 0.0;
            for (int j = 0; j < k->in; j++)
                s += x[(size_t)i * k->in + j] * w[(size_t)o * k->in + j];
            y[(size_t)i * k->out + o] = s;
        }
}

typedef struct linear_ctx {
    const linear_case *k;
    const double *x, *w, *b, *r;
    double *y;
} linear_ctx;

static double linear_loss(void *p) {
    linear_ctx *c = p;
    linear_ref(c->k, c->x, c->w, c->b, c->y);
    return gc_dot(c->r, c->y, (size_t)c->k->n * c->k->out);
}

static void check_case(cr_backend *be, cr_op_cache **cache, const linear_case *k, uint64_t seed) {
    size_t nx = (size_t)k->n * k->in, nw = (size_t)k->out * k->in, ny = (size_t)k->n * k->out;
    size_t nb = (size_t)k->out;
    char what[160];
    float *x = gc_uniform(nx, seed, 1, -1, 1), *w = gc_uniform(nw, seed, 2, -0.3f, 0.3f);
    float *b = gc_uniform(nb, seed, 3, -1, 1), *dy = gc_uniform(ny, seed, 4, -1, 1);
    float *y = gc_filled(ny, NAN), *dx = gc_filled(nx, NAN);
    float *dw0 = gc_uniform(nw, seed, 5, -1, 1), *db0 = gc_uniform(nb, seed, 6, -1, 1);
    float *dw = gc_alloc(nw * 4), *db = gc_alloc(nb * 4);
    memcpy(dw, dw0, nw * 4);
    memcpy(db, db0, nb * 4);
    double *xd = gc_to_double(x, nx), *wd = gc_to_double(w, nw), *bd = gc_to_double(b, nb);
    double *rd = gc_to_double(dy, ny), *yd = gc_alloc(ny * 8);
    cr_linear_args a = {.n = k->n, .in_features = k->in, .out_features = k->out,
                        .compute = CR_DTYPE_F32, .x = x, .w = w, .bias = k->bias ? b : NULL,
                        .y = y, .dy = dy, .dx = dx, .dw = dw, .dbias = k->bias ? db : NULL};

    CHECK_OK(be->ops->linear_forward(be, cache, &a));
    linear_ref(k, xd, wd, k->bias ? bd : NULL, yd);
    snprintf(what, sizeof what, "%s: forward", k->name);
    gc_compare(what, y, yd, ny, GC_FORWARD_TOL);

    CHECK_OK(be->ops->linear_backward_data(be, cache, &a));
    linear_ctx ctx = {k, xd, wd, k->bias ? bd : NULL, rd, yd};
    snprintf(what, sizeof what, "%s: dx", k->name);
    gc_check_grad(what, linear_loss, &ctx, xd, nx, 1e-2, dx, NULL, 1.0);

    for (int call = 1; call <= 2; call++) {
        CHECK_OK(be->ops->linear_backward_weights(be, cache, &a));
        snprintf(what, sizeof what, "%s: dw after %d call(s) (+=)", k->name, call);
        gc_check_grad(what, linear_loss, &ctx, wd, nw, 1e-2, dw, dw0, call);
        if (k->bias) {
            snprintf(what, sizeof what, "%s: dbias after %d call(s) (+=)", k->name, call);
            gc_check_grad(what, linear_loss, &ctx, bd, nb, 1e-2, db, db0, call);
        }
    }
    float *bufs[] = {x, w, b, dy, y, dx, dw0, db0, dw, db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(xd), free(wd), free(bd), free(rd), free(yd);
}

static void test_bad_arguments_fail(cr_backend *be) {
    float buf[16] = {0};
    cr_op_cache *cache = NULL;
    cr_linear_args a = {.n = 0, .in_features = 2, .out_features = 2, .x = buf, .w = buf, .y = buf};
    CHECK_FAILS(be->ops->linear_forward(be, &cache, &a), CR_STATUS_INVALID, "out of range");
    a.n = 2, a.y = NULL;
    CHECK_FAILS(be->ops->linear_forward(be, &cache, &a), CR_STATUS_INVALID, "required");
    be->ops->cache_destroy(be, cache);
}

int main(void) {
    cr_backend *be = gc_backend();
    cr_op_cache *cache = NULL;
    for (int i = 0; i < CASES; i++) {
        printf("%s\n", cases[i].name);
        check_case(be, &cache, &cases[i], 500 + (uint64_t)i);
    }
    check_case(be, &cache, &cases[0], 500);
    be->ops->cache_destroy(be, cache);
    test_bad_arguments_fail(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/linear");
}
