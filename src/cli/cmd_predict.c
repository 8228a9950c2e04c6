/* `crescendo predict`: a checkpoint's predicted class for every image of a test CSV, or every
 * image under a folder, written as the submission CSV ID,image_path,target (and, with --topk, the
 * best classes and their probabilities), through the same pass as eval. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "cli/datasets.h"
#include "cli/inference.h"
#include "crescendo/files.h"
#include "crescendo/metrics.h"

typedef struct predict_args {
    cr_cli_inference_args run;
    const char *data, *csv, *out;
    int topk;
} predict_args;

/* What goes into the output: per sample, the `kept` best classes and their probabilities. */
typedef struct predictions {
    const cr_dataset *ds;
    const cr_checkpoint_info *info;
    const char *path;       /* the output, for messages */
    const char **ids;       /* (count) from the CSV's ID column, or NULL: the row numbers */
    int classes, kept, topk;
    int *top;               /* (count, kept) class indices, best first */
    float *probs;           /* (count, kept) their probabilities */
} predictions;

/* Of the CSV the set was read from, the ID column's value of each sample, when it has one; the
 * strings live in csv, which the caller closes. The set holds every row (predict never skips), so
 * sample i is the i-th record, at the line the set recorded. */
static cr_status read_ids(const cr_dataset *ds, cr_csv **csv, const char ***ids) {
    *ids = NULL;
    CR_TRY(cr_csv_open(cr_dataset_source(ds), csv));
    cr_csv_row row;
    CR_TRY(cr_csv_next(*csv, &row));
    int column = cr_csv_column(&row, "ID");
    if (column < 0) return CR_STATUS_OK;
    int count = cr_dataset_count(ds);
    const char **values = malloc(sizeof *values * (size_t)count);
    if (!values) return cr_fail(CR_STATUS_NOMEM, "no memory for %d IDs", count);
    cr_status s = CR_STATUS_OK;
    for (int i = 0; i < count && s == CR_STATUS_OK; i++) {
        s = cr_csv_next(*csv, &row);
        if (s == CR_STATUS_OK && row.line != cr_dataset_line(ds, i))
            s = cr_fail(CR_STATUS_IO, "%s changed while it was read (line %d)",
                        cr_dataset_source(ds), cr_dataset_line(ds, i));
        if (s == CR_STATUS_OK) values[i] = row.fields[column];
    }
    if (s == CR_STATUS_END)
        s = cr_fail(CR_STATUS_IO, "%s changed while it was read", cr_dataset_source(ds));
    if (s != CR_STATUS_OK) {
        free(values);
        return s;
    }
    *ids = values;
    return CR_STATUS_OK;
}

static cr_status keep_batch(const cr_inference_batch *batch, void *context) {
    predictions *p = context;
    for (int i = 0; i < batch->count; i++) {
        const float *row = batch->probs + (size_t)i * (size_t)p->classes; /* (K) */
        size_t at = (size_t)batch->indices[i] * (size_t)p->kept;
        cr_metrics_rank(row, p->classes, p->top + at, p->kept);
        for (int j = 0; j < p->kept; j++) p->probs[at + (size_t)j] = row[p->top[at + (size_t)j]];
    }
    return CR_STATUS_OK;
}

static void put_class_name(FILE *out, const cr_checkpoint_info *info, int c) {
    if (info->class_names) cr_csv_write_field(out, info->class_names[c]);
    else fprintf(out, "%d", c);
}

static cr_status write_rows(FILE *out, void *context) {
    const predictions *p = context;
    fputs("ID,image_path,target", out);
    for (int j = 1; j <= p->topk; j++) fprintf(out, ",top%d_class,top%d_prob", j, j);
    fputc('\n', out);
    for (int i = 0; i < cr_dataset_count(p->ds); i++) {
        const int *top = p->top + (size_t)i * (size_t)p->kept;
        const float *probs = p->probs + (size_t)i * (size_t)p->kept;
        if (p->ids) cr_csv_write_field(out, p->ids[i]);
        else fprintf(out, "%d", i);
        fputc(',', out);
        cr_csv_write_field(out, cr_dataset_path(p->ds, i));
        fprintf(out, ",%d", top[0]);
        for (int j = 0; j < p->topk; j++) {
            fputc(',', out);
            put_class_name(out, p->info, top[j]);
            fprintf(out, ",%.9g", (double)probs[j]);
        }
        fputc('\n', out);
    }
    return ferror(out) ? cr_fail(CR_STATUS_IO, "%s: write failed", p->path) : CR_STATUS_OK;
}

/* The test set: the CSV's paths alone, or every image under --data. */
static cr_status open_images(const predict_args *a, cr_dataset **ds) {
    if (!a->csv) return cr_dataset_from_images(a->data, NULL, ds);
    cr_dataset_options options = {.paths_only = true};
    return cr_cli_open_dataset(a->data, a->csv, &options, ds);
}

static cr_status run_predict(const predict_args *a) {
    cr_cli_model model;
    CR_TRY(cr_cli_model_open(&a->run, &model));
    const cr_checkpoint_info *info = &model.info;
    predictions p = {.info = info, .path = a->out, .classes = info->num_classes,
                     .kept = a->topk > 0 ? a->topk : 1, .topk = a->topk};
    cr_dataset *ds = NULL;
    cr_csv *csv = NULL;
    cr_status s = CR_STATUS_OK;
    if (a->topk > info->num_classes)
        s = cr_fail(CR_STATUS_INVALID, "--topk %d: the model has %d classes", a->topk,
                    info->num_classes);
    if (s == CR_STATUS_OK) s = open_images(a, &ds);
    if (s == CR_STATUS_OK && a->csv) s = read_ids(ds, &csv, &p.ids);
    if (s == CR_STATUS_OK) {
        size_t cells = (size_t)cr_dataset_count(ds) * (size_t)p.kept;
        p.ds = ds;
        p.top = malloc(sizeof *p.top * cells);
        p.probs = malloc(sizeof *p.probs * cells);
        if (!p.top || !p.probs)
            s = cr_fail(CR_STATUS_NOMEM, "no memory for %d predictions", cr_dataset_count(ds));
    }
    cr_inference_config config = cr_cli_inference_config(&a->run, info);
    if (s == CR_STATUS_OK) s = cr_inference_run(model.graph, ds, &config, keep_batch, &p);
    if (s == CR_STATUS_OK) s = cr_write_atomically(a->out, write_rows, &p);
    if (s == CR_STATUS_OK)
        printf("%s: %d predictions of %s at %dx%d%s\n", a->out, cr_dataset_count(ds),
               a->run.checkpoint, config.resolution, config.resolution,
               a->run.tta == CR_TTA_FLIP ? ", flip TTA" : "");
    free(p.top);
    free(p.probs);
    free(p.ids);
    cr_csv_close(csv);
    cr_dataset_destroy(ds);
    cr_cli_model_close(&model);
    return s;
}

int cr_cmd_predict(int argc, char **argv) {
    predict_args a = {0};
    const cr_option options[] = {
        CR_CLI_CHECKPOINT_OPTION(a.run),
        {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .required = true,
         .help = "the image root; without --csv every PNG and JPEG under it, in sorted order"},
        {"csv", 0, CR_OPTION_STRING, &a.csv, .metavar = "FILE",
         .help = "the images to predict: an image_path column, paths relative to --data; its ID "
                 "column, if any, is copied to the output; other columns are not read"},
        {"out", 0, CR_OPTION_STRING, &a.out, .metavar = "FILE", .required = true,
         .help = "the CSV to write: ID,image_path,target, one row per image in the input's "
                 "order; IDs from the ID column, else 0, 1, ...; target the class index"},
        {"topk", 0, CR_OPTION_INT, &a.topk, "0", .metavar = "K", .min = 0,
         .max = CR_CHECKPOINT_MAX_CLASSES,
         .help = "add the K best classes per row: columns top1_class,top1_prob, ..., "
                 "topK_class,topK_prob (class names and softmax probabilities, best first)"},
        CR_CLI_INFERENCE_OPTIONS(a.run),
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "predict",
        .usage = "--checkpoint FILE --data DIR [--csv FILE] --out FILE [options]",
        .description = "Predicts the class of unlabeled images with a checkpoint and writes a "
                       "submission CSV. The images go through the same decoding, resizing and "
                       "model as in eval, with the checkpoint's classes, channels and "
                       "normalization.",
        .options = options,
        .config = true,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_status s = run_predict(&a);
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}
