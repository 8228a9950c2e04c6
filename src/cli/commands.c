/* The table of commands the program offers; adding a command is one line here and its cmd_*.c.
 * Lists only the commands whose file exists, so that the program links at every stage. */
#include "cli/commands.h"

#include <stddef.h>

static const cr_command commands[] = {
    {"prepare", cr_cmd_prepare, "turn a public dataset into a folder of images and a CSV"},
    {"train", cr_cmd_train, "train a classifier, with progressive resizing"},
    {"lr-find", cr_cmd_lr_find, "sweep the learning rate over a short run and suggest one"},
    {"eval", cr_cmd_eval, "score a checkpoint on labeled images"},
    {"predict", cr_cmd_predict, "write a checkpoint's predictions as a submission CSV"},
    {"bench", cr_cmd_bench, "measure training and data-loading speed"},
    {"info", cr_cmd_info, "version, backends, CPU features and threads"},
    {NULL, NULL, NULL},
};

const cr_command_group cr_program = {
    .name = NULL,
    .noun = "command",
    .description = "crescendo trains image classifiers with progressive resizing: small images "
                   "first, full size at the end.",
    .commands = commands,
};
