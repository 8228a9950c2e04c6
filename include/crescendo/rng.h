/* crescendo/rng.h — a counter-based generator (Philox4x32-10).
 * Every random choice is a pure function of (key, counter), so a sample's augmentation or a
 * parameter's initial value does not depend on thread count or the order work is done in. */
#ifndef CRESCENDO_RNG_H
#define CRESCENDO_RNG_H

#include <stdint.h>

/* Four 32-bit words from Philox4x32-10 for a 64-bit key and a 128-bit counter. */
void cr_philox(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);

/* A stream: a key and a position. Derive independent streams with cr_rng_stream. */
typedef struct cr_rng {
    uint64_t key;
    uint64_t stream;  /* high counter word: which stream of this key */
    uint64_t counter; /* low counter word: position in the stream */
    uint32_t buffer[4];
    int used; /* words of buffer already handed out; 4 means empty */
} cr_rng;

/* A stream identified by (seed, a, b), e.g. (seed, epoch, sample index). */
cr_rng cr_rng_stream(uint64_t seed, uint64_t a, uint64_t b);
uint32_t cr_rng_u32(cr_rng *rng);
/* Uniform in [0, 1) with 24 random bits. */
float cr_rng_uniform(cr_rng *rng);
/* Standard normal (Box-Muller). */
float cr_rng_normal(cr_rng *rng);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint32_t cr_rng_below(cr_rng *rng, uint32_t n);
/* Gamma(shape, 1), shape > 0 (Marsaglia and Tsang's squeeze; below 1 by the power boost). */
double cr_rng_gamma(cr_rng *rng, double shape);
/* Beta(a, b), a, b > 0, as a ratio of gammas: mixup's mixing weight. */
double cr_rng_beta(cr_rng *rng, double a, double b);

#endif
