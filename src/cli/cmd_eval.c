/* `crescendo eval`: a checkpoint's loss, top-1 / top-5 accuracy and confusion matrix on a labeled
 * CSV or ImageFolder, with the model, classes and normalization read from the checkpoint. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/datasets.h"
#include "cli/precision.h"
#include "crescendo/checkpoint.h"
#include "crescendo/graph.h"
#include "crescendo/loader.h"
#include "crescendo/metrics.h"
#include "crescendo/step.h"

typedef struct eval_args {
    const char *checkpoint, *data, *csv, *confusion_csv;
    int resolution, batch_size, workers, threads, max_image_pixels, precision;
    cr_cli_columns columns;
} eval_args;

/* Runs the model over every image once; the metrics hold the result. */
static cr_status evaluate(cr_graph *g, const cr_dataset *ds, const cr_checkpoint_info *info,
                          const eval_args *a, int side, cr_metrics *metrics) {
    cr_loader_options lo = {.workers = a->workers, .channels = info->channels,
                            .max_image_pixels = (uint64_t)a->max_image_pixels};
    memcpy(lo.mean, info->mean, sizeof lo.mean);
    memcpy(lo.std, info->std, sizeof lo.std);
    cr_loader *loader;
    CR_TRY(cr_loader_create(ds, &lo, &loader));
    cr_step *step = NULL;
    cr_loader_epoch epoch = {.resolution = side, .batch_size = a->batch_size};
    cr_status s = cr_loader_start_epoch(loader, &epoch);
    if (s == CR_STATUS_OK) s = cr_step_create(g, NULL, &(cr_step_config){0}, &step);
    if (s == CR_STATUS_OK) s = cr_step_prepare(step, a->batch_size, side);
    cr_batch batch;
    while (s == CR_STATUS_OK && (s = cr_loader_next(loader, &batch)) == CR_STATUS_OK) {
        cr_step_result r;
        s = cr_step_eval(step, batch.images, batch.labels, batch.count, &r);
        if (s == CR_STATUS_OK) s = cr_metrics_add(metrics, r.logits, batch.labels, batch.count);
        if (s == CR_STATUS_OK) cr_metrics_add_loss(metrics, r.loss, batch.count);
    }
    cr_step_destroy(step);
    cr_loader_destroy(loader);
    return s == CR_STATUS_END ? CR_STATUS_OK : s;
}

static cr_status run_eval(const eval_args *a) {
    cr_backend *be;
    CR_TRY(cr_backend_create(CR_DEVICE_CPU, a->threads, &be));
    cr_graph *g = NULL;
    cr_dataset *ds = NULL;
    cr_metrics *metrics = NULL;
    cr_checkpoint_info info = {0};
    cr_dtype precision = CR_DTYPE_F32;
    cr_status s = cr_cli_precision(a->precision, be, &precision);
    if (s == CR_STATUS_OK) s = cr_checkpoint_load_model(be, a->checkpoint, &g, &info);
    if (s == CR_STATUS_OK) s = cr_graph_set_precision(g, precision);
    if (s == CR_STATUS_OK) {
        cr_dataset_options options = {.num_classes = info.num_classes,
                                      .class_names = info.class_names};
        cr_cli_apply_columns(&a->columns, &options);
        s = cr_cli_open_dataset(a->data, a->csv, &options, &ds);
    }
    if (s == CR_STATUS_OK) s = cr_metrics_create(&metrics, info.num_classes, info.class_names);
    int side = a->resolution > 0 ? a->resolution : info.resolution;
    if (s == CR_STATUS_OK) s = evaluate(g, ds, &info, a, side, metrics);
    if (s == CR_STATUS_OK) {
        cr_metrics_summary m = cr_metrics_summarize(metrics);
        cr_metrics_print(metrics, stdout);
        printf("%s on %s (%lld images at %dx%d): loss %.4f  top-1 %.2f%%  top-%d %.2f%%  "
               "macro-F1 %.4f\n", a->checkpoint, cr_dataset_source(ds), (long long)m.count, side,
               side, m.loss, 100.0 * m.top1, m.k, 100.0 * m.topk, m.macro_f1);
        if (a->confusion_csv) {
            FILE *f = fopen(a->confusion_csv, "w");
            if (!f) s = cr_fail(CR_STATUS_IO, "cannot write %s", a->confusion_csv);
            else {
                s = cr_metrics_write_csv(metrics, f);
                if (fclose(f) != 0 && s == CR_STATUS_OK)
                    s = cr_fail(CR_STATUS_IO, "cannot write %s", a->confusion_csv);
            }
        }
    }
    cr_metrics_destroy(metrics);
    cr_dataset_destroy(ds);
    cr_graph_destroy(g);
    cr_checkpoint_info_free(&info);
    cr_backend_destroy(be);
    return s;
}

int cr_cmd_eval(int argc, char **argv) {
    eval_args a = {0};
    const cr_option options[] = {
        {"checkpoint", 0, CR_OPTION_STRING, &a.checkpoint, .metavar = "FILE", .required = true,
         .help = "a .safetensors checkpoint written by crescendo train"},
        {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .required = true,
         .help = "the image root; without --csv an ImageFolder tree"},
        {"csv", 0, CR_OPTION_STRING, &a.csv, .metavar = "FILE",
         .help = "labeled rows class_name,image_path,target, paths relative to --data"},
        CR_CLI_COLUMN_OPTIONS(a.columns),
        {"resolution", 'r', CR_OPTION_INT, &a.resolution, "0", .metavar = "PX", .min = 0,
         .max = 8192, .help = "evaluate at this size; 0: the size the model last trained at"},
        {"batch-size", 'b', CR_OPTION_INT, &a.batch_size, "128", .min = 1, .max = 1 << 20,
         .help = "images per forward pass"},
        CR_CLI_PRECISION_OPTION(a.precision),
        {"confusion-csv", 0, CR_OPTION_STRING, &a.confusion_csv, .metavar = "FILE",
         .help = "also write the confusion matrix here"},
        {"workers", 'j', CR_OPTION_INT, &a.workers, "0", .min = 0, .max = 1024,
         .help = "image-decoding threads; 0: one per core"},
        {"threads", 0, CR_OPTION_INT, &a.threads, "0", .min = 0, .max = 1024,
         .help = "compute threads; 0: one per core"},
        {"max-image-pixels", 0, CR_OPTION_INT, &a.max_image_pixels, "178956970", .metavar = "N",
         .min = 1, .max = 2147483647,
         .help = "larger images fail (possible decompression bombs); PIL's limit by default"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "eval",
        .usage = "--checkpoint FILE --data DIR [--csv FILE] [options]",
        .description = "Scores a checkpoint on labeled images: loss, top-1 and top-5 accuracy, "
                       "macro F1 and the confusion matrix.",
        .options = options,
        .config = true,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_status s = run_eval(&a);
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}
