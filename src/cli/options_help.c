/* Help text generated from an option table: usage, description, then one aligned, wrapped row per
 * option. Generated so that the help can never disagree with what the parser accepts. */
#include "cli/options.h"

#include <stdio.h>
#include <string.h>

enum { WIDTH = CR_HELP_WIDTH, MAX_COLUMN = 32, LEFT_MAX = 128, HELP_MAX = 1024, ROWS_MAX = 72 };

void cr_options_print_wrapped(FILE *out, const char *text, int at, int indent) {
    const char *p = text;
    bool line_empty = true;
    while (*p) {
        while (*p == ' ') p++;
        size_t length = strcspn(p, " ");
        if (length == 0) break;
        if (!line_empty && at + 1 + (int)length > WIDTH) {
            fprintf(out, "\n%*s", indent, "");
            at = indent;
            line_empty = true;
        }
        if (!line_empty) {
            fputc(' ', out);
            at++;
        }
        fwrite(p, 1, length, out);
        at += (int)length;
        line_empty = false;
        p += length;
    }
    fputc('\n', out);
}

static const char *metavar(const cr_option *option, char *buffer, size_t size) {
    if (option->metavar) return option->metavar;
    switch (option->type) {
    case CR_OPTION_FLAG: return "";
    case CR_OPTION_INT: return "N";
    case CR_OPTION_FLOAT: return "F";
    case CR_OPTION_STRING: return "TEXT";
    case CR_OPTION_INT_LIST: return "N,N,...";
    case CR_OPTION_ENUM: break;
    }
    size_t used = 0;
    buffer[0] = '\0';
    for (int i = 0; option->choices[i]; i++) {
        int n = snprintf(buffer + used, size - used, "%s%s", i ? "|" : "", option->choices[i]);
        if (n < 0 || used + (size_t)n >= size) break;
        used += (size_t)n;
    }
    return buffer;
}

static bool on_by_default(const cr_option *option) {
    return option->type == CR_OPTION_FLAG && option->default_value &&
           strcmp(option->default_value, "true") == 0;
}

/* "  -e, --epochs N" */
static void left_column(const cr_option *option, char *left) {
    char choices[LEFT_MAX];
    const char *value = metavar(option, choices, sizeof choices);
    snprintf(left, LEFT_MAX, "  %c%c%c --%s%s%s%s", option->short_name ? '-' : ' ',
             option->short_name ? option->short_name : ' ', option->short_name ? ',' : ' ',
             on_by_default(option) ? "[no-]" : "", option->name, *value ? " " : "", value);
}

static void help_column(const cr_option *option, char *help) {
    const char *text = option->help ? option->help : "";
    if (option->required)
        snprintf(help, HELP_MAX, "%s (required)", text);
    else if (option->default_value && option->type != CR_OPTION_FLAG)
        snprintf(help, HELP_MAX, "%s (default: %s)", text, option->default_value);
    else if (on_by_default(option))
        snprintf(help, HELP_MAX, "%s (on by default)", text);
    else
        snprintf(help, HELP_MAX, "%s", text);
}

static void print_row(FILE *out, const char *left, const char *help, int column) {
    int at = fprintf(out, "%s", left);
    if (at + 2 > column) {
        fprintf(out, "\n%*s", column, "");
    } else {
        fprintf(out, "%*s", column - at, "");
    }
    cr_options_print_wrapped(out, help, column, column);
}

void cr_options_print_help(const cr_command_spec *spec, FILE *out) {
    /* Built-in options, listed after the command's own, with the same alignment. */
    static const cr_option config = {"config", 'c', CR_OPTION_STRING, NULL, .metavar = "FILE",
                                     .help = "read options from a YAML file of `name: value` "
                                             "lines; options on the command line win"};
    static const cr_option print_config = {"print-config", 0, CR_OPTION_FLAG, NULL,
                                           .help = "print the resolved options as YAML and stop"};
    static const cr_option verbose = {"verbose", 'v', CR_OPTION_FLAG, NULL,
                                      .help = "print debug messages"};
    static const cr_option help = {"help", 'h', CR_OPTION_FLAG, NULL, .help = "show this help"};
    const cr_option *rows[ROWS_MAX]; /* the command's options, then the built-in ones */
    int count = 0;
    for (const cr_option *o = spec->options; o->name && count < ROWS_MAX - 4; o++) rows[count++] = o;
    if (spec->config) rows[count++] = &config;
    rows[count++] = &print_config;
    rows[count++] = &verbose;
    rows[count++] = &help;

    char left[LEFT_MAX], text[HELP_MAX];
    int column = 0;
    for (int i = 0; i < count; i++) {
        left_column(rows[i], left);
        if ((int)strlen(left) + 2 > column) column = (int)strlen(left) + 2;
    }
    if (column > MAX_COLUMN) column = MAX_COLUMN;

    fprintf(out, "usage: crescendo %s %s\n\n", spec->name, spec->usage);
    if (spec->description) {
        cr_options_print_wrapped(out, spec->description, 0, 0);
        fputc('\n', out);
    }
    fprintf(out, "options:\n");
    for (int i = 0; i < count; i++) {
        left_column(rows[i], left);
        help_column(rows[i], text);
        print_row(out, left, text, column);
    }
}
