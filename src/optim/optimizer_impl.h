/* optimizer_impl.h — what optimizer.c shares with the update rules in sgd.c and adamw.c.
 * optimizer.c owns parameters, state memory and checkpoints; a rule fills one backend step. */
#ifndef CRESCENDO_OPTIMIZER_IMPL_H
#define CRESCENDO_OPTIMIZER_IMPL_H

#include "crescendo/optim.h"

enum { CR_OPTIM_MAX_SLOTS = 2 };

/* An update rule. State is `slots` arrays (momentum; Adam's two moments), each parallel to the
 * concatenated trainable parameters. */
typedef struct cr_optim_rule {
    const char *name;
    const char *slot_names[CR_OPTIM_MAX_SLOTS]; /* in checkpoint names: optimizer.<slot>.<param> */
    int (*slots)(const cr_optimizer_config *c);
    cr_status (*check)(const cr_optimizer_config *c, const cr_backend *be);
    /* One backend call updating segments[0 .. count), whose parameters have each taken step - 1
     * steps before this one (`step` counts from 1, this update included). */
    cr_status (*update)(cr_optimizer *opt, const cr_optim_segment *segments, int count, double lr,
                        int64_t step);
} cr_optim_rule;

/* Segments [first, first + count) of the table, whose parameters have each taken `steps` steps:
 * one backend call per group, at the group's own step number. */
typedef struct cr_optim_group {
    int first, count;
    int64_t steps;
} cr_optim_group;

extern const cr_optim_rule cr_optim_sgd_rule, cr_optim_adamw_rule;

struct cr_optimizer {
    cr_backend *be;
    cr_optimizer_config config;
    const cr_optim_rule *rule;
    cr_param *params; /* (count) trainable only */
    int count;
    int *source;          /* (count) each one's index in the parameters given to create */
    bool *frozen;         /* (count) takes no part in steps (cr_optimizer_set_frozen) */
    int64_t *param_steps; /* (count) steps each has taken: torch counts them per parameter */
    size_t *state_offset; /* (count) floats from the start of a slot */
    size_t slot_floats;   /* floats per slot: every trainable element */
    int slots;
    float *state; /* (slots, slot_floats) in backend memory, NULL when stateless */
    cr_optim_segment *segments; /* (segment_count) the parameters that train, in groups */
    int segment_count;
    cr_optim_group *groups; /* (group_count) by the steps their parameters have taken */
    int group_count;
    int64_t steps;
    /* export: names "optimizer.<slot>.<param>", (slots, count) + 1, and a host copy of the state
     * where the backend's memory is not the host's */
    char (*names)[CR_PARAM_NAME_MAX + 32];
    float *host_state;
    int64_t exported_steps;
};

/* The start of state slot `slot`, parallel to the segments by their state_offset; NULL when the
 * rule keeps no state. */
static inline float *cr_optim_slot(const cr_optimizer *opt, int slot) {
    return opt->state ? opt->state + (size_t)slot * opt->slot_floats : NULL;
}

#endif
