/* The confusion matrix as text: the CSV a run keeps per epoch, the table drawn on a console and
 * the per-class precision, recall and F1 under it.
 * Kept apart from the accumulator because it is all formatting: quoting, UTF-8 widths, files. */
#include "crescendo/metrics.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crescendo/dataset.h"
#include "crescendo/files.h"

cr_status cr_metrics_write_csv(const cr_metrics *m, FILE *out) {
    int k = cr_metrics_classes(m);
    fputs("true\\pred", out);
    for (int c = 0; c < k; c++) {
        fputc(',', out);
        cr_csv_write_field(out, cr_metrics_class_name(m, c));
    }
    fputc('\n', out);
    for (int t = 0; t < k; t++) {
        cr_csv_write_field(out, cr_metrics_class_name(m, t));
        for (int p = 0; p < k; p++) fprintf(out, ",%lld", (long long)cr_metrics_count(m, t, p));
        fputc('\n', out);
    }
    if (ferror(out)) return cr_fail(CR_STATUS_IO, "confusion matrix: write failed");
    return CR_STATUS_OK;
}

static cr_status write_confusion(FILE *out, void *metrics) {
    return cr_metrics_write_csv(metrics, out);
}

cr_status cr_metrics_save_confusion(const cr_metrics *m, const char *run_dir, int epoch) {
    char dir[4096], path[4096 + 32];
    if ((size_t)snprintf(dir, sizeof dir, "%s/confusion", run_dir) >= sizeof dir)
        return cr_fail(CR_STATUS_INVALID, "confusion matrix: folder name too long: %s", run_dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return cr_fail(CR_STATUS_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%d.csv", dir, epoch);
    cr_status s = cr_write_atomically(path, write_confusion, (void *)m);
    if (s != CR_STATUS_OK)
        return cr_fail_context(s, "saving the confusion matrix of epoch %d", epoch);
    return CR_STATUS_OK;
}

/* Columns a code point takes on a terminal: 2 for the East Asian wide and full-width ranges
 * (Hangul, CJK, kana, full-width forms, emoji), 1 otherwise. Class names of Korean, Chinese or
 * Japanese datasets must still line up. */
static int code_point_columns(uint32_t cp) {
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF}, {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3}, {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x3FFFD},
    };
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1]) return 2;
    return 1;
}

/* Bytes in the UTF-8 sequence starting at s, with its code point; a malformed byte counts as
 * one byte of one column so that any name still prints. */
static int utf8_next(const char *s, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    int len = u[0] < 0x80 ? 1
              : (u[0] >> 5) == 6 ? 2
              : (u[0] >> 4) == 14 ? 3
              : (u[0] >> 3) == 30 ? 4
              : 0;
    if (len == 0) {
        *cp = '?';
        return 1;
    }
    *cp = len == 1 ? u[0] : u[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((u[i] >> 6) != 2) {
            *cp = '?';
            return 1;
        }
        *cp = *cp << 6 | (u[i] & 0x3F);
    }
    return len;
}

/* The longest prefix of s that fits in `width` columns: returns its bytes, its columns in *used. */
static size_t fit(const char *s, int width, int *used) {
    size_t bytes = 0;
    *used = 0;
    while (s[bytes]) {
        uint32_t cp;
        int len = utf8_next(s + bytes, &cp), cols = code_point_columns(cp);
        if (*used + cols > width) break;
        *used += cols;
        bytes += (size_t)len;
    }
    return bytes;
}

/* s cut to `width` columns and padded with spaces to exactly `width`, on the left or right. */
static void put_cell(FILE *out, const char *s, int width, int align_right) {
    int used;
    size_t bytes = fit(s, width, &used);
    if (align_right) fprintf(out, "%*s", width - used, "");
    fwrite(s, 1, bytes, out);
    if (!align_right) fprintf(out, "%*s", width - used, "");
}

enum { LABEL_MAX_COLUMNS = 14, PAIRS_LISTED = 10 };

/* Above CR_METRICS_DRAW_MAX classes a table is too wide to read: list the worst cells. */
static void print_pairs(const cr_metrics *m, FILE *out) {
    cr_confused_pair pairs[PAIRS_LISTED];
    int n = cr_metrics_most_confused(m, pairs, PAIRS_LISTED);
    fprintf(out, "%d classes, most confused (true -> predicted):\n", cr_metrics_classes(m));
    for (int i = 0; i < n; i++)
        fprintf(out, "  %s -> %s  %lld\n", cr_metrics_class_name(m, pairs[i].true_class),
                cr_metrics_class_name(m, pairs[i].predicted_class), (long long)pairs[i].count);
    if (n == 0) fputs("  none\n", out);
}

/* Column headers are the names cut to the column width, unless two would read the same: then
 * columns are numbered and each row label starts with its number. */
static int headers_clash(const cr_metrics *m, int width) {
    int k = cr_metrics_classes(m), used;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            const char *na = cr_metrics_class_name(m, a), *nb = cr_metrics_class_name(m, b);
            size_t la = fit(na, width, &used), lb = fit(nb, width, &used);
            if (la == lb && memcmp(na, nb, la) == 0) return 1;
        }
    return 0;
}

cr_status cr_metrics_print(const cr_metrics *m, FILE *out) {
    int k = cr_metrics_classes(m);
    if (k > CR_METRICS_DRAW_MAX) {
        print_pairs(m, out);
        return ferror(out) ? cr_fail(CR_STATUS_IO, "confusion matrix: write failed") : CR_STATUS_OK;
    }
    int64_t largest = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++)
            if (cr_metrics_count(m, t, p) > largest) largest = cr_metrics_count(m, t, p);
    char text[64];
    int cell = snprintf(text, sizeof text, "%lld", (long long)largest);
    if (cell < 5) cell = 5;
    int numbered = headers_clash(m, cell);

    char labels[CR_METRICS_DRAW_MAX][80];
    int label_width = (int)strlen("true\\pred");
    for (int t = 0; t < k; t++) {
        const char *name = cr_metrics_class_name(m, t);
        if (numbered) snprintf(labels[t], sizeof labels[t], "%d %s", t, name);
        else snprintf(labels[t], sizeof labels[t], "%s", name);
        int used;
        fit(labels[t], LABEL_MAX_COLUMNS, &used);
        if (used > label_width) label_width = used;
    }

    put_cell(out, "true\\pred", label_width, 0);
    for (int p = 0; p < k; p++) {
        if (numbered) snprintf(text, sizeof text, "%d", p);
        fputc(' ', out);
        put_cell(out, numbered ? text : cr_metrics_class_name(m, p), cell, 1);
    }
    fputs("  recall\n", out);
    for (int t = 0; t < k; t++) {
        put_cell(out, labels[t], label_width, 0);
        for (int p = 0; p < k; p++) {
            int64_t count = cr_metrics_count(m, t, p);
            /* zeros as dots, so that the diagonal and the real confusions stand out */
            if (count) fprintf(out, " %*lld", cell, (long long)count);
            else fprintf(out, " %*s", cell, ".");
        }
        cr_class_stats s = cr_metrics_class_stats(m, t);
        if (s.support) fprintf(out, "  %5.1f%%\n", 100.0 * s.recall);
        else fputs("       -\n", out);
    }
    return ferror(out) ? cr_fail(CR_STATUS_IO, "confusion matrix: write failed") : CR_STATUS_OK;
}

cr_status cr_metrics_print_classes(const cr_metrics *m, FILE *out) {
    int k = cr_metrics_classes(m), width = (int)strlen("class"), used;
    for (int c = 0; c < k; c++) {
        fit(cr_metrics_class_name(m, c), INT_MAX, &used);
        if (used > width) width = used;
    }
    put_cell(out, "class", width, 0);
    fputs("  precision  recall      F1  support\n", out);
    for (int c = 0; c < k; c++) {
        cr_class_stats s = cr_metrics_class_stats(m, c);
        put_cell(out, cr_metrics_class_name(m, c), width, 0);
        fprintf(out, "  %9.4f  %6.4f  %6.4f  %7lld\n", s.precision, s.recall, s.f1,
                (long long)s.support);
    }
    return ferror(out) ? cr_fail(CR_STATUS_IO, "per-class metrics: write failed") : CR_STATUS_OK;
}
