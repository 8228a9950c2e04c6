/* The epoch's classification metrics: a confusion matrix and the counts derived from it.
 * Everything is kept as integer counts (plus one loss sum), so the numbers never drift with the
 * order batches arrive in and the accumulator never allocates after creation. */
#include "crescendo/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cr_metrics {
    int classes;
    int k;               /* min(CR_METRICS_TOPK, classes) */
    char **names;        /* (classes), owned */
    int64_t *confusion;  /* (classes, classes): [true][predicted] */
    int64_t count;       /* samples scored */
    int64_t topk_hits;
    double loss_sum;     /* sum over batches of mean loss x batch size */
    int64_t loss_count;
    int64_t carried_correct; /* correct predictions carried from before a resume (in count, not
                              * in the confusion matrix) */
};

/* The ranking of metrics.h: does class a come before class b? */
static int ranks_before(const float *row, int a, int b) {
    float x = row[a], y = row[b];
    if (isnan(x) || isnan(y)) {
        if (!isnan(y)) return 1;
        if (!isnan(x)) return 0;
        return a < b;
    }
    return x > y || (x == y && a < b);
}

int cr_metrics_predict(const float *scores, int num_classes) {
    int predicted = 0;
    for (int c = 1; c < num_classes; c++)
        if (ranks_before(scores, c, predicted)) predicted = c;
    return predicted;
}

cr_status cr_metrics_create(cr_metrics **out, int num_classes, const char *const *names) {
    *out = NULL;
    if (num_classes < 1 || num_classes > (1 << 16))
        return cr_fail(CR_STATUS_INVALID, "metrics: %d classes is out of range [1, 65536]",
                       num_classes);
    cr_metrics *m = calloc(1, sizeof *m);
    if (!m) return cr_fail(CR_STATUS_NOMEM, "metrics: out of memory");
    m->classes = num_classes;
    m->k = num_classes < CR_METRICS_TOPK ? num_classes : CR_METRICS_TOPK;
    m->names = calloc((size_t)num_classes, sizeof *m->names);
    m->confusion = calloc((size_t)num_classes * (size_t)num_classes, sizeof *m->confusion);
    if (!m->names || !m->confusion) {
        cr_metrics_destroy(m);
        return cr_fail(CR_STATUS_NOMEM, "metrics: out of memory for %d classes", num_classes);
    }
    for (int c = 0; c < num_classes; c++) {
        char number[16];
        snprintf(number, sizeof number, "%d", c);
        const char *name = names && names[c] ? names[c] : number;
        m->names[c] = strdup(name);
        if (!m->names[c]) {
            cr_metrics_destroy(m);
            return cr_fail(CR_STATUS_NOMEM, "metrics: out of memory for class names");
        }
    }
    *out = m;
    return CR_STATUS_OK;
}

void cr_metrics_destroy(cr_metrics *m) {
    if (!m) return;
    if (m->names)
        for (int c = 0; c < m->classes; c++) free(m->names[c]);
    free(m->names);
    free(m->confusion);
    free(m);
}

void cr_metrics_reset(cr_metrics *m) {
    memset(m->confusion, 0, (size_t)m->classes * (size_t)m->classes * sizeof *m->confusion);
    m->count = 0;
    m->topk_hits = 0;
    m->loss_sum = 0;
    m->loss_count = 0;
    m->carried_correct = 0;
}

cr_metrics_totals cr_metrics_totals_of(const cr_metrics *m) {
    int64_t correct = m->carried_correct;
    for (int c = 0; c < m->classes; c++) correct += m->confusion[(size_t)c * m->classes + c];
    return (cr_metrics_totals){.count = m->count, .correct = correct, .topk_hits = m->topk_hits,
                               .loss_count = m->loss_count, .loss_sum = m->loss_sum};
}

void cr_metrics_carry(cr_metrics *m, const cr_metrics_totals *t) {
    m->count += t->count;
    m->carried_correct += t->correct;
    m->topk_hits += t->topk_hits;
    m->loss_count += t->loss_count;
    m->loss_sum += t->loss_sum;
}

cr_status cr_metrics_add(cr_metrics *m, const float *scores, const int32_t *labels, int n) {
    if (n < 0 || (n > 0 && (!scores || !labels)))
        return cr_fail(CR_STATUS_INVALID, "metrics: a batch of %d samples with %s", n,
                       n < 0 ? "a negative size" : "no scores or labels");
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= m->classes)
            return cr_fail(CR_STATUS_INVALID, "metrics: row %d of the batch has label %d, outside "
                           "[0, %d)", i, (int)labels[i], m->classes);
    int k_classes = m->classes;
    for (int i = 0; i < n; i++) {
        const float *row = scores + (size_t)i * (size_t)k_classes; /* (K) */
        int label = labels[i], predicted = cr_metrics_predict(row, k_classes), ahead = 0;
        for (int c = 0; c < k_classes; c++)
            if (c != label && ranks_before(row, c, label)) ahead++;
        m->confusion[(size_t)label * (size_t)k_classes + (size_t)predicted]++;
        m->topk_hits += ahead < m->k;
    }
    m->count += n;
    return CR_STATUS_OK;
}

void cr_metrics_add_loss(cr_metrics *m, double mean_loss, int n) {
    if (n <= 0) return;
    m->loss_sum += mean_loss * n;
    m->loss_count += n;
}

cr_status cr_metrics_sum_over(cr_metrics *m, cr_dist *d) {
    if (cr_dist_size(d) == 1) return CR_STATUS_OK;
    size_t cells = (size_t)m->classes * (size_t)m->classes;
    CR_TRY(cr_dist_sum_i64(d, m->confusion, cells));
    int64_t counts[4] = {m->count, m->topk_hits, m->loss_count, m->carried_correct};
    CR_TRY(cr_dist_sum_i64(d, counts, 4));
    m->count = counts[0], m->topk_hits = counts[1], m->loss_count = counts[2];
    m->carried_correct = counts[3];
    return cr_dist_sum_f64(d, &m->loss_sum, 1);
}

int cr_metrics_classes(const cr_metrics *m) { return m->classes; }

const char *cr_metrics_class_name(const cr_metrics *m, int c) {
    CR_ASSERT(c >= 0 && c < m->classes);
    return m->names[c];
}

int64_t cr_metrics_count(const cr_metrics *m, int true_class, int predicted_class) {
    CR_ASSERT(true_class >= 0 && true_class < m->classes);
    CR_ASSERT(predicted_class >= 0 && predicted_class < m->classes);
    return m->confusion[(size_t)true_class * (size_t)m->classes + (size_t)predicted_class];
}

const int64_t *cr_metrics_confusion(const cr_metrics *m) { return m->confusion; }

cr_class_stats cr_metrics_class_stats(const cr_metrics *m, int c) {
    cr_class_stats s = {0};
    for (int j = 0; j < m->classes; j++) {
        s.support += cr_metrics_count(m, c, j);
        s.predicted += cr_metrics_count(m, j, c);
    }
    s.correct = cr_metrics_count(m, c, c);
    s.precision = s.predicted ? (double)s.correct / (double)s.predicted : 0.0;
    s.recall = s.support ? (double)s.correct / (double)s.support : 0.0;
    double sum = s.precision + s.recall;
    s.f1 = sum > 0 ? 2 * s.precision * s.recall / sum : 0.0;
    return s;
}

void cr_metrics_rank(const float *scores, int k, int *top, int count) {
    CR_ASSERT(count >= 1 && count <= k);
    /* The ranking is a strict total order, so place j holds the best class ranked after place
     * j - 1: count passes over the row, whatever its length. */
    for (int j = 0; j < count; j++) {
        int best = -1;
        for (int c = 0; c < k; c++)
            if ((j == 0 || ranks_before(scores, top[j - 1], c)) &&
                (best < 0 || ranks_before(scores, c, best)))
                best = c;
        top[j] = best;
    }
}

cr_metrics_summary cr_metrics_summarize(const cr_metrics *m) {
    cr_metrics_summary s = {.count = m->count, .k = m->k, .loss = NAN};
    int64_t correct = m->carried_correct;
    double f1_sum = 0;
    int seen = 0;
    for (int c = 0; c < m->classes; c++) {
        cr_class_stats cs = cr_metrics_class_stats(m, c);
        correct += cs.correct;
        if (cs.support || cs.predicted) {
            f1_sum += cs.f1;
            seen++;
        }
    }
    if (m->count) {
        s.top1 = (double)correct / (double)m->count;
        s.topk = (double)m->topk_hits / (double)m->count;
    }
    if (seen) s.macro_f1 = f1_sum / seen;
    if (m->loss_count) s.loss = m->loss_sum / (double)m->loss_count;
    return s;
}

/* Larger counts first, then the lower true class, then the lower predicted class. */
static int compare_pairs(const void *pa, const void *pb) {
    const cr_confused_pair *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    if (a->true_class != b->true_class) return a->true_class < b->true_class ? -1 : 1;
    return (a->predicted_class > b->predicted_class) - (a->predicted_class < b->predicted_class);
}

int cr_metrics_most_confused(const cr_metrics *m, cr_confused_pair *out, int max) {
    /* Keeps the best `max` in out with an insertion step per non-zero cell: max is small (a
     * report shows ten or so) and this needs no scratch memory. */
    int kept = 0;
    for (int t = 0; t < m->classes; t++)
        for (int p = 0; p < m->classes; p++) {
            int64_t count = cr_metrics_count(m, t, p);
            if (t == p || count == 0 || max <= 0) continue;
            cr_confused_pair cell = {t, p, count};
            if (kept == max && compare_pairs(&cell, &out[kept - 1]) >= 0) continue;
            int at = kept < max ? kept++ : max - 1;
            while (at > 0 && compare_pairs(&cell, &out[at - 1]) < 0) {
                out[at] = out[at - 1];
                at--;
            }
            out[at] = cell;
        }
    return kept;
}
