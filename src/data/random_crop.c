/* The random-resized-crop geometry the loader draws per sample, as torchvision chooses it, so
 * that an augmentation recipe written for PyTorch means the same thing here. */
#include <math.h>

#include "crescendo/loader.h"

/* Uniform in [lo, hi) from 24 random bits, in double as Python computes it. */
static double uniform(cr_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * (double)cr_rng_uniform(rng);
}

cr_crop cr_loader_random_crop(cr_rng *rng, int width, int height, float scale_min,
                              float scale_max, float ratio_min, float ratio_max) {
    double area = (double)width * height;
    double log_lo = log(ratio_min), log_hi = log(ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * uniform(rng, scale_min, scale_max);
        double ratio = exp(uniform(rng, log_lo, log_hi));
        /* Python's round(): halves to even, as nearbyint does in the default rounding mode. */
        int w = (int)nearbyint(sqrt(target * ratio));
        int h = (int)nearbyint(sqrt(target / ratio));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            int y = (int)cr_rng_below(rng, (uint32_t)(height - h + 1));
            int x = (int)cr_rng_below(rng, (uint32_t)(width - w + 1));
            return (cr_crop){.x = x, .y = y, .width = w, .height = h};
        }
    }
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < ratio_min)
        h = (int)nearbyint(w / (double)ratio_min);
    else if (in_ratio > ratio_max)
        w = (int)nearbyint(h * (double)ratio_max);
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    return (cr_crop){.x = (width - w) / 2, .y = (height - h) / 2, .width = w, .height = h};
}
