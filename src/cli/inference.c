/* The model and the pass that eval and predict both run: a checkpoint opened at a precision, and
 * the loader and test-time settings the shared options set. */
#include "cli/inference.h"

#include <string.h>

const char *const cr_cli_ttas[] = {"none", "flip", NULL};

cr_status cr_cli_model_open(const cr_cli_inference_args *a, cr_cli_model *m) {
    *m = (cr_cli_model){0};
    cr_dtype precision = CR_DTYPE_F32;
    cr_status s = cr_backend_create(CR_DEVICE_CPU, a->threads, &m->backend);
    if (s == CR_STATUS_OK) s = cr_cli_precision(a->precision, m->backend, &precision);
    if (s == CR_STATUS_OK)
        s = cr_checkpoint_load_model(m->backend, a->checkpoint, &m->graph, &m->info);
    if (s == CR_STATUS_OK) s = cr_graph_set_precision(m->graph, precision);
    if (s != CR_STATUS_OK) cr_cli_model_close(m);
    return s;
}

void cr_cli_model_close(cr_cli_model *m) {
    cr_graph_destroy(m->graph);
    cr_checkpoint_info_free(&m->info);
    cr_backend_destroy(m->backend);
    *m = (cr_cli_model){0};
}

int cr_cli_inference_side(const cr_cli_inference_args *a, const cr_checkpoint_info *info) {
    return a->resolution > 0 ? a->resolution : info->resolution;
}

cr_inference_config cr_cli_inference_config(const cr_cli_inference_args *a,
                                            const cr_checkpoint_info *info) {
    cr_inference_config c = {
        .resolution = cr_cli_inference_side(a, info),
        .batch_size = a->batch_size,
        .tta = (cr_tta)a->tta,
        .loader = {.workers = a->workers, .channels = info->channels,
                   .max_image_pixels = (uint64_t)a->max_image_pixels},
    };
    memcpy(c.loader.mean, info->mean, sizeof c.loader.mean);
    memcpy(c.loader.std, info->std, sizeof c.loader.std);
    return c;
}
