/* Learning-rate schedules as closed forms of the step number, with torch.optim.lr_scheduler's
 * values. Closed forms rather than torch's step-by-step updates: a resumed run needs only k. */
#include <math.h>
#include <string.h>

#include "crescendo/optim.h"

static const char *const names[] = {"constant", "step", "cosine", "onecycle", "plateau"};
enum { NAME_COUNT = sizeof names / sizeof names[0] };

const char *cr_lr_schedule_name(cr_lr_schedule_kind kind) {
    return (unsigned)kind < NAME_COUNT ? names[kind] : "?";
}

int cr_lr_schedule_parse(const char *name, cr_lr_schedule_kind *out) {
    for (int i = 0; i < NAME_COUNT; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (cr_lr_schedule_kind)i;
            return 0;
        }
    return -1;
}

cr_lr_schedule cr_lr_schedule_defaults(cr_lr_schedule_kind kind, double lr, int64_t total_steps) {
    return (cr_lr_schedule){
        .kind = kind,
        .lr = lr,
        .total_steps = total_steps,
        .warmup_start_factor = 1.0 / 3.0, /* torch LinearLR's */
        .step_size = total_steps > 3 ? (total_steps + 2) / 3 : 1, /* two decays over the run */
        .gamma = 0.1,
        .pct_start = 0.3,
        .div_factor = 25.0,
        .final_div_factor = 1e4,
    };
}

cr_status cr_lr_schedule_validate(const cr_lr_schedule *s) {
    if ((unsigned)s->kind >= NAME_COUNT)
        return cr_fail(CR_STATUS_INVALID, "lr schedule: unknown kind %d", (int)s->kind);
    const char *name = names[s->kind];
    if (!(s->lr >= 0.0 && isfinite(s->lr)))
        return cr_fail(CR_STATUS_INVALID, "lr schedule %s: lr %g must be finite and >= 0", name,
                       s->lr);
    if (s->total_steps < 1)
        return cr_fail(CR_STATUS_INVALID, "lr schedule %s: %lld total steps, need at least 1",
                       name, (long long)s->total_steps);
    if (s->warmup_steps < 0 || s->warmup_steps >= s->total_steps)
        return cr_fail(CR_STATUS_INVALID, "lr schedule %s: %lld warm-up steps must be in [0, %lld)"
                       " (the total)", name, (long long)s->warmup_steps,
                       (long long)s->total_steps);
    if (s->warmup_steps > 0 && !(s->warmup_start_factor > 0.0 && s->warmup_start_factor <= 1.0))
        return cr_fail(CR_STATUS_INVALID, "lr schedule %s: warm-up start factor %g must be in "
                       "(0, 1]", name, s->warmup_start_factor);
    switch (s->kind) {
    case CR_LR_SCHEDULE_CONSTANT:
    case CR_LR_SCHEDULE_PLATEAU: break;
    case CR_LR_SCHEDULE_STEP:
        if (s->step_size < 1 || !(s->gamma > 0.0 && isfinite(s->gamma)))
            return cr_fail(CR_STATUS_INVALID, "lr schedule step: step size %lld must be >= 1 and "
                           "gamma %g > 0", (long long)s->step_size, s->gamma);
        break;
    case CR_LR_SCHEDULE_COSINE:
        if (!(s->min_lr >= 0.0 && s->min_lr <= s->lr))
            return cr_fail(CR_STATUS_INVALID, "lr schedule cosine: min lr %g must be in [0, lr %g]",
                           s->min_lr, s->lr);
        break;
    case CR_LR_SCHEDULE_ONECYCLE:
        if (!(s->pct_start > 0.0 && s->pct_start < 1.0))
            return cr_fail(CR_STATUS_INVALID, "lr schedule onecycle: pct_start %g must be in "
                           "(0, 1)", s->pct_start);
        if (!(s->div_factor > 0.0 && isfinite(s->div_factor)) ||
            !(s->final_div_factor > 0.0 && isfinite(s->final_div_factor)))
            return cr_fail(CR_STATUS_INVALID, "lr schedule onecycle: div factors %g and %g must "
                           "be > 0", s->div_factor, s->final_div_factor);
        break;
    }
    return CR_STATUS_OK;
}

/* torch's "cos" anneal from `from` to `to`, pct in [0, 1]. */
static double cos_anneal(double from, double to, double pct) {
    return to + (from - to) / 2.0 * (cos(M_PI * pct) + 1.0);
}

/* OneCycleLR's two phases, with its phase ends (pct_start * T - 1 and T - 1) as floats. A phase of
 * zero length, which torch divides by, is taken as finished. */
static double onecycle(const cr_lr_schedule *s, int64_t k, int64_t steps) {
    double initial = s->lr / s->div_factor, final = initial / s->final_div_factor;
    double rise_end = s->pct_start * (double)steps - 1.0, fall_end = (double)steps - 1.0;
    if ((double)k <= rise_end)
        return cos_anneal(initial, s->lr, rise_end > 0.0 ? (double)k / rise_end : 1.0);
    double span = fall_end - rise_end;
    return cos_anneal(s->lr, final, span > 0.0 ? ((double)k - rise_end) / span : 1.0);
}

/* The schedule proper, at step k of its `steps` (the warm-up excluded). */
static double main_phase(const cr_lr_schedule *s, int64_t k, int64_t steps) {
    switch (s->kind) {
    case CR_LR_SCHEDULE_CONSTANT:
    case CR_LR_SCHEDULE_PLATEAU: return s->lr;
    case CR_LR_SCHEDULE_STEP: return s->lr * pow(s->gamma, (double)(k / s->step_size));
    case CR_LR_SCHEDULE_COSINE: {
        double phase = (1.0 + cos(M_PI * (double)k / (double)steps)) / 2.0; /* 1 down to 0 */
        return s->min_lr + (s->lr - s->min_lr) * phase;
    }
    case CR_LR_SCHEDULE_ONECYCLE: return onecycle(s, k, steps);
    }
    return s->lr;
}

double cr_lr_schedule_at(const cr_lr_schedule *s, int64_t step) {
    int64_t at = s->pace ? s->pace(s->pace_user, step) : step;
    int64_t k = at < 0 ? 0 : at >= s->total_steps ? s->total_steps - 1 : at;
    int64_t steps = s->total_steps - s->warmup_steps;
    double lr;
    if (k < s->warmup_steps) {
        double f = s->warmup_start_factor;
        lr = main_phase(s, 0, steps) * (f + (1.0 - f) * (double)k / (double)s->warmup_steps);
    } else {
        lr = main_phase(s, k - s->warmup_steps, steps);
    }
    return s->scale ? lr * s->scale(s->scale_user, step) : lr;
}
