/* One pass over a loader: a training epoch (forward, loss, backward, optimizer step per batch) or
 * a validation pass (forward and loss only), feeding the metrics and the progress bar; and the
 * forward-only re-estimation of BatchNorm statistics at a change of size. */
#include "train/epoch.h"

#include <stdio.h>
#include <string.h>

#include "crescendo/log.h"
#include "crescendo/report.h"

/* Starts the pass's epoch on its loader and plans the model for its batches. */
static cr_status start_pass(cr_epoch_context *ctx, const cr_epoch_pass *pass) {
    cr_loader_epoch le = {.epoch = pass->epoch, .resolution = pass->resolution,
                          .batch_size = pass->batch_size, .shuffle = pass->training,
                          .drop_last = pass->training, .flip = pass->training && pass->flip,
                          .crop_scale_min = pass->training ? pass->crop_scale_min : 0.0f,
                          .shard = cr_dist_rank(ctx->dist), .shards = cr_dist_size(ctx->dist),
                          .first_batch = pass->training ? pass->first_batch : 0};
    CR_TRY(cr_loader_start_epoch(pass->loader, &le));
    return cr_step_prepare(ctx->step_runner, pass->batch_size, pass->resolution);
}

cr_loader_options cr_epoch_loader_options(const cr_train_config *c) {
    cr_loader_options lo = {.workers = c->workers, .channels = c->channels, .seed = c->seed,
                            .on_bad = c->on_bad, .max_image_pixels = c->max_image_pixels,
                            .jpeg_scale = c->jpeg_scale};
    memcpy(lo.mean, c->mean, sizeof lo.mean);
    memcpy(lo.std, c->std, sizeof lo.std);
    return lo;
}

cr_status cr_epoch_recalibrate(cr_epoch_context *ctx, const cr_epoch_pass *pass, int batches) {
    CR_TRY(start_pass(ctx, pass));
    cr_status s = CR_STATUS_OK;
    cr_batch batch;
    for (int i = 0; i < batches && (s = cr_loader_next(pass->loader, &batch)) == CR_STATUS_OK;
         i++)
        CR_TRY(cr_step_forward_train(ctx->step_runner, batch.images, batch.count, ctx->step));
    return s == CR_STATUS_END ? CR_STATUS_OK : s;
}

/* The mixing's random streams are (seed, MIX_STREAMS + epoch, batch), far from the loader's. */
static const uint64_t MIX_STREAMS = UINT64_C(1) << 62;

cr_status cr_epoch_stop_requested(const cr_epoch_context *ctx, bool *stop) {
    double request = ctx->stop && *ctx->stop ? 1.0 : 0.0;
    if (ctx->stop) CR_TRY(cr_dist_max_f64(ctx->dist, &request, 1));
    *stop = request > 0.0;
    return CR_STATUS_OK;
}

cr_status cr_epoch_run(cr_epoch_context *ctx, const cr_epoch_pass *pass, cr_epoch_outcome *out) {
    CR_TRY(start_pass(ctx, pass));
    cr_metrics_reset(ctx->metrics);
    if (pass->training && pass->carry) cr_metrics_carry(ctx->metrics, pass->carry);
    out->stopped = false;
    if (pass->misclassified) cr_misclassified_reset(pass->misclassified);

    char label[48];
    snprintf(label, sizeof label, "%s %dpx", pass->training ? "train" : "val  ", pass->resolution);
    cr_progress progress;
    cr_progress_begin(&progress, ctx->console, label, cr_loader_batches(pass->loader));
    double start = cr_now_seconds();
    int64_t images = 0;
    int done = 0;
    cr_status s;
    cr_batch batch;
    while ((s = cr_loader_next(pass->loader, &batch)) == CR_STATUS_OK) {
        cr_step_result r;
        int32_t partners[batch.count];
        if (pass->training && pass->mix && cr_mix_enabled(pass->mix)) {
            /* a stream of its own per (epoch, batch): apart from the loader's (epoch, sample) */
            cr_rng rng = cr_rng_stream(pass->seed, MIX_STREAMS + (uint64_t)pass->epoch,
                                       (uint64_t)batch.number);
            cr_mix mix;
            cr_mix_batch(pass->mix, &rng, batch.images, batch.count, batch.height, batch.width,
                         batch.channels, batch.labels, partners, &mix);
            if (mix.weight < 1.0f) cr_step_mix_next(ctx->step_runner, partners, mix.weight);
        }
        if (pass->training) {
            double lr = cr_lr_schedule_at(ctx->lr_schedule, ctx->step);
            CR_TRY(cr_step_train(ctx->step_runner, batch.images, batch.labels, batch.count, lr,
                                 ctx->step, &r));
            ctx->step++;
            ctx->lr = lr;
            if (ctx->ema) cr_ema_update(ctx->ema);
        } else {
            CR_TRY(cr_step_eval(ctx->step_runner, batch.images, batch.labels, batch.count, &r));
        }
        CR_TRY(cr_metrics_add(ctx->metrics, r.logits, batch.labels, batch.count));
        if (pass->misclassified)
            CR_TRY(cr_misclassified_add(pass->misclassified, &batch, r.logits));
        cr_metrics_add_loss(ctx->metrics, r.loss, batch.count);
        images += batch.count;
        done++;
        cr_metrics_summary running = cr_metrics_summarize(ctx->metrics);
        cr_progress_update(&progress, done, images, running.loss, running.top1);
        if (pass->training) CR_TRY(cr_epoch_stop_requested(ctx, &out->stopped));
        if (out->stopped) break;
    }
    cr_progress_end(&progress);
    if (s != CR_STATUS_END && !out->stopped) return s;
    out->batches = pass->first_batch + done;

    CR_TRY(cr_metrics_sum_over(ctx->metrics, ctx->dist));
    CR_TRY(cr_dist_sum_i64(ctx->dist, &images, 1));
    cr_loader_stats stats;
    cr_loader_get_stats(pass->loader, &stats);
    out->seconds = cr_now_seconds() - start;
    out->images = images;
    out->wait_seconds = stats.wait_seconds;
    out->summary = cr_metrics_summarize(ctx->metrics);
    out->totals = cr_metrics_totals_of(ctx->metrics);
    return CR_STATUS_OK;
}
