/* The progress bar of an epoch: redrawn in place on a terminal, a single summary line elsewhere.
 * Drawing is throttled to ten times a second so that a fast epoch spends no time on the console. */
#include "crescendo/report.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "crescendo/log.h"
#include "report/text.h"

enum { LINE_MAX_BYTES = 512, BAR_MIN = 10, BAR_MAX = 30 };
static const double REDRAW_SECONDS = 0.1;

static int terminal_columns(int fd) {
    struct winsize ws;
    if (fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

void cr_progress_begin(cr_progress *p, FILE *stream, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->stream = stream;
    int fd = stream ? fileno(stream) : -1;
    p->style = !stream                 ? CR_PROGRESS_QUIET
               : fd >= 0 && isatty(fd) ? CR_PROGRESS_BAR
                                       : CR_PROGRESS_PLAIN;
    p->width = p->style == CR_PROGRESS_BAR ? terminal_columns(fd) : 80;
    p->clock = cr_now_seconds;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->loss = p->acc = NAN;
    p->start = p->clock();
    p->first_time = NAN;
    p->last_draw = -INFINITY;
}

/* m:ss, or h:mm:ss from an hour on; "-:--" when unknown or beyond a year (a stalled start). */
static void format_duration(char *out, size_t size, double seconds) {
    if (!(seconds >= 0 && seconds < 366 * 86400.0)) {
        snprintf(out, size, "-:--");
        return;
    }
    long s = lround(seconds);
    if (s >= 3600) snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(out, size, "%ld:%02ld", s / 60, s % 60);
}

/* "  loss 0.412  acc 85.1%  1234 img/s", the values not NaN. */
static void append_values(char *out, size_t size, int *len, const cr_progress *p,
                          double images_per_sec) {
    if (!isnan(p->loss)) cr_report_appendf(out, size, len, "  loss %.3f", p->loss);
    if (!isnan(p->acc)) cr_report_appendf(out, size, len, "  acc %.1f%%", 100.0 * p->acc);
    if (isfinite(images_per_sec)) cr_report_appendf(out, size, len, "  %.0f img/s", images_per_sec);
}

static void draw_bar(cr_progress *p, double now) {
    /* the rate since the first update; before a second update, since begin */
    double seconds = now - p->start, work = (double)p->done, images = (double)p->images;
    if (!isnan(p->first_time) && p->done > p->first_done && now > p->first_time) {
        seconds = now - p->first_time;
        work = (double)(p->done - p->first_done);
        images = (double)(p->images - p->first_images);
    }
    double rate = seconds > 0 ? images / seconds : NAN;
    double eta = work > 0 ? (double)(p->total - p->done) * seconds / work : NAN;

    char tail[LINE_MAX_BYTES], when[32];
    int tail_len = 0;
    format_duration(when, sizeof when, eta);
    cr_report_appendf(tail, sizeof tail, &tail_len, " %lld/%lld", (long long)p->done,
                      (long long)p->total);
    append_values(tail, sizeof tail, &tail_len, p, rate);
    cr_report_appendf(tail, sizeof tail, &tail_len, "  ETA %s", when);
    /* the bar's width stays put through the epoch: it leaves room for the widest tail this
     * total can have, not for the current one */
    int widest_tail = snprintf(NULL, 0, " %lld/%lld  loss 0.000  acc 100.0%%  99999 img/s  ETA "
                               "0:00:00", (long long)p->total, (long long)p->total);
    int bar = p->width - 1 - (int)strlen(p->label) - 4 - widest_tail;
    bar = bar < BAR_MIN ? BAR_MIN : bar > BAR_MAX ? BAR_MAX : bar;
    int filled = p->total > 0 ? (int)((double)bar * (double)p->done / (double)p->total) : 0;
    filled = filled < 0 ? 0 : filled > bar ? bar : filled;
    char bar_text[BAR_MAX + 1];
    memset(bar_text, '#', (size_t)filled);
    memset(bar_text + filled, '.', (size_t)(bar - filled));
    bar_text[bar] = '\0';

    char line[LINE_MAX_BYTES];
    int len = 0;
    cr_report_appendf(line, sizeof line, &len, "%s  [%s]%s", p->label, bar_text, tail);
    len = len < (int)sizeof line ? len : (int)sizeof line - 1;
    /* blank what a longer previous line would leave behind */
    int pad = p->drawn_width > len ? p->drawn_width - len : 0;
    fprintf(p->stream, "\r%s%*s", line, pad, "");
    fflush(p->stream);
    p->drawn_width = len;
}

void cr_progress_update(cr_progress *p, int64_t done, int64_t images, double loss, double acc) {
    double now = p->clock();
    p->done = done;
    p->images = images;
    p->loss = loss;
    p->acc = acc;
    if (isnan(p->first_time)) {
        p->first_time = now;
        p->first_done = done;
        p->first_images = images;
    }
    if (p->style != CR_PROGRESS_BAR) return;
    if (now - p->last_draw < REDRAW_SECONDS && done < p->total) return;
    draw_bar(p, now);
    p->last_draw = now;
}

void cr_progress_end(cr_progress *p) {
    if (p->style == CR_PROGRESS_QUIET) return;
    double seconds = p->clock() - p->start;
    char line[LINE_MAX_BYTES], when[32];
    int len = 0;
    format_duration(when, sizeof when, seconds);
    cr_report_appendf(line, sizeof line, &len, "%s  %lld/%lld", p->label, (long long)p->done,
                      (long long)p->total);
    append_values(line, sizeof line, &len, p, seconds > 0 ? (double)p->images / seconds : NAN);
    cr_report_appendf(line, sizeof line, &len, "  %s", when);
    if (p->style == CR_PROGRESS_BAR && p->drawn_width > 0)
        fprintf(p->stream, "\r%*s\r", p->drawn_width, "");
    fprintf(p->stream, "%s\n", line);
    fflush(p->stream);
    p->drawn_width = 0;
}
