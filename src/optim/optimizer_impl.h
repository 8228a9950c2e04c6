/* optimizer_impl.h — what optimizer.c shares with the update rules in sgd.c and adamw.c.
 * optimizer.c owns parameters, state memory and checkpoints; a rule only updates segments. */
#ifndef CRESCENDO_OPTIMIZER_IMPL_H
#define CRESCENDO_OPTIMIZER_IMPL_H

#include "crescendo/optim.h"

enum { CR_OPTIM_MAX_SLOTS = 2 };

/* A run of consecutive parameters whose values, gradients and state are each contiguous and which
 * share a weight decay: one update call covers it. */
typedef struct cr_optim_segment {
    float *param;
    const float *grad;
    size_t state_offset; /* floats from the start of each state slot */
    size_t count;
    double weight_decay;
} cr_optim_segment;

/* An update rule. State is `slots` arrays (momentum; Adam's two moments), each parallel to the
 * concatenated trainable parameters. */
typedef struct cr_optim_rule {
    const char *name;
    const char *slot_names[CR_OPTIM_MAX_SLOTS]; /* in checkpoint names: optimizer.<slot>.<param> */
    int (*slots)(const cr_optimizer_config *c);
    cr_status (*check)(const cr_optimizer_config *c, const cr_backend *be);
    /* One update of every segment; `step` counts from 1 (this update included). */
    cr_status (*update)(cr_optimizer *opt, double lr, int64_t step);
} cr_optim_rule;

extern const cr_optim_rule cr_optim_sgd_rule, cr_optim_adamw_rule;

struct cr_optimizer {
    cr_backend *be;
    cr_optimizer_config config;
    const cr_optim_rule *rule;
    cr_param *params; /* (count) trainable only */
    int count;
    size_t *state_offset; /* (count) floats from the start of a slot */
    size_t slot_floats;   /* floats per slot: every trainable element */
    int slots;
    float *state; /* (slots, slot_floats) in backend memory, NULL when stateless */
    cr_optim_segment *segments;
    int segment_count;
    int64_t steps;
    /* export: names "optimizer.<slot>.<param>", (slots, count) + 1, and a host copy of the state
     * where the backend's memory is not the host's */
    char (*names)[CR_PARAM_NAME_MAX + 32];
    float *host_state;
    int64_t exported_steps;
};

/* The address of state slot `slot` for segment `s`. */
static inline float *cr_optim_state(const cr_optimizer *opt, int slot, const cr_optim_segment *s) {
    return opt->state + (size_t)slot * opt->slot_floats + s->state_offset;
}

#endif
