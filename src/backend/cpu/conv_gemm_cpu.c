/* A convolution over a small map as matrix products through oneDNN's matmul, on M = N*H_out*W_out
 * rows of patches (im2col: the K = KH*KW*C_in input values under each output cell):
 *   forward           y (M, C_out)     = patches (M, K) x w^T (K, C_out)
 *   backward data     dpatches (M, K)  = dy (M, C_out) x w (C_out, K), summed onto dx (col2im)
 *   backward weights  dw (C_out, K)   += dy^T (C_out, M) x patches (M, K)
 * with w the caller's OIHW f32 weights converted to OHWI in the compute type on every call.
 *
 * Why: oneDNN 2.6's direct kernels share their work over the output map and its channels, and
 * where the map is small (ResNet's last stages; all of it at 64 px) they run at a tenth of peak
 * or less, while a matmul over the same sums runs near peak and a small map has few patches.
 * A 1x1 convolution's patches are its input itself (stride 1) or a subsample of it.
 *
 * The rules in cr_cpu_conv_gemm_applies are where the product measured faster, per pass and type,
 * over the convolutions of ResNet-18 (64-224 px), ResNet-50 (128 px) and simple_cnn at batch 64-128
 * on 2 threads with AMX. Some of those times, direct -> matmul, im2col included:
 *   512 -> 512 3x3 at 2x2:  fp32 forward 13.2 -> 5.2 ms, weights 14.1 -> 5.7; bf16 forward 6.0 ->
 *                           1.9, data 6.9 -> 1.5, weights 15.8 -> 1.7
 *   1024 -> 2048 1x1 stride 2 to 4x4: bf16 data 14.6 -> 5.7, weights 43.0 -> 5.4
 *   256 -> 256 3x3 at 8x8:  bf16 forward 2.3 -> 4.0 (direct kept), weights 6.5 -> 4.7
 *   32 -> 64 3x3 at 14x14 (batch 128): bf16 weights 1.1 -> 2.7 (direct kept: few input channels)
 *   256 -> 64 1x1 at 32x32: fp32 weights 12.4 -> 15.1 (direct kept: few output channels) */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"

typedef struct gemm_pass {
    dnnl_primitive_t matmul;
    dnnl_memory_t src, weights, dst;
} gemm_pass;

struct cr_cpu_conv_gemm {
    cr_conv2d_args shape;     /* the geometry it was built for (pointers unused) */
    dnnl_data_type_t dt;      /* the compute type, which x, y and their gradients share */
    size_t elem;              /* bytes of one dt value */
    dnnl_primitive_t to_ohwi; /* the caller's OIHW f32 weights -> w_ohwi */
    dnnl_memory_t w_oihw, w_ohwi;
    void *w_buffer;           /* (C_out, KH, KW, C_in) in dt */
    gemm_pass fwd, bwd_data, bwd_weights;
    float *product;           /* backward weights: (C_out, K) f32, added into dw by `add` */
    dnnl_primitive_t add;
    dnnl_memory_t product_ohwi, dw;
};

static dnnl_dim_t rows_of(const cr_conv2d_args *a) {
    return (dnnl_dim_t)a->n * a->h_out * a->w_out;
}

static dnnl_dim_t cols_of(const cr_conv2d_args *a) {
    return (dnnl_dim_t)a->kernel_h * a->kernel_w * a->c_in;
}

/* A 1x1 convolution, unpadded and undilated, with stride 1: the input is its own patches. */
static bool input_is_patches(const cr_conv2d_args *a) {
    return a->kernel_h == 1 && a->kernel_w == 1 && a->stride_h == 1 && a->stride_w == 1 &&
           a->pad_h == 0 && a->pad_w == 0;
}

bool cr_cpu_conv_gemm_applies(const cr_conv2d_args *a, cr_cpu_conv_pass pass) {
    if (a->groups != 1 || a->bias || a->dbias || a->x_dtype != a->compute ||
        a->y_dtype != a->compute)
        return false;
    bool pointwise = a->kernel_h == 1 && a->kernel_w == 1 && a->pad_h == 0 && a->pad_w == 0;
    bool tiny = a->h_out * a->w_out <= 16; /* 4x4 output cells or fewer */
    bool bf16 = a->compute == CR_DTYPE_BF16;
    switch (pass) {
    case CR_CPU_CONV_FORWARD:
        return tiny;
    case CR_CPU_CONV_BACKWARD_DATA:
        return bf16 ? pointwise || tiny : pointwise && (a->c_out >= a->c_in || tiny);
    case CR_CPU_CONV_BACKWARD_WEIGHTS:
        if (!bf16) return tiny || (pointwise && a->c_out >= 256);
        return pointwise ||
               (a->c_in >= 128 && (long)a->h_out * a->w_out * a->c_out < 32768);
    }
    return false;
}

static void pass_release(gemm_pass *p) {
    if (p->matmul) dnnl_primitive_destroy(p->matmul);
    dnnl_memory_t mems[] = {p->src, p->weights, p->dst};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
}

void cr_cpu_conv_gemm_destroy(cr_cpu_conv_gemm *g) {
    if (!g) return;
    pass_release(&g->fwd);
    pass_release(&g->bwd_data);
    pass_release(&g->bwd_weights);
    if (g->to_ohwi) dnnl_primitive_destroy(g->to_ohwi);
    if (g->add) dnnl_primitive_destroy(g->add);
    dnnl_memory_t mems[] = {g->w_oihw, g->w_ohwi, g->product_ohwi, g->dw};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(g->w_buffer);
    free(g->product);
    free(g);
}

/* A 2-D memory descriptor of (rows, cols) elements whose steps along them are `strides`. */
static cr_status matrix_md(dnnl_memory_desc_t *md, dnnl_dim_t rows, dnnl_dim_t cols,
                           dnnl_data_type_t dt, dnnl_dim_t row_stride, dnnl_dim_t col_stride) {
    CR_DNNL(dnnl_memory_desc_init_by_strides(md, 2, (dnnl_dims_t){rows, cols}, dt,
                                             (dnnl_dims_t){row_stride, col_stride}));
    return CR_STATUS_OK;
}

/* The matmul dst = src x weights over the three descriptors, with memories to bind before runs. */
static cr_status pass_build(cr_backend *be, gemm_pass *p, const dnnl_memory_desc_t *src,
                            const dnnl_memory_desc_t *weights, const dnnl_memory_desc_t *dst,
                            const char *what) {
    dnnl_matmul_desc_t d;
    CR_DNNL(dnnl_matmul_desc_init(&d, src, weights, NULL, dst));
    dnnl_primitive_desc_t pd;
    CR_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, cr_cpu_of(be)->engine, NULL));
    cr_status s = cr_cpu_primitive(pd, what, src->data_type == dnnl_bf16, &p->matmul);
    dnnl_primitive_desc_destroy(pd);
    CR_TRY(s);
    CR_TRY(cr_cpu_memory(be, src, &p->src));
    CR_TRY(cr_cpu_memory(be, weights, &p->weights));
    return cr_cpu_memory(be, dst, &p->dst);
}

static cr_status pass_run(cr_backend *be, gemm_pass *p, const void *src, const void *weights,
                          void *dst) {
    cr_cpu_bind(p->src, src);
    cr_cpu_bind(p->weights, weights);
    cr_cpu_bind(p->dst, dst);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->weights},
                               {DNNL_ARG_DST, p->dst}};
    return cr_cpu_execute(be, p->matmul, 3, args);
}

static cr_status gemm_get(cr_cpu_conv_gemm **slot, const cr_conv2d_args *a) {
    if (*slot) return CR_STATUS_OK;
    cr_cpu_conv_gemm *g = calloc(1, sizeof *g);
    if (!g) return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate its matmul plan");
    g->shape = *a;
    g->dt = a->compute == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
    g->elem = cr_dtype_size(a->compute);
    *slot = g;
    return CR_STATUS_OK;
}

/* Converts the caller's OIHW f32 weights into w_buffer, OHWI in the compute type. */
static cr_status weights_ohwi(cr_backend *be, cr_cpu_conv_gemm *g, const float *w) {
    const cr_conv2d_args *a = &g->shape;
    if (!g->to_ohwi) {
        dnnl_dims_t dims = {a->c_out, a->c_in, a->kernel_h, a->kernel_w};
        dnnl_memory_desc_t oihw, ohwi;
        CR_DNNL(dnnl_memory_desc_init_by_tag(&oihw, 4, dims, dnnl_f32, dnnl_oihw));
        CR_DNNL(dnnl_memory_desc_init_by_tag(&ohwi, 4, dims, g->dt, dnnl_ohwi));
        g->w_buffer = cr_cpu_alloc(be, dnnl_memory_desc_get_size(&ohwi));
        if (!g->w_buffer)
            return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate its OHWI weights");
        CR_TRY(cr_cpu_memory(be, &oihw, &g->w_oihw));
        CR_TRY(cr_cpu_memory(be, &ohwi, &g->w_ohwi));
        cr_cpu_bind(g->w_ohwi, g->w_buffer);
        CR_TRY(cr_cpu_reorder(be, &oihw, &ohwi, false, &g->to_ohwi));
    }
    cr_cpu_bind(g->w_oihw, w);
    return cr_cpu_execute_reorder(be, g->to_ohwi, g->w_oihw, g->w_ohwi);
}

/* Row m = (n, oh, ow) of the patches: for each tap (kh, kw), the C_in values under it, or zeros
 * where the tap falls on the padding. Values are copied as bytes: x has the patches' type. */
static void im2col(const cr_backend *be, const cr_conv2d_args *a, size_t elem, const char *x,
                   char *patches) {
    const int cells = a->h_out * a->w_out;
    const ptrdiff_t rows = (ptrdiff_t)a->n * cells;
    const size_t run = elem * (size_t)a->c_in, row_bytes = run * a->kernel_h * a->kernel_w;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (ptrdiff_t m = 0; m < rows; m++) {
        int n = (int)(m / cells), cell = (int)(m % cells);
        int oh = cell / a->w_out, ow = cell % a->w_out;
        char *row = patches + (size_t)m * row_bytes;
        for (int kh = 0; kh < a->kernel_h; kh++) {
            int ih = oh * a->stride_h - a->pad_h + kh * a->dilation_h;
            for (int kw = 0; kw < a->kernel_w; kw++, row += run) {
                int iw = ow * a->stride_w - a->pad_w + kw * a->dilation_w;
                if (ih < 0 || ih >= a->h_in || iw < 0 || iw >= a->w_in)
                    memset(row, 0, run);
                else
                    memcpy(row, x + (((size_t)n * a->h_in + ih) * a->w_in + iw) * run, run);
            }
        }
    }
}

/* The patches of x: x itself when it is its own, otherwise gathered into the backend's scratch. */
static cr_status patches_of(cr_backend *be, const cr_cpu_conv_gemm *g, const cr_conv2d_args *a,
                            const void **out) {
    if (input_is_patches(a)) {
        *out = a->x;
        return CR_STATUS_OK;
    }
    size_t bytes = (size_t)rows_of(a) * (size_t)cols_of(a) * g->elem;
    char *patches = cr_cpu_scratch(be, bytes);
    if (!patches)
        return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate %zu bytes of patches", bytes);
    im2col(be, a, g->elem, a->x, patches);
    *out = patches;
    return CR_STATUS_OK;
}

cr_status cr_cpu_conv_gemm_forward(cr_backend *be, cr_cpu_conv_gemm **slot,
                                   const cr_conv2d_args *a) {
    CR_TRY(gemm_get(slot, a));
    cr_cpu_conv_gemm *g = *slot;
    dnnl_dim_t m = rows_of(a), k = cols_of(a), c_out = a->c_out;
    if (!g->fwd.matmul) {
        dnnl_memory_desc_t src, weights, dst;
        CR_TRY(matrix_md(&src, m, k, g->dt, k, 1));
        CR_TRY(matrix_md(&weights, k, c_out, g->dt, 1, k));
        CR_TRY(matrix_md(&dst, m, c_out, g->dt, c_out, 1));
        CR_TRY(pass_build(be, &g->fwd, &src, &weights, &dst, "conv2d forward (matmul)"));
    }
    CR_TRY(weights_ohwi(be, g, a->w));
    const void *patches;
    CR_TRY(patches_of(be, g, a, &patches));
    return pass_run(be, &g->fwd, patches, g->w_buffer, a->y);
}

/* dx at input cell (n, ih, iw) is the sum, over the taps (kh, kw) whose output cell (oh, ow) reads
 * it, of that row's column block; gathered per input cell so that threads never share a write. */
static void col2im(const cr_backend *be, const cr_conv2d_args *a, const float *dpatches,
                   void *dx) {
    const int c = a->c_in;
    const size_t cols = (size_t)cols_of(a);
    const ptrdiff_t cells = (ptrdiff_t)a->n * a->h_in * a->w_in;
    const bool bf16 = a->x_dtype == CR_DTYPE_BF16;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (ptrdiff_t i = 0; i < cells; i++) {
        int iw = (int)(i % a->w_in), ih = (int)(i / a->w_in % a->h_in);
        int n = (int)(i / ((ptrdiff_t)a->w_in * a->h_in));
        float sum[c];
        for (int ch = 0; ch < c; ch++) sum[ch] = 0.0f;
        for (int kh = 0; kh < a->kernel_h; kh++) {
            int th = ih + a->pad_h - kh * a->dilation_h;
            if (th < 0 || th % a->stride_h || th / a->stride_h >= a->h_out) continue;
            for (int kw = 0; kw < a->kernel_w; kw++) {
                int tw = iw + a->pad_w - kw * a->dilation_w;
                if (tw < 0 || tw % a->stride_w || tw / a->stride_w >= a->w_out) continue;
                size_t row = ((size_t)n * a->h_out + th / a->stride_h) * a->w_out +
                             tw / a->stride_w;
                const float *src = dpatches + row * cols + ((size_t)kh * a->kernel_w + kw) * c;
#pragma omp simd
                for (int ch = 0; ch < c; ch++) sum[ch] += src[ch];
            }
        }
        size_t base = (size_t)i * c;
        if (bf16) {
#pragma omp simd
            for (int ch = 0; ch < c; ch++) cr_cpu_store(dx, base + ch, sum[ch], true);
        } else {
#pragma omp simd
            for (int ch = 0; ch < c; ch++) cr_cpu_store(dx, base + ch, sum[ch], false);
        }
    }
}

cr_status cr_cpu_conv_gemm_backward_data(cr_backend *be, cr_cpu_conv_gemm **slot,
                                         const cr_conv2d_args *a) {
    CR_TRY(gemm_get(slot, a));
    cr_cpu_conv_gemm *g = *slot;
    dnnl_dim_t m = rows_of(a), k = cols_of(a), c_out = a->c_out;
    bool direct = input_is_patches(a); /* dpatches is dx itself */
    if (!g->bwd_data.matmul) {
        dnnl_memory_desc_t src, weights, dst;
        CR_TRY(matrix_md(&src, m, c_out, g->dt, c_out, 1));
        CR_TRY(matrix_md(&weights, c_out, k, g->dt, k, 1));
        CR_TRY(matrix_md(&dst, m, k, direct ? g->dt : dnnl_f32, k, 1));
        CR_TRY(pass_build(be, &g->bwd_data, &src, &weights, &dst,
                          "conv2d backward data (matmul)"));
    }
    CR_TRY(weights_ohwi(be, g, a->w));
    if (direct) return pass_run(be, &g->bwd_data, a->dy, g->w_buffer, a->dx);
    size_t bytes = (size_t)m * (size_t)k * sizeof(float);
    float *dpatches = cr_cpu_scratch(be, bytes);
    if (!dpatches)
        return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate %zu bytes of patch gradients",
                       bytes);
    CR_TRY(pass_run(be, &g->bwd_data, a->dy, g->w_buffer, dpatches));
    col2im(be, a, dpatches, a->dx);
    return CR_STATUS_OK;
}

cr_status cr_cpu_conv_gemm_backward_weights(cr_backend *be, cr_cpu_conv_gemm **slot,
                                            const cr_conv2d_args *a,
                                            const dnnl_memory_desc_t *dw_md) {
    CR_TRY(gemm_get(slot, a));
    cr_cpu_conv_gemm *g = *slot;
    dnnl_dim_t m = rows_of(a), k = cols_of(a), c_out = a->c_out;
    if (!g->bwd_weights.matmul) {
        dnnl_memory_desc_t src, weights, dst, ohwi;
        CR_TRY(matrix_md(&src, c_out, m, g->dt, 1, c_out)); /* dy read as its transpose */
        CR_TRY(matrix_md(&weights, m, k, g->dt, k, 1));
        CR_TRY(matrix_md(&dst, c_out, k, dnnl_f32, k, 1));
        CR_TRY(pass_build(be, &g->bwd_weights, &src, &weights, &dst,
                          "conv2d backward weights (matmul)"));
        CR_DNNL(dnnl_memory_desc_init_by_tag(
            &ohwi, 4, (dnnl_dims_t){a->c_out, a->c_in, a->kernel_h, a->kernel_w}, dnnl_f32,
            dnnl_ohwi));
        g->product = cr_cpu_alloc(be, dnnl_memory_desc_get_size(&dst));
        if (!g->product)
            return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate the weight gradient's "
                           "product");
        CR_TRY(cr_cpu_memory(be, &ohwi, &g->product_ohwi));
        CR_TRY(cr_cpu_memory(be, dw_md, &g->dw));
        cr_cpu_bind(g->product_ohwi, g->product);
        CR_TRY(cr_cpu_reorder(be, &ohwi, dw_md, true, &g->add));
    }
    const void *patches;
    CR_TRY(patches_of(be, g, a, &patches));
    CR_TRY(pass_run(be, &g->bwd_weights, a->dy, patches, g->product));
    cr_cpu_bind(g->dw, a->dw);
    return cr_cpu_execute_reorder(be, g->add, g->product_ohwi, g->dw);
}
