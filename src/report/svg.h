/* svg.h — the charts of report.html as inline SVG, and the escaping of text they and the page
 * share (report module only). Shapes carry class names; the page's style sheet colours them. */
#ifndef CR_REPORT_SVG_H
#define CR_REPORT_SVG_H

#include <stdio.h>

/* Writes s with &, <, >, " and ' escaped, for text and quoted attribute values alike. */
void cr_svg_escape(FILE *out, const char *s);

/* How the y axis labels its ticks. */
typedef enum cr_tick_format {
    CR_TICK_NUMBER,  /* as many decimals as the tick step needs */
    CR_TICK_PERCENT, /* a fraction in [0, 1] shown as 0% .. 100% */
} cr_tick_format;

/* A chart being drawn: a data range mapped onto the plot area of a fixed viewBox. */
typedef struct cr_chart {
    FILE *out;
    double x_min, x_max, y_min, y_max;
    double left, top, width, height; /* the plot area, in viewBox units */
} cr_chart;

/* The smallest "nice" number (1, 2 or 5 times a power of ten) times a whole number that is at
 * least x, with about `ticks` steps from 0: the top of an axis that starts at 0. 1 when x is not
 * a positive finite number. */
double cr_svg_axis_top(double x, int ticks);

/* Opens <svg class="chart" id="id"> for data in [x_min, x_max] x [y_min, y_max]; `label` is
 * what a screen reader says. Nothing may be drawn outside begin and end. */
void cr_chart_begin(cr_chart *c, FILE *out, const char *id, const char *label, double x_min,
                    double x_max, double y_min, double y_max);
/* The band of a stage: shaded over [x0, x1], the whole height, with `label` above it, in the
 * style sheet's colour band0 .. band3 of the stage (repeating). data-stage and data-resolution
 * name the stage for tests and readers of the file. */
void cr_chart_band(const cr_chart *c, double x0, double x1, int stage, int resolution,
                   const char *label);
/* A dashed vertical line at x, with `label` as its tooltip. */
void cr_chart_marker_line(const cr_chart *c, double x, const char *label);
/* Grid, ticks and tick labels (x ticks at whole numbers), and the axis titles. */
void cr_chart_axes(const cr_chart *c, const char *x_title, const char *y_title,
                   cr_tick_format y_format);
/* A series: a line through consecutive finite points (a NaN breaks it) and a dot with a tooltip
 * at each finite point, styled by css_class. */
void cr_chart_series(const cr_chart *c, const double *x, const double *y, int n,
                     const char *css_class, const char *name, cr_tick_format format);
/* A measurement taken before epoch x[i] trained: a diamond at (x[i] - 0.5, y[i]) for each
 * finite y[i], on the boundary with the epoch before, styled by css_class, with `name` and the
 * epoch in its tooltip. */
void cr_chart_diamonds(const cr_chart *c, const double *x, const double *y, int n,
                       const char *css_class, const char *name, cr_tick_format format);
void cr_chart_end(const cr_chart *c);

/* Horizontal bars, one per label, of values[i] (NaN: no bar), scaled to the largest, bar i
 * shaded as band i (the stage colours) and labelled with its value and `unit`. */
void cr_svg_bars(FILE *out, const char *id, const char *label, const char *const *labels,
                 const double *values, int n, const char *unit);

#endif
