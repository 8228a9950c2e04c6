/* Philox4x32-10 (Salmon et al., SC'11) and the streams built on it.
 * Chosen because it is counter-based: any element's random numbers can be computed directly. */
#include "crescendo/rng.h"

#include <math.h>

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

void cr_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
    uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(M0, c0, &hi0);
        uint32_t lo1 = mulhilo(M1, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += W0, k1 += W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* splitmix64 finalizer: folds (seed, a, b) into a well-mixed stream id. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

cr_rng cr_rng_stream(uint64_t seed, uint64_t a, uint64_t b) {
    cr_rng rng = {.key = mix64(seed), .stream = mix64(mix64(a) ^ (b + 0x9E3779B97F4A7C15ull)),
                  .counter = 0, .used = 4};
    return rng;
}

uint32_t cr_rng_u32(cr_rng *rng) {
    if (rng->used == 4) {
        cr_philox(rng->key, rng->stream, rng->counter++, rng->buffer);
        rng->used = 0;
    }
    return rng->buffer[rng->used++];
}

float cr_rng_uniform(cr_rng *rng) { return (float)(cr_rng_u32(rng) >> 8) * 0x1.0p-24f; }

float cr_rng_normal(cr_rng *rng) {
    float u1 = 1.0f - cr_rng_uniform(rng); /* in (0, 1]: log stays finite */
    float u2 = cr_rng_uniform(rng);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795865f * u2);
}

uint32_t cr_rng_below(cr_rng *rng, uint32_t n) {
    uint32_t threshold = (uint32_t)(-n) % n; /* 2^32 mod n: values below it would bias */
    for (;;) {
        uint32_t r = cr_rng_u32(rng);
        if (r >= threshold) return r % n;
    }
}

double cr_rng_gamma(cr_rng *rng, double shape) {
    if (shape < 1.0) {
        /* Gamma(shape) = Gamma(shape + 1) * U^(1 / shape) */
        double u = 1.0 - (double)cr_rng_uniform(rng); /* (0, 1] */
        return cr_rng_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = cr_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = 1.0 - (double)cr_rng_uniform(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

double cr_rng_beta(cr_rng *rng, double a, double b) {
    double x = cr_rng_gamma(rng, a), y = cr_rng_gamma(rng, b);
    return x + y > 0.0 ? x / (x + y) : 0.5;
}
