/* gradcheck.h — what the gradient checks share: a backend, random inputs, float/double copies,
 * central differences of a double-precision reference, and a comparison naming the worst element.
 *
 * Tolerances. An element passes when |got - want| <= tol * (|want| + mean |want|), the mean taken
 * over the whole tensor: relative for typical elements, not fooled by one that cancels to zero.
 *   GC_FORWARD_TOL  1e-5: a float forward against the double reference on the same float inputs
 *   GC_GRAD_TOL     1e-4: a float gradient against central differences of the double reference
 *   GC_BF16_TOL     4e-3: either, for a result stored in bf16
 * The optimizer steps are checked on a segment table shaped like a model's (gc_optim_segments). */
#ifndef CRESCENDO_GRADCHECK_H
#define CRESCENDO_GRADCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "crescendo/backend.h"
#include "crescendo/log.h"
#include "crescendo/rng.h"
#include "crescendo/tensor.h"
#include "testing.h"

#define GC_FORWARD_TOL 1e-5
#define GC_GRAD_TOL 1e-4
/* An output stored in bf16 carries one rounding of at most 2^-9 of its value. */
#define GC_BF16_TOL 4e-3

/* The backend under test, with two threads (the count the determinism checks assume). Kernel
 * choices and warnings go to stdout, where ctest keeps them. */
static inline void gc_log(cr_log_level level, const char *message, void *user) {
    int *warnings = user;
    if (level >= CR_LOG_WARN) (*warnings)++;
    printf("  [%s] %s\n", level >= CR_LOG_WARN ? "warn" : "debug", message);
}

static int gc_warnings;

static inline cr_backend *gc_backend(void) {
    cr_log_set_sink(gc_log, &gc_warnings, CR_LOG_DEBUG);
    cr_backend *be = NULL;
    cr_status s = cr_backend_create(CR_DEVICE_CPU, 2, &be);
    if (s != CR_STATUS_OK) {
        fprintf(stderr, "cannot create the cpu backend: %s\n", cr_error_message());
        exit(1);
    }
    return be;
}

static inline void *gc_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* count floats uniform in [lo, hi) from the stream (seed, tag). */
static inline float *gc_uniform(size_t count, uint64_t seed, uint64_t tag, float lo, float hi) {
    float *x = gc_alloc(count * sizeof *x);
    cr_rng rng = cr_rng_stream(seed, tag, 0);
    for (size_t i = 0; i < count; i++) x[i] = lo + (hi - lo) * cr_rng_uniform(&rng);
    return x;
}

static inline float *gc_filled(size_t count, float value) {
    float *x = gc_alloc(count * sizeof *x);
    for (size_t i = 0; i < count; i++) x[i] = value;
    return x;
}

static inline double *gc_to_double(const float *x, size_t count) {
    double *d = gc_alloc(count * sizeof *d);
    for (size_t i = 0; i < count; i++) d[i] = x[i];
    return d;
}

/* The double copy of x rounded to bf16, as a BF16-compute kernel sees it. */
static inline double *gc_to_double_bf16(const float *x, size_t count) {
    double *d = gc_alloc(count * sizeof *d);
    for (size_t i = 0; i < count; i++) d[i] = cr_bf16_to_f32(cr_f32_to_bf16(x[i]));
    return d;
}

static inline double gc_dot(const double *a, const double *b, size_t count) {
    double s = 0;
    for (size_t i = 0; i < count; i++) s += a[i] * b[i];
    return s;
}

/* Fails one check, printing the worst element, unless every element of got is within tol of want
 * (see the rule at the top). got[i] - base[i] is compared when base is given: the increment of an
 * accumulated gradient. */
static inline void gc_compare_delta(const char *what, const float *got, const float *base,
                                    const double *want, size_t count, double scale, double tol) {
    double mean = 0;
    for (size_t i = 0; i < count; i++) mean += fabs(scale * want[i]);
    mean = count ? mean / count : 0;
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        double g = (double)got[i] - (base ? (double)base[i] : 0.0), w = scale * want[i];
        double err = fabs(g - w) / (fabs(w) + mean + 1e-30);
        if (!(err <= worst)) { /* also catches NaN */
            worst = err;
            at = i;
        }
    }
    cr_test_checks++;
    if (!(worst <= tol)) {
        double g = (double)got[at] - (base ? (double)base[at] : 0.0);
        cr_test_fail(__FILE__, __LINE__, "%s: worst element %zu of %zu: got %.9g, expected %.9g "
                     "(relative error %.3g > %.1g)", what, at, count, g, scale * want[at], worst,
                     tol);
    }
}

static inline void gc_compare(const char *what, const float *got, const double *want,
                              size_t count, double tol) {
    gc_compare_delta(what, got, NULL, want, count, 1.0, tol);
}

/* Central differences: grad[i] = (f(x + h e_i) - f(x - h e_i)) / 2h; f reads x through ctx. */
typedef double (*gc_fn)(void *ctx);

static inline void gc_numeric_grad(gc_fn f, void *ctx, double *x, size_t count, double h,
                                   double *grad) {
    for (size_t i = 0; i < count; i++) {
        double saved = x[i];
        x[i] = saved + h;
        double up = f(ctx);
        x[i] = saved - h;
        double down = f(ctx);
        x[i] = saved;
        grad[i] = (up - down) / (2 * h);
    }
}

/* Checks got (or got - base) against scale times the central differences of f in x. Tensors of
 * up to GC_FULL elements are checked whole; larger ones at GC_FULL elements spread evenly over
 * them, which keeps a big-channel case to a second while still touching every region. */
enum { GC_FULL = 600 };

static inline void gc_check_grad_tol(const char *what, gc_fn f, void *ctx, double *x,
                                     size_t count, double h, const float *got, const float *base,
                                     double scale, double tol) {
    size_t picked = count <= GC_FULL ? count : GC_FULL;
    double *want = gc_alloc(picked * sizeof *want);
    float *got_at = gc_alloc(picked * sizeof *got_at);
    float *base_at = gc_alloc(picked * sizeof *base_at);
    for (size_t j = 0; j < picked; j++) {
        size_t i = count <= GC_FULL ? j : j * count / picked + (j * 7919) % (count / picked);
        gc_numeric_grad(f, ctx, x + i, 1, h, want + j);
        got_at[j] = got[i];
        base_at[j] = base ? base[i] : 0.0f;
    }
    gc_compare_delta(what, got_at, base ? base_at : NULL, want, picked, scale, tol);
    free(want);
    free(got_at);
    free(base_at);
}

static inline void gc_check_grad(const char *what, gc_fn f, void *ctx, double *x, size_t count,
                                 double h, const float *got, const float *base, double scale) {
    gc_check_grad_tol(what, f, ctx, x, count, h, got, base, scale, GC_GRAD_TOL);
}

/* bf16 copies of floats (rounded to nearest even), and floats of bf16 values. */
static inline uint16_t *gc_to_bf16(const float *x, size_t count) {
    uint16_t *b = gc_alloc(count * sizeof *b);
    for (size_t i = 0; i < count; i++) b[i] = cr_f32_to_bf16(x[i]);
    return b;
}

static inline float *gc_from_bf16(const uint16_t *b, size_t count) {
    float *x = gc_alloc(count * sizeof *x);
    for (size_t i = 0; i < count; i++) x[i] = cr_bf16_to_f32(b[i]);
    return x;
}

/* An optimizer's segment table as a model's arena gives it: large decayed weights between small
 * undecayed norm runs, over one array of GC_OPTIM_COUNT floats (above the parallel threshold, with
 * an odd tail), so that the threads' shares start inside segments and one share spans several.
 * Each segment's state_offset is its offset in the array: state and references index alike. */
enum { GC_OPTIM_SEGMENTS = 5 };
static const size_t gc_optim_sizes[GC_OPTIM_SEGMENTS] = {20000, 64, 29, 45003, 10};
enum { GC_OPTIM_COUNT = 20000 + 64 + 29 + 45003 + 10 };

static inline void gc_optim_segments(cr_optim_segment *out, float *param, const float *grad,
                                     double weight_decay) {
    size_t at = 0;
    for (int i = 0; i < GC_OPTIM_SEGMENTS; i++) {
        out[i] = (cr_optim_segment){.param = param + at, .grad = grad + at, .state_offset = at,
                                    .count = gc_optim_sizes[i],
                                    .weight_decay = i % 2 ? 0.0 : weight_decay};
        at += gc_optim_sizes[i];
    }
}

#endif
