/* `crescendo eval`: a checkpoint's loss, top-1 / top-5 accuracy, confusion matrix and per-class
 * precision, recall and F1 on a labeled CSV or ImageFolder, with the model, classes and
 * normalization read from the checkpoint. */
#include <stdio.h>

#include "cli/commands.h"
#include "cli/datasets.h"
#include "cli/inference.h"
#include "crescendo/metrics.h"

typedef struct eval_args {
    cr_cli_inference_args run;
    const char *data, *csv, *confusion_csv;
    cr_cli_columns columns;
} eval_args;

static cr_status add_batch(const cr_inference_batch *batch, void *metrics) {
    CR_TRY(cr_metrics_add(metrics, batch->probs, batch->labels, batch->count));
    cr_metrics_add_loss(metrics, batch->loss, batch->count);
    return CR_STATUS_OK;
}

static cr_status write_confusion(const cr_metrics *metrics, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return cr_fail(CR_STATUS_IO, "cannot write %s", path);
    cr_status s = cr_metrics_write_csv(metrics, f);
    if (fclose(f) != 0 && s == CR_STATUS_OK) s = cr_fail(CR_STATUS_IO, "cannot write %s", path);
    return s;
}

static void print_summary(const eval_args *a, const cr_dataset *ds, int side,
                          const cr_metrics *metrics) {
    cr_metrics_summary m = cr_metrics_summarize(metrics);
    printf("%s on %s (%lld images at %dx%d%s): loss %.4f  top-1 %.2f%%  top-%d %.2f%%  "
           "macro-F1 %.4f\n", a->run.checkpoint, cr_dataset_source(ds), (long long)m.count, side,
           side, a->run.tta == CR_TTA_FLIP ? ", flip TTA" : "", m.loss, 100.0 * m.top1, m.k,
           100.0 * m.topk, m.macro_f1);
}

static cr_status run_eval(const eval_args *a) {
    cr_cli_model model;
    CR_TRY(cr_cli_model_open(&a->run, &model));
    const cr_checkpoint_info *info = &model.info;
    cr_dataset *ds = NULL;
    cr_metrics *metrics = NULL;
    cr_dataset_options options = {.num_classes = info->num_classes,
                                  .class_names = info->class_names};
    cr_cli_apply_columns(&a->columns, &options);
    cr_status s = cr_cli_open_dataset(a->data, a->csv, &options, &ds);
    if (s == CR_STATUS_OK) s = cr_metrics_create(&metrics, info->num_classes, info->class_names);
    cr_inference_config config = cr_cli_inference_config(&a->run, info);
    if (s == CR_STATUS_OK) s = cr_inference_run(model.graph, ds, &config, add_batch, metrics);
    if (s == CR_STATUS_OK) s = cr_metrics_print(metrics, stdout);
    if (s == CR_STATUS_OK) s = cr_metrics_print_classes(metrics, stdout);
    if (s == CR_STATUS_OK) print_summary(a, ds, config.resolution, metrics);
    if (s == CR_STATUS_OK && a->confusion_csv) s = write_confusion(metrics, a->confusion_csv);
    cr_metrics_destroy(metrics);
    cr_dataset_destroy(ds);
    cr_cli_model_close(&model);
    return s;
}

int cr_cmd_eval(int argc, char **argv) {
    eval_args a = {0};
    const cr_option options[] = {
        CR_CLI_CHECKPOINT_OPTION(a.run),
        {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .required = true,
         .help = "the image root; without --csv an ImageFolder tree"},
        {"csv", 0, CR_OPTION_STRING, &a.csv, .metavar = "FILE",
         .help = "labeled rows class_name,image_path,target, paths relative to --data"},
        CR_CLI_COLUMN_OPTIONS(a.columns),
        CR_CLI_INFERENCE_OPTIONS(a.run),
        {"confusion-csv", 0, CR_OPTION_STRING, &a.confusion_csv, .metavar = "FILE",
         .help = "also write the confusion matrix here"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "eval",
        .usage = "--checkpoint FILE --data DIR [--csv FILE] [options]",
        .description = "Scores a checkpoint on labeled images: loss, top-1 and top-5 accuracy, "
                       "macro F1, the confusion matrix and each class's precision, recall and "
                       "F1.",
        .options = options,
        .config = true,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_status s = run_eval(&a);
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}
