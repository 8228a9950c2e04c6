/* torch.optim.AdamW (amsgrad off): decoupled weight decay, then Adam's update with bias
 * corrections. Runs as an OpenMP loop over host memory: the op table has no adamw slot yet, so only
 * the CPU backend can take it; a GPU backend needs one (cr_adamw_args: the scalars below computed
 * once per step, and param, grad, exp_avg, exp_avg_sq). */
#include <math.h>

#include "optim/optimizer_impl.h"

/* Below this many elements a segment is updated by one thread: a fork costs more than it saves. */
enum { PARALLEL_MIN = 1 << 15 };

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
    if (be->device != CR_DEVICE_CPU)
        return cr_fail(CR_STATUS_UNSUPPORTED, "optimizer adamw: the %s backend has no adamw step "
                       "yet; use --optimizer sgd", be->ops->name);
    return CR_STATUS_OK;
}

/* The scalars of one step, rounded where torch rounds its Python floats to the tensor's float. */
typedef struct adamw_scalars {
    float decay;     /* 1 - lr * weight_decay */
    float beta1, one_minus_beta1, beta2, one_minus_beta2;
    float step_size; /* lr / (1 - beta1^t) */
    float bias2_sqrt; /* sqrt(1 - beta2^t) */
    float eps;
} adamw_scalars;

static void adamw_segment(const adamw_scalars *k, const cr_optim_segment *s, float *exp_avg,
                          float *exp_avg_sq, int threads) {
    float *param = s->param;
    const float *grad = s->grad;
    const size_t count = s->count;
    const adamw_scalars c = *k;
#pragma omp parallel for simd num_threads(threads) if (count > PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < count; i++) {
        float g = grad[i];
        float m = fmaf(g, c.one_minus_beta1, exp_avg[i] * c.beta1); /* torch's fused add-alpha */
        float v = exp_avg_sq[i] * c.beta2 + c.one_minus_beta2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float denom = sqrtf(v) / c.bias2_sqrt + c.eps;
        param[i] = param[i] * c.decay + -c.step_size * m / denom;
    }
}

static cr_status adamw_update(cr_optimizer *opt, double lr, int64_t step) {
    const cr_optimizer_config *c = &opt->config;
    double bias1 = 1.0 - pow(c->beta1, (double)step), bias2 = 1.0 - pow(c->beta2, (double)step);
    for (int i = 0; i < opt->segment_count; i++) {
        const cr_optim_segment *s = &opt->segments[i];
        adamw_scalars k = {
            .decay = (float)(1.0 - lr * s->weight_decay),
            .beta1 = (float)c->beta1,
            .one_minus_beta1 = (float)(1.0 - c->beta1),
            .beta2 = (float)c->beta2,
            .one_minus_beta2 = (float)(1.0 - c->beta2),
            .step_size = (float)(lr / bias1),
            .bias2_sqrt = (float)sqrt(bias2),
            .eps = (float)c->eps,
        };
        adamw_segment(&k, s, cr_optim_state(opt, 0, s), cr_optim_state(opt, 1, s),
                      opt->be->threads);
    }
    return CR_STATUS_OK;
}

const cr_optim_rule cr_optim_adamw_rule = {
    .name = "adamw",
    .slot_names = {"exp_avg", "exp_avg_sq"},
    .slots = adamw_slots,
    .check = adamw_check,
    .update = adamw_update,
};
