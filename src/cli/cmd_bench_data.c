/* `crescendo bench data`: images per second through the real loader (read, decode, resize, flip,
 * normalize into batches) with nothing consuming the batches, so the figure is the most the loader
 * can feed a trainer; bench/data_pil.py measures PIL and torchvision the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/datasets.h"
#include "crescendo/loader.h"
#include "crescendo/log.h"

typedef struct data_args {
    const char *data, *csv;
    cr_int_list resolutions, workers;
    int batch_size, passes, channels, cache_mib, max_image_pixels;
    double random_crop;
    int jpeg_scale;
    bool flip, json;
    cr_cli_columns columns;
} data_args;

/* One measured configuration. */
typedef struct data_result {
    double median_seconds, best_seconds; /* of one pass over the set */
    int64_t images;                      /* per pass */
    double decoded;                      /* per timed pass, on average */
} data_result;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One pass over the set; counts the images handed out and the images decoded. */
static cr_status run_pass(cr_loader *l, const cr_loader_epoch *e, int64_t *images,
                          int64_t *decoded) {
    CR_TRY(cr_loader_start_epoch(l, e));
    cr_batch batch;
    cr_status s;
    while ((s = cr_loader_next(l, &batch)) == CR_STATUS_OK) {}
    if (s != CR_STATUS_END) return s;
    cr_loader_stats stats;
    cr_loader_get_stats(l, &stats);
    *images = stats.samples;
    *decoded = stats.decoded;
    return CR_STATUS_OK;
}

/* An untimed pass first (it warms the file cache, grows the buffers and fills the decoded-image
 * cache when there is one), then `passes` timed ones, each a fresh shuffle and fresh flips. */
static cr_status measure(cr_loader *l, const data_args *a, int side, double *times,
                         data_result *out) {
    cr_loader_epoch e = {.resolution = side, .batch_size = a->batch_size, .shuffle = true,
                         .flip = a->flip, .crop_scale_min = (float)a->random_crop};
    int64_t images = 0, decoded = 0, decoded_sum = 0;
    CR_TRY(run_pass(l, &e, &images, &decoded));
    for (int p = 0; p < a->passes; p++) {
        e.epoch = p + 1;
        double start = cr_now_seconds();
        CR_TRY(run_pass(l, &e, &images, &decoded));
        times[p] = cr_now_seconds() - start;
        decoded_sum += decoded;
    }
    qsort(times, (size_t)a->passes, sizeof *times, compare_doubles);
    int n = a->passes;
    out->median_seconds = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    out->best_seconds = times[0];
    out->images = images;
    out->decoded = (double)decoded_sum / n;
    return CR_STATUS_OK;
}

static void print_result(const data_args *a, int side, int workers, const data_result *r) {
    double ips = r->median_seconds > 0 ? (double)r->images / r->median_seconds : 0.0;
    if (a->json)
        printf("{\"framework\": \"crescendo\", \"resolution\": %d, \"workers\": %d, "
               "\"batch_size\": %d, \"images\": %lld, \"passes\": %d, \"median_s\": %.6f, "
               "\"best_s\": %.6f, \"decoded_per_pass\": %.1f, \"images_per_sec\": %.2f}\n",
               side, workers, a->batch_size, (long long)r->images, a->passes, r->median_seconds,
               r->best_seconds, r->decoded, ips);
    else
        printf("%4dpx  workers %2d  %lld images  median %.3f s  best %.3f s  decoded %.0f  "
               "%.1f img/s\n", side, workers, (long long)r->images, r->median_seconds,
               r->best_seconds, r->decoded, ips);
    fflush(stdout);
}

static cr_status run_bench(const data_args *a) {
    cr_dataset_options dso = {.labels_optional = true};
    cr_cli_apply_columns(&a->columns, &dso);
    const char *csv = a->csv;
    char default_csv[4096];
    int n = snprintf(default_csv, sizeof default_csv, "%s/train.csv", a->data);
    if (!csv && n > 0 && (size_t)n < sizeof default_csv && access(default_csv, F_OK) == 0)
        csv = "train.csv";
    cr_dataset *ds;
    CR_TRY(cr_cli_open_dataset(a->data, csv, &dso, &ds));
    double *times = malloc(sizeof *times * (size_t)a->passes);
    cr_status s = times ? CR_STATUS_OK : cr_fail(CR_STATUS_NOMEM, "out of memory");
    for (int w = 0; s == CR_STATUS_OK && w < a->workers.count; w++) {
        /* ImageNet's normalization: the numbers only matter in that they are applied */
        cr_loader_options lo = {.workers = a->workers.values[w], .channels = a->channels,
                                .mean = {0.485f, 0.456f, 0.406f},
                                .std = {0.229f, 0.224f, 0.225f},
                                .jpeg_scale = (cr_jpeg_scale)a->jpeg_scale,
                                .max_image_pixels = (uint64_t)a->max_image_pixels,
                                .cache_bytes = (size_t)a->cache_mib << 20};
        cr_loader *l;
        s = cr_loader_create(ds, &lo, &l);
        for (int i = 0; s == CR_STATUS_OK && i < a->resolutions.count; i++) {
            data_result r;
            int side = a->resolutions.values[i];
            s = measure(l, a, side, times, &r);
            if (s == CR_STATUS_OK) print_result(a, side, cr_loader_workers(l), &r);
        }
        cr_loader_destroy(l);
    }
    free(times);
    cr_dataset_destroy(ds);
    return s;
}

int cr_cmd_bench_data(int argc, char **argv) {
    data_args a = {0};
    const cr_option options[] = {
        {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .required = true,
         .help = "the image root: CSV paths are relative to it; without a CSV (and no "
                 "DIR/train.csv) an ImageFolder tree"},
        {"csv", 0, CR_OPTION_STRING, &a.csv, .metavar = "FILE",
         .help = "the images to read (default DIR/train.csv if present); labels are optional"},
        CR_CLI_COLUMN_OPTIONS(a.columns),
        {"resolution", 'r', CR_OPTION_INT_LIST, &a.resolutions, "64,128,256,512",
         .metavar = "PX,...", .min = 8, .max = 8192, .help = "square output sizes to measure"},
        {"workers", 'j', CR_OPTION_INT_LIST, &a.workers, "1", .metavar = "N,...", .min = 0,
         .max = 1024, .help = "decoding threads to measure with; 0: one per core"},
        {"batch-size", 'b', CR_OPTION_INT, &a.batch_size, "64", .min = 1, .max = 1 << 20,
         .help = "images per batch"},
        {"passes", 0, CR_OPTION_INT, &a.passes, "5", .min = 1, .max = 10000,
         .help = "timed passes over the set after an untimed one; the median is reported"},
        {"channels", 0, CR_OPTION_INT, &a.channels, "3", .min = 1, .max = 3,
         .help = "1 reads gray images, 3 RGB"},
        {"flip", 0, CR_OPTION_FLAG, &a.flip, "true", .help = "random horizontal flips"},
        {"random-crop", 0, CR_OPTION_FLOAT, &a.random_crop, "0", .metavar = "SCALE_MIN",
         .min = 0, .max = 1,
         .help = "random resized crops of SCALE_MIN to all of the area, as train's; 0: off"},
        CR_CLI_JPEG_SCALE_OPTION(a.jpeg_scale, "the output"),
        {"cache-decoded", 0, CR_OPTION_INT, &a.cache_mib, "0", .metavar = "MIB", .min = 0,
         .max = 1 << 24, .help = "keep up to this many MiB of decoded images between passes"},
        {"max-image-pixels", 0, CR_OPTION_INT, &a.max_image_pixels, "178956970", .metavar = "N",
         .min = 1, .max = 2147483647,
         .help = "larger images fail (possible decompression bombs); PIL's limit by default"},
        {"json", 0, CR_OPTION_FLAG, &a.json, .help = "one JSON object per configuration"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "bench data",
        .usage = "--data DIR [--csv FILE] [--resolution 64,128,256,512] [--workers 1,2] [--json]",
        .description = "Measures the loader alone: images per second read, decoded, resized, "
                       "flipped and normalized into batches, at each resolution and worker "
                       "count, from the median of timed passes over the set.",
        .options = options,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_status s = run_bench(&a);
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}
