/* The charts of report.html drawn as inline SVG: epoch charts with stage bands, and bars.
 * Geometry lives here, colours in the page's style sheet, so a chart is restyled in one place. */
#include "report/svg.h"

#include <math.h>

/* The viewBox of every epoch chart and the margins around its plot area: room on the left for
 * tick labels and the axis title, above for the band labels, below for ticks and the x title. */
enum { VIEW_W = 560, VIEW_H = 270, MARGIN_LEFT = 62, MARGIN_RIGHT = 14, MARGIN_TOP = 26,
       MARGIN_BOTTOM = 42 };

void cr_svg_escape(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* The smallest of 1, 2, 5 times a power of ten that is at least raw (> 0). The 1e-9 keeps a
 * step that is already nice from moving up through rounding in log10. */
static double nice_step(double raw) {
    double scale = pow(10.0, floor(log10(raw)));
    double f = raw / scale;
    double nice = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
    return nice * scale;
}

double cr_svg_axis_top(double x, int ticks) {
    if (!(x > 0) || !isfinite(x)) return 1.0;
    double step = nice_step(x / ticks);
    return ceil(x / step - 1e-9) * step;
}

static double to_x(const cr_chart *c, double x) {
    return c->left + (x - c->x_min) / (c->x_max - c->x_min) * c->width;
}

static double to_y(const cr_chart *c, double y) {
    return c->top + (1.0 - (y - c->y_min) / (c->y_max - c->y_min)) * c->height;
}

/* Decimals that tell ticks `step` apart; 0 for whole steps. */
static int decimals_for(double step) {
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d;
}

/* A tick label: fixed decimals while they stay short, %g below that. */
static void put_tick(FILE *out, double v, double step, cr_tick_format format) {
    if (format == CR_TICK_PERCENT) {
        fprintf(out, "%.*f%%", decimals_for(100 * step), 100 * v);
        return;
    }
    int d = decimals_for(step);
    if (d > 5) fprintf(out, "%g", v);
    else fprintf(out, "%.*f", d, v);
}

/* A value in a tooltip. */
static void put_value(FILE *out, double v, cr_tick_format format) {
    if (format == CR_TICK_PERCENT) fprintf(out, "%.2f%%", 100 * v);
    else fprintf(out, "%.4g", v);
}

void cr_chart_begin(cr_chart *c, FILE *out, const char *id, const char *label, double x_min,
                    double x_max, double y_min, double y_max) {
    *c = (cr_chart){.out = out, .x_min = x_min, .x_max = x_max > x_min ? x_max : x_min + 1,
                    .y_min = y_min, .y_max = y_max > y_min ? y_max : y_min + 1,
                    .left = MARGIN_LEFT, .top = MARGIN_TOP,
                    .width = VIEW_W - MARGIN_LEFT - MARGIN_RIGHT,
                    .height = VIEW_H - MARGIN_TOP - MARGIN_BOTTOM};
    fprintf(out, "<svg class=\"chart\" id=\"");
    cr_svg_escape(out, id);
    fprintf(out, "\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", VIEW_W, VIEW_H);
    cr_svg_escape(out, label);
    fprintf(out, "\">\n<rect class=\"plot\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\"/>\n", c->left, c->top, c->width, c->height);
}

void cr_chart_band(const cr_chart *c, double x0, double x1, int stage, int resolution,
                   const char *label) {
    double a = to_x(c, x0), b = to_x(c, x1);
    fprintf(c->out, "<g class=\"band band%d\"><rect class=\"stage-band\" data-stage=\"%d\" "
            "data-resolution=\"%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
            "<title>", stage % 4, stage, resolution, a, c->top, b - a, c->height);
    cr_svg_escape(c->out, label);
    fprintf(c->out, "</title></rect><text class=\"band-label\" x=\"%.1f\" y=\"%.1f\">",
            (a + b) / 2, c->top - 8);
    cr_svg_escape(c->out, label);
    fprintf(c->out, "</text></g>\n");
}

void cr_chart_marker_line(const cr_chart *c, double x, const char *label) {
    double at = to_x(c, x);
    fprintf(c->out, "<line class=\"switch\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\">"
            "<title>", at, c->top, at, c->top + c->height);
    cr_svg_escape(c->out, label);
    fprintf(c->out, "</title></line>\n");
}

void cr_chart_axes(const cr_chart *c, const char *x_title, const char *y_title,
                   cr_tick_format y_format) {
    FILE *out = c->out;
    double bottom = c->top + c->height, right = c->left + c->width;
    double y_step = nice_step((c->y_max - c->y_min) / 5);
    fprintf(out, "<g class=\"axis\">\n");
    for (double v = ceil(c->y_min / y_step - 1e-9) * y_step; v <= c->y_max + 1e-9 * y_step;
         v += y_step) {
        double y = to_y(c, v);
        fprintf(out, "<line class=\"gridline\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick y\" x=\"%.1f\" y=\"%.1f\">", c->left, y, right, y,
                c->left - 6, y + 4);
        put_tick(out, fabs(v) < 1e-12 * y_step ? 0.0 : v, y_step, y_format);
        fprintf(out, "</text>\n");
    }
    double x_step = fmax(1.0, round(nice_step((c->x_max - c->x_min) / 10)));
    for (double v = ceil(c->x_min / x_step) * x_step; v <= c->x_max; v += x_step) {
        double x = to_x(c, v);
        fprintf(out, "<line class=\"tick-mark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick x\" x=\"%.1f\" y=\"%.1f\">%.0f</text>\n", x, bottom, x,
                bottom + 4, x, bottom + 17, v);
    }
    fprintf(out, "<line class=\"frame\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            c->left, bottom, right, bottom);
    fprintf(out, "<text class=\"title x\" x=\"%.1f\" y=\"%d\">", c->left + c->width / 2,
            VIEW_H - 6);
    cr_svg_escape(out, x_title);
    fprintf(out, "</text>\n<text class=\"title y\" transform=\"translate(14 %.1f) rotate(-90)\">",
            c->top + c->height / 2);
    cr_svg_escape(out, y_title);
    fprintf(out, "</text>\n</g>\n");
}

/* The tooltip of a point: "name, epoch 3: 0.4123" ("before epoch 3" for a diamond). */
static void put_point_title(FILE *out, const char *name, const char *when, double x, double y,
                            cr_tick_format format) {
    fputs("<title>", out);
    cr_svg_escape(out, name);
    fprintf(out, ", %s %.0f: ", when, x);
    put_value(out, y, format);
    fputs("</title>", out);
}

void cr_chart_series(const cr_chart *c, const double *x, const double *y, int n,
                     const char *css_class, const char *name, cr_tick_format format) {
    FILE *out = c->out;
    fprintf(out, "<g class=\"series %s\">\n", css_class);
    for (int i = 0; i < n;) {
        if (!isfinite(y[i])) {
            i++;
            continue;
        }
        int end = i;
        while (end < n && isfinite(y[end])) end++;
        if (end - i > 1) {
            fputs("<polyline points=\"", out);
            for (int k = i; k < end; k++)
                fprintf(out, "%s%.1f,%.1f", k > i ? " " : "", to_x(c, x[k]), to_y(c, y[k]));
            fputs("\"/>\n", out);
        }
        i = end;
    }
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\">", to_x(c, x[i]), to_y(c, y[i]));
        put_point_title(out, name, "epoch", x[i], y[i], format);
        fputs("</circle>\n", out);
    }
    fputs("</g>\n", out);
}

void cr_chart_diamonds(const cr_chart *c, const double *x, const double *y, int n,
                       const char *css_class, const char *name, cr_tick_format format) {
    FILE *out = c->out;
    fprintf(out, "<g class=\"diamonds %s\">\n", css_class);
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) continue;
        double px = to_x(c, x[i] - 0.5), py = to_y(c, y[i]), r = 4.5;
        fprintf(out, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\">", px, py - r,
                px + r, py, px, py + r, px - r, py);
        put_point_title(out, name, "before epoch", x[i], y[i], format);
        fputs("</path>\n", out);
    }
    fputs("</g>\n", out);
}

void cr_chart_end(const cr_chart *c) { fputs("</svg>\n", c->out); }

/* Bars: one row of BAR_ROW units per label, the label left of its bar and the value after it. */
enum { BAR_W = 560, BAR_LABEL = 70, BAR_VALUE = 110, BAR_ROW = 26 };

void cr_svg_bars(FILE *out, const char *id, const char *label, const char *const *labels,
                 const double *values, int n, const char *unit) {
    double largest = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(values[i]) && values[i] > largest) largest = values[i];
    int height = n * BAR_ROW + 8;
    fprintf(out, "<svg class=\"bars\" id=\"");
    cr_svg_escape(out, id);
    fprintf(out, "\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", BAR_W, height);
    cr_svg_escape(out, label);
    fprintf(out, "\">\n");
    double room = BAR_W - BAR_LABEL - BAR_VALUE;
    for (int i = 0; i < n; i++) {
        double y = 4 + i * BAR_ROW;
        fprintf(out, "<text class=\"bar-label\" x=\"%d\" y=\"%.1f\">", BAR_LABEL - 8,
                y + BAR_ROW / 2.0 + 4);
        cr_svg_escape(out, labels[i]);
        fputs("</text>\n", out);
        if (!isfinite(values[i])) continue;
        double w = largest > 0 ? fmax(1.0, values[i] / largest * room) : 1.0;
        fprintf(out, "<g class=\"band%d\"><rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%d\"/></g><text class=\"bar-value\" x=\"%.1f\" y=\"%.1f\">%.0f ",
                i % 4, BAR_LABEL, y + 3, w, BAR_ROW - 6, BAR_LABEL + w + 6,
                y + BAR_ROW / 2.0 + 4, values[i]);
        cr_svg_escape(out, unit);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
}
