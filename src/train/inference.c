/* One pass of a trained model over a dataset: loader, evaluation steps, and the softmax (averaged
 * over the test-time views) on the host, batch by batch, for eval and predict. */
#include "crescendo/inference.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/step.h"

typedef struct pass {
    cr_step *step;
    int classes;        /* K */
    int views;          /* forward passes per batch: 1, or 2 with the mirror */
    double *sum;        /* (batch, K) probabilities summed over the views */
    double *log_label;  /* (batch) log of the summed probability of each sample's label */
    float *probs;       /* (batch, K) the mean over the views, handed to the sink */
} pass;

/* log(exp(a) + exp(b)) without overflow or underflow. */
static double log_add_exp(double a, double b) {
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log1p(exp(lo - hi));
}

/* Adds the softmax of logits (n, K) to p->sum, and the log-probability of each label to
 * p->log_label; view 0 starts both. */
static void add_softmax(pass *p, const float *logits, const int32_t *labels, int n, int view) {
    int k = p->classes;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * (size_t)k; /* (K) */
        double *sum = p->sum + (size_t)i * (size_t)k;      /* (K) */
        double top = row[0];
        for (int c = 1; c < k; c++)
            if (row[c] > top) top = row[c];
        double z = 0;
        for (int c = 0; c < k; c++) z += exp(row[c] - top);
        double log_z = top + log(z);
        for (int c = 0; c < k; c++) sum[c] = (view ? sum[c] : 0.0) + exp(row[c] - log_z);
        if (labels[i] < 0) continue;
        double log_p = row[labels[i]] - log_z;
        p->log_label[i] = view ? log_add_exp(p->log_label[i], log_p) : log_p;
    }
}

/* Mirrors images (n, h, w, c) left-right in place. */
static void mirror(float *images, int n, int h, int w, int c) {
    size_t row_floats = (size_t)w * (size_t)c;
    for (size_t r = 0; r < (size_t)n * (size_t)h; r++) {
        float *row = images + r * row_floats; /* (w, c) */
        for (int x = 0; x < w / 2; x++) {
            float *a = row + (size_t)x * (size_t)c, *b = row + (size_t)(w - 1 - x) * (size_t)c;
            for (int j = 0; j < c; j++) {
                float t = a[j];
                a[j] = b[j];
                b[j] = t;
            }
        }
    }
}

/* Every view of one batch through the model, then the mean probabilities to the sink. The mirror
 * is made in the loader's buffer, which is this batch's alone until the next cr_loader_next. */
static cr_status run_batch(pass *p, cr_batch *batch, cr_inference_sink sink, void *context) {
    int n = batch->count, k = p->classes;
    for (int view = 0; view < p->views; view++) {
        if (view == 1) mirror(batch->images, n, batch->height, batch->width, batch->channels);
        cr_step_result r;
        CR_TRY(cr_step_eval(p->step, batch->images, NULL, n, &r));
        add_softmax(p, r.logits, batch->labels, n, view);
    }
    bool labeled = true;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < k; c++) {
            size_t at = (size_t)i * (size_t)k + (size_t)c;
            p->probs[at] = (float)(p->sum[at] / p->views);
        }
        if (batch->labels[i] < 0) labeled = false;
        else loss -= p->log_label[i] - log((double)p->views);
    }
    cr_inference_batch out = {.probs = p->probs, .labels = batch->labels,
                              .indices = batch->indices, .count = n,
                              .loss = labeled ? loss / n : NAN};
    return sink(&out, context);
}

cr_status cr_inference_run(cr_graph *graph, const cr_dataset *ds,
                           const cr_inference_config *config, cr_inference_sink sink,
                           void *context) {
    if (config->batch_size < 1)
        return cr_fail(CR_STATUS_INVALID, "inference: a batch of %d images", config->batch_size);
    if (config->tta != CR_TTA_NONE && config->tta != CR_TTA_FLIP)
        return cr_fail(CR_STATUS_INVALID, "inference: unknown test-time augmentation %d",
                       (int)config->tta);
    int batch_size = config->batch_size, k = cr_graph_num_classes(graph);
    pass p = {.classes = k, .views = config->tta == CR_TTA_FLIP ? 2 : 1};
    p.sum = malloc(sizeof *p.sum * (size_t)batch_size * (size_t)k);
    p.log_label = malloc(sizeof *p.log_label * (size_t)batch_size);
    p.probs = malloc(sizeof *p.probs * (size_t)batch_size * (size_t)k);
    cr_loader *loader = NULL;
    cr_status s = p.sum && p.log_label && p.probs
                      ? CR_STATUS_OK
                      : cr_fail(CR_STATUS_NOMEM, "inference: no memory for %d x %d probabilities",
                                batch_size, k);
    if (s == CR_STATUS_OK) s = cr_loader_create(ds, &config->loader, &loader);
    cr_loader_epoch epoch = {.resolution = config->resolution, .batch_size = batch_size};
    if (s == CR_STATUS_OK) s = cr_loader_start_epoch(loader, &epoch);
    if (s == CR_STATUS_OK) s = cr_step_create(graph, NULL, &(cr_step_config){0}, &p.step);
    if (s == CR_STATUS_OK) s = cr_step_prepare(p.step, batch_size, config->resolution);
    cr_batch batch;
    while (s == CR_STATUS_OK && (s = cr_loader_next(loader, &batch)) == CR_STATUS_OK)
        s = run_batch(&p, &batch, sink, context);
    cr_step_destroy(p.step);
    cr_loader_destroy(loader);
    free(p.sum);
    free(p.log_label);
    free(p.probs);
    return s == CR_STATUS_END ? CR_STATUS_OK : s;
}
