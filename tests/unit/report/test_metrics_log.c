/* Unit tests of the per-epoch outputs: the console line, and metrics.jsonl read back with jansson
 * and with cr_metrics_log_read (every key, NaN as null, reals that survive), and a resume. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/report.h"
#include "testing.h"

static void check_text(const char *got, const char *want, int line) {
    cr_test_checks++;
    if (strcmp(got, want) != 0)
        cr_test_fail(__FILE__, line, "got\n  \"%s\"\nexpected\n  \"%s\"", got, want);
}

static cr_epoch_record example(int epoch) {
    cr_epoch_record r = cr_epoch_record_empty();
    r.epoch = epoch;
    r.epochs = 10;
    r.stage = 0;
    r.resolution = 64;
    r.batch_size = 128;
    r.lr = 0.0841;
    r.train_loss = 0.31234567891234;
    r.train_acc = 0.887;
    r.val_loss = 0.298;
    r.val_acc = 0.894;
    r.val_top5 = 0.998;
    r.val_f1 = 0.75;
    r.images_per_sec = 1830.2;
    r.epoch_seconds = 31.44;
    r.elapsed_seconds = 94.3 * epoch;
    r.data_wait_percent = 1.23;
    return r;
}

static void test_console_line(void) {
    char line[256];
    cr_epoch_record r = example(3);
    int n = cr_metrics_log_format(line, sizeof line, &r);
    const char *want = "epoch 3/10 64px lr 0.0841 train 0.312 88.7% val 0.298 89.4% 1830 img/s 31s";
    check_text(line, want, __LINE__);
    CHECK(n == (int)strlen(want));
    /* fits an 80-column terminal with the best-epoch mark, at two-digit epochs, 224 px and two
     * minutes per epoch */
    r.epoch = 12, r.epochs = 30, r.resolution = 224, r.epoch_seconds = 123.4;
    CHECK(cr_metrics_log_format(line, sizeof line, &r) + (int)strlen(" *") <= 80);
    /* a loader that cannot keep up is named */
    r = example(3);
    r.data_wait_percent = 12.3;
    cr_metrics_log_format(line, sizeof line, &r);
    check_text(line, "epoch 3/10 64px lr 0.0841 train 0.312 88.7% val 0.298 89.4% 1830 img/s 31s "
                     "data-wait 12%", __LINE__);

    /* the weights' moving average, validated beside them */
    r = example(3);
    r.ema_val_acc = 0.8993;
    cr_metrics_log_format(line, sizeof line, &r);
    check_text(line, "epoch 3/10 64px lr 0.0841 train 0.312 88.7% val 0.298 89.4% ema 89.9% "
                     "1830 img/s 31s", __LINE__);
    r.ema_val_acc = NAN;

    /* no validation, open-ended run, a diverged loss */
    r.epochs = 0;
    r.val_loss = r.val_acc = r.val_top5 = NAN;
    r.train_loss = NAN;
    r.data_wait_percent = NAN;
    const char *open_ended = "epoch 3 64px lr 0.0841 train - 88.7% 1830 img/s 31s";
    cr_metrics_log_format(line, sizeof line, &r);
    check_text(line, open_ended, __LINE__);

    /* cut to the buffer, the full length still returned */
    char small[12];
    CHECK(cr_metrics_log_format(small, sizeof small, &r) == (int)strlen(open_ended));
    check_text(small, "epoch 3 64p", __LINE__);
    r.train_loss = 1e300; /* a %f of 301 digits does not overrun */
    CHECK(cr_metrics_log_format(line, sizeof line, &r) > (int)sizeof line);
    CHECK(strlen(line) == sizeof line - 1);
}

/* The lines of a file, each parsed; returns how many (at most max). */
static int read_log(const char *path, json_t **objects, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t capacity = 0;
    int n = 0;
    while (n < max && getline(&line, &capacity, f) > 0) {
        json_error_t error;
        objects[n] = json_loads(line, 0, &error);
        if (!objects[n])
            cr_test_fail(__FILE__, __LINE__, "line %d: %s: %s", n + 1, error.text, line);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

static double real_of(json_t *o, const char *key) {
    return json_number_value(json_object_get(o, key));
}

static void test_jsonl_round_trip(void) {
    char dir[] = "/tmp/cr_metrics_log_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);

    cr_metrics_log *log = NULL;
    CHECK_OK(cr_metrics_log_open(&log, path, 0));
    for (int e = 1; e <= 3; e++) {
        cr_epoch_record r = example(e);
        if (e == 2) r.val_loss = r.val_acc = r.val_top5 = r.val_f1 = NAN; /* no validation */
        if (e == 3) r.switch_val_acc = 0.5; /* validated at the switch */
        CHECK_OK(cr_metrics_log_write(log, &r));
    }
    /* each line is on disk before the write returns: read it while the log is open */
    json_t *lines[8] = {0};
    CHECK(read_log(path, lines, 8) == 3);
    static const char *keys[] = {"epoch", "stage", "resolution", "batch_size", "lr", "train_loss",
                                 "train_acc", "val_loss", "val_acc", "val_top5", "val_f1",
                                 "images_per_sec", "epoch_seconds", "elapsed_seconds",
                                 "data_wait_percent", "switch_val_loss", "switch_val_acc",
                                 "ema_val_loss", "ema_val_acc"};
    for (int i = 0; i < 3 && lines[i]; i++) {
        CHECK(json_object_size(lines[i]) == sizeof keys / sizeof keys[0]);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!json_object_get(lines[i], keys[k]))
                cr_test_fail(__FILE__, __LINE__, "line %d has no \"%s\"", i + 1, keys[k]);
        CHECK(json_integer_value(json_object_get(lines[i], "epoch")) == i + 1);
    }
    if (lines[0] && lines[1]) {
        CHECK(json_is_integer(json_object_get(lines[0], "resolution")));
        CHECK(json_integer_value(json_object_get(lines[0], "batch_size")) == 128);
        CHECK(real_of(lines[0], "lr") == 0.0841); /* 10 digits give back the same double */
        CHECK(real_of(lines[0], "train_acc") == 0.887);
        CHECK_NEAR(real_of(lines[0], "train_loss"), 0.31234567891234, 1e-10);
        CHECK_NEAR(real_of(lines[0], "data_wait_percent"), 1.23, 1e-12);
        CHECK(json_is_null(json_object_get(lines[1], "val_loss")));
        CHECK(json_is_null(json_object_get(lines[1], "val_top5")));
        CHECK_NEAR(real_of(lines[1], "elapsed_seconds"), 188.6, 1e-12);
        CHECK(json_is_null(json_object_get(lines[0], "switch_val_acc")));
    }
    if (lines[2]) CHECK(real_of(lines[2], "switch_val_acc") == 0.5);
    for (int i = 0; i < 3; i++) json_decref(lines[i]);
    cr_metrics_log_close(log);

    /* a crash in epoch 5 after epoch 4's line, with the checkpoint of epoch 2 the last saved
     * one, and half a line of epoch 5: resuming keeps epochs 1 and 2 only */
    FILE *f = fopen(path, "a");
    fputs("{\"epoch\": 4}\n{\"epoch\": 5, \"sta", f);
    fclose(f);
    CHECK_OK(cr_metrics_log_open(&log, path, 2));
    cr_epoch_record r = example(3);
    CHECK_OK(cr_metrics_log_write(log, &r));
    cr_metrics_log_close(log);
    CHECK(read_log(path, lines, 8) == 3);
    for (int i = 0; i < 3; i++) {
        CHECK(json_integer_value(json_object_get(lines[i], "epoch")) == i + 1);
        json_decref(lines[i]);
    }

    /* read back: every key, NaN for null, 10 digits, and no more records than asked for */
    cr_epoch_record back[4];
    int count = -1;
    CHECK_OK(cr_metrics_log_read(path, back, 4, &count));
    CHECK(count == 3);
    if (count == 3) {
        cr_epoch_record want = example(1);
        CHECK(back[0].epoch == 1 && back[1].epoch == 2 && back[2].epoch == 3);
        CHECK(back[0].resolution == want.resolution && back[0].batch_size == want.batch_size);
        CHECK(back[0].epochs == 0); /* not in the log */
        CHECK(back[0].lr == want.lr && back[0].train_acc == want.train_acc);
        CHECK_NEAR(back[0].train_loss, want.train_loss, 1e-10);
        CHECK(back[0].val_top5 == want.val_top5 && back[0].val_f1 == want.val_f1);
        CHECK(back[0].elapsed_seconds == want.elapsed_seconds);
        CHECK(isnan(back[0].switch_val_acc));
        CHECK(isnan(back[1].val_loss) && isnan(back[1].val_acc));
    }
    CHECK_OK(cr_metrics_log_read(path, back, 2, &count));
    CHECK(count == 2);
    f = fopen(path, "a");
    fputs("[1, 2]\n", f);
    fclose(f);
    CHECK_FAILS(cr_metrics_log_read(path, back, 4, &count), CR_STATUS_DATA, "metrics.jsonl:4");

    /* resuming a run whose log is gone starts one; a fresh run empties the old one */
    remove(path);
    CHECK_OK(cr_metrics_log_open(&log, path, 7));
    cr_metrics_log_close(log);
    CHECK(read_log(path, lines, 8) == 0);
    CHECK_OK(cr_metrics_log_open(&log, path, 0));
    cr_metrics_log_close(log);
    remove(path);
    CHECK_OK(cr_metrics_log_read(path, back, 4, &count)); /* no log: no records */
    CHECK(count == 0);
    rmdir(dir);

    CHECK_FAILS(cr_metrics_log_open(&log, "/nonexistent/run/metrics.jsonl", 0), CR_STATUS_IO,
                "/nonexistent/run/metrics.jsonl");
    CHECK(log == NULL);
    cr_metrics_log_close(NULL);
}

int main(void) {
    test_console_line();
    test_jsonl_round_trip();
    return cr_test_summary("metrics_log");
}
