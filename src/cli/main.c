/* The `crescendo` program: sets up the log, handles the program-wide options (-v, --version) and
 * hands the rest to the command named first. The only place the process exits. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "crescendo/version.h"

int main(int argc, char **argv) {
    cr_cli_log_to_stderr(false);
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
    return status;
}
