/* The learning-rate finder: an exponential sweep of the rate over a short run on a throwaway model,
 * the smoothed loss at each rate, and the valley rule that picks one. */
#include "crescendo/lr_find.h"

#include <math.h>

#include "crescendo/checkpoint.h"
#include "train/epoch.h"
#include "train/probe.h"

/* fastai's smoothing of the loss, and its limit on how far the loss may climb before the sweep
 * stops. */
static const double SMOOTHING = 0.98, DIVERGED = 4.0;

int cr_lr_find_valley(const double *losses, int count) {
    if (count < 1) return 0;
    if (count > CR_LR_FIND_MAX_STEPS) count = CR_LR_FIND_MAX_STEPS;
    int falling[CR_LR_FIND_MAX_STEPS] = {0}; /* the longest falling run ending at i, in values */
    int best_end = 0;
    for (int i = 0; i < count; i++) {
        falling[i] = 1;
        for (int j = 0; j < i; j++)
            if (losses[j] > losses[i] && falling[j] + 1 > falling[i]) falling[i] = falling[j] + 1;
        if (falling[i] > falling[best_end]) best_end = i;
    }
    int start = best_end - falling[best_end] + 1;
    if (start < 0) start = 0;
    return (start + best_end) / 2;
}

static cr_status sweep(cr_probe *p, const cr_train_config *c, const cr_lr_find_config *f,
                       cr_lr_find_result *out) {
    cr_stage_rules rules = c->stage_rules;
    rules.max_batch = cr_dataset_count(c->train);
    cr_stage_machine machine;
    CR_TRY(cr_stage_machine_init(&machine, &c->schedule, &rules));
    cr_stage_plan first = cr_stage_machine_stage(&machine, 0);
    if (cr_dataset_count(c->train) < first.batch_size)
        return cr_fail(CR_STATUS_INVALID, "the training set has %d images, fewer than the batch "
                       "size %d", cr_dataset_count(c->train), first.batch_size);
    double ratio = f->end_lr / f->start_lr, average = 0.0, lowest = INFINITY;
    cr_batch batch;
    out->count = 0;
    for (int epoch = 0; out->count < f->steps; epoch++) {
        cr_loader_epoch e = {.epoch = epoch, .resolution = first.resolution,
                             .batch_size = first.batch_size, .shuffle = true, .drop_last = true,
                             .flip = c->flip, .crop_scale_min = c->crop_scale_min};
        CR_TRY(cr_loader_start_epoch(p->train, &e));
        CR_TRY(cr_step_prepare(p->step, first.batch_size, first.resolution));
        cr_status s;
        while (out->count < f->steps && (s = cr_loader_next(p->train, &batch)) == CR_STATUS_OK) {
            int i = out->count;
            double lr = f->start_lr * pow(ratio, f->steps > 1 ? (double)i / (f->steps - 1) : 0);
            cr_step_result r;
            s = cr_step_train(p->step, batch.images, batch.labels, batch.count, lr, i, &r);
            bool ran_away = s == CR_STATUS_DATA; /* a loss that is no longer a number */
            if (s != CR_STATUS_OK && !ran_away) return s;
            average = SMOOTHING * average + (1.0 - SMOOTHING) * (ran_away ? INFINITY : r.loss);
            double smoothed = average / (1.0 - pow(SMOOTHING, i + 1));
            out->lr[i] = lr;
            out->loss[i] = smoothed;
            out->count++;
            if (smoothed < lowest) lowest = smoothed;
            if (ran_away || !isfinite(smoothed) || (i > 0 && smoothed > DIVERGED * lowest)) {
                out->diverged = true;
                return CR_STATUS_OK;
            }
        }
        if (s != CR_STATUS_OK && s != CR_STATUS_END) return s;
    }
    return CR_STATUS_OK;
}

cr_status cr_lr_find(cr_backend *be, const cr_train_config *config, const cr_lr_find_config *find,
                     cr_lr_find_result *out) {
    cr_lr_find_config f = *find;
    if (f.start_lr == 0.0 && f.end_lr == 0.0) f.start_lr = 1e-7, f.end_lr = 10.0;
    if (f.steps == 0) f.steps = 100;
    if (!(f.start_lr > 0.0 && f.end_lr > f.start_lr) || f.steps < 2 ||
        f.steps > CR_LR_FIND_MAX_STEPS)
        return cr_fail(CR_STATUS_INVALID, "a learning-rate sweep from %g to %g in %d steps: it "
                       "needs 0 < start < end and 2..%d steps", f.start_lr, f.end_lr, f.steps,
                       CR_LR_FIND_MAX_STEPS);
    *out = (cr_lr_find_result){0};
    cr_probe p = {0};
    cr_train_config c = *config;
    c.val = NULL; /* the sweep never validates */
    cr_status s = cr_probe_create(be, &c, &p);
    cr_init_result init;
    if (s == CR_STATUS_OK && c.init_path)
        s = cr_checkpoint_load_init(p.graph, c.init_path, &init);
    if (s == CR_STATUS_OK) s = sweep(&p, &c, &f, out);
    cr_probe_free(&p);
    if (s != CR_STATUS_OK) return cr_fail_context(s, "the learning-rate sweep");
    /* the last point of a run-away sweep is the runaway itself */
    int usable = out->diverged && out->count > 1 ? out->count - 1 : out->count;
    out->suggested = cr_lr_find_valley(out->loss, usable);
    out->suggestion = out->lr[out->suggested];
    return CR_STATUS_OK;
}
