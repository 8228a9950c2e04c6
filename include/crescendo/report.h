/* crescendo/report.h — what a user sees and plots while a run goes: the progress bar of an epoch,
 * the one console line per epoch, metrics.jsonl (one JSON object per epoch), TensorBoard's event
 * file, and report.html, the run on one self-contained page.
 *
 * The library never picks a stream: the caller (the CLI) passes the FILE * to draw on. */
#ifndef CRESCENDO_REPORT_H
#define CRESCENDO_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crescendo/status.h"

/* ---- progress bar ---------------------------------------------------------------------------
 *
 *   train 64px  [######....] 312/468  loss 0.412  acc 85.1%  1234 img/s  ETA 0:42
 *
 * On a terminal the bar is redrawn in place with '\r', at most ten times a second. Elsewhere (a
 * log file, a pipe) nothing is written until cr_progress_end, which in both cases leaves one plain
 * summary line:
 *
 *   train 64px  468/468  loss 0.401  acc 85.6%  1251 img/s  0:58
 *
 * Rates and the ETA are measured from the first update on, so the first step's one-off costs
 * (primitive creation, the loader filling its ring) do not skew them. */

typedef enum cr_progress_style {
    CR_PROGRESS_BAR,   /* redraw in place: chosen when the stream is a terminal */
    CR_PROGRESS_PLAIN, /* only the summary line at the end */
    CR_PROGRESS_QUIET  /* nothing at all */
} cr_progress_style;

typedef struct cr_progress {
    FILE *stream;
    cr_progress_style style;  /* set by cr_progress_begin; the caller may override it after */
    double (*clock)(void);    /* seconds, cr_now_seconds; a test that swaps in a fake clock after
                                 begin also sets start from it */
    int width;                /* columns of the terminal, 80 when unknown; the bar fits in it */
    char label[48];           /* "train 64px" */
    int64_t total, done, images;
    double loss, acc;         /* last values passed in; NaN hides them */
    double start;             /* clock at begin */
    double first_time;        /* clock at the first update, with the work done by then */
    int64_t first_done, first_images;
    double last_draw;         /* clock at the last redraw, for the throttle */
    int drawn_width;          /* columns on screen, to blank what a shorter line leaves */
} cr_progress;

/* Starts an epoch of `total` steps. The style is CR_PROGRESS_BAR if stream is a terminal. */
void cr_progress_begin(cr_progress *p, FILE *stream, const char *label, int64_t total);
/* After step `done` of total, having seen `images` images since begin; loss and acc (a fraction)
 * are the running values to show, NaN to leave one out. Draws only if a tenth of a second has
 * passed since the last redraw or the epoch is complete. */
void cr_progress_update(cr_progress *p, int64_t done, int64_t images, double loss, double acc);
/* Replaces the bar by the summary line (or prints it), ending with a newline. */
void cr_progress_end(cr_progress *p);

/* ---- per-epoch record ---------------------------------------------------------------------- */

/* One epoch as the run logs it. Accuracies are fractions in [0, 1]; a value that is NaN (no
 * validation this epoch, a diverged loss) is written as JSON null and left off the console. */
typedef struct cr_epoch_record {
    int epoch;                /* 1-based */
    int epochs;               /* planned epochs, 0 when open-ended (early stopping decides) */
    int stage;                /* 0-based index into the resolution schedule */
    int resolution;           /* square side in pixels */
    int batch_size;
    double lr;                /* at the end of the epoch */
    double train_loss, train_acc;
    double val_loss, val_acc, val_top5, val_f1; /* val_f1: macro F1 */
    double images_per_sec;    /* training images / training seconds */
    double epoch_seconds;     /* wall time of the epoch, validation included */
    double elapsed_seconds;   /* since the run started (across resumes) */
    double data_wait_percent; /* share of training time spent waiting for the loader */
    double switch_val_loss, switch_val_acc; /* validation at this epoch's new size before it
                                             * trained (cr_train_config.eval_at_switch) */
    double ema_val_loss, ema_val_acc; /* validation of the weights' moving average (--ema) */
} cr_epoch_record;

/* A record with every value NaN and every count 0, to fill in. */
cr_epoch_record cr_epoch_record_empty(void);

/* The console line, within 80 columns, e.g.
 *   epoch 3/10 64px lr 0.0841 train 0.312 88.7% val 0.298 89.4% 1830 img/s 31s
 * (loss and accuracy of each pass; " ema 89.9%" follows val with the weights' moving average's
 * accuracy; " data-wait 12%" is added when the loader kept the step
 * waiting 5% of the epoch or more). Returns what snprintf returns: the full length, even when cut
 * to fit `size`. */
int cr_metrics_log_format(char *buf, size_t size, const cr_epoch_record *r);

/* ---- metrics.jsonl ---------------------------------------------------------------------------
 *
 * One JSON object per line with the keys epoch, stage, resolution, batch_size, lr, train_loss,
 * train_acc, val_loss, val_acc, val_top5, val_f1, images_per_sec, epoch_seconds,
 * elapsed_seconds, data_wait_percent, switch_val_loss, switch_val_acc, ema_val_loss,
 * ema_val_acc. Reals carry 10
 * significant digits, past float32's round-trip 9. Each line is flushed and synced before the write returns, so a crash loses
 * nothing already written. */

typedef struct cr_metrics_log cr_metrics_log;

/* Opens path for appending. keep_epochs says how many epochs of a previous run to keep: a
 * resumed run passes the epochs its checkpoint holds, and lines of later epochs (and a line cut
 * short by a crash) are dropped, so that no epoch is logged twice; 0 starts an empty file. */
cr_status cr_metrics_log_open(cr_metrics_log **out, const char *path, int keep_epochs);
cr_status cr_metrics_log_write(cr_metrics_log *log, const cr_epoch_record *r);
/* Closes the file; a NULL log is ignored. */
void cr_metrics_log_close(cr_metrics_log *log);

/* Reads the records of a log back, in file order, for a resumed run to report its whole history:
 * up to `capacity` records into out, their number in *count. A missing file is an empty log; a
 * null is read as NaN, and so is a key the line lacks (a log of an older version); `epochs` is
 * not in the log and is left 0. A line that is not a JSON object with an integer epoch fails with
 * CR_STATUS_DATA naming the file and line. */
cr_status cr_metrics_log_read(const char *path, cr_epoch_record *out, int capacity, int *count);

/* ---- TensorBoard ------------------------------------------------------------------------------
 *
 * events.out.tfevents.<time>.<host>.<pid> in the run folder: per epoch (the step) the scalars
 * loss/train, loss/val, accuracy/train, accuracy/val, accuracy/val_top5, lr, resolution,
 * batch_size and images_per_sec (NaN values left out). Every event is flushed and synced. */

typedef struct cr_tensorboard cr_tensorboard;

/* Creates a new event file in dir. A resumed run passes the first step it will log again
 * (first_step > 0), and the file starts with a session-restart event there, so that TensorBoard
 * discards what an earlier file logged from that step on. */
cr_status cr_tensorboard_open(cr_tensorboard **out, const char *dir, int first_step);
cr_status cr_tensorboard_write(cr_tensorboard *tb, const cr_epoch_record *r);
/* Closes the file; NULL is ignored. */
void cr_tensorboard_close(cr_tensorboard *tb);

/* ---- report.html ----------------------------------------------------------------------------
 *
 * One HTML page that any browser shows offline: inline SVG charts and CSS, thumbnails as data:
 * URIs, no script and no address outside the file. From the top:
 *   - the run: model, schedule, epochs, best and last accuracy, size, time;
 *   - loss and accuracy (train and val) per epoch, and the learning rate at each epoch's end,
 *     each chart with one shaded band per stage (labelled with its size) and a dashed line at
 *     every switch; a validation at the switch shows as a diamond on the accuracy chart;
 *   - the stages: size, batch, epochs done and planned, mean training images/s (also as bars),
 *     time, best validation accuracy;
 *   - the last epoch's validation: the row-normalized confusion matrix as a heatmap (each cell's
 *     percentage written in it up to CR_REPORT_HEATMAP_TEXT_MAX classes), left out above
 *     CR_REPORT_HEATMAP_MAX classes; the most confused pairs; per class the images, accuracy
 *     (recall), precision and F1; and a grid of misclassified images with their true and
 *     predicted class.
 * The report module computes nothing about training: the caller hands over plain data (the
 * metrics module's numbers, the stage plan) and the page draws it. Every name is HTML-escaped. */

enum {
    CR_REPORT_HEATMAP_MAX = 30,      /* more classes: the most confused pairs without a heatmap */
    CR_REPORT_HEATMAP_TEXT_MAX = 15, /* more classes: the heatmap's cells are colour only */
};

/* A stage of the schedule as planned. */
typedef struct cr_report_stage {
    int resolution; /* square side in pixels */
    int batch_size;
    int epochs;     /* its length; in an auto schedule its most */
} cr_report_stage;

/* One class in the last validation pass. */
typedef struct cr_report_class {
    const char *name;
    int64_t support;  /* validation images of the class */
    double precision, recall, f1;
} cr_report_class;

typedef struct cr_report_pair {
    int true_class, predicted_class;
    int64_t count;
} cr_report_pair;

/* A misclassified validation image, already encoded. */
typedef struct cr_report_thumbnail {
    const uint8_t *png; /* (png_size) a PNG file */
    size_t png_size;
    int width, height;  /* its pixels; the page scales it to 80 CSS pixels high */
    int true_class, predicted_class;
} cr_report_thumbnail;

typedef struct cr_report {
    const char *title;  /* the heading (the trainer gives the run folder) */
    const char *model;
    const cr_epoch_record *epochs; /* (epoch_count) in order; consecutive epochs of a stage
                                    * make its band */
    int epoch_count;
    int planned_epochs; /* the run's most epochs */
    const cr_report_stage *stages; /* (stage_count) the schedule; a record's stage indexes it */
    int stage_count;
    int best_epoch;     /* of the best validation accuracy, 0 when none */
    double best_val_acc;
    /* the last validation pass; classes is 0 when the run has none */
    int classes;
    const cr_report_class *class_stats; /* (classes) */
    const int64_t *confusion;           /* (classes, classes) counts, [true][predicted] */
    const cr_report_pair *confused;     /* (confused_count) most confused first */
    int confused_count;
    const cr_report_thumbnail *thumbnails; /* (thumbnail_count) */
    int thumbnail_count;
} cr_report;

/* Writes the page to out. Fails with CR_STATUS_INVALID on data out of range (a record's stage
 * outside the stage list, a class index outside [0, classes)), CR_STATUS_NOMEM. */
cr_status cr_report_write_html(FILE *out, const cr_report *report);
/* Writes the page to path atomically (cr_write_atomically); a failure names the file. */
cr_status cr_report_save_html(const char *path, const cr_report *report);

#endif
