/* The program's voice: error lines with a hint, help for command groups, the stderr log sink.
 * Kept in one place so that every command fails the same way and scripts can rely on it. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crescendo/log.h"

static cr_dist *run_processes;

void cr_cli_set_dist(cr_dist *dist) { run_processes = dist; }
cr_dist *cr_cli_dist(void) { return run_processes; }

/* Prints "crescendo: error: MESSAGE" and the lines after it in one write, with "rank 1 of 2: "
 * before the message when there are several processes: so that a reader knows which one failed,
 * and mpirun, which forwards what each process writes, cannot cut the line. */
static void print_error(const char *message, const char *after) {
    char rank[48] = "";
    if (cr_dist_size(run_processes) > 1)
        snprintf(rank, sizeof rank, "rank %d of %d: ", cr_dist_rank(run_processes),
                 cr_dist_size(run_processes));
    char text[2048];
    snprintf(text, sizeof text, "crescendo: error: %s%s\n%s", rank, message, after);
    fputs(text, stderr);
}

int cr_cli_usage_error(const char *command, const char *fmt, ...) {
    char message[1024], help[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    snprintf(help, sizeof help, "try 'crescendo %s%s--help'\n", command ? command : "",
             command ? " " : "");
    print_error(message, help);
    return CR_EXIT_USAGE;
}

int cr_cli_failure(cr_status status) {
    const char *message = cr_error_message();
    print_error(message[0] ? message : cr_status_name(status), "");
    return CR_EXIT_FAILURE;
}

int cr_cli_parse(const cr_command_spec *spec, int argc, char **argv) {
    cr_parsed parsed;
    cr_status status = cr_options_parse(spec, argc, argv, &parsed);
    if (parsed.verbose) cr_cli_log_to_stderr(true);
    if (status != CR_STATUS_OK) return cr_cli_usage_error(spec->name, "%s", cr_error_message());
    if (parsed.help) {
        cr_options_print_help(spec, stdout);
        return CR_EXIT_OK;
    }
    if (parsed.print_config) {
        status = cr_options_write_yaml(spec, stdout, "standard output");
        return status == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(status);
    }
    return CR_CLI_CONTINUE;
}

static void print_group_help(const cr_command_group *group) {
    const char *name = group->name ? group->name : "";
    const char *space = group->name ? " " : "";
    printf("usage: crescendo %s%s<%s> [options]\n", name, space, group->noun);
    if (!group->name) printf("       crescendo --version\n");
    printf("\n");
    cr_options_print_wrapped(stdout, group->description, 0, 0);
    printf("\n%ss:\n", group->noun);
    int width = 0;
    for (const cr_command *c = group->commands; c->name; c++)
        if ((int)strlen(c->name) > width) width = (int)strlen(c->name);
    for (const cr_command *c = group->commands; c->name; c++)
        printf("  %-*s  %s\n", width, c->name, c->summary);
    if (!group->name)
        printf("\noptions:\n"
               "  -h, --help     show this help\n"
               "  -v, --verbose  print debug messages\n"
               "      --version  print the version\n");
    printf("\nRun 'crescendo %s%s<%s> --help' for its options.\n", name, space, group->noun);
}

static const cr_command *find_command(const cr_command_group *group, const char *name) {
    for (const cr_command *c = group->commands; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

static int unknown_command(const cr_command_group *group, const char *name) {
    cr_nearest nearest = {.word = name};
    for (const cr_command *c = group->commands; c->name; c++) cr_nearest_consider(&nearest, c->name);
    if (nearest.best)
        return cr_cli_usage_error(group->name, "unknown %s \"%s\" (did you mean \"%s\"?)",
                                  group->noun, name, nearest.best);
    return cr_cli_usage_error(group->name, "unknown %s \"%s\"", group->noun, name);
}

int cr_cli_dispatch(const cr_command_group *group, int argc, char **argv) {
    if (argc < 2) {
        char names[512] = "";
        size_t used = 0;
        for (const cr_command *c = group->commands; c->name; c++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", c->name);
            if (n > 0 && used + (size_t)n < sizeof names) used += (size_t)n;
        }
        return cr_cli_usage_error(group->name, "missing the %s: one of %s", group->noun, names);
    }
    const char *arg = argv[1];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        print_group_help(group);
        return CR_EXIT_OK;
    }
    if (strcmp(arg, "help") == 0) {
        if (argc == 2) {
            print_group_help(group);
            return CR_EXIT_OK;
        }
        const cr_command *command = find_command(group, argv[2]);
        if (!command) return unknown_command(group, argv[2]);
        char help[] = "--help";
        char *help_argv[] = {argv[2], help, NULL};
        return command->run(2, help_argv);
    }
    if (arg[0] == '-')
        return cr_cli_usage_error(group->name, "unknown option %s before the %s", arg, group->noun);
    const cr_command *command = find_command(group, arg);
    if (!command) return unknown_command(group, arg);
    return command->run(argc - 1, argv + 1);
}

static void print_log(cr_log_level level, const char *message, void *user) {
    static const char *const names[] = {"debug", "info", "warning", "error"};
    /* One call per line: stdio locks the stream, so lines from loader threads do not interleave. */
    fprintf(stderr, "crescendo: %s: %s\n", names[level], message);
}

void cr_cli_log_to_stderr(bool verbose) {
    cr_log_set_sink(print_log, NULL, verbose ? CR_LOG_DEBUG : CR_LOG_WARN);
}
