/* cli.h — how every command talks to its user: exit statuses, error lines, the log sink, and the
 * dispatch of `crescendo <command> ...` and of command groups (`crescendo prepare <dataset>`).
 *
 * Only the program prints and exits; commands return an exit status to main:
 *   0 success; 1 the library failed (the message is cr_error_message()); 2 a usage error. */
#ifndef CRESCENDO_CLI_CLI_H
#define CRESCENDO_CLI_CLI_H

#include <stdbool.h>

#include "cli/options.h"
#include "crescendo/distributed.h"
#include "crescendo/status.h"

enum {
    CR_EXIT_OK = 0,
    CR_EXIT_FAILURE = 1,
    CR_EXIT_USAGE = 2,
    CR_EXIT_STOPPED = 128, /* plus the signal: train stopped on request, resumable; every process
                            * of a job stopped at the same step */
    CR_CLI_CONTINUE = -1 /* from cr_cli_parse: not an exit status, go on with the command */
};

/* A command: argv[0] is its name, the rest its arguments; returns an exit status. */
typedef struct cr_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for the list in the help */
} cr_command;

/* A command whose first argument picks a sub-command: the program itself, `prepare`, `bench`. */
typedef struct cr_command_group {
    const char *name;           /* "prepare"; NULL for the program */
    const char *noun;           /* what the first argument names: "command", "dataset" */
    const char *description;    /* a paragraph for the help */
    const cr_command *commands; /* terminated by an entry whose name is NULL */
} cr_command_group;

/* Prints "crescendo: error: <message>" and "try 'crescendo <command> --help'" (command NULL for
 * the program) to stderr; returns CR_EXIT_USAGE. */
int cr_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "crescendo: error: <cr_error_message()>" for a failed library call; returns
 * CR_EXIT_FAILURE. */
int cr_cli_failure(cr_status status);

/* The processes of this run (main creates them once): NULL, or a context of one, when the
 * program was not started by mpirun. Errors name the rank when there are several. */
void cr_cli_set_dist(cr_dist *dist);
cr_dist *cr_cli_dist(void);

/* Parses a command's options (options.h). Returns CR_CLI_CONTINUE when the command should run;
 * otherwise the exit status after printing the help (--help), the resolved options
 * (--print-config) or a usage error. Applies -v/--verbose to the log. */
int cr_cli_parse(const cr_command_spec *spec, int argc, char **argv);

/* Runs the sub-command named by argv[1] with argv + 1; handles `--help`, `help <name>` and unknown
 * names. argv[0] is the group's own name. */
int cr_cli_dispatch(const cr_command_group *group, int argc, char **argv);

/* Sends the library's log to stderr: warnings and errors, and with verbose also info and debug. */
void cr_cli_log_to_stderr(bool verbose);

#endif
