/* Checkpoints: the state dict and optimizer state in one safetensors file, with the run's facts
 * as string metadata (numbers as text, lists as JSON), read back for eval, predict and resume. */
#include "crescendo/checkpoint.h"

#include <jansson.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/model.h"

enum { META_MAX = 24 };

/* Metadata values are strings; these hold the formatted numbers until the write. */
typedef struct meta_builder {
    cr_metadata_entry entries[META_MAX];
    char *owned[META_MAX];
    int count;
} meta_builder;

static void meta_add(meta_builder *m, const char *key, char *value /* malloc'ed, taken */) {
    if (!value || m->count == META_MAX) {
        free(value);
        return;
    }
    m->owned[m->count] = value;
    m->entries[m->count++] = (cr_metadata_entry){key, value};
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

static char *json_floats(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(a);
    return s;
}

static char *json_strings(const char *const *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

cr_status cr_checkpoint_save(const char *path, cr_graph *g, cr_optimizer *opt,
                             const cr_checkpoint_info *info) {
    meta_builder m = {0};
    meta_add(&m, "format", format("crescendo"));
    meta_add(&m, "model", format("%s", info->model));
    meta_add(&m, "num_classes", format("%d", info->num_classes));
    meta_add(&m, "channels", format("%d", info->channels));
    meta_add(&m, "resolution", format("%d", info->resolution));
    meta_add(&m, "mean", json_floats(info->mean, info->channels));
    meta_add(&m, "std", json_floats(info->std, info->channels));
    if (info->class_names) meta_add(&m, "classes", json_strings(info->class_names, info->num_classes));
    meta_add(&m, "epoch", format("%d", info->epoch));
    meta_add(&m, "step", format("%lld", (long long)info->step));
    meta_add(&m, "best_val_acc", format("%.10g", info->best_metric));
    meta_add(&m, "best_epoch", format("%d", info->best_epoch));
    meta_add(&m, "elapsed_seconds", format("%.3f", info->elapsed_seconds));
    meta_add(&m, "seed", format("%llu", (unsigned long long)info->seed));
    meta_add(&m, "stage", format("%d", info->stage.stage));
    meta_add(&m, "stage_epochs", format("%d", info->stage.epochs_in_stage));
    meta_add(&m, "stage_since_improvement", format("%d", info->stage.since_improvement));
    meta_add(&m, "stage_best", format("%.17g", info->stage.best));
    meta_add(&m, "plateau", format("%d %d %.17g", info->plateau.reductions,
                                   info->plateau.bad_epochs, info->plateau.best));
    if (info->batch > 0) {
        const cr_metrics_totals *t = &info->batch_totals;
        meta_add(&m, "epoch_batch", format("%d", info->batch));
        meta_add(&m, "epoch_scored", format("%lld %lld %lld %lld %.17g %.17g %.17g",
                                            (long long)t->count, (long long)t->correct,
                                            (long long)t->topk_hits, (long long)t->loss_count,
                                            t->loss_sum, info->switch_val_loss,
                                            info->switch_val_acc));
    }
    if (info->config) meta_add(&m, "config", format("%s", info->config));

    cr_graph_state state;
    cr_status s = cr_graph_state_export(g, &state);
    cr_named_tensor *all = NULL;
    int count = state.count;
    if (s == CR_STATUS_OK) {
        int extra = opt ? cr_optimizer_state_count(opt) : 0;
        int more = opt ? info->extra_count : 0;
        all = malloc(sizeof *all * (size_t)(state.count + extra + more + 1));
        if (!all) s = cr_fail(CR_STATUS_NOMEM, "out of memory writing %s", path);
        else memcpy(all, state.tensors, sizeof *all * (size_t)state.count);
        if (s == CR_STATUS_OK && opt) {
            s = cr_optimizer_state_export(opt, all + state.count);
            count += extra;
            for (int i = 0; i < more; i++) all[count++] = info->extra[i];
        }
    }
    if (s == CR_STATUS_OK) s = cr_safetensors_write(path, all, count, m.entries, m.count);
    free(all);
    if (state.tensors) cr_graph_state_free(&state);
    for (int i = 0; i < m.count; i++) free(m.owned[i]);
    return s;
}

static cr_status need(const cr_safetensors *file, const char *key, const char **out) {
    *out = cr_safetensors_metadata(file, key);
    if (!*out)
        return cr_fail(CR_STATUS_DATA, "%s: no '%s' in the metadata: not a crescendo checkpoint",
                       cr_safetensors_path(file), key);
    return CR_STATUS_OK;
}

static cr_status need_int(const cr_safetensors *file, const char *key, long long lo, long long hi,
                          long long *out) {
    const char *text;
    CR_TRY(need(file, key, &text));
    char *end;
    *out = strtoll(text, &end, 10);
    if (end == text || *end || *out < lo || *out > hi)
        return cr_fail(CR_STATUS_DATA, "%s: metadata '%s' is '%s', not a whole number in "
                       "[%lld, %lld]", cr_safetensors_path(file), key, text, lo, hi);
    return CR_STATUS_OK;
}

static cr_status need_floats(const cr_safetensors *file, const char *key, float *out, int n) {
    const char *text;
    CR_TRY(need(file, key, &text));
    json_t *a = json_loads(text, 0, NULL);
    bool ok = json_is_array(a) && (int)json_array_size(a) == n;
    for (int i = 0; ok && i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        ok = json_is_number(v);
        if (ok) out[i] = (float)json_number_value(v);
    }
    json_decref(a);
    if (!ok)
        return cr_fail(CR_STATUS_DATA, "%s: metadata '%s' is not a list of %d numbers",
                       cr_safetensors_path(file), key, n);
    return CR_STATUS_OK;
}

static cr_status read_classes(const cr_safetensors *file, cr_checkpoint_info *info) {
    const char *text = cr_safetensors_metadata(file, "classes");
    if (!text) return CR_STATUS_OK;
    json_t *a = json_loads(text, 0, NULL);
    bool ok = json_is_array(a) && (int)json_array_size(a) == info->num_classes;
    char **names = ok ? calloc((size_t)info->num_classes, sizeof *names) : NULL;
    for (int i = 0; names && i < info->num_classes; i++) {
        const char *name = json_string_value(json_array_get(a, (size_t)i));
        names[i] = name ? strdup(name) : NULL;
        if (!names[i]) ok = false;
    }
    json_decref(a);
    info->class_names = (const char *const *)names;
    if (!ok)
        return cr_fail(CR_STATUS_DATA, "%s: metadata 'classes' is not a list of %d names",
                       cr_safetensors_path(file), info->num_classes);
    return CR_STATUS_OK;
}

/* A plateau schedule's watch; none in a file written before it was kept. */
static cr_status read_plateau(const cr_safetensors *file, cr_checkpoint_info *info) {
    info->plateau = (cr_plateau_state){.best = NAN};
    const char *text = cr_safetensors_metadata(file, "plateau");
    if (!text) return CR_STATUS_OK;
    cr_plateau_state *p = &info->plateau;
    if (sscanf(text, "%d %d %lf", &p->reductions, &p->bad_epochs, &p->best) != 3 ||
        p->reductions < 0 || p->bad_epochs < 0)
        return cr_fail(CR_STATUS_DATA, "%s: metadata 'plateau' is malformed: %s",
                       cr_safetensors_path(file), text);
    return CR_STATUS_OK;
}

/* A checkpoint written in the middle of an epoch: how far it got and what it scored. */
static cr_status read_epoch_batch(const cr_safetensors *file, cr_checkpoint_info *info) {
    info->switch_val_loss = info->switch_val_acc = NAN;
    if (!cr_safetensors_metadata(file, "epoch_batch")) return CR_STATUS_OK;
    long long v;
    CR_TRY(need_int(file, "epoch_batch", 1, 1 << 30, &v));
    info->batch = (int)v;
    const char *text;
    CR_TRY(need(file, "epoch_scored", &text));
    long long count, correct, topk, losses;
    double loss_sum, switch_loss, switch_acc;
    if (sscanf(text, "%lld %lld %lld %lld %lf %lf %lf", &count, &correct, &topk, &losses,
               &loss_sum, &switch_loss, &switch_acc) != 7 || count < 0 || correct < 0 ||
        correct > count || topk < 0 || topk > count || losses < 0)
        return cr_fail(CR_STATUS_DATA, "%s: metadata 'epoch_scored' is malformed: %s",
                       cr_safetensors_path(file), text);
    info->batch_totals = (cr_metrics_totals){.count = count, .correct = correct,
                                             .topk_hits = topk, .loss_count = losses,
                                             .loss_sum = loss_sum};
    info->switch_val_loss = switch_loss;
    info->switch_val_acc = switch_acc;
    return CR_STATUS_OK;
}

cr_status cr_checkpoint_read_info(const cr_safetensors *file, cr_checkpoint_info *info) {
    memset(info, 0, sizeof *info);
    const char *format_name, *model;
    CR_TRY(need(file, "format", &format_name));
    CR_TRY(need(file, "model", &model));
    if (strcmp(format_name, "crescendo") != 0 || strlen(model) >= sizeof info->model)
        return cr_fail(CR_STATUS_DATA, "%s: not a crescendo checkpoint", cr_safetensors_path(file));
    snprintf(info->model, sizeof info->model, "%s", model);
    long long v;
    CR_TRY(need_int(file, "num_classes", 2, CR_CHECKPOINT_MAX_CLASSES, &v));
    info->num_classes = (int)v;
    CR_TRY(need_int(file, "channels", 1, 3, &v));
    info->channels = (int)v;
    CR_TRY(need_int(file, "resolution", 1, 1 << 16, &v));
    info->resolution = (int)v;
    CR_TRY(need_int(file, "epoch", 0, 1 << 30, &v));
    info->epoch = (int)v;
    CR_TRY(need_int(file, "step", 0, INT64_MAX, &v));
    info->step = v;
    CR_TRY(need_int(file, "best_epoch", 0, 1 << 30, &v));
    info->best_epoch = (int)v;
    CR_TRY(need_floats(file, "mean", info->mean, info->channels));
    CR_TRY(need_floats(file, "std", info->std, info->channels));
    const char *text = cr_safetensors_metadata(file, "best_val_acc");
    info->best_metric = text ? strtod(text, NULL) : NAN;
    text = cr_safetensors_metadata(file, "elapsed_seconds");
    info->elapsed_seconds = text ? strtod(text, NULL) : 0.0;
    text = cr_safetensors_metadata(file, "seed");
    info->seed = text ? strtoull(text, NULL, 10) : 0;
    info->config = cr_safetensors_metadata(file, "config");
    info->stage = (cr_stage_state){.stage = -1, .best = NAN};
    if (cr_safetensors_metadata(file, "stage")) {
        CR_TRY(need_int(file, "stage", 0, CR_SCHEDULE_MAX_STAGES - 1, &v));
        info->stage.stage = (int)v;
        CR_TRY(need_int(file, "stage_epochs", 0, 1 << 30, &v));
        info->stage.epochs_in_stage = (int)v;
        CR_TRY(need_int(file, "stage_since_improvement", 0, 1 << 30, &v));
        info->stage.since_improvement = (int)v;
        CR_TRY(need(file, "stage_best", &text));
        info->stage.best = strtod(text, NULL);
    }
    CR_TRY(read_epoch_batch(file, info));
    CR_TRY(read_plateau(file, info));
    cr_status s = read_classes(file, info);
    if (s != CR_STATUS_OK) cr_checkpoint_info_free(info);
    return s;
}

void cr_checkpoint_info_free(cr_checkpoint_info *info) {
    if (info->class_names)
        for (int i = 0; i < info->num_classes; i++) free((char *)info->class_names[i]);
    free((void *)info->class_names);
    info->class_names = NULL;
}

cr_status cr_checkpoint_load_model(cr_backend *be, const char *path, cr_graph **graph,
                                   cr_checkpoint_info *info) {
    cr_safetensors *file;
    CR_TRY(cr_safetensors_open(path, &file));
    cr_status s = cr_checkpoint_read_info(file, info);
    if (s == CR_STATUS_OK) {
        info->config = NULL; /* points into the file, which closes here */
        cr_model_config config = {.num_classes = info->num_classes, .in_channels = info->channels};
        s = cr_model_create(be, info->model, &config, 0, graph);
        if (s == CR_STATUS_OK) {
            s = cr_graph_state_load(*graph, file, (const char *const[]){CR_OPTIMIZER_PREFIX, NULL});
            if (s != CR_STATUS_OK) {
                cr_graph_destroy(*graph);
                *graph = NULL;
            }
        }
        if (s != CR_STATUS_OK) cr_checkpoint_info_free(info);
    }
    cr_safetensors_close(file);
    return s;
}
