/* graph_check.h — what the nn tests hold a planned graph against, and the step they run on it.
 *
 * Two references, neither of which shares memory. The double one recomputes the training forward
 * in double precision with a buffer for every node, from the graph's structure and weights alone,
 * and takes gradients as central differences of its loss: no backward to get wrong, independent
 * math. It is for fp32 plans; a bf16 plan's ReLU masks differ from it wherever a value rounds near
 * zero, and a tiny graph's gradients amplify one such flip past any useful tolerance. The unshared
 * twin is the same graph, planned alike, then given a private buffer for every output and gradient
 * and no fusion: the same kernels in the same order and types, so in any precision it must give the
 * shared plan's numbers to the bit. Header-only, as the test helpers are: a unit test links its
 * module alone. */
#ifndef CR_TESTS_NN_GRAPH_CHECK_H
#define CR_TESTS_NN_GRAPH_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "gradcheck/gradcheck.h"
#include "nn/graph_internal.h"

/* An fp32 plan against the double reference (gradcheck.h's rule: relative to |want| plus the
 * tensor's mean |want|): the roundings of a few float layers. A buffer that is wrongly shared is
 * off by the size of the values themselves. */
#define NN_F32_TOL 1e-4

/* count elements of dtype at device memory src, as floats on the host. */
static inline float *nn_download(cr_graph *g, const void *src, cr_dtype dtype, size_t count) {
    cr_backend *be = cr_graph_backend(g);
    float *host = gc_alloc(count * sizeof *host);
    if (dtype == CR_DTYPE_BF16) {
        uint16_t *bits = gc_alloc(count * sizeof *bits);
        CHECK_OK(be->ops->copy_to_host(be, bits, src, count * sizeof *bits));
        for (size_t i = 0; i < count; i++) host[i] = cr_bf16_to_f32(bits[i]);
        free(bits);
    } else {
        CHECK_OK(be->ops->copy_to_host(be, host, src, count * sizeof *host));
    }
    return host;
}

typedef struct ref_net {
    cr_graph *g;
    int n;                 /* images in the batch */
    const float *images;   /* (N, H, W, C_in) */
    const int32_t *labels; /* (N) */
    double *params;        /* every trainable value, at its offset in the graph's arena */
    double **out;          /* per node (N, H, W, C); a flatten's is (N, C*H*W) in (C, H, W) order */
    double **mask;         /* per dropout node (N, H, W, C): 0 or 1 / (1 - p), the backend's draw */
    int nudge_node;        /* with nudges set, nudges[k] is added to element k of that node's out */
    double *nudges;
} ref_net;

/* The mask the backend draws for dropout node `id` at the graph's dropout seed and step: the
 * stream run.c keys it by (step * node count + id), applied to ones. */
static inline double *ref_dropout_mask(cr_graph *g, int id, int n) {
    cr_backend *be = g->be;
    const cr_node *node = &g->nodes[id];
    size_t count = cr_node_size(node) * (size_t)n;
    float *ones = gc_filled(count, 1.0f);
    float *kept = gc_alloc(count * sizeof *kept);
    cr_dropout_args a = {.count = count, .p = node->p, .seed = g->dropout_seed,
                         .stream = g->dropout_step * (uint64_t)g->node_count + (uint64_t)id,
                         .dtype = CR_DTYPE_F32, .x = ones, .y = kept};
    CHECK_OK(be->ops->dropout_forward(be, &a));
    double *mask = gc_to_double(kept, count);
    free(ones);
    free(kept);
    return mask;
}

/* A reference for the planned graph g and a batch of n images with their labels. */
static inline ref_net ref_create(cr_graph *g, const float *images, const int32_t *labels, int n) {
    ref_net r = {.g = g, .n = n, .images = images, .labels = labels, .nudge_node = -1};
    size_t count;
    const float *values = cr_graph_param_values(g, &count);
    float *host = nn_download(g, values, CR_DTYPE_F32, count);
    r.params = gc_to_double(host, count);
    free(host);
    r.out = calloc((size_t)g->node_count, sizeof *r.out);
    r.mask = calloc((size_t)g->node_count, sizeof *r.mask);
    for (int i = 0; i < g->node_count; i++) {
        r.out[i] = gc_alloc(cr_node_size(&g->nodes[i]) * (size_t)n * sizeof(double));
        if (g->nodes[i].op == CR_OP_DROPOUT) r.mask[i] = ref_dropout_mask(g, i, n);
    }
    return r;
}

static inline void ref_destroy(ref_net *r) {
    for (int i = 0; i < r->g->node_count; i++) {
        free(r->out[i]);
        free(r->mask[i]);
    }
    free(r->out);
    free(r->mask);
    free(r->params);
}

static inline const double *ref_param(const ref_net *r, int index) {
    return index < 0 ? NULL : r->params + r->g->params[index].offset;
}

/* y (N, Ho, Wo, Co) = x (N, H, W, C) convolved with w (Co, C, K, K), one group, plus bias. */
static inline void ref_conv(const ref_net *r, const cr_node *node, const cr_node *in,
                            const double *x, double *y) {
    const double *w = ref_param(r, node->weight), *bias = ref_param(r, node->bias);
    int k = node->kernel;
    for (int n = 0; n < r->n; n++)
        for (int oh = 0; oh < node->h; oh++)
            for (int ow = 0; ow < node->w; ow++)
                for (int o = 0; o < node->c; o++) {
                    double sum = bias ? bias[o] : 0.0;
                    for (int kh = 0; kh < k; kh++) {
                        int ih = oh * node->stride - node->pad + kh;
                        if (ih < 0 || ih >= in->h) continue;
                        for (int kw = 0; kw < k; kw++) {
                            int iw = ow * node->stride - node->pad + kw;
                            if (iw < 0 || iw >= in->w) continue;
                            const double *px = x + (((size_t)n * in->h + ih) * in->w + iw) * in->c;
                            for (int c = 0; c < in->c; c++)
                                sum += w[((size_t)o * in->c + c) * k * k + kh * k + kw] * px[c];
                        }
                    }
                    y[(((size_t)n * node->h + oh) * node->w + ow) * node->c + o] = sum;
                }
}

/* Training-mode BatchNorm: the batch's mean and biased variance per channel, eps 1e-5. */
static inline void ref_batchnorm(const ref_net *r, const cr_node *node, const double *x,
                                 double *y) {
    const double *gamma = ref_param(r, node->weight), *beta = ref_param(r, node->bias);
    size_t rows = (size_t)r->n * node->h * node->w;
    for (int c = 0; c < node->c; c++) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < rows; i++) mean += x[i * node->c + c];
        mean /= (double)rows;
        for (size_t i = 0; i < rows; i++) var += pow(x[i * node->c + c] - mean, 2);
        double invstd = 1.0 / sqrt(var / (double)rows + 1e-5);
        for (size_t i = 0; i < rows; i++)
            y[i * node->c + c] = gamma[c] * (x[i * node->c + c] - mean) * invstd + beta[c];
    }
}

/* PyTorch's adaptive average pooling: output cell i averages rows floor(i H / Ho) up to
 * ceil((i + 1) H / Ho). */
static inline void ref_adaptive_avgpool(const ref_net *r, const cr_node *node, const cr_node *in,
                                        const double *x, double *y) {
    for (int n = 0; n < r->n; n++)
        for (int oh = 0; oh < node->h; oh++)
            for (int ow = 0; ow < node->w; ow++) {
                int h0 = oh * in->h / node->h, h1 = ((oh + 1) * in->h + node->h - 1) / node->h;
                int w0 = ow * in->w / node->w, w1 = ((ow + 1) * in->w + node->w - 1) / node->w;
                for (int c = 0; c < node->c; c++) {
                    double sum = 0.0;
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            sum += x[(((size_t)n * in->h + ih) * in->w + iw) * in->c + c];
                    y[(((size_t)n * node->h + oh) * node->w + ow) * node->c + c] =
                        sum / ((h1 - h0) * (w1 - w0));
                }
            }
}

static inline void ref_linear(const ref_net *r, const cr_node *node, const cr_node *in,
                              const double *x, double *y) {
    const double *w = ref_param(r, node->weight), *bias = ref_param(r, node->bias);
    for (int n = 0; n < r->n; n++)
        for (int o = 0; o < node->c; o++) {
            double sum = bias ? bias[o] : 0.0;
            for (int i = 0; i < in->c; i++)
                sum += w[(size_t)o * in->c + i] * x[(size_t)n * in->c + i];
            y[(size_t)n * node->c + o] = sum;
        }
}

static inline void ref_node_forward(const ref_net *r, int id) {
    const cr_graph *g = r->g;
    const cr_node *node = &g->nodes[id], *in = &g->nodes[node->inputs[0]];
    const double *x = r->out[node->inputs[0]];
    double *y = r->out[id];
    size_t count = cr_node_size(node) * (size_t)r->n;
    switch (node->op) {
    case CR_OP_CONV2D:
        CHECK(node->groups == 1);
        ref_conv(r, node, in, x, y);
        return;
    case CR_OP_BATCHNORM:
        ref_batchnorm(r, node, x, y);
        return;
    case CR_OP_RELU:
        for (size_t i = 0; i < count; i++) y[i] = x[i] > 0.0 ? x[i] : 0.0;
        return;
    case CR_OP_DROPOUT:
        for (size_t i = 0; i < count; i++) y[i] = x[i] * r->mask[id][i];
        return;
    case CR_OP_ADD:
        for (size_t i = 0; i < count; i++) y[i] = x[i] + r->out[node->inputs[1]][i];
        return;
    case CR_OP_ADAPTIVE_AVGPOOL:
        ref_adaptive_avgpool(r, node, in, x, y);
        return;
    case CR_OP_FLATTEN: {
        size_t hw = (size_t)in->h * in->w;
        for (int n = 0; n < r->n; n++)
            for (size_t p = 0; p < hw; p++)
                for (int c = 0; c < in->c; c++)
                    y[(size_t)n * node->c + c * hw + p] = x[((size_t)n * hw + p) * in->c + c];
        return;
    }
    case CR_OP_LINEAR:
        ref_linear(r, node, in, x, y);
        return;
    case CR_OP_INPUT:
    case CR_OP_POOL2D:
        break;
    }
    cr_test_fail(__FILE__, __LINE__, "the reference has no op %d (node %d)", (int)node->op, id);
}

/* The training forward and the mean softmax cross-entropy of its logits. */
static inline double ref_loss(ref_net *r) {
    const cr_graph *g = r->g;
    size_t inputs = cr_node_size(&g->nodes[0]) * (size_t)r->n;
    for (size_t i = 0; i < inputs; i++) r->out[0][i] = r->images[i];
    for (int id = 1; id < g->node_count; id++) {
        ref_node_forward(r, id);
        if (id == r->nudge_node && r->nudges)
            for (size_t i = 0; i < cr_node_size(&g->nodes[id]) * (size_t)r->n; i++)
                r->out[id][i] += r->nudges[i];
    }
    int k = cr_graph_num_classes(g);
    const double *logits = r->out[g->node_count - 1];
    double loss = 0.0;
    for (int n = 0; n < r->n; n++) {
        const double *row = logits + (size_t)n * k;
        double top = row[0], sum = 0.0;
        for (int j = 1; j < k; j++) top = fmax(top, row[j]);
        for (int j = 0; j < k; j++) sum += exp(row[j] - top);
        loss += top + log(sum) - row[r->labels[n]];
    }
    return loss / r->n;
}

static inline double ref_loss_fn(void *ctx) { return ref_loss(ctx); }

/* Step of the central differences: the loss is smooth in double away from ReLU's kink, which a
 * step this small meets only by a coincidence the fixed seeds rule out. */
#define NN_STEP 1e-5

/* Every trainable parameter's gradient in `grads` (the graph's gradient arena on the host)
 * against central differences of the reference, one check per tensor. */
static inline void ref_check_param_grads(ref_net *r, const char *what, const float *grads) {
    for (int i = 0; i < r->g->param_count; i++) {
        const cr_param *p = &r->g->params[i];
        if (!cr_param_trainable(p)) continue;
        char label[256];
        snprintf(label, sizeof label, "%.120s: d loss / d %.96s", what, p->name);
        size_t count = (size_t)cr_tensor_numel(&p->value);
        gc_check_grad_tol(label, ref_loss_fn, r, r->params + p->offset, count, NN_STEP,
                          grads + p->offset, NULL, 1.0, NN_F32_TOL);
    }
}

/* got (N, H, W, C) against d loss / d (the output of node `id`) by central differences. */
static inline void ref_check_node_grad(ref_net *r, const char *what, int id, const float *got) {
    size_t count = cr_node_size(&r->g->nodes[id]) * (size_t)r->n;
    r->nudges = calloc(count, sizeof *r->nudges);
    r->nudge_node = id;
    gc_check_grad_tol(what, ref_loss_fn, r, r->nudges, count, NN_STEP, got, NULL, 1.0, NN_F32_TOL);
    free(r->nudges);
    r->nudges = NULL;
    r->nudge_node = -1;
}

/* count standard-normal floats from the stream (seed, 0). */
static inline float *nn_normal(size_t count, uint64_t seed) {
    float *x = gc_alloc(count * sizeof *x);
    cr_rng rng = cr_rng_stream(seed, 0, 0);
    for (size_t i = 0; i < count; i++) x[i] = cr_rng_normal(&rng);
    return x;
}

/* A batch of n images (N, H, W, C) of the graph's planned size. */
static inline float *nn_images(cr_graph *g, int n, uint64_t seed) {
    return nn_normal(cr_node_size(&g->nodes[0]) * (size_t)n, seed);
}

/* What one training step leaves on the host: the loss, the logits (N, K), every parameter
 * gradient, and the state dict after it (BatchNorm's running statistics and counters moved; its
 * names point into the graph). */
typedef struct nn_step {
    float loss;
    float *logits;
    size_t logit_count;
    float *grads;
    size_t grad_count;
    cr_graph_state state;
} nn_step;

/* Uploads the batch and runs forward (training), loss and backward, after zeroing the parameter
 * gradients unless `accumulate`. */
static inline void nn_run(cr_graph *g, const float *images, const int32_t *labels, int n,
                          bool accumulate, float *loss) {
    CHECK_OK(cr_graph_upload(g, images, labels, n));
    if (!accumulate) CHECK_OK(cr_graph_zero_grad(g));
    CHECK_OK(cr_graph_forward(g, true));
    CHECK_OK(cr_graph_loss(g, 0.0f, loss));
    CHECK_OK(cr_graph_backward(g));
}

static inline nn_step nn_step_run(cr_graph *g, const float *images, const int32_t *labels, int n) {
    nn_step s = {0};
    nn_run(g, images, labels, n, false, &s.loss);
    const cr_node *last = &g->nodes[g->node_count - 1];
    s.logit_count = (size_t)n * last->c;
    s.logits = nn_download(g, last->out, last->dtype, s.logit_count);
    const float *grads = cr_graph_param_grads(g, &s.grad_count);
    s.grads = nn_download(g, grads, CR_DTYPE_F32, s.grad_count);
    CHECK_OK(cr_graph_state_export(g, &s.state));
    return s;
}

static inline void nn_step_free(nn_step *s) {
    free(s->logits);
    free(s->grads);
    cr_graph_state_free(&s->state);
}

/* Fails one check, naming the first thing that differs, unless the two steps agree to the bit. */
static inline void nn_check_same_step(const nn_step *got, const nn_step *want, const char *what) {
    const char *differs = NULL;
    if (memcmp(&got->loss, &want->loss, sizeof got->loss) != 0) differs = "the loss";
    else if (got->logit_count != want->logit_count ||
             memcmp(got->logits, want->logits, got->logit_count * sizeof(float)) != 0)
        differs = "the logits";
    else if (got->grad_count != want->grad_count ||
             memcmp(got->grads, want->grads, got->grad_count * sizeof(float)) != 0)
        differs = "the parameter gradients";
    else if (got->state.count != want->state.count)
        differs = "the state dict's length";
    for (int i = 0; !differs && i < got->state.count; i++) {
        const cr_tensor *a = &got->state.tensors[i].tensor, *b = &want->state.tensors[i].tensor;
        if (cr_tensor_bytes(a) != cr_tensor_bytes(b) ||
            memcmp(a->data, b->data, cr_tensor_bytes(a)) != 0)
            differs = got->state.tensors[i].name;
    }
    cr_test_checks++;
    if (differs)
        cr_test_fail(__FILE__, __LINE__, "%s: %s differ (loss %.9g, expected %.9g)", what, differs,
                     (double)got->loss, (double)want->loss);
}

/* Buffers the unshared twin's nodes were given, freed with nn_unshared_free. */
typedef struct nn_unshared {
    cr_backend *be;
    void **buffers;
    int count;
} nn_unshared;

static inline void *nn_unshared_take(nn_unshared *u, size_t bytes) {
    void *p = u->be->ops->alloc(u->be, bytes);
    CHECK(p != NULL);
    u->buffers[u->count++] = p;
    return p;
}

/* Turns the planned graph g into the unshared twin: a private output and gradient buffer for every
 * node but the input (whose output is where upload writes) and no BatchNorm + ReLU fusion. Every
 * test of sharing in run.c compares these pointers, so each op takes its unshared path. Valid until
 * g is planned again. */
static inline nn_unshared nn_unshare(cr_graph *g) {
    nn_unshared u = {.be = g->be};
    u.buffers = gc_alloc(2 * (size_t)g->node_count * sizeof *u.buffers);
    for (int i = 1; i < g->node_count; i++) {
        cr_node *node = &g->nodes[i];
        node->out = nn_unshared_take(&u, cr_node_bytes(node, g->batch));
        node->grad = nn_unshared_take(&u, cr_node_bytes(node, g->batch));
        node->grad_is_alias = node->fused = node->fused_relu = false;
    }
    return u;
}

static inline void nn_unshared_free(nn_unshared *u) {
    for (int i = 0; i < u->count; i++) u->be->ops->free(u->be, u->buffers[i]);
    free(u->buffers);
}

/* One training step of the planned fp32 graph against the double reference: the loss, the logits
 * and every parameter gradient. Returns the reference for checks of activation gradients, which
 * the caller reads from the graph; ref_destroy it. */
static inline ref_net nn_check_reference(cr_graph *g, const char *what, const float *images,
                                         const int32_t *labels, int n) {
    CHECK(cr_graph_precision(g) == CR_DTYPE_F32);
    nn_step s = nn_step_run(g, images, labels, n);
    ref_net r = ref_create(g, images, labels, n);
    double loss = ref_loss(&r);
    char label[160];
    snprintf(label, sizeof label, "%.120s: logits", what);
    gc_compare(label, s.logits, r.out[g->node_count - 1], s.logit_count, NN_F32_TOL);
    snprintf(label, sizeof label, "%.120s: loss", what);
    gc_compare(label, &s.loss, &loss, 1, NN_F32_TOL);
    ref_check_param_grads(&r, what, s.grads);
    nn_step_free(&s);
    return r;
}

/* Runs `run` in fp32, then in bf16 where the backend has fast bf16 arithmetic. */
static inline void nn_each_precision(cr_backend *be, void (*run)(cr_backend *, cr_dtype)) {
    run(be, CR_DTYPE_F32);
    if (cr_backend_supports(be, CR_DTYPE_BF16)) run(be, CR_DTYPE_BF16);
    else printf("bf16: this CPU has no fast bf16 arithmetic; its cases are left out\n");
}

#endif
