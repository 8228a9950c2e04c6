/* What an epoch costs at each stage's size, timed on a fresh model of the run's kind with the
 * run's loader settings: per pass, the first batch of a warm start (the loader's ring fills from
 * empty at every epoch) and a few batches after it; per stage, what the very first batch costs on
 * top (planning the model for the size, the kernels' first call); per epoch, the checkpoints. On
 * several processes each times its own share, gradients averaged as in training, and the
 * slowest's times are every process's plan. */
#include <stdio.h>

#include "crescendo/budget.h"
#include "crescendo/checkpoint.h"
#include "crescendo/log.h"
#include "crescendo/step.h"
#include "train/probe.h"

/* Timed batches after the first: more than the loader's ring holds, so that its workers' share of
 * the cores shows, as it does in a whole epoch. */
enum { TIMED_TRAIN_BATCHES = 6, TIMED_VAL_BATCHES = 3 };

/* Starts an epoch and runs up to 1 + `more` batches: *first, the seconds to the end of the first
 * one; *each, of each one after it (the first's when there is no other). */
static cr_status run_batches(cr_probe *p, cr_loader *loader, const cr_loader_epoch *e, bool train,
                             int more, double *first, double *each) {
    double start = cr_now_seconds();
    CR_TRY(cr_loader_start_epoch(loader, e));
    CR_TRY(cr_step_prepare(p->step, e->batch_size, e->resolution));
    double after_first = start;
    int done = 0;
    cr_batch batch;
    cr_status s = CR_STATUS_OK;
    while (done <= more && (s = cr_loader_next(loader, &batch)) == CR_STATUS_OK) {
        cr_step_result r;
        /* lr 0: the weights stay; the model is thrown away in any case */
        if (train)
            CR_TRY(cr_step_train(p->step, batch.images, batch.labels, batch.count, 0.0, done,
                                 &r));
        else
            CR_TRY(cr_step_eval(p->step, batch.images, batch.labels, batch.count, &r));
        if (++done == 1) after_first = cr_now_seconds();
    }
    if (s != CR_STATUS_OK && s != CR_STATUS_END) return s;
    double end = cr_now_seconds();
    *first = after_first - start;
    *each = done > 1 ? (end - after_first) / (done - 1) : *first;
    return CR_STATUS_OK;
}

/* A pass of `batches` batches: its warm first batch and the others at the steady rate; what the
 * stage's first, cold, batch costs on top of a warm one is added to *start. */
static cr_status time_pass(cr_probe *p, cr_loader *loader, const cr_loader_epoch *e, bool train,
                           int more, int batches, double *seconds, double *start) {
    double cold, warm, each, unused;
    CR_TRY(run_batches(p, loader, e, train, more, &cold, &each));
    CR_TRY(run_batches(p, loader, e, train, 0, &warm, &unused));
    *seconds = warm + (batches - 1) * each;
    if (cold > warm) *start += cold - warm;
    return CR_STATUS_OK;
}

static cr_status measure(cr_probe *p, const cr_train_config *c, cr_stage_cost *cost) {
    int b = cost->batch_size, rank = cr_dist_rank(c->dist), shards = cr_dist_size(c->dist);
    cr_loader_epoch e = {.resolution = cost->resolution, .batch_size = b, .shuffle = true,
                         .drop_last = true, .flip = c->flip, .crop_scale_min = c->crop_scale_min,
                         .shard = rank, .shards = shards};
    cost->start_seconds = 0.0;
    CR_TRY(time_pass(p, p->train, &e, true, TIMED_TRAIN_BATCHES,
                     cr_dataset_count(c->train) / shards / b, &cost->train_seconds,
                     &cost->start_seconds));
    cost->val_seconds = 0.0;
    if (!p->val) return CR_STATUS_OK;
    e = (cr_loader_epoch){.resolution = cost->resolution, .batch_size = b, .shard = rank,
                          .shards = shards};
    int share = (cr_dataset_count(c->val) + shards - 1) / shards;
    return time_pass(p, p->val, &e, false, TIMED_VAL_BATCHES, (share + b - 1) / b,
                     &cost->val_seconds, &cost->start_seconds);
}

/* Every process plans by the slowest one's times. */
static cr_status slowest(cr_dist *d, cr_stage_cost *costs, int count) {
    double times[4 * CR_SCHEDULE_MAX_STAGES];
    for (int i = 0; i < count; i++) {
        times[4 * i] = costs[i].train_seconds, times[4 * i + 1] = costs[i].val_seconds;
        times[4 * i + 2] = costs[i].end_seconds, times[4 * i + 3] = costs[i].start_seconds;
    }
    CR_TRY(cr_dist_max_f64(d, times, 4 * (size_t)count));
    for (int i = 0; i < count; i++) {
        costs[i].train_seconds = times[4 * i], costs[i].val_seconds = times[4 * i + 1];
        costs[i].end_seconds = times[4 * i + 2], costs[i].start_seconds = times[4 * i + 3];
    }
    return CR_STATUS_OK;
}

/* The checkpoints an epoch writes (last.safetensors with the optimizer's state, best.safetensors
 * without), timed by writing both to a scratch file in the run folder. */
static cr_status time_checkpoints(cr_probe *p, const cr_train_config *c, double *seconds) {
    *seconds = 0.0;
    if (!c->out_dir || !cr_dist_writes(c->dist)) return CR_STATUS_OK;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/budget-probe.safetensors", c->out_dir) >= (int)sizeof path)
        return cr_fail(CR_STATUS_INVALID, "the run folder path %s is too long", c->out_dir);
    cr_checkpoint_info info = {.num_classes = cr_dataset_num_classes(c->train),
                               .channels = c->channels, .stage.stage = -1};
    snprintf(info.model, sizeof info.model, "%s", c->model);
    double start = cr_now_seconds();
    cr_status s = cr_checkpoint_save(path, p->graph, p->optimizer, &info);
    if (s == CR_STATUS_OK) s = cr_checkpoint_save(path, p->graph, NULL, &info);
    *seconds = cr_now_seconds() - start;
    remove(path);
    return s;
}

cr_status cr_budget_measure(cr_backend *be, const cr_train_config *config, cr_stage_cost *costs,
                            int count) {
    cr_probe p = {0};
    double end = 0.0;
    cr_status s = cr_probe_create(be, config, &p);
    for (int i = 0; s == CR_STATUS_OK && i < count; i++) s = measure(&p, config, &costs[i]);
    if (s == CR_STATUS_OK) s = time_checkpoints(&p, config, &end);
    for (int i = 0; s == CR_STATUS_OK && i < count; i++) costs[i].end_seconds = end;
    if (s == CR_STATUS_OK) s = slowest(config->dist, costs, count);
    cr_probe_free(&p);
    return s == CR_STATUS_OK ? s : cr_fail_context(s, "timing the stages for --time-budget");
}
