/* options.h — the command line's declarative option tables: parsing, help text and YAML configs.
 *
 * A command describes its options once, in a table; from it come the GNU-style parser (`--name
 * value`, `--name=value`, `-x value`, `-xvalue`, bundled short flags, `--no-name` for flags, `--`),
 * the aligned help text, the `-c FILE` YAML reader (same keys, no dashes) and the YAML writer that
 * saves the resolved options (runs/<name>/config.yaml, rerunnable with -c).
 *
 * Precedence, lowest first: the table's defaults, the YAML file, the command line. Every reported
 * problem names the option (`--epochs: "ten" is not an integer`) or the file and line
 * (`run.yaml:3: unknown key "epoch" (did you mean "epochs"?)`). Parsing only reports, through
 * cr_fail; cli.h turns a failure into an error line and exit status 2. */
#ifndef CRESCENDO_CLI_OPTIONS_H
#define CRESCENDO_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "crescendo/status.h"

typedef enum cr_option_type {
    CR_OPTION_FLAG,     /* bool: `--name` sets, `--no-name` clears; YAML true/false */
    CR_OPTION_INT,      /* int, decimal */
    CR_OPTION_FLOAT,    /* double, finite */
    CR_OPTION_STRING,   /* const char *, NULL when unset */
    CR_OPTION_ENUM,     /* int: the index of the value in `choices`, -1 when unset */
    CR_OPTION_INT_LIST  /* cr_int_list: "64,128,224"; in YAML also a sequence [64, 128, 224] */
} cr_option_type;

enum {
    CR_INT_LIST_MAX = 16, /* items in one list option */
    CR_OPTIONS_MAX = 96   /* options in one table */
};

typedef struct cr_int_list {
    int count;
    int values[CR_INT_LIST_MAX]; /* (count) */
} cr_int_list;

typedef struct cr_option {
    const char *name;           /* long name without dashes, also the YAML key: "batch-size" */
    char short_name;            /* 'b' for -b, or 0 */
    cr_option_type type;
    void *field;                /* bool *, int *, double *, const char **, int *, cr_int_list * */
    const char *default_value;  /* spelled as on the command line and shown in the help; NULL:
                                 * false, 0, unset */
    const char *metavar;        /* "N", "DIR" in the help; NULL: from the type */
    const char *help;
    const char *const *choices; /* CR_OPTION_ENUM: the allowed spellings, NULL-terminated */
    double min, max;            /* numbers and list items must lie in [min, max] when min < max */
    bool required;              /* must come from the command line or the YAML file */
    bool no_save;               /* left out of saved configurations (a run's --resume, say) */
} cr_option;

/* One command (or sub-command) the parser serves. */
typedef struct cr_command_spec {
    const char *name;         /* as typed after `crescendo`: "train", "prepare fashion-mnist" */
    const char *usage;        /* after the name in the usage line: "--data DIR [options]" */
    const char *description;  /* a paragraph for the help; wrapped there */
    const cr_option *options; /* terminated by an entry whose name is NULL */
    bool config;              /* accepts -c/--config FILE */
} cr_command_spec;

/* What the parser saw besides the table's own options. */
typedef struct cr_parsed {
    bool help;                /* -h/--help: the command should print its help and stop */
    bool verbose;             /* -v/--verbose */
    bool print_config;        /* --print-config: print the resolved options as YAML and stop */
    const char *config_path;  /* -c/--config, or NULL */
} cr_parsed;

/* Sets every field to its default, applies argv[1..argc) (argv[0] is the command's name), then the
 * YAML file given with -c for the keys the command line left alone, then checks the required
 * options. Stops early, with out->help set and the fields partly filled, when --help is seen.
 * Strings point into argv or into storage that lives until cr_options_release_strings. Fails with
 * CR_STATUS_INVALID (a bad option or value) or CR_STATUS_IO (an unreadable config file). */
cr_status cr_options_parse(const cr_command_spec *spec, int argc, char **argv, cr_parsed *out);

/* Parses `text` into the option's field. `where` starts the message: "--epochs" on the command
 * line, "run.yaml:3: epochs" in a file. */
cr_status cr_option_set(const cr_option *option, const char *text, const char *where);

/* Whether a string, enum or list option has been given a value; other types always have one. */
bool cr_option_has_value(const cr_option *option);

/* The option called `name` (hyphens and underscores alike), or NULL. */
const cr_option *cr_options_find(const cr_option *options, const char *name);

/* The candidate closest to `word` by edit distance, if close enough to be a likely typo; for "did
 * you mean" hints. Feed the candidates one by one; best stays NULL while nothing is close. */
typedef struct cr_nearest {
    const char *word;
    const char *best;
    int distance;
} cr_nearest;
void cr_nearest_consider(cr_nearest *nearest, const char *candidate);

enum { CR_HELP_WIDTH = 80 };

/* Writes text word by word from column `at` (what the line already holds), breaking lines before
 * CR_HELP_WIDTH and indenting continuation lines to `indent`; ends with a newline. */
void cr_options_print_wrapped(FILE *out, const char *text, int at, int indent);

/* Writes the usage line, description and the aligned, wrapped option list. */
void cr_options_print_help(const cr_command_spec *spec, FILE *out);

/* Reads a YAML mapping of option names to values. Keys in `skip` (indexed like spec->options;
 * NULL for none) are checked but not applied: the command line already set them. */
cr_status cr_options_load_yaml(const cr_command_spec *spec, const char *path, const bool *skip);

/* Writes the options' current values as a YAML mapping that cr_options_load_yaml reads back.
 * Unset strings and enums and the no_save options are left out. */
cr_status cr_options_write_yaml(const cr_command_spec *spec, FILE *out, const char *name);
/* The same into the file at path, replaced whole. */
cr_status cr_options_save_yaml(const cr_command_spec *spec, const char *path);

/* Frees the strings read from YAML files; their options' fields must not be used afterwards. */
void cr_options_release_strings(void);

#endif
