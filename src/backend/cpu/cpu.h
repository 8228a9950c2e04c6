/* The CPU backend's private interface: its state, its op caches and the ops each file defines.
 * Shared by the files of src/backend/cpu and by registry.c, which creates the backend. */
#ifndef CR_BACKEND_CPU_H
#define CR_BACKEND_CPU_H

#include <oneapi/dnnl/dnnl.h>
#include <stddef.h>

#include "crescendo/backend.h"

/* Below this many elements an elementwise loop runs on one thread: waking the team costs more. */
enum { CR_CPU_PARALLEL_MIN = 1 << 15 };
/* Doubles between two threads' partial sums, so that they sit on different cache lines. */
enum { CR_CPU_PARTIAL_STRIDE = 8 };

/* Activations are F32 or BF16 (backend.h). Kernels read and write them through these, with `bf16`
 * a constant at each call site so that every loop compiles once per type and vectorizes; the
 * arithmetic is fp32 either way. */
static inline float cr_cpu_load(const void *p, size_t i, bool bf16) {
    return bf16 ? cr_bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void cr_cpu_store(void *p, size_t i, float v, bool bf16) {
    if (bf16) ((uint16_t *)p)[i] = cr_f32_to_bf16(v);
    else ((float *)p)[i] = v;
}

/* The activation types the CPU kernels take; anything else fails naming the op. */
cr_status cr_cpu_check_dtype(cr_dtype dtype, const char *op);

/* A backend serves one thread at a time: the scratch and the partial sums below are shared by
 * all its ops (the trainer calls ops in sequence from one thread). */
typedef struct cr_cpu {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    double *partials; /* (threads, CR_CPU_PARTIAL_STRIDE): per-thread sums of a reduction */
    void *scratch;    /* (scratch_bytes) the ops' transient copies; see cr_cpu_scratch */
    size_t scratch_bytes;
} cr_cpu;

static inline cr_cpu *cr_cpu_of(const cr_backend *be) { return (cr_cpu *)be->impl; }

cr_status cr_cpu_backend_create(int threads, cr_backend **out);
void cr_cpu_backend_destroy(cr_backend *be);

/* Op caches. Each op's cache struct starts with this base; the key is a byte copy of the shape
 * fields the cache was built for, so a change of resolution or batch size is noticed by memcmp. */
typedef enum cr_cpu_cache_kind {
    CR_CPU_CACHE_CONV,
    CR_CPU_CACHE_BATCHNORM,
    CR_CPU_CACHE_POOL,
    CR_CPU_CACHE_LINEAR
} cr_cpu_cache_kind;

enum { CR_CPU_CACHE_KEY_MAX = 96 };

struct cr_op_cache {
    cr_cpu_cache_kind kind;
    void (*destroy)(cr_op_cache *cache); /* frees the whole derived struct */
    size_t key_size;
    unsigned char key[CR_CPU_CACHE_KEY_MAX];
};

/* The cache in *slot when it was built for (kind, key); otherwise NULL, after destroying whatever
 * *slot held (a stale cache from another shape) and setting *slot to NULL. */
cr_op_cache *cr_cpu_cache_match(cr_op_cache **slot, cr_cpu_cache_kind kind, const void *key,
                                size_t key_size);
/* Zero-fills `bytes` of a new derived cache struct and sets its base. NULL when out of memory. */
void *cr_cpu_cache_new(size_t bytes, cr_cpu_cache_kind kind, void (*destroy)(cr_op_cache *),
                       const void *key, size_t key_size);
void cr_cpu_cache_destroy(cr_backend *be, cr_op_cache *cache);

/* Scratch owned by caches: 64-byte aligned, NULL when out of memory. */
void *cr_cpu_alloc(cr_backend *be, size_t bytes);
void cr_cpu_free(cr_backend *be, void *p);
/* The backend's transient buffer, grown to at least `bytes` (NULL when out of memory). Ops run one
 * at a time, so one buffer serves them all: its content does not survive the op that asked. */
void *cr_cpu_scratch(cr_backend *be, size_t bytes);

/* oneDNN glue. Every dnnl_* call goes through CR_DNNL so that a failure becomes a cr_status whose
 * message names the calling function and the oneDNN status. */
cr_status cr_cpu_dnnl_status(dnnl_status_t st, const char *where, const char *call);
#define CR_DNNL(call) CR_TRY(cr_cpu_dnnl_status((call), __func__, #call))

/* Makes the OpenMP thread count of the calling thread the backend's, which oneDNN reads when it
 * creates and runs primitives: results are reproducible only for a fixed count. */
void cr_cpu_enter(const cr_backend *be);

/* A memory object with no data of its own; cr_cpu_bind points it at a buffer before each run. */
cr_status cr_cpu_memory(const cr_backend *be, const dnnl_memory_desc_t *md, dnnl_memory_t *out);
void cr_cpu_bind(dnnl_memory_t mem, const void *data);
/* Creates the primitive of pd and logs the implementation oneDNN chose at CR_LOG_DEBUG. A
 * reference (`ref:`) kernel means a slow path: with `reject_ref` it fails with
 * CR_STATUS_UNSUPPORTED, otherwise it is logged at CR_LOG_WARN. */
cr_status cr_cpu_primitive(const dnnl_primitive_desc_t pd, const char *what, bool reject_ref,
                           dnnl_primitive_t *out);
/* Attributes that make a primitive add its result into its destination (a sum post-op), or NULL
 * when `accumulate` is false; the caller destroys them. */
cr_status cr_cpu_accumulate_attr(bool accumulate, dnnl_primitive_attr_t *out);
/* A reorder from src to dst layout; with `accumulate` it adds into dst (dst += src). */
cr_status cr_cpu_reorder(const cr_backend *be, const dnnl_memory_desc_t *src,
                         const dnnl_memory_desc_t *dst, bool accumulate, dnnl_primitive_t *out);
/* Runs a primitive on the backend's stream. */
cr_status cr_cpu_execute(const cr_backend *be, dnnl_primitive_t p, int nargs,
                         const dnnl_exec_arg_t *args);
/* Runs a reorder from `from` to `to`. */
cr_status cr_cpu_execute_reorder(const cr_backend *be, dnnl_primitive_t p, dnnl_memory_t from,
                                 dnnl_memory_t to);
/* dst[i] += src[i], the accumulation behind every `+=` parameter gradient of a small tensor. */
void cr_cpu_add_into(const cr_backend *be, float *dst, const float *src, size_t count);

/* The ops, one file per family (conv_cpu.c, norm_cpu.c, pool_cpu.c, reshape_cpu.c, linear_cpu.c,
 * elementwise_cpu.c, loss_cpu.c, optim_cpu.c), named after the cr_backend_ops slots they fill. */
cr_status cr_cpu_conv2d_forward(cr_backend *be, cr_op_cache **cache, const cr_conv2d_args *a);
cr_status cr_cpu_conv2d_backward_data(cr_backend *be, cr_op_cache **cache, const cr_conv2d_args *a);
cr_status cr_cpu_conv2d_backward_weights(cr_backend *be, cr_op_cache **cache,
                                         const cr_conv2d_args *a);

/* A convolution over a small map as im2col + matmul (conv_gemm_cpu.c), which conv_cpu.c uses for
 * each pass where cr_cpu_conv_gemm_applies. *slot holds the plan, made on first use; dw_md is the
 * caller's OIHW f32 layout of the weight gradient. */
typedef struct cr_cpu_conv_gemm cr_cpu_conv_gemm;
typedef enum cr_cpu_conv_pass {
    CR_CPU_CONV_FORWARD,
    CR_CPU_CONV_BACKWARD_DATA,
    CR_CPU_CONV_BACKWARD_WEIGHTS
} cr_cpu_conv_pass;
bool cr_cpu_conv_gemm_applies(const cr_conv2d_args *a, cr_cpu_conv_pass pass);
cr_status cr_cpu_conv_gemm_forward(cr_backend *be, cr_cpu_conv_gemm **slot,
                                   const cr_conv2d_args *a);
cr_status cr_cpu_conv_gemm_backward_data(cr_backend *be, cr_cpu_conv_gemm **slot,
                                         const cr_conv2d_args *a);
cr_status cr_cpu_conv_gemm_backward_weights(cr_backend *be, cr_cpu_conv_gemm **slot,
                                            const cr_conv2d_args *a,
                                            const dnnl_memory_desc_t *dw_md);
void cr_cpu_conv_gemm_destroy(cr_cpu_conv_gemm *g);

cr_status cr_cpu_batchnorm_forward_train(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a);
cr_status cr_cpu_batchnorm_forward_infer(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a);
cr_status cr_cpu_batchnorm_backward(cr_backend *be, cr_op_cache **cache,
                                    const cr_batchnorm_args *a);

cr_status cr_cpu_pool2d_forward(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a);
cr_status cr_cpu_pool2d_backward(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a);
cr_status cr_cpu_global_avgpool_forward(cr_backend *be, const cr_global_avgpool_args *a);
cr_status cr_cpu_global_avgpool_backward(cr_backend *be, const cr_global_avgpool_args *a);
cr_status cr_cpu_adaptive_avgpool_forward(cr_backend *be, const cr_adaptive_avgpool_args *a);
cr_status cr_cpu_adaptive_avgpool_backward(cr_backend *be, const cr_adaptive_avgpool_args *a);

cr_status cr_cpu_linear_forward(cr_backend *be, cr_op_cache **cache, const cr_linear_args *a);
cr_status cr_cpu_linear_backward_data(cr_backend *be, cr_op_cache **cache, const cr_linear_args *a);
cr_status cr_cpu_linear_backward_weights(cr_backend *be, cr_op_cache **cache,
                                         const cr_linear_args *a);

cr_status cr_cpu_relu_forward(cr_backend *be, cr_dtype dtype, size_t count, const void *x,
                              void *y);
cr_status cr_cpu_relu_backward(cr_backend *be, cr_dtype dtype, size_t count, const void *y,
                               const void *dy, void *dx);
cr_status cr_cpu_add(cr_backend *be, cr_dtype dtype, size_t count, const void *a, const void *b,
                     bool relu, void *y);
cr_status cr_cpu_accumulate(cr_backend *be, cr_dtype dtype, size_t count, const void *src,
                            void *dst);
cr_status cr_cpu_transpose(cr_backend *be, int n, int rows, int cols, cr_dtype src_dtype,
                           const void *src, cr_dtype dst_dtype, void *dst);
cr_status cr_cpu_dropout_forward(cr_backend *be, const cr_dropout_args *a);
cr_status cr_cpu_dropout_backward(cr_backend *be, const cr_dropout_args *a);

cr_status cr_cpu_softmax_xent_forward(cr_backend *be, const cr_xent_args *a);
cr_status cr_cpu_softmax_xent_backward(cr_backend *be, const cr_xent_args *a);

cr_status cr_cpu_peak_gflops(cr_backend *be, cr_dtype compute, double *out);

cr_status cr_cpu_sgd_step(cr_backend *be, const cr_sgd_args *a);
cr_status cr_cpu_adamw_step(cr_backend *be, const cr_adamw_args *a);

#endif
