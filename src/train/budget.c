/* Sharing a wall-clock budget between the stages of a schedule, from what an epoch costs at each
 * stage's size: pure arithmetic, so that a plan follows from its measurements alone. */
#include "crescendo/budget.h"

#include <math.h>

static double epoch_seconds(const cr_stage_cost *c) {
    return c->train_seconds + c->val_seconds + c->end_seconds;
}

cr_status cr_budget_schedule(const cr_schedule *stages, const cr_stage_cost *costs, double seconds,
                             const cr_budget_recipe *recipe, cr_schedule *out,
                             double *planned_seconds) {
    int count = stages->count;
    if (stages->automatic)
        return cr_fail(CR_STATUS_INVALID, "an auto schedule's stages end when the validation "
                       "metric stops improving, so a time budget cannot plan them: give sizes "
                       "(--schedule 64,128 or --resolution)");
    if (count < 1) return cr_fail(CR_STATUS_INVALID, "an empty schedule");
    if (!(recipe->last_share > 0.0 && recipe->last_share <= 1.0))
        return cr_fail(CR_STATUS_INVALID, "the last stage's share of the budget is %g, not in "
                       "(0, 1]", recipe->last_share);
    double left = seconds; /* not yet given to an epoch or a stage start */
    for (int i = 0; i < count; i++) left -= costs[i].start_seconds;
    const cr_stage_cost *last = &costs[count - 1];
    if (left < epoch_seconds(last))
        return cr_fail(CR_STATUS_INVALID, "a budget of %.0f s holds no epoch at %d px, which "
                       "takes %.1f s with its validation (and %.1f s to start the stages): give "
                       "more time or smaller sizes", seconds, last->resolution,
                       epoch_seconds(last), seconds - left);

    int epochs[CR_SCHEDULE_MAX_STAGES];
    double shared = left; /* what the shares are taken of */
    double last_time = count == 1 ? shared : recipe->last_share * shared;
    epochs[count - 1] = (int)(last_time / epoch_seconds(last));
    if (epochs[count - 1] < 1) epochs[count - 1] = 1;
    left -= epochs[count - 1] * epoch_seconds(last);
    double share = count > 1 ? left / (count - 1) : 0.0;
    for (int i = 0; i < count - 1; i++) {
        epochs[i] = share > 0.0 ? (int)(share / epoch_seconds(&costs[i])) : 0;
        left -= epochs[i] * epoch_seconds(&costs[i]);
        if (epochs[i] == 0) left += costs[i].start_seconds; /* a dropped stage never starts */
    }
    /* the rest, an epoch at a time, to the last stage it pays for: the largest sizes first */
    for (int i = count - 1; i >= 0;) {
        if ((epochs[i] > 0 || i == count - 1) && epoch_seconds(&costs[i]) <= left) {
            epochs[i]++;
            left -= epoch_seconds(&costs[i]);
            i = count - 1;
        } else {
            i--;
        }
    }

    *out = *stages;
    out->count = 0;
    for (int i = 0; i < count; i++) {
        if (epochs[i] == 0) continue;
        out->stages[out->count] = stages->stages[i];
        out->stages[out->count].epochs = epochs[i];
        out->count++;
    }
    *planned_seconds = seconds - left;
    return CR_STATUS_OK;
}
