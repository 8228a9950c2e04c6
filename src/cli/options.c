/* The option parser: values from text, strictly, and the command line applied over the defaults.
 * Strict because a typo in a training run costs hours: "10x" is not 10, and --epoch is not --epochs. */
#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { WHERE_MAX = 160 }; /* "--name" */

static cr_status check_range(const cr_option *option, double value, const char *text,
                             const char *where) {
    if (!(option->min < option->max) || (value >= option->min && value <= option->max))
        return CR_STATUS_OK;
    if (option->max >= (double)INT_MAX)
        return cr_fail(CR_STATUS_INVALID, "%s: %s is out of range: it must be at least %.15g", where,
                       text, option->min);
    return cr_fail(CR_STATUS_INVALID, "%s: %s is out of range: it must be between %.15g and %.15g",
                   where, text, option->min, option->max);
}

/* Decimal digits with an optional sign and nothing else: no spaces, no "0x", no "1e3". */
static cr_status parse_int(const cr_option *option, const char *text, const char *where, int *out) {
    const char *digits = text + (text[0] == '+' || text[0] == '-');
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (!isdigit((unsigned char)digits[0]) || *end != '\0')
        return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not an integer", where, text);
    if (errno == ERANGE || value < INT_MIN || value > INT_MAX)
        return cr_fail(CR_STATUS_INVALID, "%s: %s is beyond the range of an integer", where, text);
    CR_TRY(check_range(option, (double)value, text, where));
    *out = (int)value;
    return CR_STATUS_OK;
}

static cr_status parse_float(const cr_option *option, const char *text, const char *where,
                             double *out) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (text[0] == '\0' || isspace((unsigned char)text[0]) || *end != '\0')
        return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not a number", where, text);
    if (!isfinite(value) || errno == ERANGE)
        return cr_fail(CR_STATUS_INVALID, "%s: %s is not a finite number in range", where, text);
    CR_TRY(check_range(option, value, text, where));
    *out = value;
    return CR_STATUS_OK;
}

static cr_status parse_flag(const char *text, const char *where, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0 || strcasecmp(text, no[i]) == 0) {
            *out = strcasecmp(text, yes[i]) == 0;
            return CR_STATUS_OK;
        }
    }
    return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not true or false", where, text);
}

static cr_status parse_choice(const cr_option *option, const char *text, const char *where,
                              int *out) {
    cr_nearest nearest = {.word = text};
    char allowed[256] = "";
    size_t used = 0;
    for (int i = 0; option->choices[i]; i++) {
        if (strcmp(text, option->choices[i]) == 0) {
            *out = i;
            return CR_STATUS_OK;
        }
        cr_nearest_consider(&nearest, option->choices[i]);
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                         option->choices[i]);
        if (n > 0 && used + (size_t)n < sizeof allowed) used += (size_t)n;
    }
    if (nearest.best)
        return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not one of %s (did you mean %s?)", where,
                       text, allowed, nearest.best);
    return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not one of %s", where, text, allowed);
}

/* "64,128,224": each item an integer in range, at most CR_INT_LIST_MAX of them. */
static cr_status parse_int_list(const cr_option *option, const char *text, const char *where,
                                cr_int_list *out) {
    cr_int_list list = {0};
    const char *item = text;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t length = comma ? (size_t)(comma - item) : strlen(item);
        char buffer[32];
        if (length == 0 || length >= sizeof buffer)
            return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" is not a comma-separated list of integers",
                           where, text);
        if (list.count == CR_INT_LIST_MAX)
            return cr_fail(CR_STATUS_INVALID, "%s: \"%s\" has more than %d items", where, text,
                           CR_INT_LIST_MAX);
        memcpy(buffer, item, length);
        buffer[length] = '\0';
        CR_TRY(parse_int(option, buffer, where, &list.values[list.count]));
        list.count++;
        if (!comma) break;
        item = comma + 1;
    }
    *out = list;
    return CR_STATUS_OK;
}

cr_status cr_option_set(const cr_option *option, const char *text, const char *where) {
    switch (option->type) {
    case CR_OPTION_FLAG: return parse_flag(text, where, option->field);
    case CR_OPTION_INT: return parse_int(option, text, where, option->field);
    case CR_OPTION_FLOAT: return parse_float(option, text, where, option->field);
    case CR_OPTION_STRING: *(const char **)option->field = text; return CR_STATUS_OK;
    case CR_OPTION_ENUM: return parse_choice(option, text, where, option->field);
    case CR_OPTION_INT_LIST: return parse_int_list(option, text, where, option->field);
    }
    return cr_fail(CR_STATUS_INTERNAL, "%s: unknown option type %d", where, (int)option->type);
}

static bool same_name(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

const cr_option *cr_options_find(const cr_option *options, const char *name) {
    for (const cr_option *o = options; o->name; o++)
        if (same_name(o->name, name)) return o;
    return NULL;
}

/* Optimal string alignment distance: edits, with a swap of two neighbours counting as one. */
static int edit_distance(const char *a, const char *b) {
    enum { LONGEST = 63 };
    size_t m = strlen(a), n = strlen(b);
    if (m > LONGEST || n > LONGEST) return INT_MAX;
    int d[LONGEST + 1][LONGEST + 1]; /* (m + 1, n + 1) */
    for (size_t i = 0; i <= m; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= n; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= m; i++)
        for (size_t j = 1; j <= n; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[m][n];
}

void cr_nearest_consider(cr_nearest *nearest, const char *candidate) {
    int distance = edit_distance(nearest->word, candidate);
    /* Two edits is a typo in a long name but a different word in a short one. */
    int limit = strlen(nearest->word) <= 4 ? 1 : 2;
    if (distance > limit) return;
    if (!nearest->best || distance < nearest->distance) {
        nearest->best = candidate;
        nearest->distance = distance;
    }
}

static void set_default(const cr_option *option) {
    switch (option->type) {
    case CR_OPTION_FLAG: *(bool *)option->field = false; break;
    case CR_OPTION_INT: *(int *)option->field = 0; break;
    case CR_OPTION_FLOAT: *(double *)option->field = 0.0; break;
    case CR_OPTION_STRING: *(const char **)option->field = NULL; break;
    case CR_OPTION_ENUM: *(int *)option->field = -1; break;
    case CR_OPTION_INT_LIST: ((cr_int_list *)option->field)->count = 0; break;
    }
    if (!option->default_value) return;
    cr_status status = cr_option_set(option, option->default_value, option->name);
    CR_ASSERT(status == CR_STATUS_OK); /* a table's own default must parse */
}

bool cr_option_has_value(const cr_option *option) {
    switch (option->type) {
    case CR_OPTION_STRING: return *(const char **)option->field != NULL;
    case CR_OPTION_ENUM: return *(int *)option->field >= 0;
    case CR_OPTION_INT_LIST: return ((const cr_int_list *)option->field)->count > 0;
    default: return true;
    }
}

static cr_status unknown_long(const cr_command_spec *spec, const char *name) {
    cr_nearest nearest = {.word = name};
    for (const cr_option *o = spec->options; o->name; o++) cr_nearest_consider(&nearest, o->name);
    cr_nearest_consider(&nearest, "help");
    cr_nearest_consider(&nearest, "verbose");
    cr_nearest_consider(&nearest, "print-config");
    if (spec->config) cr_nearest_consider(&nearest, "config");
    if (nearest.best)
        return cr_fail(CR_STATUS_INVALID, "unknown option --%s (did you mean --%s?)", name,
                       nearest.best);
    return cr_fail(CR_STATUS_INVALID, "unknown option --%s", name);
}

/* Takes the value of an option that needs one: after '=', the rest of a short cluster, or the next
 * argument (even if it starts with '-', so that --lr -0.1 works). */
static cr_status take_value(int argc, char **argv, int *i, const char *attached, const char *where,
                            const char **value) {
    if (attached) {
        *value = attached;
        return CR_STATUS_OK;
    }
    if (*i + 1 >= argc) return cr_fail(CR_STATUS_INVALID, "%s needs a value", where);
    *value = argv[++*i];
    return CR_STATUS_OK;
}

typedef struct parse_state {
    const cr_command_spec *spec;
    cr_parsed *out;
    bool *seen; /* (option count) set from the command line */
    int argc;
    char **argv;
    int i; /* the argument being read */
} parse_state;

/* Applies a table option; `attached` is its value when glued to the name, else NULL. Messages
 * name the long form even when the short one was typed: it is the one the help explains. */
static cr_status apply(parse_state *st, const cr_option *option, const char *attached) {
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "--%s", option->name);
    st->seen[option - st->spec->options] = true;
    if (option->type == CR_OPTION_FLAG) {
        if (attached)
            return cr_fail(CR_STATUS_INVALID, "%s takes no value (use --%s or --no-%s)", where,
                           option->name, option->name);
        *(bool *)option->field = true;
        return CR_STATUS_OK;
    }
    const char *value = NULL;
    CR_TRY(take_value(st->argc, st->argv, &st->i, attached, where, &value));
    return cr_option_set(option, value, where);
}

static cr_status parse_long(parse_state *st, const char *arg) {
    char name[64];
    const char *equals = strchr(arg, '=');
    size_t length = equals ? (size_t)(equals - arg) : strlen(arg);
    if (length >= sizeof name) length = sizeof name - 1;
    memcpy(name, arg, length);
    name[length] = '\0';
    const char *attached = equals ? equals + 1 : NULL;
    char where[WHERE_MAX];
    snprintf(where, sizeof where, "--%s", name);

    bool *builtin = strcmp(name, "help") == 0           ? &st->out->help
                    : strcmp(name, "verbose") == 0        ? &st->out->verbose
                    : strcmp(name, "print-config") == 0   ? &st->out->print_config
                                                          : NULL;
    if (builtin) {
        if (attached) return cr_fail(CR_STATUS_INVALID, "%s takes no value", where);
        *builtin = true;
        return CR_STATUS_OK;
    }
    if (st->spec->config && strcmp(name, "config") == 0)
        return take_value(st->argc, st->argv, &st->i, attached, where, &st->out->config_path);

    const cr_option *option = cr_options_find(st->spec->options, name);
    if (option) return apply(st, option, attached);
    if (strncmp(name, "no-", 3) == 0) {
        option = cr_options_find(st->spec->options, name + 3);
        if (option && option->type == CR_OPTION_FLAG) {
            if (attached) return cr_fail(CR_STATUS_INVALID, "%s takes no value", where);
            st->seen[option - st->spec->options] = true;
            *(bool *)option->field = false;
            return CR_STATUS_OK;
        }
    }
    return unknown_long(st->spec, name);
}

/* "-vc FILE", "-cFILE", "-b64": flags may be bundled; an option with a value ends the cluster. */
static cr_status parse_short(parse_state *st, const char *arg) {
    for (const char *c = arg; *c; c++) {
        char where[WHERE_MAX];
        snprintf(where, sizeof where, "-%c", *c);
        const char *attached = c[1] ? c + 1 : NULL;
        if (*c == 'h') {
            st->out->help = true;
            continue;
        }
        if (*c == 'v') {
            st->out->verbose = true;
            continue;
        }
        if (*c == 'c' && st->spec->config)
            return take_value(st->argc, st->argv, &st->i, attached, where, &st->out->config_path);
        const cr_option *option = NULL;
        for (const cr_option *o = st->spec->options; o->name && !option; o++)
            if (o->short_name == *c) option = o;
        if (!option) {
            if (isprint((unsigned char)*c))
                return cr_fail(CR_STATUS_INVALID, "unknown option -%c", *c);
            return cr_fail(CR_STATUS_INVALID, "unknown option in \"-%s\"", arg);
        }
        if (option->type == CR_OPTION_FLAG) {
            CR_TRY(apply(st, option, NULL));
            continue;
        }
        return apply(st, option, attached);
    }
    return CR_STATUS_OK;
}

cr_status cr_options_parse(const cr_command_spec *spec, int argc, char **argv, cr_parsed *out) {
    *out = (cr_parsed){0};
    int count = 0;
    while (spec->options[count].name) count++;
    CR_ASSERT(count <= CR_OPTIONS_MAX);
    for (int k = 0; k < count; k++) /* the built-in short options are taken */
        CR_ASSERT(!spec->options[k].short_name ||
                  !strchr(spec->config ? "hvc" : "hv", spec->options[k].short_name));
    bool seen[CR_OPTIONS_MAX] = {0};
    for (int k = 0; k < count; k++) set_default(&spec->options[k]);

    parse_state st = {.spec = spec, .out = out, .seen = seen, .argc = argc, .argv = argv};
    for (st.i = 1; st.i < argc; st.i++) {
        const char *arg = argv[st.i];
        if (strcmp(arg, "--") == 0) {
            if (st.i + 1 < argc)
                return cr_fail(CR_STATUS_INVALID, "unexpected argument \"%s\"", argv[st.i + 1]);
            break;
        }
        if (arg[0] == '-' && arg[1] == '-')
            CR_TRY(parse_long(&st, arg + 2));
        else if (arg[0] == '-' && arg[1] != '\0')
            CR_TRY(parse_short(&st, arg + 1));
        else
            return cr_fail(CR_STATUS_INVALID, "unexpected argument \"%s\"", arg);
        if (out->help) return CR_STATUS_OK;
    }

    if (out->config_path) CR_TRY(cr_options_load_yaml(spec, out->config_path, seen));
    for (const cr_option *o = spec->options; o->name; o++) {
        if (!o->required || cr_option_has_value(o)) continue;
        if (spec->config)
            return cr_fail(CR_STATUS_INVALID, "missing --%s (on the command line or in -c FILE)",
                           o->name);
        return cr_fail(CR_STATUS_INVALID, "missing --%s", o->name);
    }
    return CR_STATUS_OK;
}
