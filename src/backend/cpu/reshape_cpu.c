/* Adaptive average pooling and the per-sample transpose behind flatten, on channels-last data.
 * Both are memory-bound loops; samples (and output rows) are independent, so they split over N. */
#include "backend/cpu/cpu.h"

/* torch.nn.AdaptiveAvgPool2d's window along one axis: [start, end) of the input for output i. */
static inline void window(int i, int in, int out, int *start, int *end) {
    *start = (int)(((long long)i * in) / out);
    *end = (int)(((long long)(i + 1) * in + out - 1) / out);
}

static inline void adaptive_forward(const cr_adaptive_avgpool_args *a, bool bf16) {
    const int c = a->c;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a->n; n++)
        for (int oh = 0; oh < a->h_out; oh++) {
            int h0, h1;
            window(oh, a->h_in, a->h_out, &h0, &h1);
            for (int ow = 0; ow < a->w_out; ow++) {
                int w0, w1;
                window(ow, a->w_in, a->w_out, &w0, &w1);
                float *y = a->y + (((size_t)n * a->h_out + oh) * a->w_out + ow) * c;
                for (int k = 0; k < c; k++) y[k] = 0.0f;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) {
                        size_t x = (((size_t)n * a->h_in + h) * a->w_in + w) * c;
#pragma omp simd
                        for (int k = 0; k < c; k++) y[k] += cr_cpu_load(a->x, x + k, bf16);
                    }
                float scale = 1.0f / (float)((h1 - h0) * (w1 - w0));
#pragma omp simd
                for (int k = 0; k < c; k++) y[k] *= scale;
            }
        }
}

cr_status cr_cpu_adaptive_avgpool_forward(cr_backend *be, const cr_adaptive_avgpool_args *a) {
    CR_TRY(cr_cpu_check_dtype(a->x_dtype, "adaptive avgpool forward"));
    cr_cpu_enter(be);
    if (a->x_dtype == CR_DTYPE_BF16) adaptive_forward(a, true);
    else adaptive_forward(a, false);
    return CR_STATUS_OK;
}

/* Each input cell gathers from the output cells whose windows contain it, so threads never write
 * the same element and no atomics are needed. The sums are kept in fp32 until they are stored. */
static inline void adaptive_backward(const cr_adaptive_avgpool_args *a, bool bf16) {
    const int c = a->c;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < a->n; n++)
        for (int h = 0; h < a->h_in; h++) {
            float sum[c];
            for (int w = 0; w < a->w_in; w++) {
                for (int k = 0; k < c; k++) sum[k] = 0.0f;
                for (int oh = 0; oh < a->h_out; oh++) {
                    int h0, h1;
                    window(oh, a->h_in, a->h_out, &h0, &h1);
                    if (h < h0 || h >= h1) continue;
                    for (int ow = 0; ow < a->w_out; ow++) {
                        int w0, w1;
                        window(ow, a->w_in, a->w_out, &w0, &w1);
                        if (w < w0 || w >= w1) continue;
                        float scale = 1.0f / (float)((h1 - h0) * (w1 - w0));
                        const float *dy =
                            a->dy + (((size_t)n * a->h_out + oh) * a->w_out + ow) * c;
#pragma omp simd
                        for (int k = 0; k < c; k++) sum[k] += scale * dy[k];
                    }
                }
                size_t dx = (((size_t)n * a->h_in + h) * a->w_in + w) * c;
#pragma omp simd
                for (int k = 0; k < c; k++) cr_cpu_store(a->dx, dx + k, sum[k], bf16);
            }
        }
}

cr_status cr_cpu_adaptive_avgpool_backward(cr_backend *be, const cr_adaptive_avgpool_args *a) {
    CR_TRY(cr_cpu_check_dtype(a->x_dtype, "adaptive avgpool backward"));
    cr_cpu_enter(be);
    if (a->x_dtype == CR_DTYPE_BF16) adaptive_backward(a, true);
    else adaptive_backward(a, false);
    return CR_STATUS_OK;
}

static inline void transpose(int n, int rows, int cols, const void *src, bool src_bf16, void *dst,
                             bool dst_bf16) {
    enum { TILE = 16 }; /* a 16x16 float tile: one cache line per row, both ways */
#pragma omp parallel for collapse(2) schedule(static)
    for (int s = 0; s < n; s++)
        for (int r0 = 0; r0 < rows; r0 += TILE) {
            size_t base = (size_t)s * rows * cols;
            int r1 = r0 + TILE < rows ? r0 + TILE : rows;
            for (int c0 = 0; c0 < cols; c0 += TILE) {
                int c1 = c0 + TILE < cols ? c0 + TILE : cols;
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        cr_cpu_store(dst, base + (size_t)c * rows + r,
                                     cr_cpu_load(src, base + (size_t)r * cols + c, src_bf16),
                                     dst_bf16);
            }
        }
}

cr_status cr_cpu_transpose(cr_backend *be, int n, int rows, int cols, cr_dtype src_dtype,
                           const void *src, cr_dtype dst_dtype, void *dst) {
    CR_TRY(cr_cpu_check_dtype(src_dtype, "transpose"));
    CR_TRY(cr_cpu_check_dtype(dst_dtype, "transpose"));
    cr_cpu_enter(be);
    bool from = src_dtype == CR_DTYPE_BF16, to = dst_dtype == CR_DTYPE_BF16;
    if (from && to) transpose(n, rows, cols, src, true, dst, true);
    else if (from) transpose(n, rows, cols, src, true, dst, false);
    else if (to) transpose(n, rows, cols, src, false, dst, true);
    else transpose(n, rows, cols, src, false, dst, false);
    return CR_STATUS_OK;
}
