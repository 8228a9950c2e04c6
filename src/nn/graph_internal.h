/* The graph's private structures, shared by its construction (graph.c), memory plan (plan.c) and
 * execution (run.c). Nothing outside src/nn sees these. */
#ifndef CR_NN_GRAPH_INTERNAL_H
#define CR_NN_GRAPH_INTERNAL_H

#include "crescendo/graph.h"

enum { CR_NODE_MAX_INPUTS = 2, CR_NODE_NAME_MAX = 80 };

typedef struct cr_node {
    cr_op op;
    int inputs[CR_NODE_MAX_INPUTS];
    int input_count;
    char name[CR_NODE_NAME_MAX];

    /* attributes, by op */
    int out_channels, kernel, stride, pad, groups; /* conv2d, pool2d */
    bool has_bias;                                 /* conv2d, linear */
    cr_pool_kind pool;                             /* pool2d */
    int pool_h, pool_w;                            /* adaptive_avgpool */
    int out_features;                              /* linear */
    float p;                                       /* dropout */

    /* indices into the graph's params, -1 when absent */
    int weight, bias, running_mean, running_var, batches_tracked;

    /* shape of the output per sample, set by the plan: (H, W, C); 2-D outputs have H = W = 1 */
    int c, h, w;
    int consumers;

    /* memory from the activation arena, set by the plan */
    cr_dtype dtype;       /* of out and grad: F32, or BF16 in the body of a bf16 plan */
    bool fused_relu;      /* batchnorm, add: the ReLU that reads it runs inside its forward (and,
                             for a batchnorm, its backward) */
    bool fused;           /* relu: its input's op runs it (see fused_relu) */
    void *out;            /* (N, H, W, C) */
    void *grad;           /* (N, H, W, C), d loss / d out; may alias a consumer's grad */
    bool grad_is_alias;   /* grad is a consumer's buffer: its backward needs no write */
    float *saved_mean;    /* (C), batchnorm */
    float *saved_invstd;  /* (C), batchnorm */

    cr_op_cache *cache;   /* the backend's primitives and workspaces for this node */
    double forward_seconds, backward_seconds; /* accumulated while profiling */
} cr_node;

struct cr_graph {
    cr_backend *be;
    cr_node *nodes;
    int node_count, node_capacity;
    cr_param *params;
    int param_count, param_capacity;
    cr_status error; /* the first builder error, reported by finalize */
    bool finalized;

    /* parameter memory (backend): trainable values and gradients, one range each */
    float *values, *grads;
    size_t trainable_count;
    float *buffers; /* running statistics */
    size_t buffer_count;
    cr_batchnorm_sum batchnorm_sum; /* synchronized BatchNorm's sums over processes, or none */
    cr_grads_ready grads_ready;     /* told as backward finishes gradients, or none */
    int64_t *batches_tracked; /* host: one counter per BatchNorm, saved as I64 */

    /* activation plan */
    cr_dtype precision; /* of convolutions and the activations between them */
    int batch, in_h, in_w;
    void *activations;
    size_t activation_bytes, activation_capacity;
    void *scratch;   /* (largest activation): a second contribution to a shared gradient */
    float *probs;    /* (N, K) softmax of the last forward */
    int32_t *labels; /* (N) of the uploaded batch; its images are the input node's out */
    int32_t *mix_labels; /* (N) a mixed batch's second labels (cr_graph_upload_mix) */
    float mix_weight;    /* of labels against mix_labels */
    bool mixed;          /* the uploaded batch is mixed */
    int uploaded_n;  /* images in the uploaded batch */
    bool has_labels; /* the upload came with labels */
    int last_n;      /* batch of the last forward */

    int train_from;  /* the first node that trains: 1, or the classifier's while the body is
                        frozen (cr_graph_freeze_body) */
    uint64_t dropout_seed, dropout_step;
    int sample_offset, sample_stride; /* this process's samples in the whole batch: dropout keys */
    bool profiling; /* time every node (synchronizing the backend around each) */
};

/* Per-sample element count of a node's output. */
static inline size_t cr_node_size(const cr_node *node) {
    return (size_t)node->c * (size_t)node->h * (size_t)node->w;
}

/* Bytes of n samples of a node's output. */
static inline size_t cr_node_bytes(const cr_node *node, int n) {
    return cr_node_size(node) * (size_t)n * cr_dtype_size(node->dtype);
}

#endif
