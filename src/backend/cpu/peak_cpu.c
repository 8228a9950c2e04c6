/* The CPU's best arithmetic rate, measured on oneDNN's own kernels: a 3x3 convolution in the
 * layouts oneDNN prefers, large enough to run at full speed, timed after a warm-up, best of five. */
#include "backend/cpu/cpu.h"
#include "crescendo/log.h"

/* 256 -> 256 channels at 14x14, batch 64: 14.8 GFLOP, ResNet's third stage at 224 px. */
enum { PEAK_N = 64, PEAK_C = 256, PEAK_SIDE = 14, PEAK_RUNS = 5 };

typedef struct peak_conv {
    dnnl_primitive_t conv;
    dnnl_memory_t mem[3]; /* src, weights, dst, each with its own storage */
} peak_conv;

static void peak_conv_release(peak_conv *p) {
    if (p->conv) dnnl_primitive_destroy(p->conv);
    for (int i = 0; i < 3; i++)
        if (p->mem[i]) dnnl_memory_destroy(p->mem[i]);
}

static cr_status peak_conv_build(cr_backend *be, dnnl_data_type_t dt, peak_conv *p) {
    dnnl_dims_t x = {PEAK_N, PEAK_C, PEAK_SIDE, PEAK_SIDE}, w = {PEAK_C, PEAK_C, 3, 3};
    dnnl_dims_t strides = {1, 1}, dilation = {0, 0}, pad = {1, 1};
    dnnl_memory_desc_t x_md, w_md;
    CR_DNNL(dnnl_memory_desc_init_by_tag(&x_md, 4, x, dt, dnnl_format_tag_any));
    CR_DNNL(dnnl_memory_desc_init_by_tag(&w_md, 4, w, dt, dnnl_format_tag_any));
    dnnl_convolution_desc_t d;
    CR_DNNL(dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_training,
                                                        dnnl_convolution_direct, &x_md, &w_md,
                                                        NULL, &x_md, strides, dilation, pad, pad));
    dnnl_primitive_desc_t pd;
    dnnl_engine_t engine = cr_cpu_of(be)->engine;
    CR_DNNL(dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL));
    const dnnl_query_t queries[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
    cr_status s = cr_cpu_primitive(pd, "peak convolution", false, &p->conv);
    for (int i = 0; i < 3 && s == CR_STATUS_OK; i++)
        s = cr_cpu_dnnl_status(dnnl_memory_create(&p->mem[i],
                                                  dnnl_primitive_desc_query_md(pd, queries[i], 0),
                                                  engine, DNNL_MEMORY_ALLOCATE),
                               __func__, "dnnl_memory_create");
    dnnl_primitive_desc_destroy(pd);
    return s;
}

cr_status cr_cpu_peak_gflops(cr_backend *be, cr_dtype compute, double *out) {
    if (compute != CR_DTYPE_F32 && compute != CR_DTYPE_BF16)
        return cr_fail(CR_STATUS_UNSUPPORTED, "peak of %s arithmetic: F32 or BF16",
                       cr_dtype_name(compute));
    cr_cpu_enter(be);
    peak_conv p = {0};
    cr_status s = peak_conv_build(be, compute == CR_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32, &p);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p.mem[0]}, {DNNL_ARG_WEIGHTS, p.mem[1]},
                               {DNNL_ARG_DST, p.mem[2]}};
    double best = 0.0; /* runs per second; run 0 warms up */
    for (int run = 0; s == CR_STATUS_OK && run <= PEAK_RUNS; run++) {
        double start = cr_now_seconds();
        s = cr_cpu_execute(be, p.conv, 3, args);
        if (s == CR_STATUS_OK)
            s = cr_cpu_dnnl_status(dnnl_stream_wait(cr_cpu_of(be)->stream), __func__,
                                   "dnnl_stream_wait");
        double seconds = cr_now_seconds() - start;
        if (run > 0 && seconds > 0.0 && 1.0 / seconds > best) best = 1.0 / seconds;
    }
    peak_conv_release(&p);
    *out = 2.0 * PEAK_N * PEAK_SIDE * PEAK_SIDE * (double)PEAK_C * PEAK_C * 9 * best * 1e-9;
    return s;
}
