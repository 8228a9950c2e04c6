/* torch.optim.AdamW (amsgrad off): decoupled weight decay, then Adam's update with bias
 * corrections. The arithmetic is the backend's adamw_step, one call over a group of segments (all
 * of them, unless parameters joined late); this file checks the config and computes the step's
 * scalars, rounded where torch rounds them. */
#include <math.h>

#include "optim/optimizer_impl.h"

static int adamw_slots(const cr_optimizer_config *c) {
    (void)c;
    return 2; /* exp_avg, exp_avg_sq */
}

static cr_status adamw_check(const cr_optimizer_config *c, const cr_backend *be) {
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0) || !(c->beta2 >= 0.0 && c->beta2 < 1.0))
        return cr_fail(CR_STATUS_INVALID, "optimizer adamw: betas (%g, %g) must be in [0, 1)",
                       c->beta1, c->beta2);
    if (!(c->eps >= 0.0 && isfinite(c->eps)))
        return cr_fail(CR_STATUS_INVALID, "optimizer adamw: eps %g must be finite and >= 0",
                       c->eps);
    if (!be->ops->adamw_step)
        return cr_fail(CR_STATUS_UNSUPPORTED, "optimizer adamw: the %s backend has no adamw step; "
                       "use --optimizer sgd", be->ops->name);
    return CR_STATUS_OK;
}

/* torch holds lr, the betas and eps as Python floats and computes the bias corrections in double;
 * each scalar becomes a float where it first meets a tensor. */
static cr_status adamw_update(cr_optimizer *opt, const cr_optim_segment *segments, int count,
                              double lr, int64_t step) {
    const cr_optimizer_config *c = &opt->config;
    double bias1 = 1.0 - pow(c->beta1, (double)step), bias2 = 1.0 - pow(c->beta2, (double)step);
    cr_adamw_args a = {
        .segments = segments,
        .segment_count = count,
        .lr = lr,
        .beta1 = (float)c->beta1,
        .one_minus_beta1 = (float)(1.0 - c->beta1),
        .beta2 = (float)c->beta2,
        .one_minus_beta2 = (float)(1.0 - c->beta2),
        .step_size = (float)(lr / bias1),
        .bias2_sqrt = (float)sqrt(bias2),
        .eps = (float)c->eps,
        .exp_avg = cr_optim_slot(opt, 0),
        .exp_avg_sq = cr_optim_slot(opt, 1),
    };
    return opt->be->ops->adamw_step(opt->be, &a);
}

const cr_optim_rule cr_optim_adamw_rule = {
    .name = "adamw",
    .slot_names = {"exp_avg", "exp_avg_sq"},
    .slots = adamw_slots,
    .check = adamw_check,
    .update = adamw_update,
};
