/* commands.h — the commands of `crescendo`, one file each (cmd_<name>.c), and the table main
 * dispatches through. A command receives argv with argv[0] its own name and returns an exit status
 * (cli.h); it parses its options with cr_cli_parse and reports failures with cr_cli_failure. */
#ifndef CRESCENDO_CLI_COMMANDS_H
#define CRESCENDO_CLI_COMMANDS_H

#include "cli/cli.h"

int cr_cmd_train(int argc, char **argv);
int cr_cmd_eval(int argc, char **argv);
int cr_cmd_predict(int argc, char **argv);
int cr_cmd_prepare(int argc, char **argv);
int cr_cmd_bench(int argc, char **argv);
int cr_cmd_bench_data(int argc, char **argv); /* `bench data`, in its own file */
int cr_cmd_info(int argc, char **argv);

/* The commands built into this program, in the order the help lists them. */
extern const cr_command_group cr_program;

#endif
