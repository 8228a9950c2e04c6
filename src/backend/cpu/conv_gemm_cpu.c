/* The weight gradient of a bf16 convolution over a small map as one matrix product: the input's
 * patches gathered into rows (im2col), then dw (C_out, KH*KW*C_in) = dy^T (C_out, M) x patches
 * (M, KH*KW*C_in) through oneDNN's matmul, added into the caller's OIHW gradient by a reorder.
 *
 * Why: oneDNN 2.6's direct kernels for the weight gradient share work over the output map and its
 * channels, and where the two are small together (ResNet's last stages, all of it at 64 px) they
 * run at a tenth of peak or less; the matmul over the same sum runs near peak, and a small map has
 * few patches. Measured with AMX, batch 64 (direct -> matmul, im2col included): 512 channels at
 * 2x2 27 ms -> 2 ms, at 4x4 15 -> 5; 256 at 8x8 4.9 -> 3.8; but 128 at 16x16 3.7 -> 5. A 1x1
 * convolution's direct weight gradient runs at 130-1040 GFLOP/s whatever its size (ResNet-50's
 * 1024 -> 2048 downsample: 33 ms), and its patches are its input itself (stride 1) or a
 * subsample of it, so every 1x1 convolution takes the matmul. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"

struct cr_cpu_conv_gemm {
    cr_conv2d_args shape;     /* the geometry it was built for (pointers unused) */
    dnnl_primitive_t matmul;
    dnnl_memory_t dy_t;       /* (C_out, M) bf16, the transpose of dy read in place */
    dnnl_memory_t patches;    /* (M, KH*KW*C_in) bf16, in the backend's scratch */
    dnnl_memory_t product;    /* (C_out, KH, KW, C_in) f32 */
    float *product_buffer;
    dnnl_primitive_t add;     /* product, as (C_out, C_in, KH, KW) in OHWI order, += into dw */
    dnnl_memory_t product_ohwi, dw;
    size_t patch_bytes;
};

/* Output cells times output channels below which the product is the faster way. */
enum { GEMM_MAX_CELL_CHANNELS = 32768 };

/* A 1x1 convolution, unpadded and undilated, with stride 1: the input is its own patches. */
static bool input_is_patches(const cr_conv2d_args *a) {
    return a->kernel_h == 1 && a->kernel_w == 1 && a->stride_h == 1 && a->stride_w == 1 &&
           a->pad_h == 0 && a->pad_w == 0;
}

bool cr_cpu_conv_gemm_applies(const cr_conv2d_args *a) {
    bool pointwise = a->kernel_h == 1 && a->kernel_w == 1 && a->pad_h == 0 && a->pad_w == 0;
    return a->compute == CR_DTYPE_BF16 && a->x_dtype == CR_DTYPE_BF16 &&
           a->y_dtype == CR_DTYPE_BF16 && a->groups == 1 && !a->dbias &&
           (pointwise || (long)a->h_out * a->w_out * a->c_out < GEMM_MAX_CELL_CHANNELS);
}

void cr_cpu_conv_gemm_destroy(cr_cpu_conv_gemm *g) {
    if (!g) return;
    if (g->matmul) dnnl_primitive_destroy(g->matmul);
    if (g->add) dnnl_primitive_destroy(g->add);
    dnnl_memory_t mems[] = {g->dy_t, g->patches, g->product, g->product_ohwi, g->dw};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(g->product_buffer);
    free(g);
}

static cr_status build(cr_backend *be, cr_cpu_conv_gemm *g, const dnnl_memory_desc_t *dw_md) {
    const cr_conv2d_args *a = &g->shape;
    dnnl_dim_t m = (dnnl_dim_t)a->n * a->h_out * a->w_out;
    dnnl_dim_t cols = (dnnl_dim_t)a->kernel_h * a->kernel_w * a->c_in;
    dnnl_memory_desc_t dy_t, patches, product, ohwi;
    CR_DNNL(dnnl_memory_desc_init_by_strides(&dy_t, 2, (dnnl_dims_t){a->c_out, m}, dnnl_bf16,
                                             (dnnl_dims_t){1, a->c_out}));
    CR_DNNL(dnnl_memory_desc_init_by_strides(&patches, 2, (dnnl_dims_t){m, cols}, dnnl_bf16,
                                             (dnnl_dims_t){cols, 1}));
    CR_DNNL(dnnl_memory_desc_init_by_strides(&product, 2, (dnnl_dims_t){a->c_out, cols},
                                             dnnl_f32, (dnnl_dims_t){cols, 1}));
    CR_DNNL(dnnl_memory_desc_init_by_tag(
        &ohwi, 4, (dnnl_dims_t){a->c_out, a->c_in, a->kernel_h, a->kernel_w}, dnnl_f32,
        dnnl_ohwi));
    dnnl_matmul_desc_t d;
    CR_DNNL(dnnl_matmul_desc_init(&d, &dy_t, &patches, NULL, &product));
    dnnl_primitive_desc_t pd;
    CR_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, cr_cpu_of(be)->engine, NULL));
    cr_status s = cr_cpu_primitive(pd, "conv2d bf16 backward weights (matmul)", true, &g->matmul);
    dnnl_primitive_desc_destroy(pd);
    CR_TRY(s);
    g->patch_bytes = dnnl_memory_desc_get_size(&patches);
    g->product_buffer = cr_cpu_alloc(be, dnnl_memory_desc_get_size(&product));
    if (!g->product_buffer)
        return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate the weight gradient's product");
    CR_TRY(cr_cpu_memory(be, &dy_t, &g->dy_t));
    CR_TRY(cr_cpu_memory(be, &patches, &g->patches));
    CR_TRY(cr_cpu_memory(be, &product, &g->product));
    CR_TRY(cr_cpu_memory(be, &ohwi, &g->product_ohwi));
    CR_TRY(cr_cpu_memory(be, dw_md, &g->dw));
    cr_cpu_bind(g->product, g->product_buffer);
    cr_cpu_bind(g->product_ohwi, g->product_buffer);
    return cr_cpu_reorder(be, &ohwi, dw_md, true, &g->add);
}

cr_status cr_cpu_conv_gemm_create(cr_backend *be, const cr_conv2d_args *a,
                                  const dnnl_memory_desc_t *dw_md, cr_cpu_conv_gemm **out) {
    cr_cpu_conv_gemm *g = calloc(1, sizeof *g);
    if (!g) return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate its weight-gradient plan");
    g->shape = *a;
    cr_status s = build(be, g, dw_md);
    if (s != CR_STATUS_OK) {
        cr_cpu_conv_gemm_destroy(g);
        return s;
    }
    *out = g;
    return CR_STATUS_OK;
}

/* Row m = (n, oh, ow) of the patches: for each tap (kh, kw), the C_in values under it, or zeros
 * where the tap falls on the padding. */
static void im2col(const cr_backend *be, const cr_conv2d_args *a, const uint16_t *x,
                   uint16_t *patches) {
    const int cells = a->h_out * a->w_out, c = a->c_in;
    const ptrdiff_t rows = (ptrdiff_t)a->n * cells;
    const size_t cols = (size_t)a->kernel_h * a->kernel_w * c;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (ptrdiff_t m = 0; m < rows; m++) {
        int n = (int)(m / cells), cell = (int)(m % cells);
        int oh = cell / a->w_out, ow = cell % a->w_out;
        uint16_t *row = patches + (size_t)m * cols;
        for (int kh = 0; kh < a->kernel_h; kh++) {
            int ih = oh * a->stride_h - a->pad_h + kh * a->dilation_h;
            for (int kw = 0; kw < a->kernel_w; kw++, row += c) {
                int iw = ow * a->stride_w - a->pad_w + kw * a->dilation_w;
                if (ih < 0 || ih >= a->h_in || iw < 0 || iw >= a->w_in)
                    memset(row, 0, sizeof *row * (size_t)c);
                else
                    memcpy(row, x + (((size_t)n * a->h_in + ih) * a->w_in + iw) * c,
                           sizeof *row * (size_t)c);
            }
        }
    }
}

cr_status cr_cpu_conv_gemm_run(cr_backend *be, cr_cpu_conv_gemm *g, const cr_conv2d_args *a) {
    if (input_is_patches(a)) {
        cr_cpu_bind(g->patches, a->x);
    } else {
        uint16_t *patches = cr_cpu_scratch(be, g->patch_bytes);
        if (!patches)
            return cr_fail(CR_STATUS_NOMEM, "conv2d: cannot allocate %zu bytes of patches",
                           g->patch_bytes);
        im2col(be, a, a->x, patches);
        cr_cpu_bind(g->patches, patches);
    }
    cr_cpu_bind(g->dy_t, a->dy);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, g->dy_t}, {DNNL_ARG_WEIGHTS, g->patches},
                               {DNNL_ARG_DST, g->product}};
    CR_TRY(cr_cpu_execute(be, g->matmul, 3, args));
    cr_cpu_bind(g->dw, a->dw);
    return cr_cpu_execute_reorder(be, g->add, g->product_ohwi, g->dw);
}
