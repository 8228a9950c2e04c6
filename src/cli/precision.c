/* --precision: its spellings and the backend check behind them. */
#include "cli/precision.h"

const char *const cr_cli_precisions[] = {"fp32", "bf16", NULL};

cr_status cr_cli_precision(int choice, const cr_backend *be, cr_dtype *out) {
    *out = choice == 1 ? CR_DTYPE_BF16 : CR_DTYPE_F32;
    if (!cr_backend_supports(be, *out))
        return cr_fail(CR_STATUS_UNSUPPORTED, "--precision %s: this %s backend has no fast %s "
                       "arithmetic on this machine (see crescendo info); use fp32",
                       cr_cli_precisions[choice], be->ops->name, cr_cli_precisions[choice]);
    return CR_STATUS_OK;
}
