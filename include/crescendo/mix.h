/* crescendo/mix.h — mixup and cutmix: a batch mixed with itself reversed, as timm's Mixup does in
 * its default "batch" mode, and the second label of every sample for the loss's mixed target.
 *
 * Per batch, with probability `prob`: when both alphas are set, cutmix with probability
 * switch_prob and mixup otherwise; the weight lam ~ Beta(alpha, alpha) of the one chosen. Mixup
 * makes sample i lam * x_i + (1 - lam) * x_(N-1-i); cutmix pastes into sample i the box of
 * x_(N-1-i) that covers about (1 - lam) of the image (timm's rand_bbox: sides sqrt(1 - lam) of
 * the image's, a uniformly drawn center, clipped at the borders) and sets lam to the share the
 * box left uncovered. Every sample's second label is its partner's: labels reversed. */
#ifndef CRESCENDO_MIX_H
#define CRESCENDO_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "crescendo/rng.h"
#include "crescendo/status.h"

typedef struct cr_mix_config {
    float mixup_alpha, cutmix_alpha; /* 0: that kind is off */
    float prob;                      /* of mixing a batch at all */
    float switch_prob;               /* of cutmix when both are on */
} cr_mix_config;

/* What was done to a batch. */
typedef struct cr_mix {
    float weight;      /* lam: of each sample's own label; 1 when nothing was mixed */
    bool cutmix;       /* a box was pasted ... */
    int top, bottom, left, right; /* ... rows [top, bottom) and columns [left, right) */
} cr_mix;

/* Whether config mixes anything. */
bool cr_mix_enabled(const cr_mix_config *config);

/* Mixes images (n, height, width, channels) in place with their reverse, drawing from rng, and
 * writes the partners' labels into mix_labels (n). */
void cr_mix_batch(const cr_mix_config *config, cr_rng *rng, float *images, int n, int height,
                  int width, int channels, const int32_t *labels, int32_t *mix_labels,
                  cr_mix *out);

#endif
