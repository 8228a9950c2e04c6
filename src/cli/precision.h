/* precision.h — --precision fp32|bf16, shared by train, eval, predict and bench train: the
 * option, and the check that the backend can run the chosen precision at speed before any work
 * starts. */
#ifndef CRESCENDO_CLI_PRECISION_H
#define CRESCENDO_CLI_PRECISION_H

#include "cli/options.h"
#include "crescendo/backend.h"

extern const char *const cr_cli_precisions[]; /* "fp32", "bf16": the index is the choice */

/* The option-table entry for an int `choice`. */
#define CR_CLI_PRECISION_OPTION(choice)                                                            \
    {"precision", 0, CR_OPTION_ENUM, &(choice), "fp32", .choices = cr_cli_precisions,              \
     .help = "fp32, or bf16: convolutions and the activations between them in bf16 with fp32 "     \
             "sums, BatchNorm statistics, loss, master weights and optimizer state in fp32"}

/* The dtype of a choice; fails clearly when the backend cannot run it. */
cr_status cr_cli_precision(int choice, const cr_backend *be, cr_dtype *out);

#endif
