/* The training run: set-up (model, pretrained weights, optimizer, loaders, LR schedule, resume),
 * the epoch loop that asks the stage machine what each epoch trains at (and handles each switch:
 * console line, lr factor, BatchNorm re-estimation) and freezes the body for the first epochs of a
 * fine-tuning run, and what each epoch leaves behind (log line, metrics.jsonl, TensorBoard events,
 * confusion matrix, report.html, checkpoints, the early-stopping decision). */
#include "crescendo/trainer.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/checkpoint.h"
#include "crescendo/files.h"
#include "crescendo/log.h"
#include "crescendo/model.h"
#include "crescendo/report.h"
#include "train/epoch.h"
#include "train/misclassified.h"

cr_train_config cr_train_defaults(void) {
    cr_train_config c = {
        .model = "resnet18", .channels = 3, .flip = true,
        .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f},
        .stage_rules = {.epochs = 10, .batch_size = 64, .lr_scaling = CR_LR_SCALING_LINEAR,
                        .patience = 3},
        .seed = 0,
        .mix = {.prob = 1.0f, .switch_prob = 0.5f},
        .plateau_patience = 3, .plateau_factor = 0.1,
        .lr_schedule = cr_lr_schedule_defaults(CR_LR_SCHEDULE_ONECYCLE, 0.1, 1),
        .optimizer = cr_optimizer_defaults(CR_OPTIMIZER_SGD),
    };
    c.optimizer.momentum = 0.9;
    c.optimizer.weight_decay = 5e-4;
    c.schedule = cr_schedule_fixed(64, 10);
    return c;
}

/* How many times a plateau schedule lowers the lr at most: 0.1^32 is far below any use. */
enum { MAX_REDUCTIONS = 32, MAX_LR_FACTORS = CR_SCHEDULE_MAX_STAGES + MAX_REDUCTIONS };

/* The lr factor from each step on where it changed (a stage began, a plateau schedule lowered the
 * lr), read by the LR schedule's scale hook so that the factor is a function of the step. A
 * resumed run's table starts at its first step. */
typedef struct lr_scale_table {
    int64_t first_step[MAX_LR_FACTORS];
    double factor[MAX_LR_FACTORS];
    int count;
} lr_scale_table;

/* Sets the lr factor from `step` on. */
static void set_lr_factor(lr_scale_table *t, int64_t step, double factor) {
    if (t->count == MAX_LR_FACTORS) return;
    t->first_step[t->count] = step;
    t->factor[t->count++] = factor;
}

/* The last of count stages, by their first steps in increasing order, begun by `step`; -1 when
 * none has. */
static int stage_at(const int64_t *first_step, int count, int64_t step) {
    int i = -1;
    while (i + 1 < count && first_step[i + 1] <= step) i++;
    return i;
}

static double lr_scale_at(const void *user, int64_t step) {
    const lr_scale_table *t = user;
    int i = stage_at(t->first_step, t->count, step);
    return i < 0 ? 1.0 : t->factor[i];
}

/* Where each step is along the LR schedule: stage i's steps, from first_step[i], each advance it
 * by units[i] from first_position[i]. One unit a step, or with CR_LR_PACE_PIXELS the step's
 * pixels (batch x side^2), so that a schedule passes through a stage of small images in about the
 * share of the run's compute they take rather than the share of its steps. Laid out from the
 * planned stage lengths (an auto stage at its most), so a pure function of the step. */
typedef struct lr_pace_table {
    int64_t first_step[CR_SCHEDULE_MAX_STAGES], first_position[CR_SCHEDULE_MAX_STAGES];
    int64_t units[CR_SCHEDULE_MAX_STAGES];
    int count;
} lr_pace_table;

static int64_t lr_position(const void *user, int64_t step) {
    const lr_pace_table *t = user;
    int i = stage_at(t->first_step, t->count, step);
    if (i < 0) i = 0; /* the first stage starts at step 0; a negative step counts from there */
    return t->first_position[i] + (step - t->first_step[i]) * t->units[i];
}

/* Everything a run holds; released by run_free whatever state set-up reached. */
typedef struct run {
    const cr_train_config *config;
    cr_graph *graph;
    cr_optimizer *optimizer;
    cr_step *step;
    cr_ema *ema; /* --ema: the weights' moving average, or NULL */
    cr_loader *train_loader, *val_loader;
    cr_metrics *metrics;
    cr_metrics_log *log;
    cr_tensorboard *events;
    cr_lr_schedule lr_schedule;
    lr_scale_table lr_scale;
    double stage_lr_scale;  /* of the current stage */
    cr_plateau_state plateau; /* --lr-schedule plateau: where the watch for a plateau is */
    lr_pace_table lr_pace;
    cr_stage_machine stages;
    cr_epoch_context ctx;
    int first_epoch, total_epochs;
    double best_acc, elapsed_before;
    int best_epoch, epochs_since_best;
    int bad_reported; /* bad samples of the training loader already listed on the console */
    bool frozen;      /* the body is frozen: an epoch of the first freeze_epochs */
    float dropout, crop_scale_min; /* of the current stage (progressive regularization moves
                                    * them) */
    cr_mix_config mix;             /* likewise */
    double switch_val_loss, switch_val_acc; /* validation at the switch into this epoch's stage */
    int resume_batch;                 /* resumed in the middle of epoch first_epoch + 1: the
                                       * batches it had trained ... */
    cr_metrics_totals resume_totals;  /* ... and what they scored */
    double resume_switch_loss, resume_switch_acc;
    cr_stage_plan last_plan; /* of the last epoch trained */
    const char **class_names;
    /* for report.html */
    cr_epoch_record *history;        /* (total_epochs) the epochs logged so far, resumed ones too */
    int history_count;
    cr_report_class *class_stats;    /* (classes) filled from the metrics for each report */
    cr_misclassified *misclassified; /* the epoch's validation's wrong predictions */
} run;

/* What the report shows of the last validation: a grid of a few dozen images, and the pairs
 * a reader can take in at a glance. */
enum { REPORT_THUMBNAILS = 32, REPORT_PAIRS = 20 };

static void run_free(run *r) {
    cr_metrics_log_close(r->log);
    cr_tensorboard_close(r->events);
    cr_metrics_destroy(r->metrics);
    cr_misclassified_destroy(r->misclassified);
    cr_loader_destroy(r->val_loader);
    cr_loader_destroy(r->train_loader);
    cr_step_destroy(r->step);
    cr_ema_destroy(r->ema);
    cr_optimizer_destroy(r->optimizer);
    cr_graph_destroy(r->graph);
    free(r->class_names);
    free(r->history);
    free(r->class_stats);
}

/* The LR schedule's length in the pace's units, over the steps of the whole schedule (an auto
 * stage counted at its most epochs), with the pace table laid out along them. A run whose auto
 * stages end early takes fewer steps, and stops short of the LR schedule's end unless its last
 * stage uses the epochs they left. */
static cr_status count_steps(run *r, int64_t *total, int64_t *first_epoch) {
    int n = cr_dataset_count(r->config->train) / cr_dist_size(r->config->dist); /* a share */
    lr_pace_table *t = &r->lr_pace;
    int64_t step = 0;
    *total = 0;
    for (int i = 0; i < r->stages.schedule.count; i++) {
        cr_stage_plan plan = cr_stage_machine_stage(&r->stages, i);
        if (n < plan.batch_size)
            return cr_fail(CR_STATUS_INVALID, "the training set has %d images%s, fewer than "
                           "the batch size %d of stage %d: lower --batch-size or the stage's "
                           "@BATCH", n, cr_dist_size(r->config->dist) > 1 ? " per process" : "",
                           plan.batch_size, i + 1);
        if (i == 0) *first_epoch = n / plan.batch_size;
        int64_t steps = (int64_t)plan.epochs * (n / plan.batch_size);
        t->first_step[i] = step;
        t->first_position[i] = *total;
        t->units[i] = r->config->lr_pace == CR_LR_PACE_PIXELS
                          ? (int64_t)plan.batch_size * plan.resolution * plan.resolution
                          : 1;
        step += steps;
        *total += steps * t->units[i];
    }
    t->count = r->stages.schedule.count;
    return CR_STATUS_OK;
}

static cr_status path_in(const run *r, const char *name, char *buf, size_t size) {
    int n = snprintf(buf, size, "%s/%s", r->config->out_dir, name);
    if (n < 0 || (size_t)n >= size)
        return cr_fail(CR_STATUS_INVALID, "the run folder path %s is too long", r->config->out_dir);
    return CR_STATUS_OK;
}

static cr_checkpoint_info checkpoint_info(const run *r, int epoch, int resolution) {
    const cr_train_config *c = r->config;
    cr_checkpoint_info info = {
        .num_classes = cr_dataset_num_classes(c->train), .channels = c->channels,
        .resolution = resolution, .epoch = epoch, .step = r->ctx.step,
        .best_metric = r->best_acc, .best_epoch = r->best_epoch, .seed = c->seed,
        .class_names = r->class_names, .config = c->config_yaml, .stage = r->stages.state,
        .plateau = r->plateau,
    };
    snprintf(info.model, sizeof info.model, "%s", c->model);
    memcpy(info.mean, c->mean, sizeof info.mean);
    memcpy(info.std, c->std, sizeof info.std);
    return info;
}

/* The stage machine where the checkpoint left it. A checkpoint without a stage state (written
 * before they were kept) resumes a fixed schedule by replaying its epochs. */
static cr_status restore_stage(run *r, const cr_checkpoint_info *info, const char *path) {
    if (info->stage.stage >= 0) return cr_stage_machine_restore(&r->stages, &info->stage);
    if (r->stages.schedule.automatic)
        return cr_fail(CR_STATUS_DATA, "%s holds no stage state to resume an auto schedule from",
                       path);
    for (int e = 0; e < info->epoch; e++) cr_stage_machine_observe(&r->stages, NAN);
    return CR_STATUS_OK;
}

/* A file of the run as every process sees it: read by the writing process, its bytes handed to
 * the others, so that they need not share its file system. */
static cr_status open_shared(const run *r, const char *path, cr_safetensors **file) {
    void *bytes = NULL;
    size_t size = 0, capacity = 0;
    cr_status s = CR_STATUS_OK;
    if (cr_dist_writes(r->config->dist)) s = cr_read_file(path, &bytes, &capacity, &size);
    if (s == CR_STATUS_OK) s = cr_dist_broadcast_owned(r->config->dist, &bytes, &size);
    if (s == CR_STATUS_OK) s = cr_safetensors_parse(bytes, size, path, file);
    free(bytes);
    return s;
}

/* The weights and BatchNorm statistics of the writing process, on every process: the start of
 * a run on several (after --init), so that all of them begin from the same model. */
static cr_status share_state(run *r) {
    cr_dist *d = r->config->dist;
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    size_t count;
    float *values = cr_graph_param_values(r->graph, &count);
    CR_TRY(cr_dist_broadcast(d, values, count * sizeof *values));
    values = cr_graph_buffer_values(r->graph, &count);
    return cr_dist_broadcast(d, values, count * sizeof *values);
}

/* Synchronized BatchNorm's sums over the processes. */
static cr_status sum_over_processes(void *dist, double *values, size_t count) {
    return cr_dist_sum_f64(dist, values, count);
}

/* BatchNorm's running statistics, each process's own after a training pass over its share,
 * averaged over the processes before validation and the checkpoint. */
static cr_status average_statistics(run *r) {
    size_t count;
    float *values = cr_graph_buffer_values(r->graph, &count);
    CR_TRY(cr_dist_mean_f32(r->config->dist, values, count));
    if (!r->ema) return CR_STATUS_OK;
    values = cr_ema_buffers(r->ema, &count);
    return cr_dist_mean_f32(r->config->dist, values, count);
}

/* Whether the weights' moving average is the model the run keeps as its best and decides by. */
static bool ema_decides(const run *r) { return r->ema && !r->config->best_raw; }

/* The checkpoint at `name` with the moving average's weights in the model's place. */
static cr_status save_ema(run *r, const char *name, const cr_checkpoint_info *info) {
    char path[4096];
    CR_TRY(path_in(r, name, path, sizeof path));
    cr_ema_swap(r->ema);
    cr_status s = cr_checkpoint_save(path, r->graph, NULL, info);
    cr_ema_swap(r->ema);
    return s;
}

/* last.safetensors: the model, the optimizer's state and with --ema the average beside it, in
 * one file so that a resume finds them of one step; then ema.safetensors, the average alone for
 * other programs. */
static cr_status save_last(run *r, cr_checkpoint_info *info) {
    char path[4096];
    cr_named_tensor average[CR_EMA_TENSORS];
    if (r->ema) {
        cr_ema_state(r->ema, average);
        info->extra = average;
        info->extra_count = CR_EMA_TENSORS;
    }
    CR_TRY(path_in(r, "last.safetensors", path, sizeof path));
    CR_TRY(cr_checkpoint_save(path, r->graph, r->optimizer, info));
    info->extra = NULL;
    info->extra_count = 0;
    return r->ema ? save_ema(r, "ema.safetensors", info) : CR_STATUS_OK;
}

/* Where the run stopped, as the trainer counts it: the epoch and the step, the best so far, the
 * time, and inside an epoch how far it got. */
static void restore_progress(run *r, const cr_checkpoint_info *info) {
    r->first_epoch = info->epoch;
    r->ctx.step = info->step;
    r->best_acc = info->best_metric;
    r->best_epoch = info->best_epoch;
    r->epochs_since_best = info->epoch - info->best_epoch;
    r->elapsed_before = info->elapsed_seconds;
    r->resume_batch = info->batch;
    r->resume_totals = info->batch_totals;
    r->resume_switch_loss = info->switch_val_loss;
    r->resume_switch_acc = info->switch_val_acc;
    r->plateau = info->plateau;
}

static cr_status resume(run *r) {
    char path[4096];
    CR_TRY(path_in(r, "last.safetensors", path, sizeof path));
    cr_safetensors *file;
    CR_TRY(open_shared(r, path, &file));
    cr_checkpoint_info info;
    cr_status s = cr_checkpoint_read_info(file, &info);
    if (s != CR_STATUS_OK) {
        cr_safetensors_close(file);
        return s;
    }
    if (strcmp(info.model, r->config->model) != 0 ||
        info.num_classes != cr_dataset_num_classes(r->config->train))
        s = cr_fail(CR_STATUS_INVALID, "%s holds a %s with %d classes; this run trains a %s "
                    "with %d", path, info.model, info.num_classes, r->config->model,
                    cr_dataset_num_classes(r->config->train));
    if (s == CR_STATUS_OK)
        s = cr_graph_state_load(r->graph, file, (const char *const[]){CR_OPTIMIZER_PREFIX, NULL});
    if (s == CR_STATUS_OK) s = cr_optimizer_state_import(r->optimizer, file);
    if (s == CR_STATUS_OK && r->ema) s = cr_ema_load(r->ema, file);
    if (s == CR_STATUS_OK) s = restore_stage(r, &info, path);
    if (s == CR_STATUS_OK) restore_progress(r, &info);
    if (s == CR_STATUS_OK && r->config->console && info.batch > 0)
        fprintf(r->config->console, "resuming %s inside epoch %d, after its batch %d (step %lld)\n",
                path, info.epoch + 1, info.batch, (long long)info.step);
    else if (s == CR_STATUS_OK && r->config->console)
        fprintf(r->config->console, "resuming %s after epoch %d (step %lld)\n", path, info.epoch,
                (long long)info.step);
    cr_checkpoint_info_free(&info);
    cr_safetensors_close(file);
    return s;
}

/* --init: the pretrained weights, and on the console what was loaded and whether the classifier
 * was swapped. */
static cr_status load_pretrained(run *r) {
    const cr_train_config *c = r->config;
    int classes = cr_dataset_num_classes(c->train);
    cr_init_result init;
    cr_status s = cr_checkpoint_load_init(r->graph, c->init_path, &init);
    if (s != CR_STATUS_OK)
        return cr_fail_context(s, "--init for a %s of %d classes", c->model, classes);
    if (!c->console) return CR_STATUS_OK;
    fprintf(c->console, "initialized from %s: %d tensors%s\n", c->init_path, init.loaded,
            init.ignored ? " (its optimizer state left out)" : "");
    const char *head = cr_graph_classifier_name(r->graph);
    if (init.swapped)
        fprintf(c->console, "classifier swap: %s has %d outputs in %s, this run %d classes; %s "
                "keeps its fresh initialization\n", head, init.file_classes, c->init_path,
                classes, head);
    return CR_STATUS_OK;
}

/* The report's memory, and a resumed run's earlier epochs read back from metrics.jsonl (at
 * log_path, already cut to the checkpoint's epochs) so that its report shows the whole run. */
static cr_status set_up_report(run *r, const char *log_path) {
    const cr_train_config *c = r->config;
    int classes = cr_dataset_num_classes(c->train);
    r->history = calloc((size_t)r->total_epochs, sizeof *r->history);
    r->class_stats = calloc((size_t)classes, sizeof *r->class_stats);
    if (!r->history || !r->class_stats)
        return cr_fail(CR_STATUS_NOMEM, "out of memory for the report");
    if (c->val) {
        float mean[3], std[3];
        cr_loader_normalization(r->val_loader, mean, std);
        CR_TRY(cr_misclassified_create(&r->misclassified, classes, REPORT_THUMBNAILS, mean, std));
    }
    if (r->first_epoch == 0) return CR_STATUS_OK;
    int read = 0, wanted = r->first_epoch < r->total_epochs ? r->first_epoch : r->total_epochs;
    CR_TRY(cr_metrics_log_read(log_path, r->history, wanted, &read));
    /* a line of another schedule (edited by hand) is left out rather than drawn wrong */
    for (int i = 0; i < read; i++)
        if (r->history[i].stage >= 0 && r->history[i].stage < r->stages.schedule.count)
            r->history[r->history_count++] = r->history[i];
    return CR_STATUS_OK;
}

static cr_status set_up(run *r, cr_backend *be) {
    const cr_train_config *c = r->config;
    int classes = cr_dataset_num_classes(c->train);
    if (c->val && cr_dataset_num_classes(c->val) != classes)
        return cr_fail(CR_STATUS_INVALID, "the validation set has %d classes, the training set %d",
                       cr_dataset_num_classes(c->val), classes);
    if (c->init_path && c->resume)
        return cr_fail(CR_STATUS_INVALID, "--init and --resume: a resumed run restores its own "
                       "weights");
    if (c->freeze_epochs > 0 && !c->init_path && !c->resume)
        return cr_fail(CR_STATUS_INVALID, "--freeze-epochs %d freezes pretrained layers: give "
                       "the weights with --init", c->freeze_epochs);
    cr_model_config mc = {.num_classes = classes, .in_channels = c->channels,
                          .dropout = c->dropout};
    CR_TRY(cr_model_create(be, c->model, &mc, c->seed, &r->graph));
    CR_TRY(cr_graph_set_precision(r->graph, c->precision));
    if (c->sync_batchnorm && cr_dist_size(c->dist) > 1)
        cr_graph_set_batchnorm_sum(r->graph, (cr_batchnorm_sum){.add = sum_over_processes,
                                                                .user = c->dist});
    if (c->init_path && cr_dist_writes(c->dist)) CR_TRY(load_pretrained(r));
    CR_TRY(share_state(r));
    if (c->ema_decay > 0) CR_TRY(cr_ema_create(r->graph, c->ema_decay, &r->ema));
    int min_side = cr_model_min_resolution(c->model);
    for (int i = 0; i < c->schedule.count; i++)
        if (c->schedule.stages[i].resolution < min_side)
            return cr_fail(CR_STATUS_INVALID, "%s needs images of at least %dx%d; the schedule "
                           "has %d", c->model, min_side, min_side, c->schedule.stages[i].resolution);
    CR_TRY(cr_optimizer_create(be, &c->optimizer, cr_graph_params(r->graph),
                               cr_graph_param_count(r->graph), &r->optimizer));
    cr_step_config sc = {.label_smoothing = c->label_smoothing, .seed = c->seed,
                         .dist = c->dist, .clip_grad_norm = c->clip_grad_norm};
    CR_TRY(cr_step_create(r->graph, r->optimizer, &sc, &r->step));
    cr_stage_rules rules = c->stage_rules;
    rules.max_batch = cr_dataset_count(c->train) / cr_dist_size(c->dist);
    rules.maximize = c->stage_metric == CR_STAGE_METRIC_VAL_ACC;
    CR_TRY(cr_stage_machine_init(&r->stages, &c->schedule, &rules));
    if (c->schedule.automatic && !c->val)
        return cr_fail(CR_STATUS_INVALID, "an auto schedule moves on when the validation metric "
                       "stops improving: give --val-csv or --val-split");

    int64_t total = 0, first_epoch_steps = 0;
    CR_TRY(count_steps(r, &total, &first_epoch_steps));
    r->lr_schedule = c->lr_schedule;
    r->lr_schedule.total_steps = total;
    r->lr_schedule.pace = lr_position;
    r->lr_schedule.pace_user = &r->lr_pace;
    r->lr_schedule.warmup_steps = lr_position(&r->lr_pace,
                                              (int64_t)c->warmup_epochs * first_epoch_steps);
    r->lr_schedule.scale = lr_scale_at;
    r->lr_schedule.scale_user = &r->lr_scale;
    CR_TRY(cr_lr_schedule_validate(&r->lr_schedule));

    cr_loader_options lo = cr_epoch_loader_options(c);
    double train_images = cr_dataset_count(c->train);
    double val_images = c->val ? cr_dataset_count(c->val) : 0;
    lo.cache_bytes = (size_t)(c->cache_bytes * (train_images / (train_images + val_images)));
    CR_TRY(cr_loader_create(c->train, &lo, &r->train_loader));
    lo.cache_bytes = c->cache_bytes - lo.cache_bytes;
    if (c->val) CR_TRY(cr_loader_create(c->val, &lo, &r->val_loader));

    r->class_names = malloc(sizeof *r->class_names * (size_t)classes);
    if (!r->class_names) return cr_fail(CR_STATUS_NOMEM, "out of memory");
    for (int k = 0; k < classes; k++) r->class_names[k] = cr_dataset_class_name(c->train, k);
    CR_TRY(cr_metrics_create(&r->metrics, classes, r->class_names));

    r->ctx = (cr_epoch_context){.step_runner = r->step, .lr_schedule = &r->lr_schedule,
                                .metrics = r->metrics, .console = c->console,
                                .dist = c->dist, .stop = c->stop, .ema = r->ema};
    r->total_epochs = cr_stage_machine_total_epochs(&r->stages);
    r->best_acc = NAN;
    r->plateau.best = NAN;
    if (c->lr_schedule.kind == CR_LR_SCHEDULE_PLATEAU && !c->val)
        return cr_fail(CR_STATUS_INVALID, "--lr-schedule plateau lowers the lr when validation "
                       "stops improving: give --val-csv or --val-split");
    if (c->out_dir && c->resume) CR_TRY(resume(r));
    if (c->out_dir && cr_dist_writes(c->dist)) {
        CR_TRY(cr_make_dirs(c->out_dir));
        char path[4096];
        CR_TRY(path_in(r, "metrics.jsonl", path, sizeof path));
        CR_TRY(cr_metrics_log_open(&r->log, path, r->first_epoch));
        CR_TRY(cr_tensorboard_open(&r->events, c->out_dir, r->first_epoch > 0 ?
                                   r->first_epoch + 1 : 0));
        CR_TRY(set_up_report(r, path));
    }
    return CR_STATUS_OK;
}

/* report.html after an epoch: the epochs so far, the schedule, and the epoch's validation (its
 * metrics are still in r->metrics, its wrong predictions in r->misclassified). */
static cr_status write_report(run *r) {
    const cr_train_config *c = r->config;
    cr_report_stage stages[CR_SCHEDULE_MAX_STAGES];
    int stage_count = r->stages.schedule.count;
    for (int i = 0; i < stage_count; i++) {
        cr_stage_plan plan = cr_stage_machine_stage(&r->stages, i);
        stages[i] = (cr_report_stage){.resolution = plan.resolution,
                                      .batch_size = plan.batch_size, .epochs = plan.epochs};
    }
    cr_report report = {.title = c->out_dir, .model = c->model, .epochs = r->history,
                        .epoch_count = r->history_count, .planned_epochs = r->total_epochs,
                        .stages = stages, .stage_count = stage_count,
                        .best_epoch = r->best_epoch, .best_val_acc = r->best_acc};
    cr_report_pair pairs[REPORT_PAIRS];
    if (c->val) {
        int classes = cr_metrics_classes(r->metrics);
        for (int k = 0; k < classes; k++) {
            cr_class_stats s = cr_metrics_class_stats(r->metrics, k);
            r->class_stats[k] = (cr_report_class){.name = r->class_names[k],
                                                  .support = s.support,
                                                  .precision = s.precision, .recall = s.recall,
                                                  .f1 = s.f1};
        }
        cr_confused_pair confused[REPORT_PAIRS];
        int n = cr_metrics_most_confused(r->metrics, confused, REPORT_PAIRS);
        for (int i = 0; i < n; i++)
            pairs[i] = (cr_report_pair){.true_class = confused[i].true_class,
                                        .predicted_class = confused[i].predicted_class,
                                        .count = confused[i].count};
        report.classes = classes;
        report.class_stats = r->class_stats;
        report.confusion = cr_metrics_confusion(r->metrics);
        report.confused = pairs;
        report.confused_count = n;
        report.thumbnails = cr_misclassified_thumbnails(r->misclassified);
        report.thumbnail_count = cr_misclassified_count(r->misclassified);
    }
    char path[4096];
    CR_TRY(path_in(r, "report.html", path, sizeof path));
    return cr_report_save_html(path, &report);
}

/* After an epoch: the console line, metrics.jsonl, the confusion matrix, report.html and the
 * checkpoints. */
static cr_status finish_epoch(run *r, const cr_epoch_record *rec, bool improved) {
    const cr_train_config *c = r->config;
    if (c->console) {
        char line[512];
        cr_metrics_log_format(line, sizeof line, rec);
        fprintf(c->console, "%s%s\n", line, improved ? " *" : "");
        fflush(c->console);
    }
    if (!c->out_dir || !cr_dist_writes(c->dist)) return CR_STATUS_OK;
    CR_TRY(cr_metrics_log_write(r->log, rec));
    CR_TRY(cr_tensorboard_write(r->events, rec));
    if (c->val) CR_TRY(cr_metrics_save_confusion(r->metrics, c->out_dir, rec->epoch));
    if (r->history_count < r->total_epochs) r->history[r->history_count++] = *rec;
    CR_TRY(write_report(r));
    char path[4096];
    cr_checkpoint_info info = checkpoint_info(r, rec->epoch, rec->resolution);
    info.elapsed_seconds = rec->elapsed_seconds;
    CR_TRY(save_last(r, &info));
    if (improved && ema_decides(r)) return save_ema(r, "best.safetensors", &info);
    if (improved) {
        CR_TRY(path_in(r, "best.safetensors", path, sizeof path));
        CR_TRY(cr_checkpoint_save(path, r->graph, NULL, &info));
    }
    return CR_STATUS_OK;
}

/* Lists the images the training loader skipped since the last report (--on-bad skip). */
static void report_bad_samples(run *r) {
    int count = cr_loader_bad_count(r->train_loader);
    FILE *out = r->config->console;
    for (; out && r->bad_reported < count; r->bad_reported++)
        fprintf(out, "skipped %s\n", cr_loader_bad_message(r->train_loader, r->bad_reported));
}

static cr_epoch_pass train_pass(const run *r, const cr_stage_plan *plan, int epoch) {
    return (cr_epoch_pass){.loader = r->train_loader, .training = true, .flip = r->config->flip,
                           .crop_scale_min = r->crop_scale_min, .mix = &r->mix,
                           .seed = r->config->seed,
                           .epoch = epoch, .resolution = plan->resolution,
                           .batch_size = plan->batch_size};
}

/* A forward pass over the validation set at `side`; keep, when not NULL, is given its wrong
 * predictions. */
static cr_status validate(run *r, int epoch, int side, int batch_size, cr_misclassified *keep,
                          cr_epoch_outcome *out) {
    cr_epoch_pass pass = {.loader = r->val_loader, .epoch = epoch, .resolution = side,
                          .batch_size = batch_size, .misclassified = keep};
    return cr_epoch_run(&r->ctx, &pass, out);
}

/* The epoch's validation into rec: the raw weights', and with --ema the moving average's. The
 * model the run decides by is validated last, so that *decisive is its outcome and the metrics
 * (confusion matrix, report, misclassified images) are its own. */
static cr_status validate_epoch(run *r, int epoch, const cr_stage_plan *plan,
                                cr_epoch_record *rec, cr_epoch_outcome *decisive) {
    const cr_train_config *c = r->config;
    int side = c->eval_resolution > 0 ? c->eval_resolution : plan->resolution;
    cr_epoch_outcome raw, average;
    if (r->ema && !ema_decides(r)) {
        cr_ema_swap(r->ema);
        cr_status s = validate(r, epoch, side, plan->batch_size, NULL, &average);
        cr_ema_swap(r->ema);
        CR_TRY(s);
    }
    CR_TRY(validate(r, epoch, side, plan->batch_size, ema_decides(r) ? NULL : r->misclassified,
                    &raw));
    if (ema_decides(r)) {
        cr_ema_swap(r->ema);
        cr_status s = validate(r, epoch, side, plan->batch_size, r->misclassified, &average);
        cr_ema_swap(r->ema);
        CR_TRY(s);
    }
    rec->val_loss = raw.summary.loss, rec->val_acc = raw.summary.top1;
    rec->val_top5 = raw.summary.topk, rec->val_f1 = raw.summary.macro_f1;
    if (r->ema) rec->ema_val_loss = average.summary.loss, rec->ema_val_acc = average.summary.top1;
    *decisive = ema_decides(r) ? average : raw;
    return CR_STATUS_OK;
}

/* The stage's dropout and crop strength: as configured, or with progressive regularization a
 * share (stage + 1) / stages of it, growing with the size. With match_scale, a stage below the
 * last size crops at least as far as (side / last side)^2 of the area, so that it sees objects as
 * large as the last stage will. */
static void set_regularization(run *r, const cr_stage_plan *plan) {
    const cr_train_config *c = r->config;
    double share = c->progressive_reg ? (double)(plan->stage + 1) / plan->stages : 1.0;
    r->dropout = (float)(c->dropout * share);
    cr_graph_set_dropout(r->graph, r->dropout);
    r->mix = c->mix;
    r->mix.mixup_alpha = (float)(c->mix.mixup_alpha * share);
    r->mix.cutmix_alpha = (float)(c->mix.cutmix_alpha * share);
    r->crop_scale_min = c->crop_scale_min > 0
                            ? (float)(1.0 - (1.0 - c->crop_scale_min) * share)
                            : 0.0f;
    int last = r->stages.schedule.stages[r->stages.schedule.count - 1].resolution;
    if (c->match_scale && plan->resolution < last) {
        float zoom = (float)plan->resolution / (float)last;
        zoom *= zoom;
        if (r->crop_scale_min == 0.0f || zoom < r->crop_scale_min) r->crop_scale_min = zoom;
    }
}

/* The factor the plateau schedule's reductions so far put on the lr. */
static double plateau_factor(const run *r) {
    return pow(r->config->plateau_factor, r->plateau.reductions);
}

/* --lr-schedule plateau after an epoch's validation, as torch's ReduceLROnPlateau (relative
 * threshold 1e-4, no cooldown): `metric` improving on the best by more than the threshold resets
 * the count of epochs without improvement; when that count passes the patience, the lr is lowered
 * by the factor from the next step on, and this says so. */
static bool watch_plateau(run *r, double metric, bool maximize) {
    const cr_train_config *c = r->config;
    cr_plateau_state *p = &r->plateau;
    double threshold = 1e-4 * fabs(p->best);
    bool better = isnan(p->best) || (maximize ? metric > p->best + threshold
                                              : metric < p->best - threshold);
    if (better) {
        p->best = metric;
        p->bad_epochs = 0;
        return false;
    }
    if (++p->bad_epochs <= c->plateau_patience || p->reductions == MAX_REDUCTIONS) return false;
    p->reductions++;
    p->bad_epochs = 0;
    set_lr_factor(&r->lr_scale, r->ctx.step, r->stage_lr_scale * plateau_factor(r));
    return true;
}

/* The first epoch of a stage, or of a resumed run inside one: the stage's lr factor from this
 * step on, the console line and, after a switch, BatchNorm re-estimation at the new size. */
static cr_status begin_stage(run *r, const cr_stage_plan *plan, int epoch) {
    const cr_train_config *c = r->config;
    r->stage_lr_scale = plan->lr_scale;
    set_lr_factor(&r->lr_scale, r->ctx.step, plan->lr_scale * plateau_factor(r));
    set_regularization(r, plan);
    if (c->console && plan->stages > 1) {
        fprintf(c->console, "stage %d/%d: %dx%d, batch %d, lr %.4g, ", plan->stage + 1,
                plan->stages, plan->resolution, plan->resolution, plan->batch_size,
                cr_lr_schedule_at(&r->lr_schedule, r->ctx.step));
        if (c->progressive_reg)
            fprintf(c->console, "dropout %.3g, crop scale %.3g, ", (double)r->dropout,
                    (double)r->crop_scale_min);
        else if (r->crop_scale_min > 0.0f)
            fprintf(c->console, "crop scale %.3g, ", (double)r->crop_scale_min);
        if (!c->schedule.automatic)
            fprintf(c->console, "%d epochs\n", plan->epochs);
        else if (plan->stage + 1 < plan->stages)
            fprintf(c->console, "until %s stops improving (at most %d epochs)\n",
                    c->stage_metric == CR_STAGE_METRIC_VAL_ACC ? "val_acc" : "val_loss",
                    plan->epochs);
        else
            fprintf(c->console, "until early stopping or epoch %d\n", r->total_epochs);
    }
    /* a run resumed inside the switch's epoch did these before it stopped */
    bool inside = epoch == r->first_epoch && r->resume_batch > 0;
    bool switched = plan->stage > 0 && plan->epoch_in_stage == 0 && !inside;
    if (c->bn_recalibrate > 0 && switched) {
        cr_epoch_pass pass = train_pass(r, plan, epoch);
        CR_TRY(cr_epoch_recalibrate(&r->ctx, &pass, c->bn_recalibrate));
        if (c->console)
            fprintf(c->console, "BatchNorm statistics re-estimated on %d batches at %dx%d\n",
                    c->bn_recalibrate, plan->resolution, plan->resolution);
    }
    if (c->eval_at_switch && c->val && switched) {
        cr_epoch_outcome val;
        CR_TRY(validate(r, epoch, plan->resolution, plan->batch_size, NULL, &val));
        r->switch_val_loss = val.summary.loss;
        r->switch_val_acc = val.summary.top1;
        if (c->console)
            fprintf(c->console, "at the switch, before training at %dx%d: val %.3f / %.2f%%\n",
                    plan->resolution, plan->resolution, r->switch_val_loss,
                    100.0 * r->switch_val_acc);
    }
    if (c->console) fflush(c->console); /* a log file shows the switch before the epoch ends */
    return CR_STATUS_OK;
}

/* Freezes the body for the first freeze_epochs epochs and thaws it after them (a resumed run
 * by the epoch it resumes at); the console says when each begins. */
static cr_status freeze_for(run *r, int epoch) {
    const cr_train_config *c = r->config;
    bool frozen = epoch < c->freeze_epochs;
    if (frozen == r->frozen) return CR_STATUS_OK;
    cr_graph_freeze_body(r->graph, frozen);
    int count = cr_graph_param_count(r->graph);
    bool *mask = malloc(sizeof *mask * (size_t)count);
    if (!mask) return cr_fail(CR_STATUS_NOMEM, "out of memory");
    for (int i = 0; i < count; i++) mask[i] = cr_graph_param_frozen(r->graph, i);
    cr_status s = cr_optimizer_set_frozen(r->optimizer, mask);
    free(mask);
    CR_TRY(s);
    r->frozen = frozen;
    if (!c->console) return CR_STATUS_OK;
    static const char note[] = "the layers before it are frozen, BatchNorm statistics included "
                               "(--freeze-epochs)";
    const char *head = cr_graph_classifier_name(r->graph);
    int last = c->freeze_epochs < r->total_epochs ? c->freeze_epochs : r->total_epochs;
    if (!frozen)
        fprintf(c->console, "from epoch %d every layer trains\n", epoch + 1);
    else if (last == epoch + 1)
        fprintf(c->console, "epoch %d trains %s alone: %s\n", epoch + 1, head, note);
    else
        fprintf(c->console, "epochs %d-%d train %s alone: %s\n", epoch + 1, last, head, note);
    return CR_STATUS_OK;
}

/* A stop requested in the middle of epoch `epoch` (0-based): last.safetensors written after the
 * step the training pass ended with, holding how many batches it had trained and what they
 * scored, so that --resume trains the rest of the epoch and logs it as if nothing happened. */
static cr_status stop_inside_epoch(run *r, const cr_stage_plan *plan, int epoch,
                                   const cr_epoch_outcome *train, double elapsed,
                                   cr_train_result *result) {
    const cr_train_config *c = r->config;
    result->stopped = true;
    result->stopped_batch = train->batches;
    result->epochs = epoch;
    result->seconds = elapsed;
    /* one set of BatchNorm statistics for every process to resume from: their mean, which the
     * epoch's end takes as well (the running update is linear in them) */
    CR_TRY(average_statistics(r));
    if (!c->out_dir || !cr_dist_writes(c->dist)) return CR_STATUS_OK;
    cr_checkpoint_info info = checkpoint_info(r, epoch, plan->resolution);
    info.elapsed_seconds = elapsed;
    info.batch = train->batches;
    info.batch_totals = train->totals;
    info.switch_val_loss = r->switch_val_loss;
    info.switch_val_acc = r->switch_val_acc;
    CR_TRY(save_last(r, &info));
    if (c->console)
        fprintf(c->console, "stopped inside epoch %d after its batch %d: %s/last.safetensors "
                "holds the run (--resume %s continues it)\n", epoch + 1, train->batches,
                c->out_dir, c->out_dir);
    return CR_STATUS_OK;
}

static cr_status train_loop(run *r, cr_train_result *result) {
    const cr_train_config *c = r->config;
    double start = cr_now_seconds();
    for (int epoch = r->first_epoch; epoch < r->total_epochs; epoch++) {
        cr_stage_plan plan = cr_stage_machine_current(&r->stages);
        r->switch_val_loss = r->switch_val_acc = NAN;
        CR_TRY(freeze_for(r, epoch));
        if (epoch == r->first_epoch || plan.epoch_in_stage == 0)
            CR_TRY(begin_stage(r, &plan, epoch));
        r->last_plan = plan;
        cr_epoch_pass pass = train_pass(r, &plan, epoch);
        if (epoch == r->first_epoch && r->resume_batch > 0) {
            pass.first_batch = r->resume_batch;
            /* the job's totals, counted once: by the process that saved them */
            pass.carry = cr_dist_writes(c->dist) ? &r->resume_totals : NULL;
            r->switch_val_loss = r->resume_switch_loss;
            r->switch_val_acc = r->resume_switch_acc;
        }
        cr_epoch_outcome train;
        double epoch_start = cr_now_seconds();
        CR_TRY(cr_epoch_run(&r->ctx, &pass, &train));
        if (train.stopped)
            return stop_inside_epoch(r, &plan, epoch, &train,
                                     r->elapsed_before + (cr_now_seconds() - start), result);
        CR_TRY(average_statistics(r));
        report_bad_samples(r);

        cr_epoch_record rec = cr_epoch_record_empty();
        rec.epoch = epoch + 1, rec.epochs = r->total_epochs, rec.stage = plan.stage;
        rec.resolution = plan.resolution, rec.batch_size = plan.batch_size, rec.lr = r->ctx.lr;
        rec.train_loss = train.summary.loss, rec.train_acc = train.summary.top1;
        rec.images_per_sec = train.seconds > 0 ? (double)train.images / train.seconds : 0;
        rec.data_wait_percent = train.seconds > 0 ? 100.0 * train.wait_seconds / train.seconds : 0;
        rec.switch_val_loss = r->switch_val_loss, rec.switch_val_acc = r->switch_val_acc;
        bool improved = false;
        if (c->val) {
            cr_epoch_outcome val;
            CR_TRY(validate_epoch(r, epoch, &plan, &rec, &val));
            improved = isnan(r->best_acc) || val.summary.top1 > r->best_acc;
            if (improved) {
                r->best_acc = val.summary.top1;
                r->best_epoch = epoch + 1;
                r->epochs_since_best = 0;
            } else {
                r->epochs_since_best++;
            }
        }
        double metric = ema_decides(r) ? (c->stage_metric == CR_STAGE_METRIC_VAL_ACC
                                              ? rec.ema_val_acc : rec.ema_val_loss)
                        : c->stage_metric == CR_STAGE_METRIC_VAL_ACC ? rec.val_acc : rec.val_loss;
        cr_stage_machine_observe(&r->stages, c->val ? metric : NAN);
        bool lowered = c->val && c->lr_schedule.kind == CR_LR_SCHEDULE_PLATEAU &&
                       watch_plateau(r, metric, c->stage_metric == CR_STAGE_METRIC_VAL_ACC);
        double now = cr_now_seconds();
        rec.epoch_seconds = now - epoch_start;
        rec.elapsed_seconds = r->elapsed_before + (now - start);
        CR_TRY(finish_epoch(r, &rec, improved));
        if (lowered && c->console)
            fprintf(c->console, "lr lowered to %.4g: %s has not improved for %d epochs\n",
                    cr_lr_schedule_at(&r->lr_schedule, r->ctx.step),
                    c->stage_metric == CR_STAGE_METRIC_VAL_ACC ? "val_acc" : "val_loss",
                    c->plateau_patience + 1);
        result->epochs = epoch + 1;
        result->val_acc = ema_decides(r) ? rec.ema_val_acc : rec.val_acc;
        result->val_loss = ema_decides(r) ? rec.ema_val_loss : rec.val_loss;
        result->seconds = rec.elapsed_seconds;
        bool stop = false;
        CR_TRY(cr_epoch_stop_requested(&r->ctx, &stop));
        if (stop && epoch + 1 < r->total_epochs) {
            result->stopped = true;
            if (c->console)
                fprintf(c->console, "stopped after epoch %d: last.safetensors holds the run "
                        "(--resume continues it)\n", epoch + 1);
            break;
        }
        if (c->val && c->early_stop > 0 && r->epochs_since_best >= c->early_stop) {
            if (c->console)
                fprintf(c->console, "early stop: no better val accuracy for %d epochs (best "
                        "%.2f%% at epoch %d)\n", c->early_stop, 100.0 * r->best_acc,
                        r->best_epoch);
            result->stopped_early = true;
            break;
        }
    }
    result->best_val_acc = r->best_acc;
    result->best_epoch = r->best_epoch;
    return CR_STATUS_OK;
}

/* The FixRes search's sizes and what validation gave at each. */
typedef struct test_res_table {
    int train_resolution, count, sizes[3];
    double loss[3], acc[3];
} test_res_table;

/* A real as JSON: null for a NaN or infinity (a diverged loss), which JSON cannot hold. */
static void put_real(FILE *out, const char *key, double x) {
    if (isfinite(x)) fprintf(out, ",\"%s\":%.10g", key, x);
    else fprintf(out, ",\"%s\":null", key);
}

static cr_status write_test_res(FILE *out, void *context) {
    const test_res_table *t = context;
    fprintf(out, "{\"train_resolution\":%d,\"results\":[", t->train_resolution);
    for (int i = 0; i < t->count; i++) {
        fprintf(out, "%s{\"resolution\":%d", i ? "," : "", t->sizes[i]);
        put_real(out, "val_loss", t->loss[i]);
        put_real(out, "val_acc", t->acc[i]);
        fputc('}', out);
    }
    fprintf(out, "]}\n");
    return CR_STATUS_OK;
}

int cr_train_searched_resolution(const char *run_dir) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/test_res_search.json", run_dir);
    if (n < 0 || (size_t)n >= sizeof path) return 0;
    json_t *root = json_load_file(path, 0, NULL);
    json_t *results = json_object_get(root, "results"), *row;
    size_t i;
    int best = 0;
    double best_acc = 0.0;
    json_array_foreach(results, i, row) {
        json_t *side = json_object_get(row, "resolution"), *acc = json_object_get(row, "val_acc");
        if (!json_is_integer(side) || !json_is_number(acc)) continue;
        if (best == 0 || json_number_value(acc) > best_acc) {
            best = (int)json_integer_value(side);
            best_acc = json_number_value(acc);
        }
    }
    json_decref(root);
    return best;
}

/* FixRes: a model trained on random crops sees objects larger than a test image of the same
 * size shows them, so it often scores best when tested somewhat larger. Validates at the last
 * training size times 1, 1.15 and 1.3 (the larger ones rounded to multiples of 8), keeps the best
 * in result and the table in test_res_search.json. */
static cr_status search_test_resolution(run *r, cr_train_result *result) {
    const cr_train_config *c = r->config;
    const double factors[3] = {1.0, 1.15, 1.3};
    test_res_table t = {.train_resolution = r->last_plan.resolution};
    for (int i = 0; i < 3; i++) {
        int side = t.train_resolution;
        if (i > 0) side = (int)lround(side * factors[i] / 8.0) * 8;
        if (t.count > 0 && side <= t.sizes[t.count - 1]) continue;
        cr_epoch_outcome val;
        CR_TRY(validate(r, r->first_epoch, side, r->last_plan.batch_size, NULL, &val));
        t.sizes[t.count] = side;
        t.loss[t.count] = val.summary.loss;
        t.acc[t.count] = val.summary.top1;
        if (result->test_resolution == 0 || val.summary.top1 > result->test_acc) {
            result->test_resolution = side;
            result->test_acc = val.summary.top1;
        }
        t.count++;
    }
    if (c->console) {
        fprintf(c->console, "test resolution search (trained at %dpx):", t.train_resolution);
        for (int i = 0; i < t.count; i++)
            fprintf(c->console, "  %dpx %.2f%%", t.sizes[i], 100.0 * t.acc[i]);
        fprintf(c->console, "  -> best %dpx\n", result->test_resolution);
    }
    if (!c->out_dir || !cr_dist_writes(c->dist)) return CR_STATUS_OK;
    char path[4096];
    CR_TRY(path_in(r, "test_res_search.json", path, sizeof path));
    return cr_write_atomically(path, write_test_res, &t);
}

cr_status cr_train(cr_backend *be, const cr_train_config *config, cr_train_result *result) {
    run r = {.config = config};
    *result = (cr_train_result){.val_acc = NAN, .val_loss = NAN, .best_val_acc = NAN};
    if (!config->train) return cr_fail(CR_STATUS_INVALID, "no training set");
    if (config->schedule.count < 1) return cr_fail(CR_STATUS_INVALID, "an empty schedule");
    cr_status s = set_up(&r, be);
    if (s == CR_STATUS_OK) {
        result->epochs = r.first_epoch;
        s = train_loop(&r, result);
    }
    bool finished = s == CR_STATUS_OK && !result->stopped;
    if (config->val && r.val_loader && finished && config->console && r.metrics)
        cr_metrics_print(r.metrics, config->console);
    if (config->val && config->test_res_search && finished && r.last_plan.resolution > 0)
        s = search_test_resolution(&r, result);
    run_free(&r);
    return s;
}
