/* Unit tests of the option parser: every value type, the error messages, YAML configs (precedence,
 * file:line messages, round trip of the saved form) and the generated help. The parser is part of
 * the program, not of a library, so its three files are compiled into this test directly. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/options.c"
#include "cli/options_help.c"
#include "cli/options_yaml.c"
#include "testing.h"

/* A table with one option of every type, like a training command's. */
typedef struct test_args {
    int epochs;
    double lr;
    bool nesterov, pin;
    const char *data, *out;
    int optimizer;
    cr_int_list resolution;
} test_args;

static test_args a;
static const char *const optimizers[] = {"sgd", "adamw", NULL};
static const cr_option options[] = {
    {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .help = "images root",
     .required = true},
    {"epochs", 'e', CR_OPTION_INT, &a.epochs, "10", .help = "epochs in all", .min = 1,
     .max = 100000},
    {"lr", 0, CR_OPTION_FLOAT, &a.lr, "0.1", .help = "peak learning rate"},
    {"nesterov", 'n', CR_OPTION_FLAG, &a.nesterov, .help = "Nesterov momentum"},
    {"pin", 0, CR_OPTION_FLAG, &a.pin, "true", .help = "pin memory"},
    {"optimizer", 0, CR_OPTION_ENUM, &a.optimizer, "sgd", .choices = optimizers,
     .help = "the update rule"},
    {"resolution", 'r', CR_OPTION_INT_LIST, &a.resolution, "64,128", .min = 8, .max = 4096,
     .help = "square sizes in pixels, one per stage; a long help text that has to be wrapped "
             "onto a second line of the help output"},
    {"out", 'o', CR_OPTION_STRING, &a.out, .metavar = "DIR", .help = "run folder", .no_save = true},
    {NULL},
};
static const cr_command_spec spec = {"train", "--data DIR [options]", "Trains a model.", options,
                                     true};

/* Parses a NULL-terminated argument list after the command name. */
static cr_status parse(cr_parsed *parsed, ...) {
    char *argv[32] = {"train"};
    int argc = 1;
    va_list ap;
    va_start(ap, parsed);
    for (char *arg; (arg = va_arg(ap, char *)) && argc < 31;) argv[argc++] = arg;
    va_end(ap);
    cr_error_clear();
    return cr_options_parse(&spec, argc, argv, parsed);
}

#define PARSE(...) parse(&parsed, __VA_ARGS__, (char *)NULL)

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_defaults_and_every_type(void) {
    cr_parsed parsed;
    CHECK_OK(PARSE("--data", "d"));
    CHECK(a.epochs == 10 && a.lr == 0.1 && !a.nesterov && a.pin && a.optimizer == 0);
    CHECK(a.resolution.count == 2 && a.resolution.values[0] == 64 && a.resolution.values[1] == 128);
    CHECK(a.out == NULL && strcmp(a.data, "d") == 0);

    CHECK_OK(PARSE("--data=x", "--epochs", "5", "--lr=-0.5", "--nesterov", "--no-pin",
                   "--optimizer", "adamw", "--resolution", "32,64,96", "-o", "runs/a"));
    CHECK(strcmp(a.data, "x") == 0 && a.epochs == 5 && a.lr == -0.5 && a.nesterov && !a.pin);
    CHECK(a.optimizer == 1 && a.resolution.count == 3 && a.resolution.values[2] == 96);
    CHECK(strcmp(a.out, "runs/a") == 0);

    /* short forms: attached value, bundled flags ending in an option with a value, -- at the end */
    CHECK_OK(PARSE("--data", "d", "-e7", "-nvr", "224", "--"));
    CHECK(a.epochs == 7 && a.nesterov && parsed.verbose && a.resolution.count == 1 &&
          a.resolution.values[0] == 224);
    CHECK_OK(PARSE("--data", "d", "--epochs", "+3"));
    CHECK(a.epochs == 3);
    /* arguments are read in order: a bad value before --help is reported */
    CHECK(PARSE("--epochs", "ten", "--help") == CR_STATUS_INVALID);
    CHECK_OK(PARSE("--help", "--epochs", "ten"));
    CHECK(parsed.help);
}

static void test_bad_values_are_named(void) {
    cr_parsed parsed;
    CHECK_FAILS(PARSE("--data", "d", "--epochs", "ten"), CR_STATUS_INVALID,
                "--epochs: \"ten\" is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "-e", "10x"), CR_STATUS_INVALID,
                "--epochs: \"10x\" is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "--epochs", " 10"), CR_STATUS_INVALID, "is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "--epochs", ""), CR_STATUS_INVALID, "is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "--epochs", "1e3"), CR_STATUS_INVALID, "is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "--epochs", "99999999999"), CR_STATUS_INVALID,
                "beyond the range");
    CHECK_FAILS(PARSE("--data", "d", "--epochs", "0"), CR_STATUS_INVALID,
                "--epochs: 0 is out of range: it must be between 1 and 100000");
    CHECK_FAILS(PARSE("--data", "d", "--lr", "fast"), CR_STATUS_INVALID,
                "--lr: \"fast\" is not a number");
    CHECK_FAILS(PARSE("--data", "d", "--lr", "nan"), CR_STATUS_INVALID, "not a finite number");
    CHECK_FAILS(PARSE("--data", "d", "--lr", "1e999"), CR_STATUS_INVALID, "not a finite number");
    CHECK_FAILS(PARSE("--data", "d", "--optimizer", "adam"), CR_STATUS_INVALID,
                "--optimizer: \"adam\" is not one of sgd, adamw (did you mean adamw?)");
    CHECK_FAILS(PARSE("--data", "d", "--resolution", "64,,128"), CR_STATUS_INVALID,
                "not a comma-separated list of integers");
    CHECK_FAILS(PARSE("--data", "d", "--resolution", "64,x"), CR_STATUS_INVALID,
                "--resolution: \"x\" is not an integer");
    CHECK_FAILS(PARSE("--data", "d", "--resolution", "64,4"), CR_STATUS_INVALID,
                "--resolution: 4 is out of range");
    CHECK_FAILS(PARSE("--data", "d", "-r", "8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8,8"),
                CR_STATUS_INVALID, "has more than 16 items");
}

static void test_bad_options_are_named(void) {
    cr_parsed parsed;
    CHECK_FAILS(PARSE("--data", "d", "--epoch", "3"), CR_STATUS_INVALID,
                "unknown option --epoch (did you mean --epochs?)");
    CHECK_FAILS(PARSE("--data", "d", "--frobnicate"), CR_STATUS_INVALID,
                "unknown option --frobnicate");
    CHECK(strstr(cr_error_message(), "did you mean") == NULL);
    CHECK_FAILS(PARSE("--data", "d", "-x"), CR_STATUS_INVALID, "unknown option -x");
    CHECK_FAILS(PARSE("--data", "d", "--nesterov=yes"), CR_STATUS_INVALID,
                "--nesterov takes no value");
    CHECK_FAILS(PARSE("--data", "d", "--no-epochs"), CR_STATUS_INVALID, "unknown option --no-epochs");
    CHECK_FAILS(PARSE("--data", "d", "--epochs"), CR_STATUS_INVALID, "--epochs needs a value");
    CHECK_FAILS(PARSE("--data", "d", "extra"), CR_STATUS_INVALID, "unexpected argument \"extra\"");
    CHECK_FAILS(PARSE("--data", "d", "--", "extra"), CR_STATUS_INVALID, "unexpected argument");
    CHECK_FAILS(PARSE("--epochs", "3"), CR_STATUS_INVALID, "missing --data");
    CHECK_FAILS(PARSE("--data", "d", "-c"), CR_STATUS_INVALID, "-c needs a value");
}

static void test_yaml_sets_keys_and_the_command_line_wins(void) {
    const char *path = "test_options_run.yaml";
    write_file(path, "# a run\n"
                     "data: /images\n"
                     "epochs: 20\n"
                     "lr: 0.05\n"
                     "nesterov: true\n"
                     "optimizer: adamw\n"
                     "resolution: [96, 192]\n");
    cr_parsed parsed;
    CHECK_OK(PARSE("-c", path, "--epochs", "3"));
    CHECK(strcmp(parsed.config_path, path) == 0);
    CHECK(strcmp(a.data, "/images") == 0 && a.epochs == 3 && a.lr == 0.05 && a.nesterov);
    CHECK(a.optimizer == 1 && a.resolution.count == 2 && a.resolution.values[1] == 192);
    /* the command line wins even when it comes before -c, and --no- overrides a true */
    CHECK_OK(PARSE("--lr", "1", "--no-nesterov", "--config=test_options_run.yaml"));
    CHECK(a.lr == 1.0 && !a.nesterov && a.epochs == 20);

    write_file(path, "data: d\nepochs: 20\nepoch: 3\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID,
                "test_options_run.yaml:3: unknown key \"epoch\" (did you mean \"epochs\"?)");
    write_file(path, "data: d\n\nepochs: ten\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID,
                "test_options_run.yaml:3: epochs: \"ten\" is not an integer");
    /* a bad value is an error even where the command line overrides it */
    CHECK_FAILS(PARSE("-c", path, "--epochs", "4"), CR_STATUS_INVALID, ":3: epochs: \"ten\"");
    write_file(path, "data: d\nepochs: 1\nepochs: 2\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, ":3: epochs is given twice");
    write_file(path, "batch_size_typo: 1\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, ":1: unknown key \"batch_size_typo\"");
    write_file(path, "- epochs\n- 3\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, ":1: expected a mapping");
    write_file(path, "data: d\nepochs: [1, 2\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, "test_options_run.yaml:");
    write_file(path, "data: d\nepochs: [1, 2]\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, ":2: epochs: expected a single value");
    write_file(path, "data:\nepochs: 2\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, ":1: data: needs a value");
    write_file(path, "data: d\n---\nepochs: 2\n");
    CHECK_FAILS(PARSE("-c", path), CR_STATUS_INVALID, "only one YAML document");
    write_file(path, "");
    CHECK_OK(PARSE("-c", path, "--data", "d")); /* an empty file sets nothing */
    CHECK(a.epochs == 10);
    remove(path);
    CHECK_FAILS(PARSE("-c", "no/such/file.yaml", "--data", "d"), CR_STATUS_IO,
                "cannot open no/such/file.yaml");
}

static void test_saved_options_read_back_the_same(void) {
    const char *path = "test_options_saved.yaml";
    cr_parsed parsed;
    CHECK_OK(PARSE("--data", "a path: with \"quotes\", commas and true", "--epochs", "12", "--lr",
                   "0.1", "--nesterov", "--no-pin", "--optimizer", "adamw", "-r", "64,128,256",
                   "--out", "runs/x"));
    test_args saved = a;
    CHECK_OK(cr_options_save_yaml(&spec, path));
    CHECK(access("test_options_saved.yaml.partial", F_OK) != 0);

    FILE *f = fopen(path, "r");
    char text[2048] = "";
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    CHECK(strstr(text, "lr: 0.1\n") != NULL); /* the shortest spelling, not 0.10000000000000001 */
    CHECK(strstr(text, "resolution: [64, 128, 256]\n") != NULL);
    CHECK(strstr(text, "out:") == NULL); /* no_save */

    CHECK_OK(PARSE("-c", path));
    CHECK(strcmp(a.data, saved.data) == 0 && a.epochs == 12 && a.lr == saved.lr);
    CHECK(a.nesterov && !a.pin && a.optimizer == 1 && a.out == NULL);
    CHECK(a.resolution.count == 3 && a.resolution.values[2] == 256);
    remove(path);
    cr_options_release_strings();
}

/* The offset of `help` in the line of `text` that holds `option`, or -1. */
static int help_column_of(const char *text, const char *option, const char *help) {
    const char *line = strstr(text, option);
    if (!line) return -1;
    while (line > text && line[-1] != '\n') line--;
    const char *found = strstr(line, help);
    const char *end = strchr(line, '\n');
    return found && (!end || found < end) ? (int)(found - line) : -1;
}

static void test_help_is_aligned_and_wrapped(void) {
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_options_print_help(&spec, out);
    fclose(out);
    CHECK(strstr(text, "usage: crescendo train --data DIR [options]\n") != NULL);
    CHECK(strstr(text, "  -e, --epochs N") != NULL);
    CHECK(strstr(text, "epochs in all (default: 10)") != NULL);
    CHECK(strstr(text, "--optimizer sgd|adamw") != NULL);
    CHECK(strstr(text, "--[no-]pin") != NULL);
    CHECK(strstr(text, "images root (required)") != NULL);
    CHECK(strstr(text, "  -c, --config FILE") != NULL);
    /* every option's help starts in one column, and wrapped lines continue in it */
    int column = help_column_of(text, "--epochs N", "epochs in all");
    CHECK(column > 0);
    CHECK(help_column_of(text, "--optimizer", "the update rule") == column);
    CHECK(help_column_of(text, "--help", "show this help") == column);
    const char *wrapped = strstr(text, "\n") ? strstr(strstr(text, "--resolution"), "\n") : NULL;
    CHECK(wrapped && (int)strspn(wrapped + 1, " ") == column);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        CHECK((int)strlen(line) <= CR_HELP_WIDTH);
    free(text);
}

static void test_nearest_names(void) {
    cr_nearest n = {.word = "trian"};
    cr_nearest_consider(&n, "info");
    cr_nearest_consider(&n, "train");
    cr_nearest_consider(&n, "predict");
    CHECK(n.best && strcmp(n.best, "train") == 0);
    cr_nearest short_word = {.word = "ab"};
    cr_nearest_consider(&short_word, "xy");
    CHECK(short_word.best == NULL);
}

int main(void) {
    test_defaults_and_every_type();
    test_bad_values_are_named();
    test_bad_options_are_named();
    test_yaml_sets_keys_and_the_command_line_wins();
    test_saved_options_read_back_the_same();
    test_help_is_aligned_and_wrapped();
    test_nearest_names();
    return cr_test_summary("options");
}
