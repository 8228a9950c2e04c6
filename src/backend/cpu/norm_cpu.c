/* Batch normalization on NHWC activations with OpenMP: per-channel statistics in one pass over the
 * data, shifted by a sample so that a large mean cancels nothing, summed in float over blocks of
 * rows and in double across them. oneDNN's batchnorm sums in float from zero, which loses digits
 * when a channel's mean is large next to its spread. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "crescendo/arena.h"

typedef struct bn_key {
    int c, threads;
} bn_key;

/* Per-thread partial sums, so that reductions need no atomics and add up in thread order: the
 * same thread count gives the same bits. */
typedef struct bn_cache {
    cr_op_cache base;
    bn_key k;
    double *partials; /* (threads, 2, C) */
    float *coef;      /* (4, C): per-channel factors of the elementwise pass */
} bn_cache;

static void bn_cache_destroy(cr_op_cache *base) {
    bn_cache *c = (bn_cache *)base;
    free(c->partials);
    free(c->coef);
    free(c);
}

static cr_status bn_cache_get(cr_backend *be, cr_op_cache **slot, const cr_batchnorm_args *a,
                              const char *pass, bn_cache **out) {
    if (a->n < 1 || a->c < 1 || a->h < 1 || a->w < 1 || !(a->eps > 0.0f))
        return cr_fail(CR_STATUS_INVALID, "batchnorm %s: shape (%d, %d, %d, %d) or eps %g out of "
                       "range", pass, a->n, a->c, a->h, a->w, (double)a->eps);
    CR_TRY(cr_cpu_check_dtype(a->dtype, "batchnorm"));
    if (!a->x || !a->gamma || !a->beta)
        return cr_fail(CR_STATUS_INVALID, "batchnorm %s: x, gamma and beta are required", pass);
    bn_key k = {a->c, be->threads};
    cr_cpu_enter(be);
    *out = (bn_cache *)cr_cpu_cache_match(slot, CR_CPU_CACHE_BATCHNORM, &k, sizeof k);
    if (*out) return CR_STATUS_OK;
    bn_cache *c = cr_cpu_cache_new(sizeof *c, CR_CPU_CACHE_BATCHNORM, bn_cache_destroy, &k,
                                   sizeof k);
    if (!c) return cr_fail(CR_STATUS_NOMEM, "batchnorm: cannot allocate its cache");
    c->k = k;
    c->partials = aligned_alloc(64, cr_align_up(sizeof(double) * 2 * (size_t)k.threads * k.c, 64));
    c->coef = aligned_alloc(64, cr_align_up(sizeof(float) * 4 * (size_t)k.c, 64));
    if (!c->partials || !c->coef) {
        bn_cache_destroy(&c->base);
        return cr_fail(CR_STATUS_NOMEM, "batchnorm: cannot allocate its cache");
    }
    *slot = &c->base;
    *out = c;
    return CR_STATUS_OK;
}

/* Rows [begin, end) of the M = N*H*W rows that thread t of `threads` owns. */
static void rows_of(size_t rows, int t, int threads, size_t *begin, size_t *end) {
    *begin = rows * (size_t)t / (size_t)threads;
    *end = rows * (size_t)(t + 1) / (size_t)threads;
}

/* Rows summed in float before their sums join a thread's double totals: a block's rounding stays
 * near float's own while the inner loop keeps float's vector width. */
enum { BN_BLOCK_ROWS = 32 };

/* One row of C channels added into s0 and s1 (see channel_sums). With `relu_y`, dy counts only
 * where the fused ReLU's output is positive. */
static inline void row_sums(float *s0, float *s1, const void *x, const void *dy,
                            const void *relu_y, const float *shift, size_t base, int channels,
                            bool bf16) {
    if (dy && relu_y) {
#pragma omp simd
        for (int k = 0; k < channels; k++) {
            float keep = cr_cpu_load(relu_y, base + k, bf16) > 0.0f ? 1.0f : 0.0f;
            float d = cr_cpu_load(dy, base + k, bf16) * keep;
            s0[k] += d * (cr_cpu_load(x, base + k, bf16) - shift[k]);
            s1[k] += d;
        }
    } else if (dy) {
#pragma omp simd
        for (int k = 0; k < channels; k++) {
            float d = cr_cpu_load(dy, base + k, bf16);
            s0[k] += d * (cr_cpu_load(x, base + k, bf16) - shift[k]);
            s1[k] += d;
        }
    } else {
#pragma omp simd
        for (int k = 0; k < channels; k++) {
            float v = cr_cpu_load(x, base + k, bf16) - shift[k];
            s0[k] += v;
            s1[k] += v * v;
        }
    }
}

/* One pass over the data. Without dy: out[0][k] = sum of x[., k] - shift[k] and out[1][k] = sum
 * of its squares. With dy: out[0][k] = sum of dy[., k] * (x[., k] - shift[k]), out[1][k] = sum of
 * dy[., k]. x, dy, relu_y: (rows, C) of the args' dtype; shift: (C); out: (2, C). */
static void channel_sums(const bn_cache *c, const cr_batchnorm_args *a, const void *dy,
                         const void *relu_y, const float *shift, size_t rows, double *out) {
    const int channels = c->k.c;
    const bool bf16 = a->dtype == CR_DTYPE_BF16;
    int used = 1; /* threads the team really had: only their partials are summed */
#pragma omp parallel num_threads(c->k.threads)
    {
        int t = omp_get_thread_num();
        if (t == 0) used = omp_get_num_threads();
        double *d0 = c->partials + (size_t)t * 2 * channels, *d1 = d0 + channels;
        float s0[channels], s1[channels];
        for (int k = 0; k < channels; k++) d0[k] = d1[k] = 0.0;
        size_t begin, end;
        rows_of(rows, t, omp_get_num_threads(), &begin, &end);
        for (size_t block = begin; block < end; block += BN_BLOCK_ROWS) {
            size_t stop = block + BN_BLOCK_ROWS < end ? block + BN_BLOCK_ROWS : end;
            for (int k = 0; k < channels; k++) s0[k] = s1[k] = 0.0f;
            for (size_t r = block; r < stop; r++) {
                if (bf16) row_sums(s0, s1, a->x, dy, relu_y, shift, r * channels, channels, true);
                else row_sums(s0, s1, a->x, dy, relu_y, shift, r * channels, channels, false);
            }
            for (int k = 0; k < channels; k++) {
                d0[k] += s0[k];
                d1[k] += s1[k];
            }
        }
    }
    for (int k = 0; k < 2 * channels; k++) out[k] = 0.0;
    for (int t = 0; t < used; t++)
        for (int k = 0; k < 2 * channels; k++) out[k] += c->partials[(size_t)t * 2 * channels + k];
}

/* The per-channel factors of one elementwise pass (see affine). */
typedef struct affine_coef {
    const float *center, *scale, *a2, *b;
} affine_coef;

/* One row of affine: y = (x - center) * scale + b, or with dy, dy * scale + (x - center) * a2 + b;
 * `relu` clamps y at 0 (forward), `relu_y` masks dy where the fused output is not positive. */
static inline void affine_row(const affine_coef *f, const void *x, const void *dy,
                              const void *relu_y, bool relu, void *y, size_t base, int channels,
                              bool bf16) {
    const float *center = f->center, *scale = f->scale, *a2 = f->a2, *b = f->b;
    if (dy) {
#pragma omp simd
        for (int k = 0; k < channels; k++) {
            float d = cr_cpu_load(dy, base + k, bf16);
            if (relu_y) d = cr_cpu_load(relu_y, base + k, bf16) > 0.0f ? d : 0.0f;
            float v = d * scale[k] + (cr_cpu_load(x, base + k, bf16) - center[k]) * a2[k] + b[k];
            cr_cpu_store(y, base + k, v, bf16);
        }
    } else {
#pragma omp simd
        for (int k = 0; k < channels; k++) {
            float v = (cr_cpu_load(x, base + k, bf16) - center[k]) * scale[k] + b[k];
            cr_cpu_store(y, base + k, relu && v < 0.0f ? 0.0f : v, bf16);
        }
    }
}

/* Centering first keeps the digits a large mean would cancel away in x * scale + shift. The fused
 * ReLU's clamp (forward) and mask (backward, reading relu_y) happen in the same pass. */
static void affine(const cr_batchnorm_args *a, const affine_coef *f, const void *dy,
                   const void *relu_y, bool relu, int threads, void *y) {
    const size_t rows = (size_t)a->n * a->h * a->w;
    const int channels = a->c;
    const bool bf16 = a->dtype == CR_DTYPE_BF16;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        if (bf16) affine_row(f, a->x, dy, relu_y, relu, y, r * channels, channels, true);
        else affine_row(f, a->x, dy, relu_y, relu, y, r * channels, channels, false);
    }
}

cr_status cr_cpu_batchnorm_forward_train(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "forward (training)", &c));
    if (!a->y || !a->saved_mean || !a->saved_invstd)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (training): y, saved_mean and "
                       "saved_invstd are required");
    size_t rows = (size_t)a->n * a->h * a->w;
    if (rows < 2)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (training): one value per channel "
                       "(N=%d, H=%d, W=%d) has no variance", a->n, a->h, a->w);
    const int channels = a->c;
    /* shifted by the first row, which sits within the data's spread: the sums of squares then
     * hold the variance without the cancellation a large mean would cause */
    float shift[channels];
    for (int k = 0; k < channels; k++) shift[k] = cr_cpu_load(a->x, k, a->dtype == CR_DTYPE_BF16);
    double sums[2 * channels + 1];
    channel_sums(c, a, NULL, NULL, shift, rows, sums);
    double count = (double)rows;
    if (a->sum.add) {
        /* every process has its own shift: unshifted sums (in double) add up across them */
        for (int k = 0; k < channels; k++) {
            double s1 = sums[k], s2 = sums[channels + k];
            sums[k] = s1 + count * shift[k];
            sums[channels + k] = s2 + 2.0 * shift[k] * s1 + count * shift[k] * shift[k];
            shift[k] = 0.0f;
        }
        sums[2 * channels] = count;
        CR_TRY(a->sum.add(a->sum.user, sums, 2 * (size_t)channels + 1));
        count = sums[2 * channels];
    }
    float *scale = c->coef, *center = c->coef + channels;
    double m = a->momentum, unbias = count / (count - 1.0);
    for (int k = 0; k < channels; k++) {
        double offset = sums[k] / count, mean = shift[k] + offset;
        double var = fmax(sums[channels + k] / count - offset * offset, 0.0);
        double invstd = 1.0 / sqrt(var + a->eps);
        a->saved_mean[k] = (float)mean;
        a->saved_invstd[k] = (float)invstd;
        scale[k] = (float)(a->gamma[k] * invstd);
        center[k] = (float)mean;
        if (a->running_mean)
            a->running_mean[k] = (float)(m * mean + (1 - m) * a->running_mean[k]);
        if (a->running_var)
            a->running_var[k] = (float)(m * var * unbias + (1 - m) * a->running_var[k]);
    }
    affine_coef f = {.center = center, .scale = scale, .b = a->beta};
    affine(a, &f, NULL, NULL, a->relu, be->threads, a->y);
    return CR_STATUS_OK;
}

cr_status cr_cpu_batchnorm_forward_infer(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "forward (inference)", &c));
    if (!a->y || !a->running_mean || !a->running_var)
        return cr_fail(CR_STATUS_INVALID, "batchnorm forward (inference): y, running_mean and "
                       "running_var are required");
    float *scale = c->coef;
    for (int k = 0; k < a->c; k++)
        scale[k] = (float)(a->gamma[k] / sqrt((double)a->running_var[k] + a->eps));
    affine_coef f = {.center = a->running_mean, .scale = scale, .b = a->beta};
    affine(a, &f, NULL, NULL, a->relu, be->threads, a->y);
    return CR_STATUS_OK;
}

/* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)), written per channel as
 * dy * A + (x - mean) * B + C so that the pass over the data is one multiply-add chain. */
cr_status cr_cpu_batchnorm_backward(cr_backend *be, cr_op_cache **cache,
                                    const cr_batchnorm_args *a) {
    bn_cache *c;
    CR_TRY(bn_cache_get(be, cache, a, "backward", &c));
    if (!a->dy || !a->dx || !a->saved_mean || !a->saved_invstd)
        return cr_fail(CR_STATUS_INVALID, "batchnorm backward: dy, dx, saved_mean and "
                       "saved_invstd are required");
    const int channels = a->c;
    size_t rows = (size_t)a->n * a->h * a->w;
    double sums[2 * channels + 1];
    const void *relu_y = a->relu ? a->y : NULL;
    if (a->relu && !relu_y)
        return cr_fail(CR_STATUS_INVALID, "batchnorm backward: a fused ReLU needs its output y");
    channel_sums(c, a, a->dy, relu_y, a->saved_mean, rows, sums);
    double *dot = sums, *sum_dy = sums + channels; /* sum dy (x - mean), sum dy */
    for (int k = 0; k < channels; k++) { /* this batch's own: the gradients average later */
        if (a->dgamma) a->dgamma[k] += (float)(dot[k] * a->saved_invstd[k]);
        if (a->dbeta) a->dbeta[k] += (float)sum_dy[k];
    }
    double count = (double)rows;
    if (a->sum.add) {
        sums[2 * channels] = count;
        CR_TRY(a->sum.add(a->sum.user, sums, 2 * (size_t)channels + 1));
        count = sums[2 * channels];
    }
    float *ca = c->coef, *cb = c->coef + channels, *cc = c->coef + 2 * channels;
    float *center = c->coef + 3 * channels;
    for (int k = 0; k < channels; k++) {
        double invstd = a->saved_invstd[k], g = a->gamma[k] * invstd;
        double mean_dy = sum_dy[k] / count;
        double proj = dot[k] * invstd * invstd / count; /* mean(dy * xhat) / std */
        ca[k] = (float)g;
        cb[k] = (float)(-g * proj);
        cc[k] = (float)(-g * mean_dy);
        center[k] = a->saved_mean[k];
    }
    affine_coef f = {.center = center, .scale = ca, .a2 = cb, .b = cc};
    affine(a, &f, a->dy, relu_y, false, be->threads, a->dx);
    return CR_STATUS_OK;
}
