/* Gradient check of the CPU convolution: the forward against a double-precision NHWC reference,
 * the data, weight and bias gradients against central differences of it, over strides, padding,
 * dilation, groups (depthwise included), 1x1 and 7x7 kernels, non-square inputs and BF16 compute.
 * Tolerances are those of gradcheck.h; BF16 is held to the same ones against a reference that
 * rounds its inputs to bf16 as the kernels do, since they accumulate in fp32. */
#include <string.h>

#include "gradcheck.h"

typedef struct conv_case {
    const char *name;
    int n, c_in, h_in, w_in, c_out, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int dilation_h, dilation_w, groups;
    bool bias;
    cr_dtype compute;
    cr_dtype activations; /* x, y, dy and dx stored in F32 or BF16 */
} conv_case;

#define F32 CR_DTYPE_F32
#define BF16 CR_DTYPE_BF16
static const conv_case cases[] = {
    {"3x3 s1 p1, bias, 9x6", 2, 5, 9, 6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, F32, F32},
    {"3x3 s2 p1, 11x8", 2, 8, 11, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, false, F32, F32},
    {"1x1 s1, 5x7", 2, 16, 5, 7, 8, 1, 1, 1, 1, 0, 0, 1, 1, 1, false, F32, F32},
    {"1x1 s2 (downsample), 7x6", 2, 8, 7, 6, 16, 1, 1, 2, 2, 0, 0, 1, 1, 1, false, F32, F32},
    {"7x7 s2 p3 (stem), 13x11", 2, 3, 13, 11, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, false, F32, F32},
    {"3x3 dilation 2 p2, 9x8", 2, 4, 9, 8, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1, true, F32, F32},
    {"3x3 groups 2, 7x6", 2, 8, 7, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 2, true, F32, F32},
    {"3x3 depthwise, 7x6", 2, 8, 7, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, true, F32, F32},
    {"3x3 depthwise x2 s2, 8x7", 2, 8, 8, 7, 16, 3, 3, 2, 2, 1, 1, 1, 1, 8, false, F32, F32},
    {"1x3 p(0,1) s(1,2), 5x9", 2, 4, 5, 9, 4, 1, 3, 1, 2, 0, 1, 1, 1, 1, true, F32, F32},
    {"3x3 s1 p1 32->32, 5x5", 2, 32, 5, 5, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, F32, F32},
    {"1x1 s2 64->64, 6x5", 2, 64, 6, 5, 64, 1, 1, 2, 2, 0, 0, 1, 1, 1, false, F32, F32},
    /* maps of at most 4x4 cells, and some 1x1 convolutions, run as im2col + matmul (see
     * conv_gemm_cpu.c): each pass in each type has cases on both sides of its rule */
    {"3x3 s2 p1 128->16, 7x6 (matmul forward, weights)", 2, 128, 7, 6, 16, 3, 3, 2, 2, 1, 1, 1,
     1, 1, false, F32, F32},
    {"3x3 dilation 2 p2, 4x4 (matmul forward, weights)", 2, 8, 4, 4, 8, 3, 3, 1, 1, 2, 2, 2, 2,
     1, false, F32, F32},
    {"1x1 s1 16->32, 6x6 (matmul data, input as patches)", 2, 16, 6, 6, 32, 1, 1, 1, 1, 0, 0, 1,
     1, 1, false, F32, F32},
    {"1x1 s2 16->256, 7x7 (matmul, all passes)", 2, 16, 7, 7, 256, 1, 1, 2, 2, 0, 0, 1, 1, 1,
     false, F32, F32},
    {"bf16 3x3 s1 p1, 6x5", 2, 16, 6, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, BF16, F32},
    {"bf16 3x3 s2 p1 32->32, 5x5", 2, 32, 5, 5, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, false,
     BF16, F32},
    /* bf16 activations: tiny maps, 1x1 convolutions and the weight gradients of small maps with
     * many input channels take the matmul, larger ones and those with a bias the direct kernel */
    {"bf16 in bf16 3x3 s2 p1 128->16, 7x6 (matmul, all passes)", 2, 128, 7, 6, 16, 3, 3, 2, 2,
     1, 1, 1, 1, 1, false, BF16, BF16},
    {"bf16 in bf16 3x3 dilation 2 p2 128->8, 4x4 (matmul, all passes)", 2, 128, 4, 4, 8, 3, 3, 1,
     1, 2, 2, 2, 2, 1, false, BF16, BF16},
    {"bf16 in bf16 3x3 s1 p1, 6x5", 2, 16, 6, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false,
     BF16, BF16},
    {"bf16 in bf16 3x3 s2 p1 32->64, 7x6", 2, 32, 7, 6, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, false,
     BF16, BF16},
    {"bf16 in bf16 1x1 s2 32->64, 8x8", 2, 32, 8, 8, 64, 1, 1, 2, 2, 0, 0, 1, 1, 1, false,
     BF16, BF16},
    {"bf16 in bf16 1x1 s1 64->32, 24x24 (input as patches)", 1, 64, 24, 24, 32, 1, 1, 1, 1, 0,
     0, 1, 1, 1, false, BF16, BF16},
    {"bf16 in bf16 3x3 s1 p1 16->32, 48x48 (direct)", 1, 16, 48, 48, 32, 3, 3, 1, 1, 1, 1, 1,
     1, 1, false, BF16, BF16},
    {"bf16 in bf16 3x3 s1 p1, bias, 6x5 (direct)", 2, 16, 6, 5, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1,
     true, BF16, BF16},
};
#undef F32
#undef BF16
enum { CASES = sizeof cases / sizeof cases[0] };

static cr_conv2d_args case_args(const conv_case *k) {
    cr_conv2d_args a = {
        .n = k->n, .c_in = k->c_in, .h_in = k->h_in, .w_in = k->w_in, .c_out = k->c_out,
        .kernel_h = k->kernel_h, .kernel_w = k->kernel_w, .stride_h = k->stride_h,
        .stride_w = k->stride_w, .pad_h = k->pad_h, .pad_w = k->pad_w,
        .dilation_h = k->dilation_h, .dilation_w = k->dilation_w, .groups = k->groups,
        .compute = k->compute, .x_dtype = k->activations, .y_dtype = k->activations};
    a.h_out = cr_conv2d_output_size(k->h_in, k->kernel_h, k->stride_h, k->pad_h, k->dilation_h);
    a.w_out = cr_conv2d_output_size(k->w_in, k->kernel_w, k->stride_w, k->pad_w, k->dilation_w);
    return a;
}

/* y (N, H_out, W_out, C_out) = x (N, H_in, W_in, C_in) conv w (C_out, C_in / G, KH, KW) + b,
 * straight from the definition, in double. b may be NULL. */
static void conv_ref(const cr_conv2d_args *a, const double *x, const double *w, const double *b,
                     double *y) {
    int cig = a->c_in / a->groups, cog = a->c_out / a->groups;
    for (int n = 0; n < a->n; n++)
        for (int oh = 0; oh < a->h_out; oh++)
            for (int ow = 0; ow < a->w_out; ow++)
                for (int oc = 0; oc < a->c_out; oc++) {
                    int g = oc / cog;
                    double s = b ? b[oc] : 0.0;
                    for (int kh = 0; kh < a->kernel_h; kh++) {
                        int ih = oh * a->stride_h - a->pad_h + kh * a->dilation_h;
                        if (ih < 0 || ih >= a->h_in) continue;
                        for (int kw = 0; kw < a->kernel_w; kw++) {
                            int iw = ow * a->stride_w - a->pad_w + kw * a->dilation_w;
                            if (iw < 0 || iw >= a->w_in) continue;
                            const double *xp = x + (((size_t)n * a->h_in + ih) * a->w_in + iw) *
                                                       a->c_in + g * cig;
                            for (int ic = 0; ic < cig; ic++)
                                s += xp[ic] * w[(((size_t)oc * cig + ic) * a->kernel_h + kh) *
                                                    a->kernel_w + kw];
                        }
                    }
                    y[(((size_t)n * a->h_out + oh) * a->w_out + ow) * a->c_out + oc] = s;
                }
}

/* The scalar whose gradient the backward passes compute: sum(r * conv(x, w) + b). */
typedef struct conv_ctx {
    const cr_conv2d_args *a;
    const double *x, *w, *b, *r;
    double *y;
    size_t ny;
} conv_ctx;

static double conv_loss(void *p) {
    conv_ctx *c = p;
    conv_ref(c->a, c->x, c->w, c->b, c->y);
    return gc_dot(c->r, c->y, c->ny);
}

/* Activations as a case stores them. An input: the floats themselves, or their bf16 copy. An
 * output: a buffer of the case's type, filled with NaN; `as_floats` reads it back. */
static void *stored_input(const conv_case *k, float *values, size_t count) {
    return k->activations == CR_DTYPE_BF16 ? (void *)gc_to_bf16(values, count) : (void *)values;
}

static void *output_buffer(const conv_case *k, size_t count) {
    if (k->activations != CR_DTYPE_BF16) return gc_filled(count, NAN);
    float *nan = gc_filled(count, NAN);
    uint16_t *b = gc_to_bf16(nan, count);
    free(nan);
    return b;
}

static float *as_floats(const conv_case *k, void *buffer, size_t count) {
    if (k->activations != CR_DTYPE_BF16) return buffer;
    float *x = gc_from_bf16(buffer, count);
    free(buffer);
    return x;
}

static void check_case(cr_backend *be, cr_op_cache **cache, const conv_case *k, uint64_t seed) {
    cr_conv2d_args a = case_args(k);
    size_t nx = (size_t)a.n * a.h_in * a.w_in * a.c_in;
    size_t ny = (size_t)a.n * a.h_out * a.w_out * a.c_out;
    size_t nw = (size_t)a.c_out * (a.c_in / a.groups) * a.kernel_h * a.kernel_w, nb = a.c_out;
    float *x = gc_uniform(nx, seed, 1, -1, 1), *w = gc_uniform(nw, seed, 2, -0.5f, 0.5f);
    float *b = gc_uniform(nb, seed, 3, -1, 1), *dy = gc_uniform(ny, seed, 4, -1, 1);
    bool bf16 = k->compute == CR_DTYPE_BF16;
    size_t act = cr_dtype_size(k->activations);
    double out_tol = k->activations == CR_DTYPE_BF16 ? GC_BF16_TOL : GC_FORWARD_TOL;
    double grad_tol = k->activations == CR_DTYPE_BF16 ? GC_BF16_TOL : GC_GRAD_TOL;
    void *xa = stored_input(k, x, nx), *dya = stored_input(k, dy, ny);
    double *(*seen)(const float *, size_t) = bf16 ? gc_to_double_bf16 : gc_to_double;
    double *xd = gc_to_double(x, nx), *wd = gc_to_double(w, nw), *bd = gc_to_double(b, nb);
    double *xs = seen(x, nx), *ws = seen(w, nw), *rs = seen(dy, ny), *yd = gc_alloc(ny * 8);
    char what[160];

    /* forward, twice: the same bits both times */
    void *y_out = output_buffer(k, ny), *y2_out = output_buffer(k, ny);
    a.x = xa, a.w = w, a.bias = k->bias ? b : NULL, a.y = y_out;
    CHECK_OK(be->ops->conv2d_forward(be, cache, &a));
    a.y = y2_out;
    CHECK_OK(be->ops->conv2d_forward(be, cache, &a));
    CHECK(memcmp(y_out, y2_out, ny * act) == 0);
    float *y = as_floats(k, y_out, ny), *y2 = as_floats(k, y2_out, ny);
    conv_ref(&a, xs, ws, k->bias ? bd : NULL, yd);
    snprintf(what, sizeof what, "%s: forward", k->name);
    gc_compare(what, y, yd, ny, out_tol);

    /* backward data: dx written over whatever was there */
    void *dx_out = output_buffer(k, nx);
    a.dy = dya, a.dx = dx_out;
    CHECK_OK(be->ops->conv2d_backward_data(be, cache, &a));
    float *dx = as_floats(k, dx_out, nx);
    conv_ctx ctx = {&a, xd, ws, NULL, rs, yd, ny};
    snprintf(what, sizeof what, "%s: dx", k->name);
    gc_check_grad_tol(what, conv_loss, &ctx, xd, nx, 1e-2, dx, NULL, 1.0, grad_tol);

    /* backward weights: added to what dw and dbias held, once and then twice */
    float *dw0 = gc_uniform(nw, seed, 5, -1, 1), *db0 = gc_uniform(nb, seed, 6, -1, 1);
    float *dw = gc_alloc(nw * 4), *db = gc_alloc(nb * 4);
    memcpy(dw, dw0, nw * 4);
    memcpy(db, db0, nb * 4);
    a.dw = dw, a.dbias = k->bias ? db : NULL;
    CHECK_OK(be->ops->conv2d_backward_weights(be, cache, &a));
    ctx = (conv_ctx){&a, xs, wd, NULL, rs, yd, ny};
    snprintf(what, sizeof what, "%s: dw", k->name);
    gc_check_grad(what, conv_loss, &ctx, wd, nw, 1e-2, dw, dw0, 1.0);
    if (k->bias) {
        ctx = (conv_ctx){&a, xs, ws, bd, rs, yd, ny};
        snprintf(what, sizeof what, "%s: dbias", k->name);
        gc_check_grad(what, conv_loss, &ctx, bd, nb, 1e-2, db, db0, 1.0);
    }
    CHECK_OK(be->ops->conv2d_backward_weights(be, cache, &a));
    ctx = (conv_ctx){&a, xs, wd, NULL, rs, yd, ny};
    snprintf(what, sizeof what, "%s: dw after two calls (+=)", k->name);
    gc_check_grad(what, conv_loss, &ctx, wd, nw, 1e-2, dw, dw0, 2.0);
    if (k->bias) {
        ctx = (conv_ctx){&a, xs, ws, bd, rs, yd, ny};
        snprintf(what, sizeof what, "%s: dbias after two calls (+=)", k->name);
        gc_check_grad(what, conv_loss, &ctx, bd, nb, 1e-2, db, db0, 2.0);
    }

    /* the weight gradient is reproducible to the bit */
    memcpy(dw, dw0, nw * 4);
    float *dw_again = gc_alloc(nw * 4);
    memcpy(dw_again, dw0, nw * 4);
    a.dbias = NULL;
    CHECK_OK(be->ops->conv2d_backward_weights(be, cache, &a));
    a.dw = dw_again;
    CHECK_OK(be->ops->conv2d_backward_weights(be, cache, &a));
    CHECK(memcmp(dw, dw_again, nw * 4) == 0);

    float *bufs[] = {x, w, b, dy, y, y2, dx, dw0, db0, dw, db, dw_again};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    if (xa != x) free(xa);
    if (dya != dy) free(dya);
    double *dbufs[] = {xd, wd, bd, xs, ws, rs, yd};
    for (size_t i = 0; i < sizeof dbufs / sizeof dbufs[0]; i++) free(dbufs[i]);
}

/* One cache for every case: each shape change rebuilds it, and a shape seen before gives the same
 * bits again. The ResNet shapes (the first RESNET_CASES) must get oneDNN's jit kernels: a reference
 * kernel logs a warning. */
enum { RESNET_CASES = 5 };

static void test_cases_share_one_cache(cr_backend *be) {
    cr_op_cache *cache = NULL;
    for (int i = 0; i < CASES; i++) {
        printf("%s\n", cases[i].name);
        int warnings = gc_warnings;
        check_case(be, &cache, &cases[i], 100 + (uint64_t)i);
        if (i < RESNET_CASES) CHECK(gc_warnings == warnings);
    }
    check_case(be, &cache, &cases[0], 100);
    be->ops->cache_destroy(be, cache);
}

/* Backward passes on a fresh cache build the forward descriptor they need as a hint. */
static void test_backward_without_forward(cr_backend *be) {
    cr_conv2d_args a = case_args(&cases[1]);
    size_t nx = (size_t)a.n * a.h_in * a.w_in * a.c_in;
    size_t ny = (size_t)a.n * a.h_out * a.w_out * a.c_out;
    size_t nw = (size_t)a.c_out * a.c_in * 9;
    float *x = gc_uniform(nx, 1, 1, -1, 1), *w = gc_uniform(nw, 1, 2, -1, 1);
    float *dy = gc_uniform(ny, 1, 3, -1, 1), *dx = gc_filled(nx, 0), *dx2 = gc_filled(nx, 0);
    float *dw = gc_filled(nw, 0), *dw2 = gc_filled(nw, 0);
    a.x = x, a.w = w, a.dy = dy;
    cr_op_cache *fresh = NULL, *used = NULL;
    a.dw = dw;
    CHECK_OK(be->ops->conv2d_backward_weights(be, &fresh, &a));
    a.dx = dx;
    CHECK_OK(be->ops->conv2d_backward_data(be, &fresh, &a));
    float *y = gc_filled(ny, 0);
    a.y = y, a.dx = dx2, a.dw = dw2;
    CHECK_OK(be->ops->conv2d_forward(be, &used, &a));
    CHECK_OK(be->ops->conv2d_backward_data(be, &used, &a));
    CHECK_OK(be->ops->conv2d_backward_weights(be, &used, &a));
    CHECK(memcmp(dx, dx2, nx * 4) == 0 && memcmp(dw, dw2, nw * 4) == 0);
    be->ops->cache_destroy(be, fresh);
    be->ops->cache_destroy(be, used);
    float *bufs[] = {x, w, dy, dx, dx2, dw, dw2, y};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
}

static void test_bad_arguments_fail(cr_backend *be) {
    float buf[4096] = {0};
    cr_op_cache *cache = NULL;
    cr_conv2d_args a = case_args(&cases[0]);
    a.x = buf, a.w = buf, a.y = buf;
    a.h_out += 1;
    CHECK_FAILS(be->ops->conv2d_forward(be, &cache, &a), CR_STATUS_INVALID, "output 10x6");
    a = case_args(&cases[6]);
    a.x = buf, a.w = buf, a.y = buf;
    a.groups = 3;
    CHECK_FAILS(be->ops->conv2d_forward(be, &cache, &a), CR_STATUS_INVALID, "3 groups");
    a = case_args(&cases[0]);
    a.x = buf, a.w = buf;
    CHECK_FAILS(be->ops->conv2d_forward(be, &cache, &a), CR_STATUS_INVALID, "required");
    a.y = buf, a.compute = CR_DTYPE_F16;
    CHECK_FAILS(be->ops->conv2d_forward(be, &cache, &a), CR_STATUS_UNSUPPORTED, "F16");
    CHECK(cache == NULL);
}

int main(void) {
    cr_backend *be = gc_backend();
    test_cases_share_one_cache(be);
    test_backward_without_forward(be);
    test_bad_arguments_fail(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/conv");
}
