/* crescendo/graph.h — a model as a DAG of layers in topological order, run forward and backward.
 *
 * Build a graph node by node (each builder returns the new node's id; the first error is kept and
 * reported by cr_graph_finalize, so a model definition reads as a plain list of layers), finalize it
 * (parameters and gradients get their flat arenas, named as torchvision names them), then plan it
 * for a batch size and input size. Planning again for another size (progressive resizing) rebuilds
 * only the activation memory and the backend's cached primitives; parameters are untouched.
 *
 * Activations are channels-last (N, H, W, C) as backend.h fixes; the output is (N, K) logits.
 * Everything the graph holds lives in the backend's memory: a batch comes in through
 * cr_graph_upload, and only the loss, logits and exported state come back to the host. Above the
 * graph, train/step.h strings these calls into one training or evaluation step. */
#ifndef CRESCENDO_GRAPH_H
#define CRESCENDO_GRAPH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "crescendo/backend.h"
#include "crescendo/param.h"
#include "crescendo/safetensors.h"
#include "crescendo/status.h"

typedef struct cr_graph cr_graph;

typedef enum cr_op {
    CR_OP_INPUT,
    CR_OP_CONV2D,
    CR_OP_BATCHNORM,
    CR_OP_RELU,
    CR_OP_POOL2D,
    CR_OP_ADAPTIVE_AVGPOOL, /* to a fixed (H, W); (1, 1) is global average pooling */
    CR_OP_FLATTEN,          /* (N, H, W, C) -> (N, C*H*W) in PyTorch's (C, H, W) order */
    CR_OP_LINEAR,
    CR_OP_ADD,
    CR_OP_DROPOUT
} cr_op;

cr_status cr_graph_create(cr_backend *be, int in_channels, cr_graph **out);
void cr_graph_destroy(cr_graph *g);

/* The input node, always id 0. */
enum { CR_GRAPH_INPUT = 0 };

/* Builders: append a node reading `input` and return its id, or -1 after an error (kept for
 * cr_graph_finalize). `name` is the torchvision module path ("layer1.0.conv1"). */
int cr_graph_conv2d(cr_graph *g, int input, const char *name, int out_channels, int kernel,
                    int stride, int pad, int groups, bool bias);
int cr_graph_batchnorm(cr_graph *g, int input, const char *name);
int cr_graph_relu(cr_graph *g, int input);
int cr_graph_maxpool(cr_graph *g, int input, int kernel, int stride, int pad);
int cr_graph_avgpool(cr_graph *g, int input, int kernel, int stride, int pad);
int cr_graph_adaptive_avgpool(cr_graph *g, int input, int out_h, int out_w);
int cr_graph_flatten(cr_graph *g, int input);
int cr_graph_linear(cr_graph *g, int input, const char *name, int out_features, bool bias);
int cr_graph_add(cr_graph *g, int a, int b);
int cr_graph_dropout(cr_graph *g, int input, float p);

/* Ends construction: the last node is the output. Allocates the parameter, gradient and buffer
 * arenas, sets BatchNorm to gamma 1, beta 0, running stats (0, 1), and initializes weights the way
 * torchvision does (kaiming-normal fan-out for conv, PyTorch's default uniform for linear), from
 * `seed`. Fails with the first builder error, if any. */
cr_status cr_graph_finalize(cr_graph *g, uint64_t seed);

/* Parameters and buffers in torchvision's state_dict order. */
int cr_graph_param_count(const cr_graph *g);
cr_param *cr_graph_params(cr_graph *g);
cr_param *cr_graph_find_param(cr_graph *g, const char *name);
/* The flat trainable range: all values (and all gradients), for optimizers and all-reduce. */
float *cr_graph_param_values(cr_graph *g, size_t *count);
float *cr_graph_param_grads(cr_graph *g, size_t *count);
/* The flat range of buffers (BatchNorm's running statistics), which processes average. */
float *cr_graph_buffer_values(cr_graph *g, size_t *count);
int cr_graph_num_classes(const cr_graph *g);
/* The classifier, the final linear layer every model ends with: its module name ("fc" for the
 * ResNets, "head.5" for simple_cnn), whose "<name>.weight" (K, features) and "<name>.bias" a
 * classifier swap replaces. */
const char *cr_graph_classifier_name(const cr_graph *g);
cr_backend *cr_graph_backend(cr_graph *g);

/* The element type of convolutions and of the activations between them: F32 (the default), or
 * BF16, mixed precision as torch.autocast does it (bf16 products summed in fp32; BatchNorm
 * statistics, the classifier, the loss and all parameters stay fp32). Takes effect at the next
 * plan, which it requires. */
cr_status cr_graph_set_precision(cr_graph *g, cr_dtype precision);
cr_dtype cr_graph_precision(const cr_graph *g);

/* Sizes every activation for (batch, in_h, in_w) and (re)allocates activation memory when it
 * grows. Fails if the input is too small for the model (a window larger than its input). */
cr_status cr_graph_plan(cr_graph *g, int batch, int in_h, int in_w);
/* The plan's batch (0 before any plan) and input size. */
int cr_graph_planned_batch(const cr_graph *g);
int cr_graph_planned_side(const cr_graph *g); /* the input's height; the trainer's are square */
/* Multiply-adds of convolutions and linear layers for one sample at the planned size, counted as
 * 2 FLOP each: the forward's, or with `training` also the backward's (the weight gradient, and the
 * input gradient of every layer but those reading the images). What benchmarks divide by time. */
double cr_graph_flops(const cr_graph *g, bool training);
/* Bytes of activation memory the current plan holds, for logs and the memory test. */
size_t cr_graph_activation_bytes(const cr_graph *g);

/* Copies a batch from host memory into the plan's buffers: images (N, H, W, C_in) fp32 of the
 * planned size, with N at most the planned batch (a short last batch), and labels (N), or NULL
 * for a forward alone. cr_graph_loss refuses a label outside [0, K). */
cr_status cr_graph_upload(cr_graph *g, const float *images, const int32_t *labels, int n);
/* Makes the uploaded labeled batch a mixed one (mixup, cutmix): its loss's target is weight times
 * each sample's label's plus (1 - weight) times mix_labels' (one per sample). Until the next
 * upload. */
cr_status cr_graph_upload_mix(cr_graph *g, const int32_t *mix_labels, float weight);

/* Runs the graph on the uploaded batch. training: BatchNorm uses batch statistics and updates the
 * running ones; dropout is active. */
cr_status cr_graph_forward(cr_graph *g, bool training);

/* Mean softmax cross-entropy of the last forward's logits against the uploaded labels, written to
 * host memory; also writes d loss / d logits for cr_graph_backward. */
cr_status cr_graph_loss(cr_graph *g, float smoothing, float *loss);

/* The last forward's logits (N, K), copied to host memory. */
cr_status cr_graph_download_logits(cr_graph *g, float *logits);

/* Backpropagates the loss's gradient; parameter gradients are accumulated (+=). */
cr_status cr_graph_backward(cr_graph *g);

/* Told during backward, each time more of the gradient arena is final: every gradient from
 * `offset` (an element of cr_graph_param_grads) to the arena's end, the offsets only falling,
 * and 0 once backward is done. So that gradients can travel while backward goes on. */
typedef struct cr_grads_ready {
    cr_status (*ready)(void *user, size_t offset);
    void *user;
} cr_grads_ready;
void cr_graph_set_grads_ready(cr_graph *g, cr_grads_ready hook);
cr_status cr_graph_zero_grad(cr_graph *g);

/* A state dict: every parameter and buffer by its torchvision name, copied to host memory that the
 * caller frees with cr_graph_state_free. Ready for cr_safetensors_write. */
typedef struct cr_graph_state {
    cr_named_tensor *tensors;
    int count;
    void *host; /* the copied values */
} cr_graph_state;
cr_status cr_graph_state_export(cr_graph *g, cr_graph_state *out);
/* The same for the gradients of the trainable parameters, under their parameters' names. */
cr_status cr_graph_gradients_export(cr_graph *g, cr_graph_state *out);
void cr_graph_state_free(cr_graph_state *state);

/* Loads every parameter and buffer from `file` by name, checking dtype and shape. A missing tensor
 * fails. A tensor the model does not have fails too, unless its name starts with one of the
 * `ignore` prefixes (NULL-terminated, may be NULL): how a training checkpoint keeps its optimizer
 * state beside the weights. */
cr_status cr_graph_state_load(cr_graph *g, const cr_safetensors *file, const char *const *ignore);
/* Copies one tensor in host memory into parameter `p` of g; dtype and shape must be p's (the
 * caller has checked them: CR_STATUS_INVALID otherwise). For loads that choose their tensors. */
cr_status cr_graph_param_load(cr_graph *g, cr_param *p, const cr_tensor *host);

/* Freezes every layer before the classifier (true), or none (false, the default), for training a
 * new classifier on a pretrained body. A frozen BatchNorm runs in inference mode whatever forward's
 * `training` says: it normalizes with its running statistics and leaves them and
 * num_batches_tracked as they are. Backward stops at the classifier's input: no frozen layer's
 * backward runs and their gradients stay zero. Dropout keeps forward's mode. Weight decay and
 * momentum would still move frozen weights: the optimizer is told apart (cr_optimizer_set_frozen,
 * with cr_graph_param_frozen for each parameter). Planning keeps the setting. */
void cr_graph_freeze_body(cr_graph *g, bool frozen);
/* Whether parameter `index` (of cr_graph_params) belongs to a frozen layer now. */
bool cr_graph_param_frozen(const cr_graph *g, int index);

/* Keys dropout masks: the same seed and step give the same masks. */
void cr_graph_set_dropout_seed(cr_graph *g, uint64_t seed, uint64_t step);
/* Where this process's samples sit in the whole batch of all processes: local sample j is sample
 * offset + stride * j, which keys its dropout mask (0 and 1, the default: one process). */
void cr_graph_set_sample_place(cr_graph *g, int offset, int stride);
/* Synchronized BatchNorm: training batches normalize with statistics summed by `sum` over every
 * process's batch (a zeroed sum: each its own, the default). */
void cr_graph_set_batchnorm_sum(cr_graph *g, cr_batchnorm_sum sum);
/* Sets every dropout node's probability (progressive regularization). */
void cr_graph_set_dropout(cr_graph *g, float p);

/* Profiling: with it on, every node's forward and backward is timed (the backend synchronized
 * around each, so a step gets slower); the report lists time per op kind and the costliest
 * nodes. Turning it on clears the totals. */
void cr_graph_set_profiling(cr_graph *g, bool on);
void cr_graph_print_profile(const cr_graph *g, FILE *out);

#endif
