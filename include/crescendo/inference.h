/* crescendo/inference.h — a trained model run once over a dataset: every image's class
 * probabilities, with optional test-time augmentation. What eval and predict share.
 *
 * The images come from a loader in dataset order, at one size, with no random augmentation, and go
 * through the step in evaluation mode (cr_step_eval), so eval and predict see the same pixels and
 * get the same numbers. A probability is the softmax of the logits, computed in double and rounded
 * to float once; with CR_TTA_FLIP it is the mean of the softmax of the image and of its left-right
 * mirror (the loader's flip, bit for bit). */
#ifndef CRESCENDO_INFERENCE_H
#define CRESCENDO_INFERENCE_H

#include <stdint.h>

#include "crescendo/dataset.h"
#include "crescendo/graph.h"
#include "crescendo/loader.h"
#include "crescendo/status.h"

typedef enum cr_tta {
    CR_TTA_NONE, /* the image alone */
    CR_TTA_FLIP  /* the image and its left-right mirror */
} cr_tta;

typedef struct cr_inference_config {
    int resolution;           /* square side in pixels */
    int batch_size;           /* images per forward pass, >= 1 */
    cr_tta tta;
    cr_loader_options loader; /* decoding threads, channels, normalization, image size limit */
} cr_inference_config;

/* One batch of results, valid during the sink's call. */
typedef struct cr_inference_batch {
    const float *probs;     /* (count, K) */
    const int32_t *labels;  /* (count) the dataset's labels, -1 in an unlabeled set */
    const int32_t *indices; /* (count) the samples' dataset indices, in increasing order */
    int count;
    double loss;            /* mean cross-entropy of probs against labels, from the
                             * log-probabilities (finite where a probability rounds to 0); NaN
                             * when a label is -1 */
} cr_inference_batch;

typedef cr_status (*cr_inference_sink)(const cr_inference_batch *batch, void *context);

/* Runs graph (planned here for the config's batch and size, at its precision) over every sample
 * of ds and hands each batch to sink; a failure of the sink stops the pass and is returned. A
 * sample that cannot be read fails as cr_loader_next says, naming the file and CSV line. */
cr_status cr_inference_run(cr_graph *graph, const cr_dataset *ds,
                           const cr_inference_config *config, cr_inference_sink sink,
                           void *context);

#endif
