/* Batch normalization through oneDNN on NHWC activations. oneDNN gives the biased batch variance,
 * so PyTorch's running statistics (unbiased variance, momentum) and saved invstd are made here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"

typedef struct bn_key {
    int n, c, h, w;
    float eps;
} bn_key;

typedef struct bn_cache {
    cr_op_cache base;
    bn_key k;
    dnnl_memory_desc_t data_md, stat_md;
    dnnl_primitive_desc_t train_pd, infer_pd, bwd_pd; /* train_pd is also backward's hint */
    dnnl_primitive_t train, infer, bwd;
    /* handles rebound on every call: x, y, dy, dx over (N, H, W, C); the rest over (C) */
    dnnl_memory_t x, y, dy, dx, gamma, beta, mean, var, dgamma, dbeta;
    float *stats; /* (3, C): the batch variance, then dgamma and dbeta before they are added */
} bn_cache;

static void bn_cache_destroy(cr_op_cache *base) {
    bn_cache *c = (bn_cache *)base;
    dnnl_primitive_t prims[] = {c->train, c->infer, c->bwd};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_primitive_desc_t pds[] = {c->train_pd, c->infer_pd, c->bwd_pd};
    for (size_t i = 0; i < sizeof pds / sizeof pds[0]; i++)
        if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    dnnl_memory_t mems[] = {c->x, c->y, c->dy, c->dx, c->gamma, c->beta,
                            c->mean, c->var, c->dgamma, c->dbeta};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(c->stats);
    free(c);
}

static cr_status bn_build(cr_backend *be, bn_cache *c) {
    const bn_key *k = &c->k;
    dnnl_dims_t data = {k->n, k->c, k->h, k->w}, stat = {k->c};
    CR_DNNL(dnnl_memory_desc_init_by_tag(&c->data_md, 4, data, dnnl_f32, dnnl_nhwc));
    CR_DNNL(dnnl_memory_desc_init_by_tag(&c->stat_md, 1, stat, dnnl_f32, dnnl_x));
    dnnl_memory_t *data_mems[] = {&c->x, &c->y, &c->dy, &c->dx};
    for (size_t i = 0; i < sizeof data_mems / sizeof data_mems[0]; i++)
        CR_TRY(cr_cpu_memory(be, &c->data_md, data_mems[i]));
    dnnl_memory_t *stat_mems[] = {&c->gamma, &c->beta, &c->mean, &c->var, &c->dgamma, &c->dbeta};
    for (size_t i = 0; i < sizeof stat_mems / sizeof stat_mems[0]; i++)
        CR_TRY(cr_cpu_memory(be, &c->stat_md, stat_mems[i]));
    c->stats = cr_cpu_alloc(be, 3 * (size_t)k->c * sizeof(float));
    if (!c->stats) return cr_fail(CR_STATUS_NOMEM, "batchnorm: cannot allocate its statistics");
    return CR_STATUS_OK;
}

static cr_status bn_cache_get(cr_backend *be, cr_op_cache **slot, const cr_batchnorm_args *a,
                              const char *pass, bn_cache **out) {
    if (a->n < 1 || a->c < 1 || a->h < 1 || a->w < 1 || !(a->eps > 0.0f))
        return cr_fail(CR_STATUS_INVALID, "batchnorm %s: shape (%d, %d, %d, %d) or eps %g out of "
                       "range", pass, a->n, a->c, a->h, a->w, (double)a->eps);
    if (!a->x || !a->gamma)
        return cr_fail(CR_STATUS_INVALID, "batchnorm %s: x and gamma are required", pass);
    bn_key k = {a->n, a->c, a->h, a->w, a->eps};
    cr_cpu_enter(be);
    *out = (bn_cache *)cr_cpu_cache_match(slot, CR_CPU_CACHE_BATCHNORM, &k, sizeof k);
    if (*out) return CR_STATUS_OK;
    bn_cache *c = cr_cpu_cache_new(sizeof *c, CR_CPU_CACHE_BATCHNORM, bn_cache_destroy, &k,
                                   sizeof k);
    if (!c) return cr_fail(CR_STATUS_NOMEM, "batchnorm: cannot allocate its cache");
    c->k = k;
    cr_status s = bn_build(be, c);
    if (s != CR_STATUS_OK) {
        bn_cache_destroy(&c->base);
        return s;
    }
    *slot = &c->base;
    *out = c;
    return CR_STATUS_OK;
}

static cr_status bn_pd(cr_backend *be, bn_cache *c, dnnl_prop_kind_t prop, unsigned flags,
                       const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd) {
    dnnl_batch_normalization_desc_t d;
    if (prop == dnnl_backward)
        CR_DNNL(dnnl_batch_normalization_backward_desc_init(&d, prop, &c->data_md, &c->data_md,
                                                            c->k.eps, flags));
    else
        CR_DNNL(dnnl_batch_normalization_forward_desc_init(&d, prop, &c->data_md, c->k.eps, flags));
    CR_DNNL(dnnl_primitive_desc_create(pd, &d, NULL, cr_cpu_of(be)->engine, hint));
    return CR_STATUS_OK;
}

static const unsigned bn_affine = dnnl_use_scale | dnnl_use_shift;

static cr_status bn_train_pd(cr_backend *be, bn_cache *c) {
    if (c->train_pd) return CR_STATUS_OK;
    return bn_pd(be, c, dnnl_forward_training, bn_affine, NULL, &c->train_pd);
}

/* Builds *prim from *pd once; on failure leaves both NULL so that the next call retries. */
static cr_status bn_primitive(dnnl_primitive_desc_t *pd, const char *what, dnnl_primitive_t *prim) {
    if (*prim) return CR_STATUS_OK;
    cr_status s = cr_cpu_primitive(*pd, what, false, prim);
    if (s != CR_STATUS_OK) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        *prim = NULL;
    }
    return s;
}

cr_status cr_cpu_batchnorm_forward_train(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "forward (training)", &c));
    if (!a->y || !a->beta || !a->saved_mean || !a->saved_invstd)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (training): y, beta, saved_mean and "
                       "saved_invstd are required");
    double count = (double)a->n * a->h * a->w;
    if (count < 2)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (training): one value per channel "
                       "(N=%d, H=%d, W=%d) has no variance", a->n, a->h, a->w);
    CR_TRY(bn_train_pd(be, c));
    CR_TRY(bn_primitive(&c->train_pd, "batchnorm forward (training)", &c->train));
    float *var = c->stats; /* (C) */
    cr_cpu_bind(c->x, a->x);
    cr_cpu_bind(c->y, a->y);
    cr_cpu_bind(c->gamma, a->gamma);
    cr_cpu_bind(c->beta, a->beta);
    cr_cpu_bind(c->mean, a->saved_mean);
    cr_cpu_bind(c->var, var);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->x},     {DNNL_ARG_DST, c->y},
                              {DNNL_ARG_SCALE, c->gamma}, {DNNL_ARG_SHIFT, c->beta},
                              {DNNL_ARG_MEAN, c->mean}, {DNNL_ARG_VARIANCE, c->var}};
    CR_TRY(cr_cpu_execute(be, c->train, 6, args));
    /* in double, as PyTorch's CPU kernel does */
    double m = a->momentum, unbias = count / (count - 1);
    for (int i = 0; i < a->c; i++) {
        a->saved_invstd[i] = (float)(1.0 / sqrt((double)var[i] + a->eps));
        if (a->running_mean)
            a->running_mean[i] = (float)(m * a->saved_mean[i] + (1 - m) * a->running_mean[i]);
        if (a->running_var)
            a->running_var[i] = (float)(m * var[i] * unbias + (1 - m) * a->running_var[i]);
    }
    return CR_STATUS_OK;
}

cr_status cr_cpu_batchnorm_forward_infer(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "forward (inference)", &c));
    if (!a->y || !a->beta || !a->running_mean || !a->running_var)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (inference): y, beta, running_mean "
                       "and running_var are required");
    if (!c->infer_pd)
        CR_TRY(bn_pd(be, c, dnnl_forward_inference, bn_affine | dnnl_use_global_stats, NULL,
                     &c->infer_pd));
    CR_TRY(bn_primitive(&c->infer_pd, "batchnorm forward (inference)", &c->infer));
    cr_cpu_bind(c->x, a->x);
    cr_cpu_bind(c->y, a->y);
    cr_cpu_bind(c->gamma, a->gamma);
    cr_cpu_bind(c->beta, a->beta);
    cr_cpu_bind(c->mean, a->running_mean);
    cr_cpu_bind(c->var, a->running_var);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->x},     {DNNL_ARG_DST, c->y},
                              {DNNL_ARG_SCALE, c->gamma}, {DNNL_ARG_SHIFT, c->beta},
                              {DNNL_ARG_MEAN, c->mean}, {DNNL_ARG_VARIANCE, c->var}};
    return cr_cpu_execute(be, c->infer, 6, args);
}

cr_status cr_cpu_batchnorm_backward(cr_backend *be, cr_op_cache **cache,
                                    const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "backward", &c));
    if (!a->dy || !a->dx || !a->beta || !a->saved_mean || !a->saved_invstd)
        return cr_fail(CR_STATUS_INVALID, "batchnorm backward: dy, dx, beta, saved_mean and "
                       "saved_invstd are required");
    if (!c->bwd_pd) {
        CR_TRY(bn_train_pd(be, c));
        CR_TRY(bn_pd(be, c, dnnl_backward, bn_affine, c->train_pd, &c->bwd_pd));
    }
    CR_TRY(bn_primitive(&c->bwd_pd, "batchnorm backward", &c->bwd));
    float *var = c->stats, *dgamma = c->stats + a->c, *dbeta = c->stats + 2 * a->c; /* (C) each */
    /* oneDNN wants the variance; the forward left 1 / sqrt(var + eps), which gives it back to
     * within rounding of var + eps, the only form in which oneDNN uses it */
    for (int i = 0; i < a->c; i++) {
        double invstd = a->saved_invstd[i];
        var[i] = (float)(1.0 / (invstd * invstd) - a->eps);
    }
    cr_cpu_bind(c->x, a->x);
    cr_cpu_bind(c->dy, a->dy);
    cr_cpu_bind(c->dx, a->dx);
    cr_cpu_bind(c->gamma, a->gamma);
    cr_cpu_bind(c->beta, a->beta); /* unused by the arithmetic, but oneDNN checks it is given */
    cr_cpu_bind(c->mean, a->saved_mean);
    cr_cpu_bind(c->var, var);
    cr_cpu_bind(c->dgamma, dgamma);
    cr_cpu_bind(c->dbeta, dbeta);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->x},           {DNNL_ARG_DIFF_DST, c->dy},
                              {DNNL_ARG_MEAN, c->mean},       {DNNL_ARG_VARIANCE, c->var},
                              {DNNL_ARG_SCALE, c->gamma},     {DNNL_ARG_SHIFT, c->beta},
                              {DNNL_ARG_DIFF_SRC, c->dx},     {DNNL_ARG_DIFF_SCALE, c->dgamma},
                              {DNNL_ARG_DIFF_SHIFT, c->dbeta}};
    CR_TRY(cr_cpu_execute(be, c->bwd, 9, args));
    if (a->dgamma) cr_cpu_add_into(be, a->dgamma, dgamma, (size_t)a->c);
    if (a->dbeta) cr_cpu_add_into(be, a->dbeta, dbeta, (size_t)a->c);
    return CR_STATUS_OK;
}
