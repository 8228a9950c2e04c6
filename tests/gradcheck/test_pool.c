/* Gradient check of the CPU pooling ops: max and average windows (ResNet's 3x3 s2 p1, 2x2 s2,
 * padding counted or not), global and adaptive average pooling, each forward against a double
 * reference and each backward against central differences of it (gradcheck.h's tolerances). Max
 * pooling's ties follow PyTorch: the first maximum of the window in row-major order wins; bf16
 * max pooling is checked against the same reference on bf16-rounded values. */
#include <string.h>

#include "gradcheck.h"

typedef struct pool_case {
    const char *name;
    cr_pool_kind kind;
    int n, c, h_in, w_in, kernel, stride, pad;
    bool exclude_pad;
} pool_case;

static const pool_case cases[] = {
    {"max 3x3 s2 p1 (ResNet), 9x11", CR_POOL_MAX, 2, 16, 9, 11, 3, 2, 1, false},
    {"max 3x3 s2 p1, 5 channels, 8x8", CR_POOL_MAX, 2, 5, 8, 8, 3, 2, 1, false},
    {"max 2x2 s2, 8x6", CR_POOL_MAX, 2, 16, 8, 6, 2, 2, 0, false},
    {"max 3x3 s1 p1, 6x5", CR_POOL_MAX, 1, 24, 6, 5, 3, 1, 1, false},
    {"avg 3x3 s2 p1 counting padding, 9x11", CR_POOL_AVG, 2, 16, 9, 11, 3, 2, 1, false},
    {"avg 3x3 s2 p1 excluding padding, 9x11", CR_POOL_AVG, 2, 16, 9, 11, 3, 2, 1, true},
    {"avg 2x2 s2, 7x6", CR_POOL_AVG, 2, 5, 7, 6, 2, 2, 0, false},
    {"avg 3x3 s1 p1 excluding padding, 5 channels, 6x5", CR_POOL_AVG, 1, 5, 6, 5, 3, 1, 1, true},
};
enum { CASES = sizeof cases / sizeof cases[0] };

static cr_pool2d_args case_args(const pool_case *k) {
    cr_pool2d_args a = {.kind = k->kind, .n = k->n, .c = k->c, .h_in = k->h_in, .w_in = k->w_in,
                        .kernel_h = k->kernel, .kernel_w = k->kernel, .stride_h = k->stride,
                        .stride_w = k->stride, .pad_h = k->pad, .pad_w = k->pad,
                        .exclude_pad = k->exclude_pad};
    a.h_out = cr_conv2d_output_size(k->h_in, k->kernel, k->stride, k->pad, 1);
    a.w_out = cr_conv2d_output_size(k->w_in, k->kernel, k->stride, k->pad, 1);
    return a;
}

/* PyTorch's definitions: max over the window's valid cells, the first maximum winning (argmax
 * returns its index); average over the window, divided by its valid cells when padding is
 * excluded and otherwise by the window clipped to the padded input. */
static void pool_ref(const cr_pool2d_args *a, const double *x, double *y, size_t *argmax) {
    for (int n = 0; n < a->n; n++)
        for (int oh = 0; oh < a->h_out; oh++)
            for (int ow = 0; ow < a->w_out; ow++)
                for (int c = 0; c < a->c; c++) {
                    int h0 = oh * a->stride_h - a->pad_h, w0 = ow * a->stride_w - a->pad_w;
                    int h1 = h0 + a->kernel_h, w1 = w0 + a->kernel_w;
                    int padded = ((h1 < a->h_in + a->pad_h ? h1 : a->h_in + a->pad_h) - h0) *
                                 ((w1 < a->w_in + a->pad_w ? w1 : a->w_in + a->pad_w) - w0);
                    double best = -INFINITY, sum = 0;
                    size_t best_at = 0;
                    int valid = 0;
                    for (int h = h0 < 0 ? 0 : h0; h < h1 && h < a->h_in; h++)
                        for (int w = w0 < 0 ? 0 : w0; w < w1 && w < a->w_in; w++) {
                            size_t i = (((size_t)n * a->h_in + h) * a->w_in + w) * a->c + c;
                            if (x[i] > best) best = x[i], best_at = i;
                            sum += x[i];
                            valid++;
                        }
                    size_t o = (((size_t)n * a->h_out + oh) * a->w_out + ow) * a->c + c;
                    if (a->kind == CR_POOL_MAX) {
                        y[o] = best;
                        if (argmax) argmax[o] = best_at;
                    } else {
                        y[o] = sum / (a->exclude_pad ? valid : padded);
                    }
                }
}

typedef struct pool_ctx {
    const cr_pool2d_args *a;
    const double *x, *r;
    double *y;
    size_t ny;
} pool_ctx;

static double pool_loss(void *p) {
    pool_ctx *c = p;
    pool_ref(c->a, c->x, c->y, NULL);
    return gc_dot(c->r, c->y, c->ny);
}

static void check_case(cr_backend *be, cr_op_cache **cache, const pool_case *k, uint64_t seed) {
    cr_pool2d_args a = case_args(k);
    size_t nx = (size_t)a.n * a.h_in * a.w_in * a.c, ny = (size_t)a.n * a.h_out * a.w_out * a.c;
    char what[160];
    float *x = gc_uniform(nx, seed, 1, -1, 1), *dy = gc_uniform(ny, seed, 2, -1, 1);
    float *y = gc_filled(ny, NAN), *dx = gc_filled(nx, NAN);
    double *xd = gc_to_double(x, nx), *rd = gc_to_double(dy, ny), *yd = gc_alloc(ny * 8);
    a.x = x, a.y = y, a.dy = dy, a.dx = dx;
    CHECK_OK(be->ops->pool2d_forward(be, cache, &a));
    pool_ref(&a, xd, yd, NULL);
    snprintf(what, sizeof what, "%s: forward", k->name);
    gc_compare(what, y, yd, ny, GC_FORWARD_TOL);
    CHECK_OK(be->ops->pool2d_backward(be, cache, &a));
    pool_ctx ctx = {&a, xd, rd, yd, ny};
    /* a small step: the gaps between uniform values in a window are far wider than 2h */
    snprintf(what, sizeof what, "%s: dx", k->name);
    gc_check_grad(what, pool_loss, &ctx, xd, nx, 1e-6, dx, NULL, 1.0);
    float *bufs[] = {x, dy, y, dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(xd);
    free(rd);
    free(yd);
}

/* The reference max pool of xd into yd and, in want, each input's gradient: the
 * sum of dy over the outputs whose first maximum it is. */
static void routed_gradient(const cr_pool2d_args *a, const double *xd, const float *dy,
                            double *yd, double *want) {
    size_t nx = (size_t)a->n * a->h_in * a->w_in * a->c;
    size_t ny = (size_t)a->n * a->h_out * a->w_out * a->c;
    size_t *argmax = gc_alloc(ny * sizeof *argmax);
    pool_ref(a, xd, yd, argmax);
    memset(want, 0, nx * sizeof *want);
    for (size_t o = 0; o < ny; o++) want[argmax[o]] += dy[o];
    free(argmax);
}

/* After a ReLU whole windows are zero: the gradient must go where PyTorch sends it, to the
 * first cell of each window, and nowhere else. */
static void test_max_ties_go_to_the_first(cr_backend *be) {
    for (int i = 0; i < 3; i++) {
        cr_pool2d_args a = case_args(&cases[i]);
        size_t nx = (size_t)a.n * a.h_in * a.w_in * a.c;
        size_t ny = (size_t)a.n * a.h_out * a.w_out * a.c;
        float *x = gc_filled(nx, 0), *y = gc_filled(ny, NAN), *dx = gc_filled(nx, NAN);
        float *dy = gc_uniform(ny, 9, 9, 1, 2);
        for (size_t j = 0; j < nx; j += 7) x[j] = 1; /* some windows have one clear maximum */
        double *xd = gc_to_double(x, nx), *yd = gc_alloc(ny * 8), *want = gc_alloc(nx * 8);
        routed_gradient(&a, xd, dy, yd, want);
        cr_op_cache *cache = NULL;
        a.x = x, a.y = y, a.dy = dy, a.dx = dx;
        CHECK_OK(be->ops->pool2d_forward(be, &cache, &a));
        CHECK_OK(be->ops->pool2d_backward(be, &cache, &a));
        char what[160];
        snprintf(what, sizeof what, "%s: dx with tied maxima", cases[i].name);
        gc_compare(what, dx, want, nx, GC_FORWARD_TOL);
        be->ops->cache_destroy(be, cache);
        free(x), free(y), free(dx), free(dy), free(xd), free(yd), free(want);
    }
}

/* Max pooling of bf16 activations: the forward picks a stored value, so it is exact; each input's
 * gradient is the sum of the gradients of the outputs it was the maximum of, rounded once. */
static void test_max_bf16(cr_backend *be) {
    for (int i = 0; i < CASES; i++) {
        if (cases[i].kind != CR_POOL_MAX) continue;
        cr_pool2d_args a = case_args(&cases[i]);
        size_t nx = (size_t)a.n * a.h_in * a.w_in * a.c;
        size_t ny = (size_t)a.n * a.h_out * a.w_out * a.c;
        float *x = gc_uniform(nx, 11, 1, -1, 1), *dy = gc_uniform(ny, 11, 2, -1, 1);
        uint16_t *xb = gc_to_bf16(x, nx), *dyb = gc_to_bf16(dy, ny);
        float *xr = gc_from_bf16(xb, nx), *dyr = gc_from_bf16(dyb, ny);
        float *nan = gc_filled(nx, NAN);
        uint16_t *yb = gc_to_bf16(nan, ny), *dxb = gc_to_bf16(nan, nx);
        double *xd = gc_to_double(xr, nx), *yd = gc_alloc(ny * 8), *want = gc_alloc(nx * 8);
        routed_gradient(&a, xd, dyr, yd, want);
        cr_op_cache *cache = NULL;
        a.dtype = CR_DTYPE_BF16, a.x = xb, a.y = yb, a.dy = dyb, a.dx = dxb;
        CHECK_OK(be->ops->pool2d_forward(be, &cache, &a));
        CHECK_OK(be->ops->pool2d_backward(be, &cache, &a));
        float *y = gc_from_bf16(yb, ny), *dx = gc_from_bf16(dxb, nx);
        char what[160];
        snprintf(what, sizeof what, "%s: bf16 forward", cases[i].name);
        gc_compare(what, y, yd, ny, 0.0);
        snprintf(what, sizeof what, "%s: bf16 dx", cases[i].name);
        gc_compare(what, dx, want, nx, GC_BF16_TOL);
        be->ops->cache_destroy(be, cache);
        free(x), free(dy), free(xb), free(dyb), free(xr), free(dyr), free(nan), free(yb);
        free(dxb), free(xd), free(yd), free(want), free(y), free(dx);
    }
}

static void test_bad_arguments_fail(cr_backend *be) {
    float buf[4096] = {0};
    cr_op_cache *cache = NULL;
    cr_pool2d_args a = case_args(&cases[0]);
    a.dy = buf, a.dx = buf;
    CHECK_FAILS(be->ops->pool2d_backward(be, &cache, &a), CR_STATUS_INVALID, "no forward");
    a.x = buf, a.y = buf;
    a.w_out++;
    CHECK_FAILS(be->ops->pool2d_forward(be, &cache, &a), CR_STATUS_INVALID, "output 5x7");
    a = case_args(&cases[2]);
    a.x = buf, a.y = buf, a.pad_h = 2;
    CHECK_FAILS(be->ops->pool2d_forward(be, &cache, &a), CR_STATUS_INVALID, "over half");
    be->ops->cache_destroy(be, cache);
}

/* Global and adaptive average pooling: (N, H, W, C) -> (N, H_out, W_out, C) averages. Global is
 * adaptive to 1x1, so one reference serves both. */
typedef struct adaptive_ctx {
    int n, c, h_in, w_in, h_out, w_out;
    const double *x, *r;
    double *y;
} adaptive_ctx;

static void adaptive_ref(const adaptive_ctx *k, const double *x, double *y) {
    for (int n = 0; n < k->n; n++)
        for (int oh = 0; oh < k->h_out; oh++)
            for (int ow = 0; ow < k->w_out; ow++)
                for (int c = 0; c < k->c; c++) {
                    int h0 = oh * k->h_in / k->h_out;
                    int h1 = ((oh + 1) * k->h_in + k->h_out - 1) / k->h_out;
                    int w0 = ow * k->w_in / k->w_out;
                    int w1 = ((ow + 1) * k->w_in + k->w_out - 1) / k->w_out;
                    double s = 0;
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++)
                            s += x[(((size_t)n * k->h_in + h) * k->w_in + w) * k->c + c];
                    y[(((size_t)n * k->h_out + oh) * k->w_out + ow) * k->c + c] =
                        s / ((h1 - h0) * (w1 - w0));
                }
}

static double adaptive_loss(void *p) {
    adaptive_ctx *k = p;
    adaptive_ref(k, k->x, k->y);
    return gc_dot(k->r, k->y, (size_t)k->n * k->h_out * k->w_out * k->c);
}

static void check_average(cr_backend *be, const char *name, int n, int c, int h_in, int w_in,
                          int h_out, int w_out, bool global) {
    size_t nx = (size_t)n * h_in * w_in * c, ny = (size_t)n * h_out * w_out * c;
    char what[160];
    float *x = gc_uniform(nx, 300, 1, -1, 1), *dy = gc_uniform(ny, 300, 2, -1, 1);
    float *y = gc_filled(ny, NAN), *dx = gc_filled(nx, NAN);
    double *xd = gc_to_double(x, nx), *rd = gc_to_double(dy, ny), *yd = gc_alloc(ny * 8);
    if (global) {
        cr_global_avgpool_args a = {n, c, h_in, w_in, x, y, dy, dx};
        CHECK_OK(be->ops->global_avgpool_forward(be, &a));
        CHECK_OK(be->ops->global_avgpool_backward(be, &a));
    } else {
        cr_adaptive_avgpool_args a = {n, c, h_in, w_in, h_out, w_out, x, y, dy, dx, CR_DTYPE_F32};
        CHECK_OK(be->ops->adaptive_avgpool_forward(be, &a));
        CHECK_OK(be->ops->adaptive_avgpool_backward(be, &a));
    }
    adaptive_ctx ctx = {n, c, h_in, w_in, h_out, w_out, xd, rd, yd};
    adaptive_ref(&ctx, xd, yd);
    snprintf(what, sizeof what, "%s: forward", name);
    gc_compare(what, y, yd, ny, GC_FORWARD_TOL);
    snprintf(what, sizeof what, "%s: dx", name);
    gc_check_grad(what, adaptive_loss, &ctx, xd, nx, 1e-2, dx, NULL, 1.0);
    free(x), free(dy), free(y), free(dx), free(xd), free(rd), free(yd);
}

int main(void) {
    cr_backend *be = gc_backend();
    cr_op_cache *cache = NULL;
    for (int i = 0; i < CASES; i++) {
        printf("%s\n", cases[i].name);
        check_case(be, &cache, &cases[i], 400 + (uint64_t)i);
    }
    be->ops->cache_destroy(be, cache);
    test_max_ties_go_to_the_first(be);
    test_max_bf16(be);
    test_bad_arguments_fail(be);
    check_average(be, "global avgpool, 70 channels (a block and a tail), 5x4", 3, 70, 5, 4, 1, 1,
                  true);
    check_average(be, "global avgpool, 7x7", 1, 8, 7, 7, 1, 1, true);
    check_average(be, "global avgpool, 1x1", 2, 3, 1, 1, 1, 1, true);
    check_average(be, "adaptive avgpool 7x5 -> 3x3", 2, 6, 7, 5, 3, 3, false);
    check_average(be, "adaptive avgpool 5x5 -> 1x1", 2, 6, 5, 5, 1, 1, false);
    check_average(be, "adaptive avgpool 2x3 -> 3x3 (upsampling)", 1, 4, 2, 3, 3, 3, false);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/pool");
}
