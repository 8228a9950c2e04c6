/* crescendo/metrics.h — classification metrics over an epoch: a K x K confusion matrix, top-1 and
 * top-k accuracy, mean loss, per-class precision / recall / F1 and the most-confused pairs.
 *
 * A cr_metrics accumulates batches of scores (N, K) and labels (N) and is reset at each epoch.
 * Scores may be logits or probabilities: softmax keeps the order, so both rank alike.
 *
 * Ranking rule (top-1, top-k and the predicted class): classes are ordered by score, highest
 * first, ties broken by the lower class index; NaN ranks above every number (as in torch.sort).
 * The label is in the top k when it holds one of the first k places. So the predicted class is
 * torch.argmax's first maximum, top-1 agrees with the confusion matrix's diagonal, and a model
 * whose scores are all equal predicts class 0 instead of scoring every sample as a hit. */
#ifndef CRESCENDO_METRICS_H
#define CRESCENDO_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "crescendo/distributed.h"
#include "crescendo/status.h"

typedef struct cr_metrics cr_metrics;

enum { CR_METRICS_TOPK = 5 }; /* top-k uses k = min(5, K) */

typedef struct cr_metrics_summary {
    int64_t count;   /* samples scored since the last reset */
    int k;           /* the k of topk */
    double top1;     /* fraction of count in [0, 1]; 0 when count is 0 */
    double topk;
    double loss;     /* mean per-sample loss over the samples of cr_metrics_add_loss; NaN if none */
    double macro_f1; /* mean F1 over classes seen as a label or a prediction (sklearn's macro) */
} cr_metrics_summary;

typedef struct cr_class_stats {
    int64_t support;   /* samples of this class (the row sum) */
    int64_t predicted; /* samples predicted as this class (the column sum) */
    int64_t correct;   /* the diagonal */
    double precision;  /* correct / predicted, 0 when nothing was predicted as this class */
    double recall;     /* correct / support, 0 when the class has no samples */
    double f1;         /* harmonic mean of the two, 0 when both are 0 */
} cr_class_stats;

typedef struct cr_confused_pair {
    int true_class;
    int predicted_class;
    int64_t count;
} cr_confused_pair;

/* K >= 1 classes. names: K class names, copied; NULL names the classes "0", "1", ... */
cr_status cr_metrics_create(cr_metrics **out, int num_classes, const char *const *names);
void cr_metrics_destroy(cr_metrics *m);
/* Forgets every sample and loss: call at the start of each epoch. */
void cr_metrics_reset(cr_metrics *m);

/* Scores one batch. scores (N, K) row-major, labels (N). A label outside [0, K) fails with
 * CR_STATUS_INVALID naming the row, and then nothing of the batch is counted. */
cr_status cr_metrics_add(cr_metrics *m, const float *scores, const int32_t *labels, int n);
/* The predicted class of one row of scores (num_classes of them), by the ranking rule above. */
int cr_metrics_predict(const float *scores, int num_classes);
/* Adds a batch's mean loss, weighted by its n samples. */
void cr_metrics_add_loss(cr_metrics *m, double mean_loss, int n);
/* What an epoch's summary needs of the samples scored so far, without the confusion matrix: kept
 * in a checkpoint written in the middle of an epoch, and carried into the resumed epoch. */
typedef struct cr_metrics_totals {
    int64_t count, correct, topk_hits, loss_count;
    double loss_sum;
} cr_metrics_totals;
cr_metrics_totals cr_metrics_totals_of(const cr_metrics *m);
/* Counts `t` in m's accuracy and loss (not in its confusion matrix or per-class scores): call
 * right after cr_metrics_reset, so that the losses add up in the order they would have. */
void cr_metrics_carry(cr_metrics *m, const cr_metrics_totals *t);

/* Every process's counts and losses summed into each process's m, so that all of them hold the
 * metrics of the samples all of them scored (called by every process; nothing with one). */
cr_status cr_metrics_sum_over(cr_metrics *m, cr_dist *d);

int cr_metrics_classes(const cr_metrics *m);
const char *cr_metrics_class_name(const cr_metrics *m, int c);
/* Samples of class true_class predicted as predicted_class. */
int64_t cr_metrics_count(const cr_metrics *m, int true_class, int predicted_class);
/* The whole matrix (classes, classes), [true][predicted], as cr_metrics_count reads it; it
 * changes with every add and reset. */
const int64_t *cr_metrics_confusion(const cr_metrics *m);
cr_metrics_summary cr_metrics_summarize(const cr_metrics *m);
cr_class_stats cr_metrics_class_stats(const cr_metrics *m, int c);
/* The first `count` classes (1 <= count <= K) of one row of K scores in the ranking above, best
 * first: top[0] is the class cr_metrics_add counts as predicted. */
void cr_metrics_rank(const float *scores, int k, int *top, int count);
/* Writes up to max off-diagonal cells with a non-zero count, largest first (ties: lower true
 * class, then lower predicted class) and returns how many were written. */
int cr_metrics_most_confused(const cr_metrics *m, cr_confused_pair *out, int max);

/* The matrix as CSV: a header `true\pred,<names>`, then one row per true class, its name first.
 * Names holding a comma, quote or line break are quoted as RFC 4180 says. */
cr_status cr_metrics_write_csv(const cr_metrics *m, FILE *out);
/* Writes <run_dir>/confusion/<epoch>.csv, creating the folder; the file appears whole or not at
 * all (written beside it, then renamed). */
cr_status cr_metrics_save_confusion(const cr_metrics *m, const char *run_dir, int epoch);

/* The matrix drawn for a console: rows are true classes, columns predictions, class names
 * abbreviated to the column width (numbered when the abbreviations would clash), and each row's
 * recall at its end. Above CR_METRICS_DRAW_MAX classes it lists the most-confused pairs instead. */
enum { CR_METRICS_DRAW_MAX = 24 };
cr_status cr_metrics_print(const cr_metrics *m, FILE *out);

/* One line per class, as cr_metrics_class_stats gives it: the name (padded, never cut), precision,
 * recall and F1 to four places, and the support, under a header line. */
cr_status cr_metrics_print_classes(const cr_metrics *m, FILE *out);

#endif
