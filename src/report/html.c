/* report.html: a run on one page that a browser shows offline, drawn from plain data the trainer
 * hands over. Inline SVG (svg.c) and CSS, thumbnails as data: URIs, no script, no link out. */
#include "crescendo/report.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "crescendo/files.h"
#include "crescendo/version.h"
#include "report/svg.h"

/* Light and plain: white cards on a grey page, one colour per series (train blue, val orange, lr
 * violet) shared by the charts and their legends, and four pale band colours for the stages. */
static const char STYLE[] =
    ":root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--train:#2563eb;--val:#ea580c;"
    "--lr:#7c3aed;--band0:#e0e7ff;--band1:#dcfce7;--band2:#ffedd5;--band3:#fce7f3}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#f5f6f8;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"
    "'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif}\n"
    "main{max-width:1180px;margin:0 auto;padding:24px 20px 40px}\n"
    "h1{font-size:22px;margin:0 0 2px}\n"
    "h2{font-size:17px;margin:30px 0 10px}\n"
    "h3{font-size:15px;margin:22px 0 8px}\n"
    ".sub,.note,footer{color:var(--muted)}\n"
    ".facts{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0 0}\n"
    ".facts div{background:#fff;border:1px solid var(--line);border-radius:8px;"
    "padding:8px 14px;min-width:140px}\n"
    ".facts dt{color:var(--muted);font-size:12px}\n"
    ".facts dd{margin:0;font-size:17px;font-weight:600}\n"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px}\n"
    ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px;"
    "margin:0}\n"
    ".card figcaption{font-weight:600}\n"
    ".legend{font-size:12px;color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 14px;"
    "margin:2px 0 4px}\n"
    ".key{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:5px}\n"
    ".key.train{background:var(--train)}.key.val{background:var(--val)}"
    ".key.lr{background:var(--lr)}\n"
    ".key.stage{height:11px;background:var(--band0)}\n"
    ".key.switch{height:0;border-top:2px dashed #4b5563}\n"
    ".key.diamond{width:9px;height:9px;border:1.6px solid var(--val);transform:rotate(45deg)}\n"
    "svg{display:block;width:100%;height:auto}\n"
    "svg text{font-size:11px;fill:#4b5563}\n"
    ".plot{fill:#fff}\n"
    ".band0 rect{fill:var(--band0)}.band1 rect{fill:var(--band1)}"
    ".band2 rect{fill:var(--band2)}.band3 rect{fill:var(--band3)}\n"
    ".band-label{text-anchor:middle;font-weight:600;fill:#374151}\n"
    ".gridline{stroke:#e5e7eb}.frame,.tick-mark{stroke:#9ca3af}\n"
    ".tick.y{text-anchor:end}.tick.x{text-anchor:middle}\n"
    ".title{font-size:12px;fill:#374151;text-anchor:middle}\n"
    ".switch{stroke:#4b5563;stroke-width:1.2;stroke-dasharray:4 3}\n"
    ".series polyline{fill:none;stroke-width:2;stroke-linejoin:round}\n"
    ".series.train polyline{stroke:var(--train)}.series.train circle{fill:var(--train)}\n"
    ".series.val polyline{stroke:var(--val)}.series.val circle{fill:var(--val)}\n"
    ".series.lr polyline{stroke:var(--lr)}.series.lr circle{fill:var(--lr)}\n"
    ".diamonds path{fill:#fff;stroke:var(--val);stroke-width:1.6}\n"
    ".bars{max-width:720px}.bar-label{text-anchor:end;font-weight:600}\n"
    "table{border-collapse:collapse;background:#fff}\n"
    ".data{border:1px solid var(--line)}\n"
    ".data th,.data td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    ".data th:first-child,.data td:first-child{text-align:left}\n"
    ".data thead th{font-size:12px;color:var(--muted);font-weight:600}\n"
    ".confused td:nth-child(2),.confused th:nth-child(2){text-align:left}\n"
    ".meter{display:inline-block;width:70px;height:8px;background:#eef2f7;border-radius:4px;"
    "margin-left:8px;vertical-align:middle;overflow:hidden}\n"
    ".meter i{display:block;height:100%;background:var(--train)}\n"
    ".scroll{overflow-x:auto}\n"
    ".heatmap td{min-width:34px;height:30px;text-align:center;font-size:12px;"
    "border:1px solid #fff;font-variant-numeric:tabular-nums}\n"
    ".heatmap td.none{color:var(--muted);background:#f9fafb}\n"
    ".scale{display:flex;align-items:center;gap:6px;font-size:12px;color:var(--muted);"
    "margin:0 0 8px}\n"
    ".scale i{width:140px;height:10px;border:1px solid var(--line);"
    "background:linear-gradient(to right,#fff,#1e40af)}\n"
    ".heatmap th{font-weight:500;font-size:12px}\n"
    ".heatmap th.row{text-align:right;padding-right:8px;white-space:nowrap}\n"
    ".heatmap th.col{vertical-align:bottom;padding:4px 2px}\n"
    ".heatmap th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}\n"
    ".heatmap th.corner{color:var(--muted);text-align:right;vertical-align:bottom;"
    "padding:0 8px 6px 0}\n"
    "details summary{cursor:pointer;margin:22px 0 8px;font-size:15px;font-weight:600}\n"
    ".thumbs{display:flex;flex-wrap:wrap;gap:10px}\n"
    ".thumbs figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;"
    "padding:6px;width:112px;text-align:center}\n"
    ".thumbs img{height:80px;width:auto;max-width:100%}\n"
    ".thumbs img.small{image-rendering:pixelated}\n"
    ".thumbs figcaption{font-size:11px;line-height:1.35;margin-top:4px;overflow-wrap:anywhere}\n"
    ".truth{color:#15803d}.guess{color:#b91c1c}\n"
    "footer{font-size:12px;margin-top:36px}\n";

/* Below this side a thumbnail is drawn with hard pixel edges instead of blurred when enlarged. */
enum { THUMB_SMALL = 48 };

static double finite_max(double a, double b) {
    if (!isfinite(a)) return b;
    if (!isfinite(b)) return a;
    return a > b ? a : b;
}

static void put_percent(FILE *out, double fraction) {
    if (isfinite(fraction)) fprintf(out, "%.1f%%", 100 * fraction);
    else fputs("&ndash;", out);
}

/* "1:02:03" or "2:03". */
static void put_duration(FILE *out, double seconds) {
    if (!isfinite(seconds) || seconds < 0) {
        fputs("&ndash;", out);
        return;
    }
    long s = lround(seconds);
    if (s >= 3600) fprintf(out, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else fprintf(out, "%ld:%02ld", s / 60, s % 60);
}

static const char *title_of(const cr_report *rep) { return rep->title ? rep->title : "run"; }

static const char *class_name(const cr_report *rep, int c) {
    const char *name = rep->class_stats[c].name;
    return name ? name : "?";
}

/* Indices the page follows must be in range: a bad one is the caller's bug, reported, not read
 * out of bounds. */
static cr_status check_report(const cr_report *rep) {
    if (rep->epoch_count < 0 || rep->stage_count < 0 || rep->classes < 0 ||
        rep->confused_count < 0 || rep->thumbnail_count < 0)
        return cr_fail(CR_STATUS_INVALID, "report: a negative count");
    if ((rep->epoch_count && !rep->epochs) || (rep->stage_count && !rep->stages) ||
        (rep->classes && (!rep->class_stats || !rep->confusion)) ||
        (rep->confused_count && !rep->confused) || (rep->thumbnail_count && !rep->thumbnails))
        return cr_fail(CR_STATUS_INVALID, "report: counts without their data");
    for (int i = 0; i < rep->epoch_count; i++)
        if (rep->epochs[i].stage < 0 || rep->epochs[i].stage >= rep->stage_count)
            return cr_fail(CR_STATUS_INVALID, "report: epoch %d is in stage %d of %d",
                           rep->epochs[i].epoch, rep->epochs[i].stage + 1, rep->stage_count);
    for (int i = 0; i < rep->confused_count; i++) {
        const cr_report_pair *p = &rep->confused[i];
        if (p->true_class < 0 || p->true_class >= rep->classes || p->predicted_class < 0 ||
            p->predicted_class >= rep->classes)
            return cr_fail(CR_STATUS_INVALID, "report: confused pair %d -> %d of %d classes",
                           p->true_class, p->predicted_class, rep->classes);
    }
    for (int i = 0; i < rep->thumbnail_count; i++) {
        const cr_report_thumbnail *t = &rep->thumbnails[i];
        if (t->true_class < 0 || t->true_class >= rep->classes || t->predicted_class < 0 ||
            t->predicted_class >= rep->classes || !t->png || t->width < 1 || t->height < 1)
            return cr_fail(CR_STATUS_INVALID, "report: thumbnail %d is out of range", i);
    }
    return CR_STATUS_OK;
}

static void put_head(FILE *out, const cr_report *rep) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    cr_svg_escape(out, title_of(rep));
    fputs(" &middot; crescendo</title>\n<style>\n", out);
    fputs(STYLE, out);
    fputs("</style>\n</head>\n<body>\n<main>\n", out);
}

/* "16px ×2 → 24px ×3" */
static void put_schedule(FILE *out, const cr_report *rep) {
    for (int i = 0; i < rep->stage_count; i++)
        fprintf(out, "%s%dpx &times;%d", i ? " &rarr; " : "", rep->stages[i].resolution,
                rep->stages[i].epochs);
}

static void put_summary(FILE *out, const cr_report *rep) {
    const cr_epoch_record *last = rep->epoch_count ? &rep->epochs[rep->epoch_count - 1] : NULL;
    fputs("<header>\n<h1>", out);
    cr_svg_escape(out, title_of(rep));
    fputs("</h1>\n<p class=\"sub\">", out);
    if (rep->model) {
        cr_svg_escape(out, rep->model);
        fputs(" &middot; ", out);
    }
    put_schedule(out, rep);
    if (last)
        fprintf(out, " &middot; written after epoch %d of %d", last->epoch,
                rep->planned_epochs);
    else
        fputs(" &middot; no epoch finished yet", out);
    fputs("</p>\n<dl class=\"facts\">\n", out);
    fputs("<div><dt>best val accuracy</dt><dd>", out);
    put_percent(out, rep->best_epoch > 0 ? rep->best_val_acc : NAN);
    if (rep->best_epoch > 0) fprintf(out, " <small>(epoch %d)</small>", rep->best_epoch);
    fputs("</dd></div>\n<div><dt>last val accuracy</dt><dd>", out);
    put_percent(out, last ? last->val_acc : NAN);
    fputs("</dd></div>\n<div><dt>last train accuracy</dt><dd>", out);
    put_percent(out, last ? last->train_acc : NAN);
    fputs("</dd></div>\n<div><dt>size now</dt><dd>", out);
    if (last) fprintf(out, "%dpx", last->resolution);
    else fputs("&ndash;", out);
    fputs("</dd></div>\n<div><dt>time</dt><dd>", out);
    put_duration(out, last ? last->elapsed_seconds : NAN);
    fputs("</dd></div>\n</dl>\n</header>\n", out);
}

/* The bands of the stages the epochs went through, and a dashed line at each switch. */
static void draw_stages(const cr_chart *c, const cr_report *rep) {
    const cr_epoch_record *e = rep->epochs;
    int n = rep->epoch_count;
    for (int i = 0; i < n;) {
        int end = i;
        while (end < n && e[end].stage == e[i].stage) end++;
        char label[32];
        snprintf(label, sizeof label, "%dpx", e[i].resolution);
        cr_chart_band(c, e[i].epoch - 0.5, e[end - 1].epoch + 0.5, e[i].stage, e[i].resolution,
                      label);
        i = end;
    }
    for (int i = 1; i < n; i++) {
        if (e[i].stage == e[i - 1].stage) continue;
        char tip[96];
        snprintf(tip, sizeof tip, "switch from %dpx to %dpx before epoch %d", e[i - 1].resolution,
                 e[i].resolution, e[i].epoch);
        cr_chart_marker_line(c, e[i].epoch - 0.5, tip);
    }
}

/* The epochs' x values and one field of every record, into x and y (epoch_count each). */
static void gather(const cr_report *rep, size_t offset, double *x, double *y) {
    for (int i = 0; i < rep->epoch_count; i++) {
        x[i] = rep->epochs[i].epoch;
        y[i] = *(const double *)((const char *)&rep->epochs[i] + offset);
    }
}

static double field_max(const cr_report *rep, size_t offset) {
    double m = NAN;
    for (int i = 0; i < rep->epoch_count; i++)
        m = finite_max(m, *(const double *)((const char *)&rep->epochs[i] + offset));
    return m;
}

static void open_card(FILE *out, const char *caption, const char *legend) {
    fprintf(out, "<figure class=\"card\">\n<figcaption>%s</figcaption>\n<div class=\"legend\">"
            "%s<span><i class=\"key stage\"></i>stage (size)</span><span><i class=\"key "
            "switch\"></i>switch</span></div>\n", caption, legend);
}

static cr_status put_curves(FILE *out, const cr_report *rep) {
    int n = rep->epoch_count;
    fputs("<section>\n<h2>Training curves</h2>\n", out);
    if (n == 0) {
        fputs("<p class=\"note\">No epoch has finished yet.</p>\n</section>\n", out);
        return CR_STATUS_OK;
    }
    double *x = malloc(sizeof *x * 2 * (size_t)n);
    if (!x) return cr_fail(CR_STATUS_NOMEM, "report: out of memory for %d epochs", n);
    double *y = x + n;
    double x_min = rep->epochs[0].epoch - 0.5, x_max = rep->epochs[n - 1].epoch + 0.5;
    static const char TRAIN_VAL[] = "<span><i class=\"key train\"></i>train</span>"
                                    "<span><i class=\"key val\"></i>val</span>";
    cr_chart c;
    fputs("<div class=\"charts\">\n", out);

    open_card(out, "Loss", TRAIN_VAL);
    double top = cr_svg_axis_top(finite_max(field_max(rep, offsetof(cr_epoch_record, train_loss)),
                                            field_max(rep, offsetof(cr_epoch_record, val_loss))),
                                 5);
    cr_chart_begin(&c, out, "loss", "loss per epoch", x_min, x_max, 0, top);
    draw_stages(&c, rep);
    cr_chart_axes(&c, "epoch", "loss", CR_TICK_NUMBER);
    gather(rep, offsetof(cr_epoch_record, train_loss), x, y);
    cr_chart_series(&c, x, y, n, "train", "train loss", CR_TICK_NUMBER);
    gather(rep, offsetof(cr_epoch_record, val_loss), x, y);
    cr_chart_series(&c, x, y, n, "val", "val loss", CR_TICK_NUMBER);
    cr_chart_end(&c);
    fputs("</figure>\n", out);

    bool at_switch = isfinite(field_max(rep, offsetof(cr_epoch_record, switch_val_acc)));
    open_card(out, "Accuracy", at_switch ? "<span><i class=\"key train\"></i>train</span>"
                                           "<span><i class=\"key val\"></i>val</span>"
                                           "<span><i class=\"key diamond\"></i>val right after "
                                           "the switch</span>"
                                         : TRAIN_VAL);
    cr_chart_begin(&c, out, "accuracy", "accuracy per epoch", x_min, x_max, 0, 1);
    draw_stages(&c, rep);
    cr_chart_axes(&c, "epoch", "accuracy", CR_TICK_PERCENT);
    gather(rep, offsetof(cr_epoch_record, train_acc), x, y);
    cr_chart_series(&c, x, y, n, "train", "train accuracy", CR_TICK_PERCENT);
    gather(rep, offsetof(cr_epoch_record, val_acc), x, y);
    cr_chart_series(&c, x, y, n, "val", "val accuracy", CR_TICK_PERCENT);
    gather(rep, offsetof(cr_epoch_record, switch_val_acc), x, y);
    cr_chart_diamonds(&c, x, y, n, "val", "val right after the switch", CR_TICK_PERCENT);
    cr_chart_end(&c);
    fputs("</figure>\n", out);

    open_card(out, "Learning rate", "<span><i class=\"key lr\"></i>at the end of each epoch"
                                    "</span>");
    top = cr_svg_axis_top(field_max(rep, offsetof(cr_epoch_record, lr)), 5);
    cr_chart_begin(&c, out, "lr", "learning rate per epoch", x_min, x_max, 0, top);
    draw_stages(&c, rep);
    cr_chart_axes(&c, "epoch", "learning rate", CR_TICK_NUMBER);
    gather(rep, offsetof(cr_epoch_record, lr), x, y);
    cr_chart_series(&c, x, y, n, "lr", "learning rate", CR_TICK_NUMBER);
    cr_chart_end(&c);
    fputs("</figure>\n</div>\n</section>\n", out);
    free(x);
    return CR_STATUS_OK;
}

/* What the epochs of one stage add up to. */
typedef struct stage_totals {
    int epochs;
    double images_per_sec; /* mean over the epochs that measured it */
    double seconds, best_val_acc;
} stage_totals;

static stage_totals totals_of(const cr_report *rep, int stage) {
    stage_totals t = {.images_per_sec = NAN, .best_val_acc = NAN};
    double rate_sum = 0;
    int rates = 0;
    for (int i = 0; i < rep->epoch_count; i++) {
        const cr_epoch_record *e = &rep->epochs[i];
        if (e->stage != stage) continue;
        t.epochs++;
        if (isfinite(e->images_per_sec)) {
            rate_sum += e->images_per_sec;
            rates++;
        }
        if (isfinite(e->epoch_seconds)) t.seconds += e->epoch_seconds;
        t.best_val_acc = finite_max(t.best_val_acc, e->val_acc);
    }
    if (rates) t.images_per_sec = rate_sum / rates;
    return t;
}

static cr_status put_stages(FILE *out, const cr_report *rep) {
    int n = rep->stage_count;
    fputs("<section>\n<h2>Stages</h2>\n<div class=\"scroll\"><table class=\"data stages\">\n"
          "<thead><tr><th>stage</th><th>size</th><th>batch</th><th>epochs done / planned</th>"
          "<th>images/s</th><th>time</th><th>best val accuracy</th></tr></thead>\n<tbody>\n",
          out);
    if (n == 0) {
        fputs("</tbody></table></div>\n</section>\n", out);
        return CR_STATUS_OK;
    }
    char (*labels)[16] = malloc(sizeof *labels * (size_t)n);
    const char **label_ptrs = malloc(sizeof *label_ptrs * (size_t)n);
    double *rates = malloc(sizeof *rates * (size_t)n);
    if (!labels || !label_ptrs || !rates) {
        free(labels);
        free(label_ptrs);
        free(rates);
        return cr_fail(CR_STATUS_NOMEM, "report: out of memory for %d stages", n);
    }
    for (int i = 0; i < n; i++) {
        const cr_report_stage *s = &rep->stages[i];
        stage_totals t = totals_of(rep, i);
        fprintf(out, "<tr><td><i class=\"key stage\" style=\"background:var(--band%d)\"></i>%d"
                "</td><td>%dpx</td><td>%d</td><td>%d / %d</td><td>", i % 4, i + 1,
                s->resolution, s->batch_size, t.epochs, s->epochs);
        if (isfinite(t.images_per_sec)) fprintf(out, "%.0f", t.images_per_sec);
        else fputs("&ndash;", out);
        fputs("</td><td>", out);
        put_duration(out, t.epochs ? t.seconds : NAN);
        fputs("</td><td>", out);
        put_percent(out, t.best_val_acc);
        fputs("</td></tr>\n", out);
        snprintf(labels[i], sizeof labels[i], "%dpx", s->resolution);
        label_ptrs[i] = labels[i];
        rates[i] = t.images_per_sec;
    }
    fputs("</tbody></table></div>\n<figure class=\"card\" style=\"margin-top:14px\">\n"
          "<figcaption>Training throughput per stage (images/s, mean over its epochs)"
          "</figcaption>\n", out);
    cr_svg_bars(out, "throughput", "training images per second per stage", label_ptrs, rates, n,
                "images/s");
    fputs("</figure>\n</section>\n", out);
    free(labels);
    free(label_ptrs);
    free(rates);
    return CR_STATUS_OK;
}

/* White to a deep blue (#1e40af, the end of the .scale gradient) as the share grows; white
 * text once the cell is dark. */
static void put_heat_cell(FILE *out, const cr_report *rep, int t, int p, int64_t row_sum) {
    int64_t count = rep->confusion[(size_t)t * (size_t)rep->classes + (size_t)p];
    if (row_sum == 0) {
        fputs("<td class=\"none\">&ndash;</td>", out);
        return;
    }
    double v = (double)count / (double)row_sum;
    int r = (int)lround(255 + (30 - 255) * v), g = (int)lround(255 + (64 - 255) * v),
        b = (int)lround(255 + (175 - 255) * v);
    fprintf(out, "<td style=\"background:#%02x%02x%02x%s\" title=\"", r, g, b,
            v > 0.55 ? ";color:#fff" : "");
    cr_svg_escape(out, class_name(rep, t));
    fputs(" &rarr; ", out);
    cr_svg_escape(out, class_name(rep, p));
    fprintf(out, ": %lld of %lld (%.1f%%)\">", (long long)count, (long long)row_sum, 100 * v);
    if (rep->classes <= CR_REPORT_HEATMAP_TEXT_MAX) fprintf(out, "%.0f", 100 * v);
    fputs("</td>", out);
}

static void put_heatmap(FILE *out, const cr_report *rep) {
    int k = rep->classes;
    fputs("<p class=\"note\">Rows are the true classes, columns the predictions; each row is "
          "normalized to 100%", out);
    if (k <= CR_REPORT_HEATMAP_TEXT_MAX) fputs(" and every cell shows its percentage", out);
    else fputs(" (a cell's tooltip gives its count)", out);
    fputs(".</p>\n<div class=\"scale\"><span>0%</span><i></i><span>100% of the row</span></div>\n"
          "<div class=\"scroll\"><table class=\"heatmap\">\n<thead><tr>"
          "<th class=\"corner\">true &darr; predicted &rarr;</th>", out);
    for (int p = 0; p < k; p++) {
        fputs("<th class=\"col\"><span>", out);
        cr_svg_escape(out, class_name(rep, p));
        fputs("</span></th>", out);
    }
    fputs("</tr></thead>\n<tbody>\n", out);
    for (int t = 0; t < k; t++) {
        int64_t row_sum = 0;
        for (int p = 0; p < k; p++) row_sum += rep->confusion[(size_t)t * (size_t)k + (size_t)p];
        fputs("<tr><th class=\"row\">", out);
        cr_svg_escape(out, class_name(rep, t));
        fputs("</th>", out);
        for (int p = 0; p < k; p++) put_heat_cell(out, rep, t, p, row_sum);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table></div>\n", out);
}

static void put_confused_pairs(FILE *out, const cr_report *rep) {
    fputs("<h3>Most confused pairs</h3>\n", out);
    if (rep->confused_count == 0) {
        fputs("<p class=\"note\">No validation image was misclassified.</p>\n", out);
        return;
    }
    fputs("<table class=\"data confused\">\n<thead><tr><th>true class</th><th>predicted as</th>"
          "<th>images</th><th>share of the true class</th></tr></thead>\n<tbody>\n", out);
    for (int i = 0; i < rep->confused_count; i++) {
        const cr_report_pair *p = &rep->confused[i];
        int64_t support = rep->class_stats[p->true_class].support;
        fputs("<tr><td>", out);
        cr_svg_escape(out, class_name(rep, p->true_class));
        fputs("</td><td>", out);
        cr_svg_escape(out, class_name(rep, p->predicted_class));
        fprintf(out, "</td><td>%lld</td><td>", (long long)p->count);
        put_percent(out, support > 0 ? (double)p->count / (double)support : NAN);
        fputs("</td></tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
}

static void put_per_class(FILE *out, const cr_report *rep) {
    fprintf(out, "<details%s><summary>Per class (%d)</summary>\n<table class=\"data classes\">\n"
            "<thead><tr><th>class</th><th>images</th><th>accuracy (recall)</th>"
            "<th>precision</th><th>F1</th></tr></thead>\n<tbody>\n",
            rep->classes <= CR_REPORT_HEATMAP_MAX ? " open" : "", rep->classes);
    for (int c = 0; c < rep->classes; c++) {
        const cr_report_class *s = &rep->class_stats[c];
        fputs("<tr><td>", out);
        cr_svg_escape(out, class_name(rep, c));
        fprintf(out, "</td><td>%lld</td><td>", (long long)s->support);
        if (s->support > 0) {
            put_percent(out, s->recall);
            fprintf(out, "<span class=\"meter\"><i style=\"width:%.1f%%\"></i></span>",
                    100 * fmin(1.0, fmax(0.0, s->recall)));
        } else {
            fputs("&ndash;", out);
        }
        fputs("</td><td>", out);
        put_percent(out, s->precision);
        fprintf(out, "</td><td>%.3f</td></tr>\n", s->f1);
    }
    fputs("</tbody></table>\n</details>\n", out);
}

static void put_base64(FILE *out, const uint8_t *p, size_t n) {
    static const char DIGITS[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        fputc(DIGITS[v >> 18 & 63], out);
        fputc(DIGITS[v >> 12 & 63], out);
        fputc(i + 1 < n ? DIGITS[v >> 6 & 63] : '=', out);
        fputc(i + 2 < n ? DIGITS[v & 63] : '=', out);
    }
}

static void put_thumbnails(FILE *out, const cr_report *rep) {
    fputs("<h3>Misclassified validation images</h3>\n", out);
    if (rep->thumbnail_count == 0) {
        fputs("<p class=\"note\">None to show.</p>\n", out);
        return;
    }
    fputs("<div class=\"thumbs\">\n", out);
    for (int i = 0; i < rep->thumbnail_count; i++) {
        const cr_report_thumbnail *t = &rep->thumbnails[i];
        const char *truth = class_name(rep, t->true_class);
        const char *guess = class_name(rep, t->predicted_class);
        fprintf(out, "<figure><img%s width=\"%d\" height=\"%d\" alt=\"",
                t->width < THUMB_SMALL && t->height < THUMB_SMALL ? " class=\"small\"" : "",
                t->width, t->height);
        cr_svg_escape(out, truth);
        fputs(" predicted as ", out);
        cr_svg_escape(out, guess);
        fputs("\" src=\"data:image/png;base64,", out);
        put_base64(out, t->png, t->png_size);
        fputs("\"><figcaption><span class=\"truth\">", out);
        cr_svg_escape(out, truth);
        fputs("</span><br><span class=\"guess\">as ", out);
        cr_svg_escape(out, guess);
        fputs("</span></figcaption></figure>\n", out);
    }
    fputs("</div>\n", out);
}

static void put_validation(FILE *out, const cr_report *rep) {
    const cr_epoch_record *last = rep->epoch_count ? &rep->epochs[rep->epoch_count - 1] : NULL;
    fputs("<section>\n<h2>Validation", out);
    if (last) fprintf(out, " after epoch %d", last->epoch);
    fputs("</h2>\n", out);
    if (rep->classes == 0) {
        fputs("<p class=\"note\">This run has no validation set.</p>\n</section>\n", out);
        return;
    }
    if (rep->classes <= CR_REPORT_HEATMAP_MAX)
        put_heatmap(out, rep);
    else
        fprintf(out, "<p class=\"note\">%d classes: above %d the confusion matrix is not drawn; "
                "the most confused pairs below stand for it.</p>\n", rep->classes,
                CR_REPORT_HEATMAP_MAX);
    put_confused_pairs(out, rep);
    put_per_class(out, rep);
    put_thumbnails(out, rep);
    fputs("</section>\n", out);
}

cr_status cr_report_write_html(FILE *out, const cr_report *rep) {
    CR_TRY(check_report(rep));
    put_head(out, rep);
    put_summary(out, rep);
    CR_TRY(put_curves(out, rep));
    CR_TRY(put_stages(out, rep));
    put_validation(out, rep);
    fprintf(out, "<footer>Written by crescendo %s. Every figure is in this file; it needs no "
            "network.</footer>\n</main>\n</body>\n</html>\n", cr_version());
    return CR_STATUS_OK;
}

static cr_status write_page(FILE *out, void *report) { return cr_report_write_html(out, report); }

cr_status cr_report_save_html(const char *path, const cr_report *report) {
    cr_status s = cr_write_atomically(path, write_page, (void *)report);
    if (s != CR_STATUS_OK) return cr_fail_context(s, "writing the report %s", path);
    return CR_STATUS_OK;
}
