/* metrics.jsonl, one JSON object per epoch, synced as written (what a user plots after a crash)
 * and read back for a resumed run's report; and the one console line per epoch. */
#include "crescendo/report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/files.h"
#include "report/text.h"

struct cr_metrics_log {
    FILE *file;
    char *path;
};

cr_epoch_record cr_epoch_record_empty(void) {
    return (cr_epoch_record){
        .lr = NAN, .train_loss = NAN, .train_acc = NAN, .val_loss = NAN, .val_acc = NAN,
        .val_top5 = NAN, .val_f1 = NAN, .images_per_sec = NAN, .epoch_seconds = NAN,
        .elapsed_seconds = NAN, .data_wait_percent = NAN, .switch_val_loss = NAN,
        .switch_val_acc = NAN, .ema_val_loss = NAN, .ema_val_acc = NAN,
    };
}

/* Below this share of the epoch spent waiting for batches the loader keeps up, and the console
 * line leaves the number out (metrics.jsonl always has it). */
static const double DATA_WAIT_SHOWN = 5.0;

/* "0.312 88.7%", a dash for a NaN half. */
static void append_loss_acc(char *buf, size_t size, int *len, double loss, double acc) {
    if (isnan(loss)) cr_report_appendf(buf, size, len, "- ");
    else cr_report_appendf(buf, size, len, "%.3f ", loss);
    if (isnan(acc)) cr_report_appendf(buf, size, len, "-");
    else cr_report_appendf(buf, size, len, "%.1f%%", 100.0 * acc);
}

int cr_metrics_log_format(char *buf, size_t size, const cr_epoch_record *r) {
    int len = 0;
    if (size) buf[0] = '\0';
    cr_report_appendf(buf, size, &len, "epoch %d", r->epoch);
    if (r->epochs > 0) cr_report_appendf(buf, size, &len, "/%d", r->epochs);
    cr_report_appendf(buf, size, &len, " %dpx", r->resolution);
    if (!isnan(r->lr)) cr_report_appendf(buf, size, &len, " lr %.3g", r->lr);
    cr_report_appendf(buf, size, &len, " train ");
    append_loss_acc(buf, size, &len, r->train_loss, r->train_acc);
    if (!isnan(r->val_loss) || !isnan(r->val_acc)) {
        cr_report_appendf(buf, size, &len, " val ");
        append_loss_acc(buf, size, &len, r->val_loss, r->val_acc);
    }
    if (!isnan(r->ema_val_acc))
        cr_report_appendf(buf, size, &len, " ema %.1f%%", 100.0 * r->ema_val_acc);
    if (!isnan(r->images_per_sec))
        cr_report_appendf(buf, size, &len, " %.0f img/s", r->images_per_sec);
    if (!isnan(r->epoch_seconds)) cr_report_appendf(buf, size, &len, " %.0fs", r->epoch_seconds);
    if (r->data_wait_percent >= DATA_WAIT_SHOWN)
        cr_report_appendf(buf, size, &len, " data-wait %.0f%%", r->data_wait_percent);
    return len;
}

/* The keys of a line, in the order they are written, and where each value lives in a record.
 * Writing and reading back walk the same table, so the two cannot drift apart. */
typedef struct field {
    const char *key;
    size_t offset;
    bool integer; /* an int of the record; otherwise a double */
} field;

#define INT_FIELD(name) {#name, offsetof(cr_epoch_record, name), true}
#define REAL_FIELD(name) {#name, offsetof(cr_epoch_record, name), false}
static const field FIELDS[] = {
    INT_FIELD(epoch),            INT_FIELD(stage),           INT_FIELD(resolution),
    INT_FIELD(batch_size),       REAL_FIELD(lr),             REAL_FIELD(train_loss),
    REAL_FIELD(train_acc),       REAL_FIELD(val_loss),       REAL_FIELD(val_acc),
    REAL_FIELD(val_top5),        REAL_FIELD(val_f1),         REAL_FIELD(images_per_sec),
    REAL_FIELD(epoch_seconds),   REAL_FIELD(elapsed_seconds), REAL_FIELD(data_wait_percent),
    REAL_FIELD(switch_val_loss), REAL_FIELD(switch_val_acc),   REAL_FIELD(ema_val_loss),
    REAL_FIELD(ema_val_acc),
};
#undef INT_FIELD
#undef REAL_FIELD

/* JSON has no NaN or infinity: such a value is written as null, which pandas reads as NaN. */
static json_t *field_to_json(const cr_epoch_record *r, const field *f) {
    const char *at = (const char *)r + f->offset;
    if (f->integer) return json_integer(*(const int *)at);
    double x = *(const double *)at;
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *record_to_json(const cr_epoch_record *r) {
    json_t *o = json_object();
    if (!o) return NULL;
    int ok = 1;
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        json_t *value = field_to_json(r, &FIELDS[i]);
        ok &= value && json_object_set_new(o, FIELDS[i].key, value) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A line of the log as a record; false when the line has no integer epoch. */
static bool record_from_json(const json_t *o, cr_epoch_record *r) {
    *r = cr_epoch_record_empty();
    if (!json_is_integer(json_object_get(o, "epoch"))) return false;
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        json_t *value = json_object_get(o, FIELDS[i].key);
        char *at = (char *)r + FIELDS[i].offset;
        if (FIELDS[i].integer && json_is_integer(value))
            *(int *)at = (int)json_integer_value(value);
        else if (!FIELDS[i].integer && json_is_number(value))
            *(double *)at = json_number_value(value);
    }
    return true;
}

/* The epoch of one complete line, or -1 when the line is not an object with an integer epoch. */
static json_int_t line_epoch(const char *line, size_t len) {
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *epoch = json_object_get(o, "epoch");
    json_int_t e = json_is_integer(epoch) ? json_integer_value(epoch) : -1;
    json_decref(o);
    return e;
}

/* The complete lines of epochs 1..keep of `in`, copied to out. */
typedef struct kept_epochs {
    FILE *in;
    const char *path;
    int keep;
} kept_epochs;

static cr_status copy_kept_epochs(FILE *out, void *context) {
    const kept_epochs *k = context;
    char *line = NULL;
    size_t capacity = 0;
    ssize_t n;
    while ((n = getline(&line, &capacity, k->in)) > 0) {
        if (line[n - 1] != '\n') break; /* cut short by a crash */
        json_int_t e = line_epoch(line, (size_t)n);
        if (e >= 1 && e <= k->keep) fwrite(line, 1, (size_t)n, out);
    }
    free(line);
    if (ferror(k->in))
        return cr_fail(CR_STATUS_IO, "%s: read failed: %s", k->path, strerror(errno));
    return CR_STATUS_OK;
}

/* Rewrites path keeping the complete lines of epochs 1..keep_epochs, atomically, so a crash
 * during the rewrite leaves the old log whole. A missing file is an empty log. */
static cr_status keep_epochs_of(const char *path, int keep_epochs) {
    FILE *in = fopen(path, "r");
    if (!in) {
        if (errno == ENOENT) return CR_STATUS_OK;
        return cr_fail(CR_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    kept_epochs k = {.in = in, .path = path, .keep = keep_epochs};
    cr_status s = cr_write_atomically(path, copy_kept_epochs, &k);
    fclose(in);
    return s;
}

cr_status cr_metrics_log_open(cr_metrics_log **out, const char *path, int keep_epochs) {
    *out = NULL;
    if (keep_epochs > 0) CR_TRY(keep_epochs_of(path, keep_epochs));
    cr_metrics_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", path);
    }
    log->file = fopen(path, keep_epochs > 0 ? "a" : "w");
    if (!log->file) {
        cr_status s = cr_fail(CR_STATUS_IO, "%s: cannot open for writing: %s", path,
                              strerror(errno));
        cr_metrics_log_close(log);
        return s;
    }
    *out = log;
    return CR_STATUS_OK;
}

cr_status cr_metrics_log_write(cr_metrics_log *log, const cr_epoch_record *r) {
    json_t *o = record_to_json(r);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
                   : NULL;
    json_decref(o);
    if (!text)
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory for epoch %d", log->path, r->epoch);
    fputs(text, log->file);
    fputc('\n', log->file);
    free(text);
    if (ferror(log->file) || fflush(log->file) != 0 || fsync(fileno(log->file)) != 0)
        return cr_fail(CR_STATUS_IO, "%s: writing epoch %d failed: %s", log->path, r->epoch,
                       strerror(errno));
    return CR_STATUS_OK;
}

void cr_metrics_log_close(cr_metrics_log *log) {
    if (!log) return;
    if (log->file) fclose(log->file);
    free(log->path);
    free(log);
}

cr_status cr_metrics_log_read(const char *path, cr_epoch_record *out, int capacity, int *count) {
    *count = 0;
    FILE *in = fopen(path, "r");
    if (!in) {
        if (errno == ENOENT) return CR_STATUS_OK;
        return cr_fail(CR_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t size = 0;
    cr_status s = CR_STATUS_OK;
    for (int number = 1; s == CR_STATUS_OK && *count < capacity; number++) {
        ssize_t n = getline(&line, &size, in);
        if (n <= 0) break;
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        if (!record_from_json(o, &out[*count]))
            s = cr_fail(CR_STATUS_DATA, "%s:%d: not a JSON object with an integer epoch", path,
                        number);
        else
            ++*count;
        json_decref(o);
    }
    if (s == CR_STATUS_OK && ferror(in))
        s = cr_fail(CR_STATUS_IO, "%s: read failed: %s", path, strerror(errno));
    free(line);
    fclose(in);
    return s;
}
