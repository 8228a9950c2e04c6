/* The step: upload, forward, loss, backward and optimizer for one batch, and the loss and logits
 * brought back to the host. Every pass over data, from training to the parity tool, goes here. */
#include "crescendo/step.h"

#include <math.h>
#include <stdlib.h>

#include "crescendo/log.h"

/* Gradients sent on their way while backward goes on: a bucket of at least this many floats is
 * summed as soon as backward has finished it (PyTorch's DDP buckets 25 MB). */
enum { GRADIENT_BUCKET = 1 << 20 };

struct cr_step {
    cr_graph *graph;
    cr_optimizer *optimizer;
    cr_step_config config;
    size_t sent_from;      /* this step's gradients from here to the arena's end are being summed */
    const int32_t *mix_labels; /* the next training batch's second labels (cr_step_mix_next) */
    float mix_weight;
    float *logits;         /* (capacity, K) host copy of the last forward's logits */
    int logits_capacity;
    cr_step_times times;
};

/* Backward has finished the gradients from `offset` on: sums the next bucket over the processes
 * once there is one (all that is left at the end), and lets the sums under way move on. */
static cr_status gradients_ready(void *user, size_t offset) {
    cr_step *step = user;
    cr_dist *d = step->config.dist;
    if (offset > 0 && step->sent_from - offset < GRADIENT_BUCKET) return cr_dist_progress(d);
    if (offset < step->sent_from) {
        size_t count;
        float *grads = cr_graph_param_grads(step->graph, &count);
        CR_TRY(cr_dist_sum_f32_start(d, grads + offset, step->sent_from - offset));
        step->sent_from = offset;
    }
    return CR_STATUS_OK;
}

cr_status cr_step_create(cr_graph *graph, cr_optimizer *optimizer, const cr_step_config *config,
                         cr_step **out) {
    cr_step *s = calloc(1, sizeof *s);
    if (!s) return cr_fail(CR_STATUS_NOMEM, "cannot allocate a step");
    s->graph = graph;
    s->optimizer = optimizer;
    s->config = *config;
    /* sample j of this process is sample rank + size * j of the loader's sharded batch */
    cr_graph_set_sample_place(graph, cr_dist_rank(config->dist), cr_dist_size(config->dist));
    if (cr_dist_size(config->dist) > 1)
        cr_graph_set_grads_ready(graph, (cr_grads_ready){.ready = gradients_ready, .user = s});
    *out = s;
    return CR_STATUS_OK;
}

void cr_step_destroy(cr_step *step) {
    if (!step) return;
    free(step->logits);
    free(step);
}

cr_status cr_step_prepare(cr_step *step, int batch, int side) {
    cr_graph *g = step->graph;
    if (cr_graph_planned_batch(g) < batch || cr_graph_planned_side(g) != side)
        CR_TRY(cr_graph_plan(g, batch, side, side));
    int k = cr_graph_num_classes(g);
    if (batch > step->logits_capacity) {
        float *logits = realloc(step->logits, sizeof *logits * (size_t)batch * (size_t)k);
        if (!logits) return cr_fail(CR_STATUS_NOMEM, "cannot allocate logits for %d images", batch);
        step->logits = logits;
        step->logits_capacity = batch;
    }
    return CR_STATUS_OK;
}

/* Ends a phase: with time_phases, waits for the backend and adds the phase's time. */
static cr_status lap(cr_step *step, double *phase, double *start) {
    if (!step->config.time_phases) return CR_STATUS_OK;
    cr_backend *be = cr_graph_backend(step->graph);
    CR_TRY(be->ops->synchronize(be));
    double now = cr_now_seconds();
    *phase = now - *start;
    *start = now;
    return CR_STATUS_OK;
}

static cr_status finish(cr_step *step, int n, float loss, cr_step_result *out) {
    if (n > step->logits_capacity)
        return cr_fail(CR_STATUS_INVALID, "a batch of %d before cr_step_prepare for it", n);
    CR_TRY(cr_graph_download_logits(step->graph, step->logits));
    out->loss = loss;
    out->logits = step->logits;
    return CR_STATUS_OK;
}

/* torch.nn.utils.clip_grad_norm_: the gradients times max / (norm + 1e-6) when that is below 1.
 * Gives the norm before. */
static double clip(float *grads, size_t count, double max_norm) {
    double squares = 0.0;
    for (size_t i = 0; i < count; i++) squares += (double)grads[i] * grads[i];
    double norm = sqrt(squares);
    float factor = (float)(max_norm / (norm + 1e-6)); /* torch scales in float32 */
    if (factor < 1.0f)
        for (size_t i = 0; i < count; i++) grads[i] *= factor;
    return norm;
}

cr_status cr_step_train(cr_step *step, const float *images, const int32_t *labels, int n,
                        double lr, int64_t number, cr_step_result *out) {
    if (!step->optimizer) return cr_fail(CR_STATUS_INVALID, "a training step needs an optimizer");
    cr_graph *g = step->graph;
    cr_step_times *t = &step->times;
    double start = cr_now_seconds();
    float loss;
    CR_TRY(cr_graph_upload(g, images, labels, n));
    const int32_t *mix_labels = step->mix_labels;
    step->mix_labels = NULL;
    if (mix_labels) CR_TRY(cr_graph_upload_mix(g, mix_labels, step->mix_weight));
    CR_TRY(lap(step, &t->upload, &start));
    CR_TRY(cr_graph_zero_grad(g));
    cr_graph_set_dropout_seed(g, step->config.seed, (uint64_t)number);
    CR_TRY(cr_graph_forward(g, true));
    CR_TRY(cr_graph_loss(g, step->config.label_smoothing, &loss));
    CR_TRY(lap(step, &t->forward, &start));
    if (!isfinite(loss))
        return cr_fail(CR_STATUS_DATA, "the training loss became %g at step %lld: lower --lr or "
                       "check the data", (double)loss, (long long)number);
    size_t count;
    float *grads = cr_graph_param_grads(g, &count);
    step->sent_from = count;
    CR_TRY(cr_graph_backward(g)); /* sends the gradients in buckets as it finishes them */
    CR_TRY(lap(step, &t->backward, &start));
    int processes = cr_dist_size(step->config.dist);
    if (processes > 1) {
        CR_TRY(cr_dist_finish(step->config.dist));
        float scale = 1.0f / (float)processes;
        for (size_t i = 0; i < count; i++) grads[i] *= scale;
    }
    CR_TRY(lap(step, &t->allreduce, &start));
    out->grad_norm = NAN;
    if (step->config.clip_grad_norm > 0) out->grad_norm = clip(grads, count,
                                                               step->config.clip_grad_norm);
    CR_TRY(cr_optimizer_step(step->optimizer, lr));
    CR_TRY(lap(step, &t->optimizer, &start));
    return finish(step, n, loss, out);
}

void cr_step_mix_next(cr_step *step, const int32_t *mix_labels, float weight) {
    step->mix_labels = mix_labels;
    step->mix_weight = weight;
}

cr_status cr_step_eval(cr_step *step, const float *images, const int32_t *labels, int n,
                       cr_step_result *out) {
    float loss = NAN;
    out->grad_norm = NAN;
    CR_TRY(cr_graph_upload(step->graph, images, labels, n));
    CR_TRY(cr_graph_forward(step->graph, false));
    if (labels) CR_TRY(cr_graph_loss(step->graph, 0.0f, &loss));
    return finish(step, n, loss, out);
}

cr_status cr_step_forward_train(cr_step *step, const float *images, int n, int64_t number) {
    CR_TRY(cr_graph_upload(step->graph, images, NULL, n));
    cr_graph_set_dropout_seed(step->graph, step->config.seed, (uint64_t)number);
    return cr_graph_forward(step->graph, true);
}

cr_step_times cr_step_last_times(const cr_step *step) { return step->times; }
