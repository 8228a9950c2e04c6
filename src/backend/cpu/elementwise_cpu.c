/* Elementwise ops as OpenMP loops: ReLU, the residual add, gradient accumulation and dropout.
 * They are memory-bound, so each is one pass over its operands, split evenly across threads. */
#include "backend/cpu/cpu.h"
#include "crescendo/rng.h"

/* One thread below CR_CPU_PARALLEL_MIN elements; a fixed, even split above it. Each op is written
 * once as an inline body over `bf16` and called with the constant: one loop per type. */
#define ELEMENTWISE_LOOP                                                                           \
    _Pragma("omp parallel for simd num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN)")
#define BY_DTYPE(body, dtype, ...)                                                                 \
    ((dtype) == CR_DTYPE_BF16 ? body(__VA_ARGS__, true) : body(__VA_ARGS__, false))

cr_status cr_cpu_check_dtype(cr_dtype dtype, const char *op) {
    if (dtype == CR_DTYPE_F32 || dtype == CR_DTYPE_BF16) return CR_STATUS_OK;
    return cr_fail(CR_STATUS_UNSUPPORTED, "%s: activations of type %s (the CPU takes F32 or BF16)",
                   op, cr_dtype_name(dtype));
}

/* `x < 0 ? 0 : x` rather than fmaxf: a NaN passes through, as in PyTorch, and shows up */
static inline void relu_forward(const cr_backend *be, size_t count, const void *x, void *y,
                                bool bf16) {
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++) {
        float v = cr_cpu_load(x, i, bf16);
        cr_cpu_store(y, i, v < 0.0f ? 0.0f : v, bf16);
    }
}

cr_status cr_cpu_relu_forward(cr_backend *be, cr_dtype dtype, size_t count, const void *x,
                              void *y) {
    CR_TRY(cr_cpu_check_dtype(dtype, "relu forward"));
    BY_DTYPE(relu_forward, dtype, be, count, x, y);
    return CR_STATUS_OK;
}

static inline void relu_backward(const cr_backend *be, size_t count, const void *y,
                                 const void *dy, void *dx, bool bf16) {
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++)
        cr_cpu_store(dx, i, cr_cpu_load(y, i, bf16) > 0.0f ? cr_cpu_load(dy, i, bf16) : 0.0f,
                     bf16);
}

cr_status cr_cpu_relu_backward(cr_backend *be, cr_dtype dtype, size_t count, const void *y,
                               const void *dy, void *dx) {
    CR_TRY(cr_cpu_check_dtype(dtype, "relu backward"));
    BY_DTYPE(relu_backward, dtype, be, count, y, dy, dx);
    return CR_STATUS_OK;
}

static inline void add(const cr_backend *be, size_t count, const void *a, const void *b,
                       bool relu, void *y, bool bf16) {
    ELEMENTWISE_LOOP
    for (size_t i = 0; i < count; i++) {
        float v = cr_cpu_load(a, i, bf16) + cr_cpu_load(b, i, bf16);
        cr_cpu_store(y, i, relu && v < 0.0f ? 0.0f : v, bf16);
    }
}

cr_status cr_cpu_add(cr_backend *be, cr_dtype dtype, size_t count, const void *a, const void *b,
                     bool relu, void *y) {
    CR_TRY(cr_cpu_check_dtype(dtype, "add"));
    if (relu) BY_DTYPE(add, dtype, be, count, a, b, true, y);
    else BY_DTYPE(add, dtype, be, count, a, b, false, y);
    return CR_STATUS_OK;
}

cr_status cr_cpu_accumulate(cr_backend *be, cr_dtype dtype, size_t count, const void *src,
                            void *dst) {
    CR_TRY(cr_cpu_check_dtype(dtype, "accumulate"));
    BY_DTYPE(add, dtype, be, count, dst, src, false, dst);
    return CR_STATUS_OK;
}

/* Dropout. Element i keeps its value when the uniform number drawn for it is >= p; the number
 * is word i % 4 of Philox block i / 4 of the stream (seed, stream), so forward and backward agree
 * and neither depends on the thread count. out = in * mask * 1 / (1 - p). */

static cr_status dropout_check(const cr_dropout_args *a, const char *pass) {
    CR_TRY(cr_cpu_check_dtype(a->dtype, "dropout"));
    if (!(a->p >= 0.0f && a->p <= 1.0f))
        return cr_fail(CR_STATUS_INVALID, "dropout %s: p = %g is outside [0, 1]", pass,
                       (double)a->p);
    return CR_STATUS_OK;
}

static inline void dropout_apply(const cr_backend *be, const cr_dropout_args *a, const void *in,
                                 void *out, bool bf16) {
    const cr_rng stream = cr_rng_stream(a->seed, a->stream, 0);
    const float p = a->p, scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    const size_t count = a->count, size = a->sample_size ? a->sample_size : count;
    const size_t offset = (size_t)a->sample_offset;
    const size_t stride = a->sample_stride > 0 ? (size_t)a->sample_stride : 1;
#pragma omp parallel for num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < count; i++) {
        size_t key = (offset + stride * (i / size)) * size + i % size; /* in the whole batch */
        uint32_t bits[4];
        cr_philox(stream.key, stream.stream, key / 4, bits);
        float u = (float)(bits[key % 4] >> 8) * 0x1.0p-24f; /* as cr_rng_uniform */
        cr_cpu_store(out, i, u >= p ? cr_cpu_load(in, i, bf16) * scale : 0.0f, bf16);
    }
}

cr_status cr_cpu_dropout_forward(cr_backend *be, const cr_dropout_args *a) {
    CR_TRY(dropout_check(a, "forward"));
    BY_DTYPE(dropout_apply, a->dtype, be, a, a->x, a->y);
    return CR_STATUS_OK;
}

cr_status cr_cpu_dropout_backward(cr_backend *be, const cr_dropout_args *a) {
    CR_TRY(dropout_check(a, "backward"));
    BY_DTYPE(dropout_apply, a->dtype, be, a, a->dy, a->dx);
    return CR_STATUS_OK;
}
