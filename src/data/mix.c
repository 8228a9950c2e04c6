/* Mixup and cutmix over a batch in place: each sample with its mirror in the batch order, pairs
 * taken together so that no copy of the batch is needed. */
#include "crescendo/mix.h"

#include <math.h>
#include <stddef.h>

bool cr_mix_enabled(const cr_mix_config *c) {
    return c->prob > 0.0f && (c->mixup_alpha > 0.0f || c->cutmix_alpha > 0.0f);
}

/* timm's rand_bbox with no margin: sides sqrt(1 - lam) of the image's, the center uniform over
 * the pixels, the box clipped to the image. */
static void draw_box(cr_rng *rng, float lam, int height, int width, cr_mix *m) {
    double ratio = sqrt(1.0 - lam);
    int cut_h = (int)(height * ratio), cut_w = (int)(width * ratio);
    int cy = (int)cr_rng_below(rng, (uint32_t)height);
    int cx = (int)cr_rng_below(rng, (uint32_t)width);
    m->top = cy - cut_h / 2 < 0 ? 0 : cy - cut_h / 2;
    m->bottom = cy + cut_h / 2 > height ? height : cy + cut_h / 2;
    m->left = cx - cut_w / 2 < 0 ? 0 : cx - cut_w / 2;
    m->right = cx + cut_w / 2 > width ? width : cx + cut_w / 2;
}

static void mixup_pair(float *a, float *b, size_t count, float lam) {
    for (size_t k = 0; k < count; k++) {
        float x = a[k], y = b[k];
        a[k] = lam * x + (1.0f - lam) * y;
        b[k] = lam * y + (1.0f - lam) * x;
    }
}

static void swap_box(float *a, float *b, const cr_mix *m, int width, int channels) {
    for (int y = m->top; y < m->bottom; y++) {
        size_t row = ((size_t)y * width + (size_t)m->left) * channels;
        size_t count = (size_t)(m->right - m->left) * channels;
        for (size_t k = row; k < row + count; k++) {
            float t = a[k];
            a[k] = b[k];
            b[k] = t;
        }
    }
}

void cr_mix_batch(const cr_mix_config *c, cr_rng *rng, float *images, int n, int height,
                  int width, int channels, const int32_t *labels, int32_t *mix_labels,
                  cr_mix *out) {
    *out = (cr_mix){.weight = 1.0f};
    for (int i = 0; i < n; i++) mix_labels[i] = labels[n - 1 - i];
    if (!cr_mix_enabled(c) || cr_rng_uniform(rng) >= c->prob) return;
    bool both = c->mixup_alpha > 0.0f && c->cutmix_alpha > 0.0f;
    out->cutmix = both ? cr_rng_uniform(rng) < c->switch_prob : c->cutmix_alpha > 0.0f;
    float alpha = out->cutmix ? c->cutmix_alpha : c->mixup_alpha;
    float lam = (float)cr_rng_beta(rng, alpha, alpha);
    size_t image = (size_t)height * width * channels;
    if (out->cutmix) {
        draw_box(rng, lam, height, width, out);
        lam = 1.0f - (float)((out->bottom - out->top) * (out->right - out->left)) /
                         (float)(height * width);
    }
    out->weight = lam;
    for (int i = 0; i < n / 2; i++) {
        float *a = images + (size_t)i * image, *b = images + (size_t)(n - 1 - i) * image;
        if (out->cutmix) swap_box(a, b, out, width, channels);
        else mixup_pair(a, b, image, lam);
    }
}
