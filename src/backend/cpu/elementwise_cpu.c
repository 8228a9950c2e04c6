/* Elementwise ops as OpenMP loops: ReLU, the residual add, gradient accumulation and dropout.
 * They are memory-bound, so each is one pass over its operands, split evenly across threads. */
#include "backend/cpu/cpu.h"
#include "crescendo/rng.h"

/* One thread below CR_CPU_PARALLEL_MIN elements; a fixed, even split above it. */
#define ELEMENTWISE_LOOP                                                                           \
    _Pragma("omp parallel for simd num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN)")

cr_status cr_cpu_relu_forward(cr_backend *be, size_t count, const float *x, float *y) {
    /* `x < 0 ? 0 : x` rather than fmaxf: a NaN passes through, as in PyTorch, and shows up */
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
    return CR_STATUS_OK;
}

cr_status cr_cpu_relu_backward(cr_backend *be, size_t count, const float *y, const float *dy,
                               float *dx) {
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    return CR_STATUS_OK;
}

cr_status cr_cpu_add(cr_backend *be, size_t count, const float *a, const float *b, float *y) {
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++) y[i] = a[i] + b[i];
    return CR_STATUS_OK;
}

cr_status cr_cpu_accumulate(cr_backend *be, size_t count, const float *src, float *dst) {
    cr_cpu_add_into(be, dst, src, count);
    return CR_STATUS_OK;
}

/* Dropout. Element i keeps its value when the uniform number drawn for it is >= p; the number
 * is word i % 4 of Philox block i / 4 of the stream (seed, stream), so forward and backward agree
 * and neither depends on the thread count. out = in * mask * 1 / (1 - p). */

static cr_status dropout_check(const cr_dropout_args *a, const char *pass) {
    if (!(a->p >= 0.0f && a->p <= 1.0f))
        return cr_fail(CR_STATUS_INVALID, "dropout %s: p = %g is outside [0, 1]", pass,
                       (double)a->p);
    return CR_STATUS_OK;
}

static void dropout_apply(const cr_backend *be, const cr_dropout_args *a, const float *in,
                          float *out) {
    const cr_rng stream = cr_rng_stream(a->seed, a->stream, 0);
    const float p = a->p, scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const size_t count = a->count, blocks = (count + 3) / 4;
#pragma omp parallel for num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN) schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        uint32_t bits[4];
        cr_philox(stream.key, stream.stream, b, bits);
        size_t end = 4 * b + 4 < count ? 4 * b + 4 : count;
        for (size_t i = 4 * b; i < end; i++) {
            float u = (float)(bits[i - 4 * b] >> 8) * 0x1.0p-24f; /* as cr_rng_uniform */
            out[i] = u >= p ? in[i] * scale : 0.0f;
        }
    }
}

cr_status cr_cpu_dropout_forward(cr_backend *be, const cr_dropout_args *a) {
    CR_TRY(dropout_check(a, "forward"));
    dropout_apply(be, a, a->x, a->y);
    return CR_STATUS_OK;
}

cr_status cr_cpu_dropout_backward(cr_backend *be, const cr_dropout_args *a) {
    CR_TRY(dropout_check(a, "backward"));
    dropout_apply(be, a, a->dy, a->dx);
    return CR_STATUS_OK;
}
