/* Parsing resolution schedules: the explicit stage list, the classic doubling, the linear ramp
 * (expanded here into stages of equal size) and the auto form; and their text form. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/progressive.h"

enum { MIN_RESOLUTION = 8, MAX_RESOLUTION = 8192 };

/* A whole number in [lo, hi] at *p, advancing past it. */
static cr_status parse_int(const char **p, int lo, int hi, const char *spec, const char *what,
                           int *out) {
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno || v < lo || v > hi)
        return cr_fail(CR_STATUS_INVALID, "schedule '%s': expected %s (%d..%d) at '%s'", spec,
                       what, lo, hi, *p);
    *p = end;
    *out = (int)v;
    return CR_STATUS_OK;
}

static cr_status expect(const char **p, char c, const char *spec) {
    if (**p != c)
        return cr_fail(CR_STATUS_INVALID, "schedule '%s': expected '%c' at '%s'", spec, c,
                       **p ? *p : "the end");
    (*p)++;
    return CR_STATUS_OK;
}

/* The sizes from, 2 from, 4 from, ... below `to`, then `to` itself, with no epochs yet. */
static void double_sizes(int from, int to, cr_schedule *out) {
    *out = (cr_schedule){0};
    for (int r = from;; r *= 2) {
        int res = r < to ? r : to;
        out->stages[out->count++] = (cr_stage){.resolution = res};
        if (res == to || out->count == CR_SCHEDULE_MAX_STAGES) break;
    }
}

static cr_status parse_double(const char *spec, const char *p, cr_schedule *out) {
    int from = 0, to = 0, epochs = 0;
    CR_TRY(parse_int(&p, MIN_RESOLUTION, MAX_RESOLUTION, spec, "a start resolution", &from));
    CR_TRY(expect(&p, '-', spec));
    CR_TRY(parse_int(&p, from, MAX_RESOLUTION, spec, "an end resolution", &to));
    CR_TRY(expect(&p, '/', spec));
    CR_TRY(parse_int(&p, 1, 100000, spec, "epochs per stage", &epochs));
    if (*p) return cr_fail(CR_STATUS_INVALID, "schedule '%s': unexpected '%s'", spec, p);
    double_sizes(from, to, out);
    for (int i = 0; i < out->count; i++) out->stages[i].epochs = epochs;
    return CR_STATUS_OK;
}

/* The side of 1-based epoch e on the ramp from..to over epochs start..end, rounded to a multiple
 * of `multiple` in exact integer arithmetic so that every platform picks the same epochs. */
static int ramp_side(int from, int to, int start, int end, int multiple, int e) {
    if (e <= start) return from;
    if (e >= end) return to;
    int64_t span = end - start;
    int64_t num = (int64_t)from * span + (int64_t)(to - from) * (e - start); /* side * span */
    int64_t side = (2 * num + multiple * span) / (2 * multiple * span) * multiple;
    return side < from ? from : side > to ? to : (int)side;
}

static cr_status parse_ramp(const char *spec, const char *p, int epochs, cr_schedule *out) {
    int from = 0, to = 0, start = 0, end = 0, multiple = 32;
    CR_TRY(parse_int(&p, MIN_RESOLUTION, MAX_RESOLUTION, spec, "a start resolution", &from));
    CR_TRY(expect(&p, '-', spec));
    CR_TRY(parse_int(&p, from, MAX_RESOLUTION, spec, "an end resolution", &to));
    CR_TRY(expect(&p, '@', spec));
    CR_TRY(parse_int(&p, 0, 100000, spec, "the ramp's first epoch", &start));
    CR_TRY(expect(&p, '-', spec));
    CR_TRY(parse_int(&p, start + 1, 100000, spec, "the ramp's last epoch, after its first", &end));
    if (*p == '/') {
        p++;
        CR_TRY(parse_int(&p, 1, MAX_RESOLUTION, spec, "a multiple to round to", &multiple));
    }
    if (*p) return cr_fail(CR_STATUS_INVALID, "schedule '%s': unexpected '%s'", spec, p);
    if (epochs < end)
        return cr_fail(CR_STATUS_INVALID, "schedule '%s': the ramp ends at epoch %d but the run "
                       "has %d epochs: raise --epochs", spec, end, epochs);
    out->count = 0;
    for (int e = 1; e <= epochs; e++) {
        int side = ramp_side(from, to, start, end, multiple, e);
        if (out->count > 0 && out->stages[out->count - 1].resolution == side) {
            out->stages[out->count - 1].epochs++;
            continue;
        }
        if (out->count == CR_SCHEDULE_MAX_STAGES)
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': more than %d sizes: round to a "
                           "larger multiple", spec, CR_SCHEDULE_MAX_STAGES);
        out->stages[out->count++] = (cr_stage){.resolution = side, .epochs = 1};
    }
    return CR_STATUS_OK;
}

/* auto:RES[@BATCH],...: stages without epochs, ended by the stage machine. */
static cr_status parse_auto(const char *spec, const char *p, cr_schedule *out) {
    out->count = 0;
    out->automatic = true;
    for (;;) {
        if (out->count == CR_SCHEDULE_MAX_STAGES)
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': more than %d stages", spec,
                           CR_SCHEDULE_MAX_STAGES);
        cr_stage stage = {0};
        CR_TRY(parse_int(&p, MIN_RESOLUTION, MAX_RESOLUTION, spec, "a resolution",
                         &stage.resolution));
        if (*p == ':')
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': auto stages end at a plateau; "
                           "write RES or RES@BATCH, without epochs", spec);
        if (*p == '@') {
            p++;
            CR_TRY(parse_int(&p, 1, 1 << 20, spec, "a batch size", &stage.batch_size));
        }
        out->stages[out->count++] = stage;
        if (!*p) return CR_STATUS_OK;
        if (*p != ',') return cr_fail(CR_STATUS_INVALID, "schedule '%s': unexpected '%s'", spec, p);
        if (!*++p) return cr_fail(CR_STATUS_INVALID, "schedule '%s' ends with a comma", spec);
    }
}

static cr_status parse_explicit(const char *spec, int default_epochs, cr_schedule *out) {
    const char *p = spec;
    out->count = 0;
    while (*p) {
        if (out->count == CR_SCHEDULE_MAX_STAGES)
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': more than %d stages", spec,
                           CR_SCHEDULE_MAX_STAGES);
        cr_stage stage = {.epochs = default_epochs};
        CR_TRY(parse_int(&p, MIN_RESOLUTION, MAX_RESOLUTION, spec, "a resolution",
                         &stage.resolution));
        if (*p == ':') {
            p++;
            CR_TRY(parse_int(&p, 1, 100000, spec, "a number of epochs", &stage.epochs));
        }
        if (*p == '@') {
            p++;
            CR_TRY(parse_int(&p, 1, 1 << 20, spec, "a batch size", &stage.batch_size));
        }
        if (stage.epochs < 1)
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': give the number of epochs "
                           "(--epochs or RES:EPOCHS)", spec);
        out->stages[out->count++] = stage;
        if (*p == ',') {
            p++;
            if (!*p) return cr_fail(CR_STATUS_INVALID, "schedule '%s' ends with a comma", spec);
        } else if (*p) {
            return cr_fail(CR_STATUS_INVALID, "schedule '%s': unexpected '%s'", spec, p);
        }
    }
    if (out->count == 0) return cr_fail(CR_STATUS_INVALID, "the schedule is empty");
    return CR_STATUS_OK;
}

cr_status cr_schedule_parse(const char *spec, int default_epochs, cr_schedule *out) {
    memset(out, 0, sizeof *out);
    if (strncmp(spec, "double:", 7) == 0) return parse_double(spec, spec + 7, out);
    if (strncmp(spec, "ramp:", 5) == 0) return parse_ramp(spec, spec + 5, default_epochs, out);
    if (strncmp(spec, "auto:", 5) == 0) return parse_auto(spec, spec + 5, out);
    size_t word = strspn(spec, "abcdefghijklmnopqrstuvwxyz");
    if (word > 0)
        return cr_fail(CR_STATUS_INVALID, "schedule '%s': unknown form '%.*s'; write "
                       "RES:EPOCHS,..., double:, ramp: or auto:", spec, (int)word, spec);
    return parse_explicit(spec, default_epochs, out);
}

cr_schedule cr_schedule_fixed(int resolution, int epochs) {
    cr_schedule s = {.count = 1};
    s.stages[0] = (cr_stage){.resolution = resolution, .epochs = epochs};
    return s;
}

/* from, then sizes growing by equal ratios of at most CR_SCHEDULE_GROWTH, each rounded to a
 * multiple of 8, up to `to`; just `to` when it is not above from. */
static void growing_sizes(int from, int to, cr_schedule *out) {
    *out = (cr_schedule){.count = 1, .stages[0].resolution = to < from ? to : from};
    if (to <= from) return;
    int steps = (int)ceil(log((double)to / from) / log(CR_SCHEDULE_GROWTH) - 1e-9);
    if (steps > CR_SCHEDULE_MAX_STAGES - 1) steps = CR_SCHEDULE_MAX_STAGES - 1;
    for (int i = 1; i < steps; i++) {
        int side = (int)lround(from * pow((double)to / from, (double)i / steps) / 8.0) * 8;
        if (side > out->stages[out->count - 1].resolution && side < to)
            out->stages[out->count++].resolution = side;
    }
    out->stages[out->count++].resolution = to;
}

cr_schedule cr_schedule_growing(int from, int to, int epochs) {
    cr_schedule s;
    growing_sizes(from, to, &s);
    if (epochs < s.count) {
        memmove(s.stages, s.stages + (s.count - epochs), sizeof *s.stages * (size_t)epochs);
        s.count = epochs;
    }
    for (int i = 0; i < s.count; i++)
        s.stages[i].epochs = epochs / s.count + (i >= s.count - epochs % s.count);
    return s;
}

int cr_schedule_total_epochs(const cr_schedule *s) {
    int total = 0;
    for (int i = 0; i < s->count; i++) total += s->stages[i].epochs;
    return total;
}

void cr_schedule_format(const cr_schedule *s, char *buf, int size) {
    int used = snprintf(buf, (size_t)size, "%s", s->automatic ? "auto:" : "");
    for (int i = 0; i < s->count && used < size; i++) {
        const cr_stage *st = &s->stages[i];
        int n = s->automatic
                    ? snprintf(buf + used, (size_t)(size - used), "%s%d", i ? "," : "",
                               st->resolution)
                    : snprintf(buf + used, (size_t)(size - used), "%s%d:%d", i ? "," : "",
                               st->resolution, st->epochs);
        if (n > 0) used += n;
        if (st->batch_size && used < size) {
            n = snprintf(buf + used, (size_t)(size - used), "@%d", st->batch_size);
            if (n > 0) used += n;
        }
    }
}
