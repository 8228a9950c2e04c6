/* 2-D convolution through oneDNN, whose jit kernels take NHWC activations as they are (no reorder
 * touches them); only OIHW weights are reordered, on every call, since the optimizer moves them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "crescendo/arena.h"

typedef struct conv_key {
    int n, c_in, h_in, w_in, c_out, h_out, w_out;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
    int compute, x_dtype, y_dtype;
} conv_key;

/* An operand whose layout or dtype in the caller's memory (NHWC or OIHW) may differ from what
 * the kernel wants. An input is reordered user -> inner before the run; the weight gradient is
 * added inner -> user after it. */
typedef struct staged {
    dnnl_memory_t user;
    dnnl_memory_t inner;      /* what the kernel sees; NULL when it reads `user` as it is */
    dnnl_primitive_t reorder;
    void *buffer;             /* inner's storage when the operand owns it; NULL: backend scratch */
    size_t inner_bytes;
} staged;

typedef struct conv_pass {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;    /* NULL until the pass is built (the forward pd may exist alone) */
    bool bias;                /* forward: adds a bias; backward weights: computes its gradient */
    staged in[2];             /* forward: x, w; backward data: dy, w; backward weights: x, dy */
    staged dw;                /* backward weights: the weight gradient, added into the caller's */
    dnnl_memory_t out;        /* forward: y; backward data: dx */
    dnnl_memory_t bias_mem;   /* forward: the caller's bias; backward weights: over dbias below */
    float *dbias;             /* (C_out) backward weights: the bias gradient before it is added */
} conv_pass;

/* One cache per node holds the three passes, so that both backward passes can be created with the
 * forward descriptor as their hint. */
typedef struct conv_cache {
    cr_op_cache base;
    conv_key k;
    dnnl_memory_desc_t x_md, y_md, w_md, bias_md; /* the caller's: NHWC in its dtypes, OIHW f32 */
    dnnl_memory_desc_t xc_md, yc_md, wc_md;       /* in the compute dtype; wc: layout left open */
    dnnl_memory_desc_t dw_md;                     /* the weight gradient, f32, layout left open */
    dnnl_dims_t strides, dilation, pad_l, pad_r;
    conv_pass fwd, bwd_data, bwd_weights;
    cr_cpu_conv_gemm *gemm;       /* the passes that run as matmuls, where they apply */
} conv_cache;

static void staged_release(staged *s) {
    if (s->reorder) dnnl_primitive_destroy(s->reorder);
    if (s->inner) dnnl_memory_destroy(s->inner);
    if (s->user) dnnl_memory_destroy(s->user);
    free(s->buffer);
    memset(s, 0, sizeof *s);
}

static cr_status staged_init(cr_backend *be, staged *s, const dnnl_memory_desc_t *user_md,
                             const dnnl_memory_desc_t *inner_md, bool owned, bool accumulate) {
    CR_TRY(cr_cpu_memory(be, user_md, &s->user));
    if (!accumulate && dnnl_memory_desc_equal(user_md, inner_md)) return CR_STATUS_OK;
    CR_TRY(cr_cpu_memory(be, inner_md, &s->inner));
    s->inner_bytes = dnnl_memory_desc_get_size(inner_md);
    if (owned) {
        s->buffer = cr_cpu_alloc(be, s->inner_bytes);
        if (!s->buffer) return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate %zu bytes of "
                                       "reordered weights", s->inner_bytes);
        cr_cpu_bind(s->inner, s->buffer);
    }
    if (accumulate) return cr_cpu_reorder(be, inner_md, user_md, true, &s->reorder);
    return cr_cpu_reorder(be, user_md, inner_md, false, &s->reorder);
}

static void pass_release(conv_pass *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    for (int i = 0; i < 2; i++) staged_release(&p->in[i]);
    staged_release(&p->dw);
    if (p->out) dnnl_memory_destroy(p->out);
    if (p->bias_mem) dnnl_memory_destroy(p->bias_mem);
    free(p->dbias);
    memset(p, 0, sizeof *p);
}

static void conv_cache_destroy(cr_op_cache *base) {
    conv_cache *c = (conv_cache *)base;
    pass_release(&c->fwd);
    pass_release(&c->bwd_data);
    pass_release(&c->bwd_weights);
    cr_cpu_conv_gemm_destroy(c->gemm);
    free(c);
}

/* Points the pass's two inputs at the caller's data and converts those that need it; mems[i] is
 * what the kernel reads. Activations converted to bf16 (BF16 compute) share one stretch of the
 * backend's scratch rather than a copy per node, which would cost as much as the activations. */
static cr_status stage_inputs(cr_backend *be, conv_pass *p, const void *const data[2],
                              dnnl_memory_t mems[2]) {
    size_t need = 0;
    for (int i = 0; i < 2; i++)
        if (p->in[i].inner && !p->in[i].buffer)
            need += cr_align_up(p->in[i].inner_bytes, CR_ARENA_ALIGN);
    char *scratch = need ? cr_cpu_scratch(be, need) : NULL;
    if (need && !scratch)
        return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate %zu bytes of scratch", need);
    for (int i = 0; i < 2; i++) {
        staged *s = &p->in[i];
        cr_cpu_bind(s->user, data[i]);
        mems[i] = s->user;
        if (!s->inner) continue;
        if (!s->buffer) {
            cr_cpu_bind(s->inner, scratch);
            scratch += cr_align_up(s->inner_bytes, CR_ARENA_ALIGN);
        }
        CR_TRY(cr_cpu_execute_reorder(be, s->reorder, s->user, s->inner));
        mems[i] = s->inner;
    }
    return CR_STATUS_OK;
}

static cr_status conv_check(const cr_conv2d_args *a, const char *pass, conv_key *k) {
    *k = (conv_key){a->n, a->c_in, a->h_in, a->w_in, a->c_out, a->h_out, a->w_out,
                    a->kernel_h, a->kernel_w, a->stride_h, a->stride_w, a->pad_h, a->pad_w,
                    a->dilation_h, a->dilation_w, a->groups, (int)a->compute, (int)a->x_dtype,
                    (int)a->y_dtype};
    if (a->n < 1 || a->c_in < 1 || a->h_in < 1 || a->w_in < 1 || a->c_out < 1 ||
        a->kernel_h < 1 || a->kernel_w < 1 || a->stride_h < 1 || a->stride_w < 1 ||
        a->dilation_h < 1 || a->dilation_w < 1 || a->pad_h < 0 || a->pad_w < 0 || a->groups < 1)
        return cr_fail(CR_STATUS_INVALID, "conv2d %s: a size, stride, dilation or group count is "
                       "below 1 or a padding is negative", pass);
    if (a->c_in % a->groups || a->c_out % a->groups)
        return cr_fail(CR_STATUS_INVALID, "conv2d %s: %d groups do not divide %d input and %d "
                       "output channels", pass, a->groups, a->c_in, a->c_out);
    int h = cr_conv2d_output_size(a->h_in, a->kernel_h, a->stride_h, a->pad_h, a->dilation_h);
    int w = cr_conv2d_output_size(a->w_in, a->kernel_w, a->stride_w, a->pad_w, a->dilation_w);
    if (h < 1 || w < 1 || h != a->h_out || w != a->w_out)
        return cr_fail(CR_STATUS_INVALID, "conv2d %s: output %dx%d given, the input %dx%d gives "
                       "%dx%d", pass, a->h_out, a->w_out, a->h_in, a->w_in, h, w);
    if (a->compute != CR_DTYPE_F32 && a->compute != CR_DTYPE_BF16)
        return cr_fail(CR_STATUS_UNSUPPORTED, "conv2d %s: compute type %s (F32 or BF16)", pass,
                       cr_dtype_name(a->compute));
    CR_TRY(cr_cpu_check_dtype(a->x_dtype, "conv2d"));
    CR_TRY(cr_cpu_check_dtype(a->y_dtype, "conv2d"));
    return CR_STATUS_OK;
}

static cr_status conv_cache_build(const conv_key *k, conv_cache **out) {
    conv_cache *c = cr_cpu_cache_new(sizeof *c, CR_CPU_CACHE_CONV, conv_cache_destroy, k,
                                     sizeof *k);
    if (!c) return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate its cache");
    c->k = *k;
    dnnl_data_type_t dt = k->compute == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t xt = k->x_dtype == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t yt = k->y_dtype == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t x = {k->n, k->c_in, k->h_in, k->w_in}, y = {k->n, k->c_out, k->h_out, k->w_out};
    dnnl_dims_t w = {k->c_out, k->c_in, k->kernel_h, k->kernel_w}, b = {k->c_out};
    dnnl_dims_t gw = {k->groups, k->c_out / k->groups, k->c_in / k->groups, k->kernel_h,
                      k->kernel_w};
    bool grouped = k->groups > 1;
    cr_status s = CR_STATUS_OK;
#define CONV_MD(call) if (s == CR_STATUS_OK) s = cr_cpu_dnnl_status((call), __func__, #call)
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->x_md, 4, x, xt, dnnl_nhwc));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->y_md, 4, y, yt, dnnl_nhwc));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->xc_md, 4, x, dt, dnnl_nhwc));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->yc_md, 4, y, dt, dnnl_nhwc));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->w_md, grouped ? 5 : 4, grouped ? gw : w, dnnl_f32,
                                         grouped ? dnnl_goihw : dnnl_oihw));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->wc_md, grouped ? 5 : 4, grouped ? gw : w, dt,
                                         dnnl_format_tag_any));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->dw_md, grouped ? 5 : 4, grouped ? gw : w, dnnl_f32,
                                         dnnl_format_tag_any));
    CONV_MD(dnnl_memory_desc_init_by_tag(&c->bias_md, 1, b, dnnl_f32, dnnl_x));
#undef CONV_MD
    if (s != CR_STATUS_OK) {
        conv_cache_destroy(&c->base);
        return s;
    }
    int in[2] = {k->h_in, k->w_in}, outs[2] = {k->h_out, k->w_out};
    int ker[2] = {k->kernel_h, k->kernel_w}, str[2] = {k->stride_h, k->stride_w};
    int pad[2] = {k->pad_h, k->pad_w}, dil[2] = {k->dilation_h, k->dilation_w};
    for (int i = 0; i < 2; i++) {
        c->strides[i] = str[i];
        c->dilation[i] = dil[i] - 1; /* oneDNN counts the gaps between taps */
        c->pad_l[i] = pad[i];
        /* what the floor rule leaves of the right padding; oneDNN checks it adds up */
        c->pad_r[i] = (outs[i] - 1) * str[i] + (ker[i] - 1) * dil[i] + 1 - in[i] - pad[i];
    }
    *out = c;
    return CR_STATUS_OK;
}

static cr_status conv_cache_get(cr_backend *be, cr_op_cache **slot, const cr_conv2d_args *a,
                                const char *pass, conv_cache **out) {
    conv_key k;
    CR_TRY(conv_check(a, pass, &k));
    cr_cpu_enter(be);
    *out = (conv_cache *)cr_cpu_cache_match(slot, CR_CPU_CACHE_CONV, &k, sizeof k);
    if (*out) return CR_STATUS_OK;
    CR_TRY(conv_cache_build(&k, out));
    *slot = &(*out)->base;
    return CR_STATUS_OK;
}

/* Creates the pass's primitive, naming the layer's shape in the log. BF16 exists for speed: a
 * reference kernel would defeat it, so there it fails instead of warning. */
static cr_status conv_primitive(conv_cache *c, conv_pass *p, const char *pass) {
    const conv_key *k = &c->k;
    char what[160];
    snprintf(what, sizeof what, "conv2d %s %s (N=%d, %dx%dx%d -> %dx%dx%d, kernel %dx%d, stride "
             "%dx%d, pad %dx%d, dilation %dx%d, groups %d)", cr_dtype_name(k->compute), pass,
             k->n, k->c_in, k->h_in, k->w_in, k->c_out, k->h_out, k->w_out, k->kernel_h,
             k->kernel_w, k->stride_h, k->stride_w, k->pad_h, k->pad_w, k->dilation_h,
             k->dilation_w, k->groups);
    return cr_cpu_primitive(p->pd, what, k->compute == CR_DTYPE_BF16, &p->prim);
}

static cr_status forward_pd(cr_backend *be, conv_cache *c, bool bias, dnnl_primitive_desc_t *pd) {
    dnnl_convolution_desc_t d;
    CR_DNNL(dnnl_dilated_convolution_forward_desc_init(
        &d, dnnl_forward_training, dnnl_convolution_direct, &c->xc_md, &c->wc_md,
        bias ? &c->bias_md : NULL, &c->y_md, c->strides, c->dilation, c->pad_l, c->pad_r));
    CR_DNNL(dnnl_primitive_desc_create(pd, &d, NULL, cr_cpu_of(be)->engine, NULL));
    return CR_STATUS_OK;
}

/* The forward descriptor both backward passes take as their hint, made alone if no forward ran. */
static cr_status forward_hint(cr_backend *be, conv_cache *c, dnnl_primitive_desc_t *hint) {
    if (!c->fwd.pd) {
        cr_status s = forward_pd(be, c, false, &c->fwd.pd);
        if (s != CR_STATUS_OK) {
            pass_release(&c->fwd);
            return s;
        }
    }
    *hint = c->fwd.pd;
    return CR_STATUS_OK;
}

static cr_status build_forward(cr_backend *be, conv_cache *c, bool bias) {
    conv_pass *p = &c->fwd;
    p->bias = bias;
    CR_TRY(forward_pd(be, c, bias, &p->pd));
    CR_TRY(conv_primitive(c, p, "forward"));
    CR_TRY(staged_init(be, &p->in[0], &c->x_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_src_md, 0), false, false));
    CR_TRY(staged_init(be, &p->in[1], &c->w_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_weights_md, 0), true, false));
    CR_TRY(cr_cpu_memory(be, &c->y_md, &p->out));
    if (bias) CR_TRY(cr_cpu_memory(be, &c->bias_md, &p->bias_mem));
    return CR_STATUS_OK;
}

/* `bias` is unused: the gradient of the input does not depend on a bias. */
static cr_status build_backward_data(cr_backend *be, conv_cache *c, bool bias) {
    (void)bias;
    conv_pass *p = &c->bwd_data;
    dnnl_primitive_desc_t hint;
    CR_TRY(forward_hint(be, c, &hint));
    dnnl_convolution_desc_t d;
    CR_DNNL(dnnl_dilated_convolution_backward_data_desc_init(
        &d, dnnl_convolution_direct, &c->x_md, &c->wc_md, &c->yc_md, c->strides, c->dilation,
        c->pad_l, c->pad_r));
    CR_DNNL(dnnl_primitive_desc_create(&p->pd, &d, NULL, cr_cpu_of(be)->engine, hint));
    CR_TRY(conv_primitive(c, p, "backward data"));
    CR_TRY(staged_init(be, &p->in[0], &c->y_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_diff_dst_md, 0), false,
                       false));
    CR_TRY(staged_init(be, &p->in[1], &c->w_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_weights_md, 0), true, false));
    CR_TRY(cr_cpu_memory(be, &c->x_md, &p->out));
    return CR_STATUS_OK;
}

static cr_status build_backward_weights(cr_backend *be, conv_cache *c, bool bias) {
    conv_pass *p = &c->bwd_weights;
    p->bias = bias;
    dnnl_primitive_desc_t hint;
    CR_TRY(forward_hint(be, c, &hint));
    dnnl_convolution_desc_t d;
    CR_DNNL(dnnl_dilated_convolution_backward_weights_desc_init(
        &d, dnnl_convolution_direct, &c->xc_md, &c->dw_md, bias ? &c->bias_md : NULL, &c->yc_md,
        c->strides, c->dilation, c->pad_l, c->pad_r));
    CR_DNNL(dnnl_primitive_desc_create(&p->pd, &d, NULL, cr_cpu_of(be)->engine, hint));
    CR_TRY(conv_primitive(c, p, "backward weights"));
    CR_TRY(staged_init(be, &p->in[0], &c->x_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_src_md, 0), false, false));
    CR_TRY(staged_init(be, &p->in[1], &c->y_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_diff_dst_md, 0), false,
                       false));
    CR_TRY(staged_init(be, &p->dw, &c->w_md,
                       dnnl_primitive_desc_query_md(p->pd, dnnl_query_diff_weights_md, 0), true,
                       true));
    if (bias) {
        p->dbias = cr_cpu_alloc(be, (size_t)c->k.c_out * sizeof(float));
        if (!p->dbias) return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate the bias gradient");
        CR_TRY(cr_cpu_memory(be, &c->bias_md, &p->bias_mem));
        cr_cpu_bind(p->bias_mem, p->dbias);
    }
    return CR_STATUS_OK;
}

/* Builds a pass unless it is built with the same bias choice; a half-built pass is released. */
static cr_status ensure(cr_backend *be, conv_cache *c, conv_pass *p, bool bias,
                        cr_status (*build)(cr_backend *, conv_cache *, bool)) {
    if (p->prim && p->bias == bias) return CR_STATUS_OK;
    pass_release(p);
    cr_status s = build(be, c, bias);
    if (s != CR_STATUS_OK) pass_release(p);
    return s;
}

cr_status cr_cpu_conv2d_forward(cr_backend *be, cr_op_cache **cache, const cr_conv2d_args *a) {
    if (!a->x || !a->w || !a->y)
        return cr_fail(CR_STATUS_INVALID, "conv2d forward: x, w and y are required");
    conv_cache *c;
    CR_TRY(conv_cache_get(be, cache, a, "forward", &c));
    if (cr_cpu_conv_gemm_applies(a, CR_CPU_CONV_FORWARD))
        return cr_cpu_conv_gemm_forward(be, &c->gemm, a);
    conv_pass *p = &c->fwd;
    CR_TRY(ensure(be, c, p, a->bias != NULL, build_forward));
    dnnl_memory_t in[2];
    CR_TRY(stage_inputs(be, p, (const void *const[2]){a->x, a->w}, in));
    cr_cpu_bind(p->out, a->y);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, in[0]}, {DNNL_ARG_WEIGHTS, in[1]},
                               {DNNL_ARG_DST, p->out}, {DNNL_ARG_BIAS, p->bias_mem}};
    if (p->bias) cr_cpu_bind(p->bias_mem, a->bias);
    return cr_cpu_execute(be, p->prim, p->bias ? 4 : 3, args);
}

cr_status cr_cpu_conv2d_backward_data(cr_backend *be, cr_op_cache **cache,
                                      const cr_conv2d_args *a) {
    if (!a->dy || !a->w || !a->dx)
        return cr_fail(CR_STATUS_INVALID, "conv2d backward data: dy, w and dx are required");
    conv_cache *c;
    CR_TRY(conv_cache_get(be, cache, a, "backward data", &c));
    if (cr_cpu_conv_gemm_applies(a, CR_CPU_CONV_BACKWARD_DATA))
        return cr_cpu_conv_gemm_backward_data(be, &c->gemm, a);
    conv_pass *p = &c->bwd_data;
    CR_TRY(ensure(be, c, p, false, build_backward_data));
    dnnl_memory_t in[2];
    CR_TRY(stage_inputs(be, p, (const void *const[2]){a->dy, a->w}, in));
    cr_cpu_bind(p->out, a->dx);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, in[0]}, {DNNL_ARG_WEIGHTS, in[1]},
                               {DNNL_ARG_DIFF_SRC, p->out}};
    return cr_cpu_execute(be, p->prim, 3, args);
}

cr_status cr_cpu_conv2d_backward_weights(cr_backend *be, cr_op_cache **cache,
                                         const cr_conv2d_args *a) {
    if (!a->x || !a->dy || !a->dw)
        return cr_fail(CR_STATUS_INVALID, "conv2d backward weights: x, dy and dw are required");
    conv_cache *c;
    CR_TRY(conv_cache_get(be, cache, a, "backward weights", &c));
    if (cr_cpu_conv_gemm_applies(a, CR_CPU_CONV_BACKWARD_WEIGHTS))
        return cr_cpu_conv_gemm_backward_weights(be, &c->gemm, a, &c->w_md);
    conv_pass *p = &c->bwd_weights;
    CR_TRY(ensure(be, c, p, a->dbias != NULL, build_backward_weights));
    dnnl_memory_t in[2];
    CR_TRY(stage_inputs(be, p, (const void *const[2]){a->x, a->dy}, in));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, in[0]}, {DNNL_ARG_DIFF_DST, in[1]},
                               {DNNL_ARG_DIFF_WEIGHTS, p->dw.inner},
                               {DNNL_ARG_DIFF_BIAS, p->bias_mem}};
    CR_TRY(cr_cpu_execute(be, p->prim, p->bias ? 4 : 3, args));
    cr_cpu_bind(p->dw.user, a->dw);
    CR_TRY(cr_cpu_execute_reorder(be, p->dw.reorder, p->dw.inner, p->dw.user));
    if (p->bias) cr_cpu_add_into(be, a->dbias, p->dbias, (size_t)c->k.c_out);
    return CR_STATUS_OK;
}
