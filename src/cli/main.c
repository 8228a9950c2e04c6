/* The `crescendo` program: sets up the log, joins the MPI job when mpirun started it, handles the
 * program-wide options (-v, --version) and hands the rest to the command named first. The only
 * place the process exits, and the one that ends every process of a job when one fails. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "crescendo/version.h"

/* Joins the job mpirun started, and silences the standard output of every process but rank 0,
 * which speaks for the run. */
static int join_processes(void) {
    if (!cr_dist_launched()) return CR_EXIT_OK;
    cr_dist *dist;
    cr_status s = cr_dist_create(true, &dist);
    if (s != CR_STATUS_OK) return cr_cli_failure(s);
    cr_cli_set_dist(dist);
    if (!cr_dist_writes(dist) && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "crescendo: error: rank %d cannot silence its output\n",
                cr_dist_rank(dist));
        return CR_EXIT_FAILURE;
    }
    return CR_EXIT_OK;
}

int main(int argc, char **argv) {
    cr_cli_log_to_stderr(false);
    int joined = join_processes();
    if (joined != CR_EXIT_OK) {
        cr_dist_abort(cr_cli_dist(), joined);
        return joined;
    }
    /* -v before the command, as in `crescendo -v train ...`; argv[first - 1] becomes the slot that
     * cr_cli_dispatch ignores. */
    int first = 1;
    while (first < argc && (strcmp(argv[first], "-v") == 0 || strcmp(argv[first], "--verbose") == 0)) {
        cr_cli_log_to_stderr(true);
        first++;
    }
    int status;
    if (first < argc && strcmp(argv[first], "--version") == 0) {
        if (first + 1 < argc) {
            status = cr_cli_usage_error(NULL, "--version takes no arguments");
        } else {
            printf("crescendo %s\n", cr_version());
            status = CR_EXIT_OK;
        }
    } else {
        status = cr_cli_dispatch(&cr_program, argc - first + 1, argv + first - 1);
    }
    cr_options_release_strings();
    /* A full disk or a closed pipe must not pass for success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "crescendo: error: cannot write to standard output\n");
        if (status == CR_EXIT_OK) status = CR_EXIT_FAILURE;
    }
    /* the others may be waiting in a collective for this one: end them all (a stop on request
     * is agreed by every process, which leave the job together) */
    if (status != CR_EXIT_OK && status != CR_EXIT_STOPPED + SIGINT &&
        status != CR_EXIT_STOPPED + SIGTERM) {
        fflush(stderr);
        cr_dist_abort(cr_cli_dist(), status);
    }
    cr_dist_destroy(cr_cli_dist());
    return status;
}
