/* torch.optim.SGD: momentum, dampening, Nesterov and L2 weight decay. The arithmetic is the
 * backend's sgd_step, one call over a group of segments (all of them, unless parameters joined
 * late); this file only checks the config and fills the args. */
#include <math.h>

#include "optim/optimizer_impl.h"

static int sgd_slots(const cr_optimizer_config *c) { return c->momentum != 0.0; }

static cr_status sgd_check(const cr_optimizer_config *c, const cr_backend *be) {
    if (!(c->momentum >= 0.0 && isfinite(c->momentum)))
        return cr_fail(CR_STATUS_INVALID, "optimizer sgd: momentum %g must be finite and >= 0",
                       c->momentum);
    if (!(c->dampening >= 0.0 && c->dampening <= 1.0))
        return cr_fail(CR_STATUS_INVALID, "optimizer sgd: dampening %g must be in [0, 1]",
                       c->dampening);
    if (c->nesterov && (c->momentum <= 0.0 || c->dampening != 0.0))
        return cr_fail(CR_STATUS_INVALID, "optimizer sgd: Nesterov momentum needs momentum > 0 "
                       "and dampening 0 (got %g and %g)", c->momentum, c->dampening);
    if (!be->ops->sgd_step)
        return cr_fail(CR_STATUS_UNSUPPORTED, "optimizer sgd: the %s backend has no sgd step",
                       be->ops->name);
    return CR_STATUS_OK;
}

static cr_status sgd_update(cr_optimizer *opt, const cr_optim_segment *segments, int count,
                            double lr, int64_t step) {
    const cr_optimizer_config *c = &opt->config;
    cr_sgd_args a = {
        .segments = segments,
        .segment_count = count,
        .lr = (float)lr,
        .momentum = (float)c->momentum,
        .dampening = (float)c->dampening,
        .nesterov = c->nesterov,
        .first_step = step == 1, /* torch starts the buffer as a copy of the gradient */
        .momentum_buffer = cr_optim_slot(opt, 0),
    };
    return opt->be->ops->sgd_step(opt->be, &a);
}

const cr_optim_rule cr_optim_sgd_rule = {
    .name = "sgd",
    .slot_names = {"momentum_buffer"},
    .slots = sgd_slots,
    .check = sgd_check,
    .update = sgd_update,
};
