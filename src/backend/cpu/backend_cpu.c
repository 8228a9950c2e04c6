/* The CPU backend itself: oneDNN engine and stream, host memory, op caches, its report of oneDNN
 * and OpenMP (the rest of the program asks it rather than including them) and the op table.
 * Also the oneDNN glue every op file shares, so that error mapping and kernel logging live once. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "crescendo/arena.h"
#include "crescendo/log.h"

/* memory */

void *cr_cpu_alloc(cr_backend *be, size_t bytes) {
    (void)be;
    return aligned_alloc(CR_ARENA_ALIGN, cr_align_up(bytes ? bytes : 1, CR_ARENA_ALIGN));
}

void cr_cpu_free(cr_backend *be, void *p) {
    (void)be;
    free(p);
}

void *cr_cpu_scratch(cr_backend *be, size_t bytes) {
    cr_cpu *cpu = cr_cpu_of(be);
    if (bytes <= cpu->scratch_bytes) return cpu->scratch;
    free(cpu->scratch);
    cpu->scratch_bytes = 0;
    cpu->scratch = cr_cpu_alloc(be, bytes);
    if (cpu->scratch) cpu->scratch_bytes = bytes;
    return cpu->scratch;
}

static cr_status cpu_copy(cr_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memcpy(dst, src, bytes);
    return CR_STATUS_OK;
}

/* Gradient arenas are zeroed every step; one thread alone cannot fill the memory bandwidth. */
static cr_status cpu_zero(cr_backend *be, void *p, size_t bytes) {
    enum { CHUNK = 1 << 20 };
    ptrdiff_t chunks = (ptrdiff_t)((bytes + CHUNK - 1) / CHUNK);
#pragma omp parallel for num_threads(be->threads) if (chunks > 1) schedule(static)
    for (ptrdiff_t i = 0; i < chunks; i++) {
        size_t start = (size_t)i * CHUNK, len = bytes - start < CHUNK ? bytes - start : CHUNK;
        memset((char *)p + start, 0, len);
    }
    return CR_STATUS_OK;
}

static cr_status cpu_synchronize(cr_backend *be) {
    CR_DNNL(dnnl_stream_wait(cr_cpu_of(be)->stream));
    return CR_STATUS_OK;
}

void cr_cpu_add_into(const cr_backend *be, float *dst, const float *src, size_t count) {
#pragma omp parallel for simd num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN)           \
    schedule(static)
    for (size_t i = 0; i < count; i++) dst[i] += src[i];
}

/* caches */

cr_op_cache *cr_cpu_cache_match(cr_op_cache **slot, cr_cpu_cache_kind kind, const void *key,
                                size_t key_size) {
    cr_op_cache *c = *slot;
    if (!c) return NULL;
    if (c->kind == kind && c->key_size == key_size && memcmp(c->key, key, key_size) == 0) return c;
    c->destroy(c);
    *slot = NULL;
    return NULL;
}

void *cr_cpu_cache_new(size_t bytes, cr_cpu_cache_kind kind, void (*destroy)(cr_op_cache *),
                       const void *key, size_t key_size) {
    CR_ASSERT(bytes >= sizeof(cr_op_cache) && key_size <= CR_CPU_CACHE_KEY_MAX);
    cr_op_cache *c = calloc(1, bytes);
    if (!c) return NULL;
    c->kind = kind;
    c->destroy = destroy;
    c->key_size = key_size;
    memcpy(c->key, key, key_size);
    return c;
}

void cr_cpu_cache_destroy(cr_backend *be, cr_op_cache *cache) {
    (void)be;
    if (cache) cache->destroy(cache);
}

/* oneDNN glue */

cr_status cr_cpu_dnnl_status(dnnl_status_t st, const char *where, const char *call) {
    cr_status s = CR_STATUS_INTERNAL;
    const char *why = "failure";
    switch (st) {
    case dnnl_success: return CR_STATUS_OK;
    case dnnl_out_of_memory: s = CR_STATUS_NOMEM, why = "out of memory"; break;
    case dnnl_unimplemented:
        s = CR_STATUS_UNSUPPORTED, why = "no implementation for these arguments";
        break;
    case dnnl_invalid_arguments: s = CR_STATUS_INVALID, why = "invalid arguments"; break;
    default: break;
    }
    return cr_fail(s, "%s: oneDNN %s (status %d) in %s", where, why, (int)st, call);
}

void cr_cpu_enter(const cr_backend *be) {
    if (omp_get_max_threads() != be->threads) omp_set_num_threads(be->threads);
}

cr_status cr_cpu_memory(const cr_backend *be, const dnnl_memory_desc_t *md, dnnl_memory_t *out) {
    CR_DNNL(dnnl_memory_create(out, md, cr_cpu_of(be)->engine, DNNL_MEMORY_NONE));
    return CR_STATUS_OK;
}

void cr_cpu_bind(dnnl_memory_t mem, const void *data) {
    /* oneDNN takes non-const handles for inputs too; it only reads them */
    dnnl_status_t st = dnnl_memory_set_data_handle(mem, (void *)(uintptr_t)data);
    CR_ASSERT(st == dnnl_success);
}

cr_status cr_cpu_primitive(const dnnl_primitive_desc_t pd, const char *what, bool reject_ref,
                           dnnl_primitive_t *out) {
    const char *impl = "?";
    CR_DNNL(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    bool ref = strncmp(impl, "ref", 3) == 0;
    if (ref && reject_ref)
        return cr_fail(CR_STATUS_UNSUPPORTED,
                       "%s: oneDNN has only its reference kernel (%s) for these arguments on "
                       "this CPU", what, impl);
    cr_log(ref ? CR_LOG_WARN : CR_LOG_DEBUG, "%s: oneDNN kernel %s%s", what, impl,
           ref ? " (reference implementation: slow)" : "");
    CR_DNNL(dnnl_primitive_create(out, pd));
    return CR_STATUS_OK;
}

cr_status cr_cpu_accumulate_attr(bool accumulate, dnnl_primitive_attr_t *out) {
    *out = NULL;
    if (!accumulate) return CR_STATUS_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success) st = dnnl_post_ops_create(&ops);
    if (st == dnnl_success) st = dnnl_post_ops_append_sum(ops, 1.0f);
    if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, ops); /* copies ops */
    dnnl_post_ops_destroy(ops);
    if (st != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return cr_cpu_dnnl_status(st, __func__, "a sum post-op");
    }
    *out = attr;
    return CR_STATUS_OK;
}

cr_status cr_cpu_reorder(const cr_backend *be, const dnnl_memory_desc_t *src,
                         const dnnl_memory_desc_t *dst, bool accumulate, dnnl_primitive_t *out) {
    dnnl_engine_t eng = cr_cpu_of(be)->engine;
    dnnl_primitive_attr_t attr;
    CR_TRY(cr_cpu_accumulate_attr(accumulate, &attr));
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, src, eng, dst, eng, attr);
    if (st == dnnl_success) st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return cr_cpu_dnnl_status(st, __func__, accumulate ? "an accumulating reorder" : "a reorder");
}

cr_status cr_cpu_execute(const cr_backend *be, dnnl_primitive_t p, int nargs,
                         const dnnl_exec_arg_t *args) {
    CR_DNNL(dnnl_primitive_execute(p, cr_cpu_of(be)->stream, nargs, args));
    return CR_STATUS_OK;
}

cr_status cr_cpu_execute_reorder(const cr_backend *be, dnnl_primitive_t p, dnnl_memory_t from,
                                 dnnl_memory_t to) {
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return cr_cpu_execute(be, p, 2, args);
}

/* what the backend reports */

/* oneDNN's names for its x86 instruction sets. A table rather than a switch: a newer oneDNN adds
 * values, which are printed in hexadecimal. */
static const struct {
    dnnl_cpu_isa_t isa;
    const char *name;
} isa_names[] = {
    {dnnl_cpu_isa_all, "all"},
    {dnnl_cpu_isa_sse41, "sse41"},
    {dnnl_cpu_isa_avx, "avx"},
    {dnnl_cpu_isa_avx2, "avx2"},
    {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
    {dnnl_cpu_isa_avx512_mic, "avx512_mic"},
    {dnnl_cpu_isa_avx512_mic_4ops, "avx512_mic_4ops"},
    {dnnl_cpu_isa_avx512_core, "avx512_core"},
    {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
    {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
    {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
};

static cr_status cpu_info(const cr_backend *be, cr_backend_info *out) {
    memset(out, 0, sizeof *out);
    const dnnl_version_t *version = dnnl_version();
    snprintf(out->library, sizeof out->library, "onednn");
    snprintf(out->version, sizeof out->version, "%d.%d.%d", version->major, version->minor,
             version->patch);
    /* the effective ISA: the CPU's, lowered by DNNL_MAX_CPU_ISA when that is set */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    snprintf(out->isa, sizeof out->isa, "0x%x", (unsigned)isa);
    for (size_t i = 0; i < sizeof isa_names / sizeof isa_names[0]; i++)
        if (isa_names[i].isa == isa) snprintf(out->isa, sizeof out->isa, "%s", isa_names[i].name);
    /* each ISA's value holds the bits of those it extends: AMX and later include AVX512-BF16 */
    const unsigned bf16_bits = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    out->bf16 = ((unsigned)isa & bf16_bits) == bf16_bits;
    out->threads = be->threads;
    out->processors = omp_get_num_procs();
    const char *env = getenv("OMP_NUM_THREADS");
    snprintf(out->omp_num_threads, sizeof out->omp_num_threads, "%s", env ? env : "");
    return CR_STATUS_OK;
}

/* the backend */

static const cr_backend_ops cpu_ops = {
    .name = "cpu",
    .alloc = cr_cpu_alloc,
    .free = cr_cpu_free,
    .copy_to_host = cpu_copy,
    .copy_from_host = cpu_copy,
    .zero = cpu_zero,
    .synchronize = cpu_synchronize,
    .cache_destroy = cr_cpu_cache_destroy,
    .conv2d_forward = cr_cpu_conv2d_forward,
    .conv2d_backward_data = cr_cpu_conv2d_backward_data,
    .conv2d_backward_weights = cr_cpu_conv2d_backward_weights,
    .batchnorm_forward_train = cr_cpu_batchnorm_forward_train,
    .batchnorm_forward_infer = cr_cpu_batchnorm_forward_infer,
    .batchnorm_backward = cr_cpu_batchnorm_backward,
    .pool2d_forward = cr_cpu_pool2d_forward,
    .pool2d_backward = cr_cpu_pool2d_backward,
    .global_avgpool_forward = cr_cpu_global_avgpool_forward,
    .global_avgpool_backward = cr_cpu_global_avgpool_backward,
    .adaptive_avgpool_forward = cr_cpu_adaptive_avgpool_forward,
    .adaptive_avgpool_backward = cr_cpu_adaptive_avgpool_backward,
    .linear_forward = cr_cpu_linear_forward,
    .linear_backward_data = cr_cpu_linear_backward_data,
    .linear_backward_weights = cr_cpu_linear_backward_weights,
    .relu_forward = cr_cpu_relu_forward,
    .relu_backward = cr_cpu_relu_backward,
    .add = cr_cpu_add,
    .accumulate = cr_cpu_accumulate,
    .transpose = cr_cpu_transpose,
    .dropout_forward = cr_cpu_dropout_forward,
    .dropout_backward = cr_cpu_dropout_backward,
    .softmax_xent_forward = cr_cpu_softmax_xent_forward,
    .softmax_xent_backward = cr_cpu_softmax_xent_backward,
    .sgd_step = cr_cpu_sgd_step,
    .adamw_step = cr_cpu_adamw_step,
    .info = cpu_info,
    .peak_gflops = cr_cpu_peak_gflops,
};

cr_status cr_cpu_backend_create(int threads, cr_backend **out) {
    *out = NULL;
    if (threads < 1) return cr_fail(CR_STATUS_INVALID, "cpu backend: %d threads", threads);
    cr_backend *be = calloc(1, sizeof *be);
    cr_cpu *cpu = calloc(1, sizeof *cpu);
    if (be) be->impl = cpu;
    if (cpu)
        cpu->partials = aligned_alloc(CR_ARENA_ALIGN, cr_align_up((size_t)threads *
                                      CR_CPU_PARTIAL_STRIDE * sizeof(double), CR_ARENA_ALIGN));
    if (!be || !cpu || !cpu->partials) {
        if (cpu) free(cpu->partials);
        free(cpu);
        free(be);
        return cr_fail(CR_STATUS_NOMEM, "cpu backend: cannot allocate its state");
    }
    be->ops = &cpu_ops;
    be->device = CR_DEVICE_CPU;
    be->threads = threads;
    cr_cpu_enter(be);
    cr_status s = cr_cpu_dnnl_status(dnnl_engine_create(&cpu->engine, dnnl_cpu, 0), __func__,
                                     "dnnl_engine_create");
    if (s == CR_STATUS_OK)
        s = cr_cpu_dnnl_status(dnnl_stream_create(&cpu->stream, cpu->engine,
                                                  dnnl_stream_default_flags),
                               __func__, "dnnl_stream_create");
    if (s != CR_STATUS_OK) {
        cr_cpu_backend_destroy(be);
        return s;
    }
    *out = be;
    return CR_STATUS_OK;
}

void cr_cpu_backend_destroy(cr_backend *be) {
    if (!be) return;
    cr_cpu *cpu = cr_cpu_of(be);
    if (cpu->stream) dnnl_stream_destroy(cpu->stream);
    if (cpu->engine) dnnl_engine_destroy(cpu->engine);
    free(cpu->partials);
    free(cpu->scratch);
    free(cpu);
    free(be);
}
