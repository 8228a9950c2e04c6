/* crescendo/backend.h — the op table every backend fills, and how a backend is chosen.
 *
 * Memory order. Shapes in this file are logical (N, C, H, W). Every 4-D activation and its
 * gradient is stored channels-last, (N, H, W, C) contiguous, on every backend: it is the order the
 * loader writes, the one tensor cores want, and the one oneDNN convolves fastest without reorders
 * at every elementwise op. Parameters are stored in PyTorch's order (conv OIHW, linear [out, in]);
 * a backend reorders weights internally where its kernels want another.
 *
 * Element types. Activations and their gradients are stored as F32 or BF16, as the dtype fields of
 * each op's arguments say (a field left out is 0, F32), and their pointers are untyped for that
 * reason. Parameters, their gradients, BatchNorm statistics, the loss and optimizer state are
 * always F32: mixed precision keeps its master copy and every reduction in fp32.
 *
 * Gradient rule. Parameter gradients are accumulated (+=), so that gradient accumulation and shared
 * weights need no special case; activation gradients are written (=), and where two paths meet the
 * graph adds them with `accumulate`.
 *
 * Caches. Ops that need prepared state (oneDNN primitives, cuDNN algorithms, workspaces such as the
 * max-pool argmax) take a `cr_op_cache **` owned by the caller, one per node and op. The backend
 * fills it on first use and rebuilds it when the shapes change; `cache_destroy` frees it. */
#ifndef CRESCENDO_BACKEND_H
#define CRESCENDO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crescendo/status.h"
#include "crescendo/tensor.h"

typedef struct cr_backend cr_backend;
typedef struct cr_op_cache cr_op_cache;

/* Convolution. One struct serves forward and both backward passes; unused pointers are NULL. */
typedef struct cr_conv2d_args {
    int n, c_in, h_in, w_in;
    int c_out, h_out, w_out; /* from cr_conv2d_output_size */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
    cr_dtype compute;        /* F32, or BF16: bf16 products summed in fp32, whatever x and y hold */
    cr_dtype x_dtype;        /* of x and dx */
    cr_dtype y_dtype;        /* of y and dy */
    const void *x;           /* (N, H_in, W_in, C_in) */
    const float *w;          /* (C_out, C_in / groups, KH, KW) */
    const float *bias;       /* (C_out) or NULL */
    void *y;                 /* (N, H_out, W_out, C_out) */
    const void *dy;          /* (N, H_out, W_out, C_out) */
    void *dx;                /* (N, H_in, W_in, C_in), written */
    float *dw;               /* like w, accumulated */
    float *dbias;            /* (C_out) or NULL, accumulated */
} cr_conv2d_args;

/* Batch normalization over N, H, W for each channel, PyTorch's semantics: training normalizes with
 * the biased batch variance and updates running_var with the unbiased one. Statistics are summed
 * in double whatever the activations' dtype.
 *
 * With `relu`, a ReLU follows in the same pass: forward writes max(y, 0), and backward takes dy as
 * the gradient of that ReLU's output, passing it where y (the fused output) is positive. */
/* Sums over processes for synchronized BatchNorm: `values` (count doubles) replaced by their sum
 * over every process. */
typedef struct cr_batchnorm_sum {
    cr_status (*add)(void *user, double *values, size_t count);
    void *user;
} cr_batchnorm_sum;

typedef struct cr_batchnorm_args {
    int n, c, h, w;
    float eps, momentum;     /* running = (1 - momentum) * running + momentum * batch */
    cr_dtype dtype;          /* of x, y, dy and dx */
    bool relu;
    const void *x;           /* (N, H, W, C) */
    void *y;                 /* (N, H, W, C); backward reads it when relu is set */
    const float *gamma, *beta;             /* (C) */
    float *running_mean, *running_var;     /* (C), updated by the training forward */
    float *saved_mean, *saved_invstd;      /* (C), written by the training forward for backward */
    const void *dy;          /* (N, H, W, C) */
    void *dx;                /* (N, H, W, C), written */
    float *dgamma, *dbeta;   /* (C), accumulated: this batch's own, whatever `sum` does */
    cr_batchnorm_sum sum;    /* synchronized BatchNorm: when set, the training forward and the
                              * backward hand it their per-channel sums and row count, which it
                              * adds up over the processes in place, so that the statistics and
                              * dx are those of every process's batch together */
} cr_batchnorm_args;

typedef enum cr_pool_kind { CR_POOL_MAX, CR_POOL_AVG } cr_pool_kind;

/* Max or average pooling; average excludes padding from the count only if exclude_pad is set
 * (PyTorch's count_include_pad=True is exclude_pad=false). */
typedef struct cr_pool2d_args {
    cr_pool_kind kind;
    int n, c, h_in, w_in, h_out, w_out;
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    bool exclude_pad;
    const void *x;   /* (N, H_in, W_in, C) */
    void *y;         /* (N, H_out, W_out, C) */
    const void *dy;  /* (N, H_out, W_out, C) */
    void *dx;        /* (N, H_in, W_in, C), written */
    cr_dtype dtype;  /* of all four */
} cr_pool2d_args;

/* Mean over H and W: (N, H, W, C) -> (N, C). */
typedef struct cr_global_avgpool_args {
    int n, c, h, w;
    const float *x;  /* (N, H, W, C) */
    float *y;        /* (N, C) */
    const float *dy; /* (N, C) */
    float *dx;       /* (N, H, W, C), written */
} cr_global_avgpool_args;

/* Adaptive average pooling to (H_out, W_out), torch.nn.AdaptiveAvgPool2d's windows: output cell i
 * averages input rows floor(i * H_in / H_out) .. ceil((i + 1) * H_in / H_out) - 1. It leads into
 * the classifier, so its output is F32 whatever its input holds. */
typedef struct cr_adaptive_avgpool_args {
    int n, c, h_in, w_in, h_out, w_out;
    const void *x;   /* (N, H_in, W_in, C) */
    float *y;        /* (N, H_out, W_out, C) */
    const float *dy; /* (N, H_out, W_out, C) */
    void *dx;        /* (N, H_in, W_in, C), written */
    cr_dtype x_dtype; /* of x and dx */
} cr_adaptive_avgpool_args;

/* y = x w^T + b. */
typedef struct cr_linear_args {
    int n, in_features, out_features;
    cr_dtype compute;
    const float *x;    /* (N, in) */
    const float *w;    /* (out, in) */
    const float *bias; /* (out) or NULL */
    float *y;          /* (N, out) */
    const float *dy;   /* (N, out) */
    float *dx;         /* (N, in), written */
    float *dw;         /* (out, in), accumulated */
    float *dbias;      /* (out), accumulated */
} cr_linear_args;

/* Inverted dropout: kept elements are scaled by 1 / (1 - p). The mask is a pure function of
 * (seed, stream, element index), so backward recomputes it instead of storing it. The index is
 * the element's in the whole batch of all processes: feature f of local sample j is element
 * (sample_offset + sample_stride * j) * sample_size + f, so that a sample keeps its mask however
 * the batch is shared out (offset 0 and stride 1: the local index). */
typedef struct cr_dropout_args {
    size_t count;
    float p;
    uint64_t seed, stream; /* stream: e.g. the step number times the node count plus the node */
    size_t sample_size;    /* elements of one sample */
    int sample_offset, sample_stride;
    cr_dtype dtype;        /* of all four */
    const void *x;
    void *y;
    const void *dy;
    void *dx; /* written */
} cr_dropout_args;

/* Softmax cross-entropy with label smoothing, averaged over the batch:
 * target = (1 - smoothing) * onehot + smoothing / K, as torch.nn.CrossEntropyLoss. A mixed batch
 * (mixup, cutmix) has two labels per sample and the target weight * target(labels) +
 * (1 - weight) * target(mix_labels), as timm's mixup_target with SoftTargetCrossEntropy. */
typedef struct cr_xent_args {
    int n, k;
    float smoothing;
    const float *logits;    /* (N, K) */
    const int32_t *labels;  /* (N), each in [0, K) */
    const int32_t *mix_labels; /* (N) the second label of each mixed sample; NULL: not mixed */
    float weight;           /* of labels against mix_labels, in [0, 1] */
    float *probs;           /* (N, K), written by forward, read by backward */
    float *loss;            /* (1), host memory: the batch mean */
    float *dlogits;         /* (N, K), written: d(mean loss) / d logits, times grad_scale */
    float grad_scale;       /* 1, or the loss scale under fp16 */
} cr_xent_args;

/* A run of parameters whose values, gradients and optimizer state are each contiguous and which
 * share a weight decay (norms and biases usually go undecayed). An optimizer step takes the table
 * of every segment of the trainable arena, so that one call and one pass cover the whole model. */
typedef struct cr_optim_segment {
    float *param;        /* (count) */
    const float *grad;   /* (count) */
    size_t state_offset; /* floats from the start of each state array of the step's args */
    size_t count;
    double weight_decay; /* >= 0, as PyTorch holds it (a double); each op rounds it as torch does */
} cr_optim_segment;

/* One torch.optim.SGD step over every segment:
 * g = grad + weight_decay * param; buf = momentum * buf + (1 - dampening) * g (buf = g on the first
 * step); g = nesterov ? g + momentum * buf : buf; param -= lr * g. */
typedef struct cr_sgd_args {
    const cr_optim_segment *segments; /* (segment_count), host memory */
    int segment_count;
    float lr, momentum, dampening;
    bool nesterov;
    bool first_step;
    float *momentum_buffer; /* parallel to the segments by state_offset; NULL when momentum is 0 */
} cr_sgd_args;

/* One torch.optim.AdamW step (amsgrad off) over every segment, at step t counted from 1:
 * param *= 1 - lr * weight_decay; m = beta1 * m + (1 - beta1) * grad;
 * v = beta2 * v + (1 - beta2) * grad^2; param -= step_size * m / (sqrt(v) / bias2_sqrt + eps).
 * The caller computes the scalars once per step, in double where torch computes in Python floats,
 * and rounds them to float where torch's kernels do; the one scalar that differs per segment,
 * 1 - lr * weight_decay, is left to the op, which computes it in double from lr. */
typedef struct cr_adamw_args {
    const cr_optim_segment *segments; /* (segment_count), host memory */
    int segment_count;
    double lr;
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float step_size;  /* lr / (1 - beta1^t) */
    float bias2_sqrt; /* sqrt(1 - beta2^t) */
    float eps;
    float *exp_avg, *exp_avg_sq; /* m and v, each parallel to the segments by state_offset */
} cr_adamw_args;

/* What a backend reports about its kernels and its machine: `crescendo info` prints it, and a
 * precision the hardware cannot run fast is refused up front (cr_backend_supports). */
typedef struct cr_backend_info {
    char library[32];         /* the kernel library, lower case: "onednn" */
    char version[32];         /* its version: "2.6.3" */
    char isa[32];             /* the instruction set its kernels use: "avx512_core_amx" */
    int threads;              /* this backend's compute threads */
    int processors;           /* processors this process may run on */
    char omp_num_threads[32]; /* the environment's OMP_NUM_THREADS, "" when unset */
    bool bf16;                /* bf16 arithmetic at full speed (CPU: AVX512-BF16 or AMX kernels) */
} cr_backend_info;

typedef struct cr_backend_ops {
    const char *name;

    /* memory */
    void *(*alloc)(cr_backend *be, size_t bytes); /* aligned to 64; NULL on failure */
    void (*free)(cr_backend *be, void *p);
    cr_status (*copy_to_host)(cr_backend *be, void *host_dst, const void *src, size_t bytes);
    cr_status (*copy_from_host)(cr_backend *be, void *dst, const void *host_src, size_t bytes);
    cr_status (*zero)(cr_backend *be, void *p, size_t bytes);
    cr_status (*synchronize)(cr_backend *be);
    void (*cache_destroy)(cr_backend *be, cr_op_cache *cache);

    /* convolution */
    cr_status (*conv2d_forward)(cr_backend *be, cr_op_cache **cache, const cr_conv2d_args *a);
    cr_status (*conv2d_backward_data)(cr_backend *be, cr_op_cache **cache, const cr_conv2d_args *a);
    cr_status (*conv2d_backward_weights)(cr_backend *be, cr_op_cache **cache,
                                         const cr_conv2d_args *a);

    /* batch normalization */
    cr_status (*batchnorm_forward_train)(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a);
    cr_status (*batchnorm_forward_infer)(cr_backend *be, cr_op_cache **cache,
                                         const cr_batchnorm_args *a);
    cr_status (*batchnorm_backward)(cr_backend *be, cr_op_cache **cache, const cr_batchnorm_args *a);

    /* pooling; max pooling keeps its argmax in the cache between forward and backward */
    cr_status (*pool2d_forward)(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a);
    cr_status (*pool2d_backward)(cr_backend *be, cr_op_cache **cache, const cr_pool2d_args *a);
    cr_status (*global_avgpool_forward)(cr_backend *be, const cr_global_avgpool_args *a);
    cr_status (*global_avgpool_backward)(cr_backend *be, const cr_global_avgpool_args *a);
    cr_status (*adaptive_avgpool_forward)(cr_backend *be, const cr_adaptive_avgpool_args *a);
    cr_status (*adaptive_avgpool_backward)(cr_backend *be, const cr_adaptive_avgpool_args *a);

    /* fully connected */
    cr_status (*linear_forward)(cr_backend *be, cr_op_cache **cache, const cr_linear_args *a);
    cr_status (*linear_backward_data)(cr_backend *be, cr_op_cache **cache, const cr_linear_args *a);
    cr_status (*linear_backward_weights)(cr_backend *be, cr_op_cache **cache,
                                         const cr_linear_args *a);

    /* elementwise over `count` elements of `dtype`; x and y may alias in relu_forward and add */
    cr_status (*relu_forward)(cr_backend *be, cr_dtype dtype, size_t count, const void *x,
                              void *y);
    /* dx = dy where y > 0, else 0 (y is the forward output) */
    cr_status (*relu_backward)(cr_backend *be, cr_dtype dtype, size_t count, const void *y,
                               const void *dy, void *dx);
    /* y = a + b, clamped at 0 with `relu` (the ReLU after a residual add, in the same pass) */
    cr_status (*add)(cr_backend *be, cr_dtype dtype, size_t count, const void *a, const void *b,
                     bool relu, void *y);
    cr_status (*accumulate)(cr_backend *be, cr_dtype dtype, size_t count, const void *src,
                            void *dst); /* += */
    /* dst (N, cols, rows) = src (N, rows, cols) transposed per sample, converted from src_dtype to
     * dst_dtype: channels-last to PyTorch's (C, H, W) order for flatten, and back for its
     * gradient; with rows or cols 1 it is a cast */
    cr_status (*transpose)(cr_backend *be, int n, int rows, int cols, cr_dtype src_dtype,
                           const void *src, cr_dtype dst_dtype, void *dst);
    cr_status (*dropout_forward)(cr_backend *be, const cr_dropout_args *a);
    cr_status (*dropout_backward)(cr_backend *be, const cr_dropout_args *a);

    /* loss and optimizer */
    cr_status (*softmax_xent_forward)(cr_backend *be, const cr_xent_args *a);
    cr_status (*softmax_xent_backward)(cr_backend *be, const cr_xent_args *a);
    cr_status (*sgd_step)(cr_backend *be, const cr_sgd_args *a);
    cr_status (*adamw_step)(cr_backend *be, const cr_adamw_args *a);

    /* fills *out, reading the environment afresh */
    cr_status (*info)(const cr_backend *be, cr_backend_info *out);
    /* The arithmetic rate this backend reaches at best in `compute` (F32 or BF16), in GFLOP/s:
     * a large convolution timed on its own kernels in their preferred layouts, the ceiling that
     * benchmarks hold a model's rate against. Takes a fraction of a second. */
    cr_status (*peak_gflops)(cr_backend *be, cr_dtype compute, double *out);
} cr_backend_ops;

struct cr_backend {
    const cr_backend_ops *ops;
    cr_device device;
    int threads; /* compute threads (OpenMP on the CPU) */
    void *impl;  /* the backend's own state: oneDNN engine and stream, cuDNN handle, ... */
};

/* Output extent of a convolution or pooling window along one axis (PyTorch's floor rule). */
static inline int cr_conv2d_output_size(int in, int kernel, int stride, int pad, int dilation) {
    return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

/* Creates the backend for `device`; threads 0 means one per core. Fails with
 * CR_STATUS_UNSUPPORTED when that device was not built in or is not present. */
cr_status cr_backend_create(cr_device device, int threads, cr_backend **out);
void cr_backend_destroy(cr_backend *be);
/* "cpu" or "cuda"; the library's list of built-in backends for `crescendo info`. */
const char *cr_device_name(cr_device device);
int cr_backend_available(cr_device device);
/* What `be` runs on and with (cr_backend_info), for `crescendo info`. */
cr_status cr_backend_describe(const cr_backend *be, cr_backend_info *out);
/* The backend's best arithmetic rate in `compute`, in GFLOP/s (the peak_gflops slot). */
cr_status cr_backend_peak_gflops(cr_backend *be, cr_dtype compute, double *out);
/* Whether `be` runs arithmetic in `compute` at full speed: F32 always, BF16 where its info says so,
 * nothing else yet; so that a --precision the machine cannot run is refused before training. */
bool cr_backend_supports(const cr_backend *be, cr_dtype compute);

#endif
