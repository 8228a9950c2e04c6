/* The model and the pass that eval and predict both run: a checkpoint opened at a precision, and
 * the loader and test-time settings the shared options set. */
#include "cli/inference.h"

#include <stdio.h>
#include <string.h>

#include "crescendo/log.h"
#include "crescendo/trainer.h"

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
    if (a->resolution > 0) return a->resolution;
    char dir[4096];
    const char *slash = strrchr(a->checkpoint, '/');
    int n = slash ? snprintf(dir, sizeof dir, "%.*s", (int)(slash - a->checkpoint), a->checkpoint)
                  : snprintf(dir, sizeof dir, ".");
    int searched = n > 0 && (size_t)n < sizeof dir ? cr_train_searched_resolution(dir) : 0;
    if (searched > 0) {
        cr_log(CR_LOG_INFO, "at %dpx, the best size of the run's test resolution search (%s/"
                    "test_res_search.json)", searched, dir);
        return searched;
    }
    return info->resolution;
}

cr_inference_config cr_cli_inference_config(const cr_cli_inference_args *a,
                                            const cr_checkpoint_info *info) {
    cr_inference_config c = {
        .resolution = cr_cli_inference_side(a, info),
        .batch_size = a->batch_size,
        .tta = (cr_tta)a->tta,
        .loader = {.workers = a->workers, .channels = info->channels,
                   .max_image_pixels = (uint64_t)a->max_image_pixels,
                   .jpeg_scale = (cr_jpeg_scale)a->jpeg_scale},
    };
    memcpy(c.loader.mean, info->mean, sizeof c.loader.mean);
    memcpy(c.loader.std, info->std, sizeof c.loader.std);
    return c;
}
