/* Pooling: max and average windows through oneDNN on NHWC data, the max-pool argmax kept in the
 * node's cache from forward to backward; global average pooling, a plain mean, as OpenMP loops. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"

typedef struct pool_key {
    int kind, n, c, h_in, w_in, h_out, w_out;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, exclude_pad, dtype;
} pool_key;

typedef struct pool_cache {
    cr_op_cache base;
    pool_key k;
    dnnl_memory_desc_t x_md, y_md;
    dnnl_primitive_desc_t fwd_pd, bwd_pd; /* fwd_pd is also backward's hint */
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, ws; /* x and y serve as dx and dy in backward */
    void *workspace;        /* max pooling: where each output's maximum came from */
    bool forward_ran;       /* the workspace holds the last forward's argmax */
} pool_cache;

static void pool_cache_destroy(cr_op_cache *base) {
    pool_cache *c = (pool_cache *)base;
    if (c->fwd) dnnl_primitive_destroy(c->fwd);
    if (c->bwd) dnnl_primitive_destroy(c->bwd);
    if (c->fwd_pd) dnnl_primitive_desc_destroy(c->fwd_pd);
    if (c->bwd_pd) dnnl_primitive_desc_destroy(c->bwd_pd);
    dnnl_memory_t mems[] = {c->x, c->y, c->ws};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(c->workspace);
    free(c);
}

static dnnl_alg_kind_t pool_alg(const pool_key *k) {
    if (k->kind == CR_POOL_MAX) return dnnl_pooling_max;
    return k->exclude_pad ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_avg_include_padding;
}

/* The window geometry as oneDNN takes it; the right padding is what the floor rule leaves. */
static void pool_geometry(const pool_key *k, dnnl_dims_t strides, dnnl_dims_t kernel,
                          dnnl_dims_t dilation, dnnl_dims_t pad_l, dnnl_dims_t pad_r) {
    int in[2] = {k->h_in, k->w_in}, out[2] = {k->h_out, k->w_out};
    int ker[2] = {k->kernel_h, k->kernel_w}, str[2] = {k->stride_h, k->stride_w};
    int pad[2] = {k->pad_h, k->pad_w};
    for (int i = 0; i < 2; i++) {
        strides[i] = str[i];
        kernel[i] = ker[i];
        dilation[i] = 0;
        pad_l[i] = pad[i];
        pad_r[i] = (out[i] - 1) * str[i] + ker[i] - in[i] - pad[i];
    }
}

static cr_status pool_build(cr_backend *be, pool_cache *c) {
    const pool_key *k = &c->k;
    dnnl_dims_t x = {k->n, k->c, k->h_in, k->w_in}, y = {k->n, k->c, k->h_out, k->w_out};
    dnnl_data_type_t dt = k->dtype == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    CR_DNNL(dnnl_memory_desc_init_by_tag(&c->x_md, 4, x, dt, dnnl_nhwc));
    CR_DNNL(dnnl_memory_desc_init_by_tag(&c->y_md, 4, y, dt, dnnl_nhwc));
    dnnl_dims_t strides, kernel, dilation, pad_l, pad_r;
    pool_geometry(k, strides, kernel, dilation, pad_l, pad_r);
    dnnl_pooling_v2_desc_t d;
    CR_DNNL(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, pool_alg(k), &c->x_md,
                                              &c->y_md, strides, kernel, dilation, pad_l, pad_r));
    CR_DNNL(dnnl_primitive_desc_create(&c->fwd_pd, &d, NULL, cr_cpu_of(be)->engine, NULL));
    CR_TRY(cr_cpu_primitive(c->fwd_pd, "pool2d forward", false, &c->fwd));
    CR_TRY(cr_cpu_memory(be, &c->x_md, &c->x));
    CR_TRY(cr_cpu_memory(be, &c->y_md, &c->y));
    if (k->kind == CR_POOL_MAX) {
        const dnnl_memory_desc_t *ws = dnnl_primitive_desc_query_md(c->fwd_pd,
                                                                    dnnl_query_workspace_md, 0);
        c->workspace = cr_cpu_alloc(be, dnnl_memory_desc_get_size(ws));
        if (!c->workspace) return cr_fail(CR_STATUS_NOMEM, "max pool: cannot allocate its argmax");
        CR_TRY(cr_cpu_memory(be, ws, &c->ws));
        cr_cpu_bind(c->ws, c->workspace);
    }
    return CR_STATUS_OK;
}

static cr_status pool_cache_get(cr_backend *be, cr_op_cache **slot, const cr_pool2d_args *a,
                                const char *pass, pool_cache **out) {
    CR_TRY(cr_cpu_check_dtype(a->dtype, "pool2d"));
    if (a->kind != CR_POOL_MAX && a->kind != CR_POOL_AVG)
        return cr_fail(CR_STATUS_INVALID, "pool2d %s: unknown kind %d", pass, (int)a->kind);
    if (a->n < 1 || a->c < 1 || a->h_in < 1 || a->w_in < 1 || a->kernel_h < 1 ||
        a->kernel_w < 1 || a->stride_h < 1 || a->stride_w < 1 || a->pad_h < 0 || a->pad_w < 0)
        return cr_fail(CR_STATUS_INVALID, "pool2d %s: a size or stride below 1 or a negative "
                       "padding", pass);
    if (2 * a->pad_h > a->kernel_h || 2 * a->pad_w > a->kernel_w)
        return cr_fail(CR_STATUS_INVALID, "pool2d %s: padding %dx%d is over half the %dx%d window",
                       pass, a->pad_h, a->pad_w, a->kernel_h, a->kernel_w);
    int h = cr_conv2d_output_size(a->h_in, a->kernel_h, a->stride_h, a->pad_h, 1);
    int w = cr_conv2d_output_size(a->w_in, a->kernel_w, a->stride_w, a->pad_w, 1);
    if (h < 1 || w < 1 || h != a->h_out || w != a->w_out)
        return cr_fail(CR_STATUS_INVALID, "pool2d %s: output %dx%d given, the input %dx%d gives "
                       "%dx%d", pass, a->h_out, a->w_out, a->h_in, a->w_in, h, w);
    pool_key k = {(int)a->kind, a->n, a->c, a->h_in, a->w_in, a->h_out, a->w_out, a->kernel_h,
                  a->kernel_w, a->stride_h, a->stride_w, a->pad_h, a->pad_w,
                  a->kind == CR_POOL_AVG && a->exclude_pad, (int)a->dtype};
    cr_cpu_enter(be);
    *out = (pool_cache *)cr_cpu_cache_match(slot, CR_CPU_CACHE_POOL, &k, sizeof k);
    if (*out) return CR_STATUS_OK;
    pool_cache *c = cr_cpu_cache_new(sizeof *c, CR_CPU_CACHE_POOL, pool_cache_destroy, &k,
                                     sizeof k);
    if (!c) return cr_fail(CR_STATUS_NOMEM, "pool2d: cannot allocate its cache");
    c->k = k;
    cr_status s = pool_build(be, c);
    if (s != CR_STATUS_OK) {
        pool_cache_destroy(&c->base);
        return s;
    }
    *slot = &c->base;
    *out = c;
    return CR_STATUS_OK;
}

cr_status cr_cpu_pool2d_forward(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a) {
    if (!a->x || !a->y) return cr_fail(CR_STATUS_INVALID, "pool2d forward: x and y are required");
    pool_cache *c;
    CR_TRY(pool_cache_get(be, cache, a, "forward", &c));
    cr_cpu_bind(c->x, a->x);
    cr_cpu_bind(c->y, a->y);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->x}, {DNNL_ARG_DST, c->y},
                              {DNNL_ARG_WORKSPACE, c->ws}};
    CR_TRY(cr_cpu_execute(be, c->fwd, c->ws ? 3 : 2, args));
    c->forward_ran = true;
    return CR_STATUS_OK;
}

cr_status cr_cpu_pool2d_backward(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a) {
    if (!a->dy || !a->dx)
        return cr_fail(CR_STATUS_INVALID, "pool2d backward: dy and dx are required");
    pool_cache *c;
    CR_TRY(pool_cache_get(be, cache, a, "backward", &c));
    if (c->ws && !c->forward_ran)
        return cr_fail(CR_STATUS_INVALID, "max pool backward: no forward of this shape ran with "
                       "this cache, so there is no argmax to route the gradient by");
    if (!c->bwd_pd) {
        dnnl_dims_t strides, kernel, dilation, pad_l, pad_r;
        pool_geometry(&c->k, strides, kernel, dilation, pad_l, pad_r);
        dnnl_pooling_v2_desc_t d;
        CR_DNNL(dnnl_pooling_v2_backward_desc_init(&d, pool_alg(&c->k), &c->x_md, &c->y_md,
                                                   strides, kernel, dilation, pad_l, pad_r));
        CR_DNNL(dnnl_primitive_desc_create(&c->bwd_pd, &d, NULL, cr_cpu_of(be)->engine,
                                           c->fwd_pd));
    }
    if (!c->bwd) CR_TRY(cr_cpu_primitive(c->bwd_pd, "pool2d backward", false, &c->bwd));
    cr_cpu_bind(c->x, a->dx);
    cr_cpu_bind(c->y, a->dy);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_SRC, c->x}, {DNNL_ARG_DIFF_DST, c->y},
                              {DNNL_ARG_WORKSPACE, c->ws}};
    return cr_cpu_execute(be, c->bwd, c->ws ? 3 : 2, args);
}

/* Channels are taken in blocks this wide so that one window's sums stay in registers. */
enum { GAP_BLOCK = 64 };

cr_status cr_cpu_global_avgpool_forward(cr_backend *be, const cr_global_avgpool_args *a) {
    if (a->n < 1 || a->c < 1 || a->h < 1 || a->w < 1 || !a->x || !a->y)
        return cr_fail(CR_STATUS_INVALID, "global avgpool forward: shape (%d, %d, %d, %d) or a "
                       "missing buffer", a->n, a->c, a->h, a->w);
    const int hw = a->h * a->w, c = a->c, blocks = (c + GAP_BLOCK - 1) / GAP_BLOCK;
    const float scale = 1.0f / (float)hw;
    const size_t work = (size_t)a->n * c * hw;
#pragma omp parallel for collapse(2) num_threads(be->threads) if (work > CR_CPU_PARALLEL_MIN)     \
    schedule(static)
    for (int n = 0; n < a->n; n++) {
        for (int b = 0; b < blocks; b++) {
            const int c0 = b * GAP_BLOCK, len = c - c0 < GAP_BLOCK ? c - c0 : GAP_BLOCK;
            const float *x = a->x + (size_t)n * hw * c + c0; /* (H * W) rows of stride C */
            float sum[GAP_BLOCK] = {0};
            for (int p = 0; p < hw; p++) {
#pragma omp simd
                for (int j = 0; j < len; j++) sum[j] += x[(size_t)p * c + j];
            }
            float *y = a->y + (size_t)n * c + c0;
            for (int j = 0; j < len; j++) y[j] = sum[j] * scale;
        }
    }
    return CR_STATUS_OK;
}

cr_status cr_cpu_global_avgpool_backward(cr_backend *be, const cr_global_avgpool_args *a) {
    if (a->n < 1 || a->c < 1 || a->h < 1 || a->w < 1 || !a->dy || !a->dx)
        return cr_fail(CR_STATUS_INVALID, "global avgpool backward: shape (%d, %d, %d, %d) or a "
                       "missing buffer", a->n, a->c, a->h, a->w);
    const int hw = a->h * a->w, c = a->c;
    const float scale = 1.0f / (float)hw;
    const ptrdiff_t rows = (ptrdiff_t)a->n * hw;
#pragma omp parallel for num_threads(be->threads)                                                  \
    if ((size_t)rows * c > CR_CPU_PARALLEL_MIN) schedule(static)
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *dy = a->dy + (size_t)(r / hw) * c;
        float *dx = a->dx + (size_t)r * c;
#pragma omp simd
        for (int j = 0; j < c; j++) dx[j] = dy[j] * scale;
    }
    return CR_STATUS_OK;
}
