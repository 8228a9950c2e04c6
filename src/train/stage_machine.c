/* The stage machine: which stage, size and batch each epoch trains at, and when an auto stage has
 * stopped improving. Pure bookkeeping over numbers, so that a checkpoint can carry its state. */
#include <math.h>

#include "crescendo/progressive.h"

cr_status cr_stage_machine_init(cr_stage_machine *m, const cr_schedule *schedule,
                                const cr_stage_rules *rules) {
    *m = (cr_stage_machine){.schedule = *schedule, .rules = *rules,
                            .state = {.best = NAN}};
    int n = schedule->count;
    if (n < 1 || n > CR_SCHEDULE_MAX_STAGES)
        return cr_fail(CR_STATUS_INVALID, "a schedule needs 1 to %d stages, not %d",
                       CR_SCHEDULE_MAX_STAGES, n);
    if (rules->batch_size < 1 || rules->batch_pixels < 0 || rules->max_batch < 0)
        return cr_fail(CR_STATUS_INVALID, "batch size %d, batch pixels %lld and batch cap %d "
                       "must be >= 1, >= 0 and >= 0", rules->batch_size,
                       (long long)rules->batch_pixels, rules->max_batch);
    if (!schedule->automatic) {
        for (int i = 0; i < n; i++) {
            if (schedule->stages[i].epochs < 1)
                return cr_fail(CR_STATUS_INVALID, "stage %d of the schedule has %d epochs", i + 1,
                               schedule->stages[i].epochs);
            m->length[i] = schedule->stages[i].epochs;
        }
        return CR_STATUS_OK;
    }
    if (rules->epochs < n)
        return cr_fail(CR_STATUS_INVALID, "an auto schedule of %d stages needs --epochs of at "
                       "least %d, not %d", n, n, rules->epochs);
    if (rules->patience < 1 || !(rules->min_delta >= 0))
        return cr_fail(CR_STATUS_INVALID, "an auto schedule needs --stage-patience >= 1 (not %d) "
                       "and --stage-min-delta >= 0 (not %g)", rules->patience, rules->min_delta);
    for (int i = 0; i < n; i++) m->length[i] = rules->epochs / n;
    m->length[n - 1] += rules->epochs % n;
    return CR_STATUS_OK;
}

int cr_stage_machine_total_epochs(const cr_stage_machine *m) {
    return m->schedule.automatic ? m->rules.epochs : cr_schedule_total_epochs(&m->schedule);
}

static int batch_of(const cr_stage_machine *m, int stage) {
    const cr_stage *st = &m->schedule.stages[stage];
    const cr_stage_rules *r = &m->rules;
    if (st->batch_size > 0) return st->batch_size;
    if (r->batch_pixels <= 0) return r->batch_size;
    int64_t area = (int64_t)st->resolution * st->resolution;
    int64_t b = (2 * r->batch_pixels + area) / (2 * area); /* nearest, halves up */
    if (r->max_batch > 0 && b > r->max_batch) b = r->max_batch;
    return b < 1 ? 1 : (int)b;
}

cr_stage_plan cr_stage_machine_stage(const cr_stage_machine *m, int stage) {
    const cr_stage *st = &m->schedule.stages[stage];
    int batch = batch_of(m, stage);
    double ratio = (double)batch / batch_of(m, 0);
    double scale = m->rules.lr_scaling == CR_LR_SCALING_LINEAR ? ratio
                   : m->rules.lr_scaling == CR_LR_SCALING_SQRT ? sqrt(ratio)
                                                                : 1.0;
    return (cr_stage_plan){.stage = stage, .stages = m->schedule.count,
                           .resolution = st->resolution, .batch_size = batch,
                           .epochs = m->length[stage], .lr_scale = scale};
}

cr_stage_plan cr_stage_machine_current(const cr_stage_machine *m) {
    cr_stage_plan plan = cr_stage_machine_stage(m, m->state.stage);
    plan.epoch_in_stage = m->state.epochs_in_stage;
    return plan;
}

/* Is `metric` better than `best` by more than min_delta? The first metric of a stage always is. */
static bool improves(const cr_stage_rules *r, double metric, double best) {
    if (isnan(metric)) return false;
    if (isnan(best)) return true;
    return r->maximize ? metric > best + r->min_delta : metric < best - r->min_delta;
}

bool cr_stage_machine_observe(cr_stage_machine *m, double metric) {
    cr_stage_state *s = &m->state;
    s->epochs_in_stage++;
    if (improves(&m->rules, metric, s->best)) {
        s->best = metric;
        s->since_improvement = 0;
    } else {
        s->since_improvement++;
    }
    if (s->stage == m->schedule.count - 1) return false;
    bool plateau = m->schedule.automatic && s->since_improvement >= m->rules.patience;
    if (!plateau && s->epochs_in_stage < m->length[s->stage]) return false;
    *s = (cr_stage_state){.stage = s->stage + 1, .best = NAN};
    return true;
}

cr_status cr_stage_machine_restore(cr_stage_machine *m, const cr_stage_state *state) {
    if (state->stage < 0 || state->stage >= m->schedule.count || state->epochs_in_stage < 0 ||
        state->since_improvement < 0 || state->since_improvement > state->epochs_in_stage)
        return cr_fail(CR_STATUS_DATA, "the saved stage state (stage %d, %d epochs in it, %d "
                       "without improvement) does not fit a schedule of %d stages",
                       state->stage + 1, state->epochs_in_stage, state->since_improvement,
                       m->schedule.count);
    m->state = *state;
    return CR_STATUS_OK;
}
