/* Softmax cross-entropy with label smoothing, row by row in OpenMP; each row's maximum comes out
 * before exp so no logit overflows; the batch sum goes in thread order for reproducible bits. */
#include <math.h>
#include <omp.h>

#include "backend/cpu/cpu.h"

static cr_status xent_check(const cr_xent_args *a, const char *pass) {
    if (a->n < 1 || a->k < 1 || !(a->smoothing >= 0.0f && a->smoothing <= 1.0f))
        return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy %s: N=%d, K=%d, smoothing %g out "
                       "of range", pass, a->n, a->k, (double)a->smoothing);
    if (!a->labels || !a->probs)
        return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy %s: labels and probs are "
                       "required", pass);
    for (int i = 0; i < a->n; i++) {
        if (a->labels[i] < 0 || a->labels[i] >= a->k)
            return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy %s: label %d of sample %d is "
                           "outside [0, %d)", pass, (int)a->labels[i], i, a->k);
        if (a->mix_labels && (a->mix_labels[i] < 0 || a->mix_labels[i] >= a->k))
            return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy %s: mixed label %d of "
                           "sample %d is outside [0, %d)", pass, (int)a->mix_labels[i], i, a->k);
    }
    if (a->mix_labels && !(a->weight >= 0.0f && a->weight <= 1.0f))
        return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy %s: mixing weight %g is not in "
                       "[0, 1]", pass, (double)a->weight);
    return CR_STATUS_OK;
}

/* Writes the row's softmax into p and returns its loss against the smoothed target,
 * lse(z) - (1 - s) (w z[label] + (1 - w) z[other]) - s / K sum(z), since the target sums to one
 * (w = 1 for a row that is not mixed). */
static double xent_row(const float *z, float *p, int k, int label, int other, double weight,
                       double smoothing) {
    float max = z[0];
    for (int j = 1; j < k; j++) max = z[j] > max ? z[j] : max;
    double sum = 0, zsum = 0;
#pragma omp simd reduction(+ : sum, zsum)
    for (int j = 0; j < k; j++) {
        float e = expf(z[j] - max);
        p[j] = e;
        sum += e;
        zsum += z[j];
    }
    const float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int j = 0; j < k; j++) p[j] *= inv;
    double picked = weight * z[label] + (1 - weight) * z[other];
    return max + log(sum) - (1 - smoothing) * picked - smoothing / k * zsum;
}

cr_status cr_cpu_softmax_xent_forward(cr_backend *be, const cr_xent_args *a) {
    CR_TRY(xent_check(a, "forward"));
    if (!a->logits || !a->loss)
        return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy forward: logits and loss are "
                       "required");
    double *partials = cr_cpu_of(be)->partials; /* (threads, CR_CPU_PARTIAL_STRIDE) */
    for (int t = 0; t < be->threads; t++) partials[t * CR_CPU_PARTIAL_STRIDE] = 0;
    const int n = a->n, k = a->k;
#pragma omp parallel num_threads(be->threads) if ((size_t)n * k > CR_CPU_PARALLEL_MIN / 8)
    {
        double sum = 0;
#pragma omp for schedule(static)
        for (int i = 0; i < n; i++)
            sum += xent_row(a->logits + (size_t)i * k, a->probs + (size_t)i * k, k, a->labels[i],
                            a->mix_labels ? a->mix_labels[i] : a->labels[i],
                            a->mix_labels ? a->weight : 1.0, a->smoothing);
        partials[omp_get_thread_num() * CR_CPU_PARTIAL_STRIDE] = sum;
    }
    double total = 0;
    for (int t = 0; t < be->threads; t++) total += partials[t * CR_CPU_PARTIAL_STRIDE];
    *a->loss = (float)(total / n);
    return CR_STATUS_OK;
}

cr_status cr_cpu_softmax_xent_backward(cr_backend *be, const cr_xent_args *a) {
    CR_TRY(xent_check(a, "backward"));
    if (!a->dlogits)
        return cr_fail(CR_STATUS_INVALID, "softmax cross-entropy backward: dlogits is required");
    const int n = a->n, k = a->k;
    const float scale = a->grad_scale / (float)n, off = a->smoothing / (float)k;
    const float on = 1.0f - a->smoothing + off; /* the smoothed target of the true class */
    const float keep = 1.0f - a->smoothing, w = a->mix_labels ? a->weight : 1.0f;
#pragma omp parallel for num_threads(be->threads) if ((size_t)n * k > CR_CPU_PARALLEL_MIN)         \
    schedule(static)
    for (int i = 0; i < n; i++) {
        const float *p = a->probs + (size_t)i * k;
        float *d = a->dlogits + (size_t)i * k;
#pragma omp simd
        for (int j = 0; j < k; j++) d[j] = (p[j] - off) * scale;
        if (!a->mix_labels) {
            d[a->labels[i]] = (p[a->labels[i]] - on) * scale;
        } else { /* the target's two peaks, which may fall on one class */
            d[a->labels[i]] -= w * keep * scale;
            d[a->mix_labels[i]] -= (1.0f - w) * keep * scale;
        }
    }
    return CR_STATUS_OK;
}
