/* The fully connected layer as three oneDNN matmuls over the caller's buffers: W^T and dy^T read
 * through strides, dw += by a sum post-op, so that nothing is copied or reordered. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"

/* The classifier is a small share of a model's work, so it runs in fp32 whatever the compute type
 * asks; the key leaves the compute type out. */
typedef struct linear_key {
    int n, in, out;
} linear_key;

typedef struct linear_pass {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;  /* NULL until built */
    bool bias;              /* forward: adds the bias */
    dnnl_memory_t src, weights, dst, bias_mem;
} linear_pass;

enum { LINEAR_FORWARD, LINEAR_BACKWARD_DATA, LINEAR_BACKWARD_WEIGHTS, LINEAR_PASSES };

typedef struct linear_cache {
    cr_op_cache base;
    linear_key k;
    linear_pass pass[LINEAR_PASSES];
} linear_cache;

static void pass_release(linear_pass *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    dnnl_memory_t mems[] = {p->src, p->weights, p->dst, p->bias_mem};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    memset(p, 0, sizeof *p);
}

static void linear_cache_destroy(cr_op_cache *base) {
    linear_cache *c = (linear_cache *)base;
    for (int i = 0; i < LINEAR_PASSES; i++) pass_release(&c->pass[i]);
    free(c);
}

/* A row-major (rows, cols) matrix, or with `transposed` the transpose of a row-major (cols, rows)
 * one, read in place through its strides. */
static cr_status matrix_md(dnnl_memory_desc_t *md, int rows, int cols, bool transposed) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {transposed ? 1 : cols, transposed ? rows : 1};
    CR_DNNL(dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_f32, strides));
    return CR_STATUS_OK;
}

/* dst (m, n) = src (m, k) * weights (k, n) [+ bias (1, n)] [+ dst]. */
static cr_status build_matmul(cr_backend *be, linear_pass *p, const char *what, int m, int k,
                              int n, bool src_t, bool weights_t, bool bias, bool accumulate) {
    dnnl_memory_desc_t src, weights, dst, bias_md;
    CR_TRY(matrix_md(&src, m, k, src_t));
    CR_TRY(matrix_md(&weights, k, n, weights_t));
    CR_TRY(matrix_md(&dst, m, n, false));
    CR_TRY(matrix_md(&bias_md, 1, n, false));
    dnnl_matmul_desc_t d;
    CR_DNNL(dnnl_matmul_desc_init(&d, &src, &weights, bias ? &bias_md : NULL, &dst));
    dnnl_primitive_attr_t attr;
    CR_TRY(cr_cpu_accumulate_attr(accumulate, &attr));
    dnnl_status_t st = dnnl_primitive_desc_create(&p->pd, &d, attr, cr_cpu_of(be)->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    CR_TRY(cr_cpu_dnnl_status(st, __func__, what));
    p->bias = bias;
    CR_TRY(cr_cpu_primitive(p->pd, what, false, &p->prim));
    CR_TRY(cr_cpu_memory(be, &src, &p->src));
    CR_TRY(cr_cpu_memory(be, &weights, &p->weights));
    CR_TRY(cr_cpu_memory(be, &dst, &p->dst));
    if (bias) CR_TRY(cr_cpu_memory(be, &bias_md, &p->bias_mem));
    return CR_STATUS_OK;
}

/* Gets the node's cache and builds pass `which` unless it is built with the same bias choice. */
static cr_status linear_pass_get(cr_backend *be, cr_op_cache **slot, const cr_linear_args *a,
                                 int which, bool bias, linear_pass **out) {
    static const char *const what[LINEAR_PASSES] = {"linear forward", "linear backward data",
                                                    "linear backward weights"};
    if (a->n < 1 || a->in_features < 1 || a->out_features < 1)
        return cr_fail(CR_STATUS_INVALID, "%s: shape (%d, %d -> %d) out of range", what[which],
                       a->n, a->in_features, a->out_features);
    linear_key k = {a->n, a->in_features, a->out_features};
    cr_cpu_enter(be);
    linear_cache *c = (linear_cache *)cr_cpu_cache_match(slot, CR_CPU_CACHE_LINEAR, &k, sizeof k);
    if (!c) {
        c = cr_cpu_cache_new(sizeof *c, CR_CPU_CACHE_LINEAR, linear_cache_destroy, &k, sizeof k);
        if (!c) return cr_fail(CR_STATUS_NOMEM, "linear: cannot allocate its cache");
        c->k = k;
        *slot = &c->base;
    }
    linear_pass *p = &c->pass[which];
    *out = p;
    if (p->prim && p->bias == bias) return CR_STATUS_OK;
    pass_release(p);
    int n = a->n, in = a->in_features, o = a->out_features;
    cr_status s;
    if (which == LINEAR_FORWARD) /* y (N, out) = x (N, in) * w^T (in, out) + b */
        s = build_matmul(be, p, what[which], n, in, o, false, true, bias, false);
    else if (which == LINEAR_BACKWARD_DATA) /* dx (N, in) = dy (N, out) * w (out, in) */
        s = build_matmul(be, p, what[which], n, o, in, false, false, false, false);
    else /* dw (out, in) += dy^T (out, N) * x (N, in) */
        s = build_matmul(be, p, what[which], o, n, in, true, false, false, true);
    if (s != CR_STATUS_OK) pass_release(p);
    return s;
}

static cr_status run(cr_backend *be, linear_pass *p, const float *src, const float *weights,
                     float *dst, const float *bias) {
    cr_cpu_bind(p->src, src);
    cr_cpu_bind(p->weights, weights);
    cr_cpu_bind(p->dst, dst);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->weights},
                               {DNNL_ARG_DST, p->dst}, {DNNL_ARG_BIAS, p->bias_mem}};
    if (p->bias) cr_cpu_bind(p->bias_mem, bias);
    return cr_cpu_execute(be, p->prim, p->bias ? 4 : 3, args);
}

cr_status cr_cpu_linear_forward(cr_backend *be, cr_op_cache **cache, const cr_linear_args *a) {
    if (!a->x || !a->w || !a->y)
        return cr_fail(CR_STATUS_INVALID, "linear forward: x, w and y are required");
    linear_pass *p = NULL;
    CR_TRY(linear_pass_get(be, cache, a, LINEAR_FORWARD, a->bias != NULL, &p));
    return run(be, p, a->x, a->w, a->y, a->bias);
}

cr_status cr_cpu_linear_backward_data(cr_backend *be, cr_op_cache **cache,
                                      const cr_linear_args *a) {
    if (!a->dy || !a->w || !a->dx)
        return cr_fail(CR_STATUS_INVALID, "linear backward data: dy, w and dx are required");
    linear_pass *p = NULL;
    CR_TRY(linear_pass_get(be, cache, a, LINEAR_BACKWARD_DATA, false, &p));
    return run(be, p, a->dy, a->w, a->dx, NULL);
}

/* Channels of the bias gradient summed together, so that the inner loop runs along a row of dy. */
enum { DBIAS_BLOCK = 64 };

cr_status cr_cpu_linear_backward_weights(cr_backend *be, cr_op_cache **cache,
                                         const cr_linear_args *a) {
    if (!a->dy || !a->x || !a->dw)
        return cr_fail(CR_STATUS_INVALID, "linear backward weights: dy, x and dw are required");
    linear_pass *p = NULL;
    CR_TRY(linear_pass_get(be, cache, a, LINEAR_BACKWARD_WEIGHTS, false, &p));
    CR_TRY(run(be, p, a->dy, a->x, a->dw, NULL));
    if (!a->dbias) return CR_STATUS_OK;
    const int n = a->n, o = a->out_features, blocks = (o + DBIAS_BLOCK - 1) / DBIAS_BLOCK;
#pragma omp parallel for num_threads(be->threads)                                                  \
    if ((size_t)n * o > CR_CPU_PARALLEL_MIN) schedule(static)
    for (int b = 0; b < blocks; b++) {
        const int o0 = b * DBIAS_BLOCK, len = o - o0 < DBIAS_BLOCK ? o - o0 : DBIAS_BLOCK;
        float sum[DBIAS_BLOCK] = {0};
        for (int i = 0; i < n; i++) {
            const float *dy = a->dy + (size_t)i * o + o0;
#pragma omp simd
            for (int j = 0; j < len; j++) sum[j] += dy[j];
        }
        for (int j = 0; j < len; j++) a->dbias[o0 + j] += sum[j];
    }
    return CR_STATUS_OK;
}
