/* commands.h — the commands of `crescendo`, one file each (cmd_<name>.c), and the table main
 * dispatches through. A command receives argv with argv[0] its own name and returns an exit status
 * (cli.h); it parses its options with cr_cli_parse and reports failures with cr_cli_failure. */
#ifndef CRESCENDO_CLI_COMMANDS_H
#define CRESCENDO_CLI_COMMANDS_H

#include "cli/cli.h"
#include "crescendo/trainer.h"

int cr_cmd_train(int argc, char **argv);
int cr_cmd_lr_find(int argc, char **argv);
int cr_cmd_eval(int argc, char **argv);
int cr_cmd_predict(int argc, char **argv);
int cr_cmd_prepare(int argc, char **argv);
int cr_cmd_bench(int argc, char **argv);
int cr_cmd_bench_data(int argc, char **argv); /* `bench data`, in its own file */
int cr_cmd_info(int argc, char **argv);

/* train and lr-find: one set of options, the run's; `find` sweeps the learning rate instead of
 * training (cmd_train.c). */
int cr_cli_train_command(int argc, char **argv, bool find);
/* lr-find's sweep of the run `c` describes, with its plot and suggestion on the console
 * (cmd_lr_find.c). */
cr_status cr_cli_lr_find(cr_backend *be, const cr_train_config *c);

/* The commands built into this program, in the order the help lists them. */
extern const cr_command_group cr_program;

#endif
