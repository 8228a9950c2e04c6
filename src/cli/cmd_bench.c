/* `crescendo bench` and its `train` benchmark: training-step throughput on a fixed random batch,
 * measured the way bench/pytorch_train_step.py measures PyTorch (zero_grad, forward, loss,
 * backward, SGD step; median of the timed steps after warm-up), so the two print comparable
 * images/s. `bench data` lives in cmd_bench_data.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "crescendo/graph.h"
#include "crescendo/log.h"
#include "crescendo/model.h"
#include "crescendo/optim.h"
#include "crescendo/rng.h"
#include "crescendo/version.h"

typedef struct bench_args {
    const char *model;
    cr_int_list resolutions;
    int batch_size, classes, channels, warmup, steps, threads;
    bool json, profile;
} bench_args;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times `steps` training steps at one resolution after `warmup` untimed ones. */
static cr_status bench_resolution(cr_backend *be, const bench_args *a, int side, double *times) {
    cr_model_config mc = {.num_classes = a->classes, .in_channels = a->channels};
    cr_graph *g;
    CR_TRY(cr_model_create(be, a->model, &mc, 0, &g));
    cr_optimizer_config oc = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    oc.momentum = 0.9;
    oc.weight_decay = 5e-4;
    cr_optimizer *opt = NULL;
    size_t count = (size_t)a->batch_size * side * side * a->channels;
    float *images = malloc(count * sizeof *images);
    int32_t *labels = malloc(sizeof *labels * (size_t)a->batch_size);
    cr_status s = images && labels ? cr_graph_plan(g, a->batch_size, side, side)
                                   : cr_fail(CR_STATUS_NOMEM, "out of memory");
    if (s == CR_STATUS_OK)
        s = cr_optimizer_create(be, &oc, cr_graph_params(g), cr_graph_param_count(g), &opt);
    cr_rng rng = cr_rng_stream(1, (uint64_t)side, 0);
    for (size_t i = 0; images && i < count; i++) images[i] = cr_rng_normal(&rng);
    for (int i = 0; labels && i < a->batch_size; i++)
        labels[i] = (int32_t)cr_rng_below(&rng, (uint32_t)a->classes);
    for (int step = 0; s == CR_STATUS_OK && step < a->warmup + a->steps; step++) {
        double start = cr_now_seconds();
        const float *logits;
        float loss;
        s = cr_graph_zero_grad(g);
        if (s == CR_STATUS_OK) s = cr_graph_forward(g, images, a->batch_size, true, &logits);
        if (s == CR_STATUS_OK) s = cr_graph_loss(g, labels, 0.0f, &loss, NULL);
        if (s == CR_STATUS_OK) s = cr_graph_backward(g);
        if (s == CR_STATUS_OK) s = cr_optimizer_step(opt, 0.01);
        if (s == CR_STATUS_OK) s = be->ops->synchronize(be);
        if (step >= a->warmup) times[step - a->warmup] = cr_now_seconds() - start;
        if (a->profile && step + 1 == a->warmup) cr_graph_set_profiling(g, true);
    }
    if (s == CR_STATUS_OK && a->profile) cr_graph_print_profile(g, stdout);
    cr_optimizer_destroy(opt);
    cr_graph_destroy(g);
    free(images);
    free(labels);
    return s;
}

static int bench_train(int argc, char **argv) {
    bench_args a = {0};
    const cr_option options[] = {
        {"model", 'm', CR_OPTION_STRING, &a.model, "resnet18", .metavar = "NAME",
         .help = "resnet18, resnet34, resnet50 or simple_cnn"},
        {"resolution", 'r', CR_OPTION_INT_LIST, &a.resolutions, "64,128", .metavar = "PX,...",
         .min = 8, .max = 4096, .help = "square input sizes to measure"},
        {"batch-size", 'b', CR_OPTION_INT, &a.batch_size, "64", .min = 1, .max = 65536,
         .help = "images per step"},
        {"classes", 0, CR_OPTION_INT, &a.classes, "10", .min = 2, .max = 100000,
         .help = "outputs of the classifier"},
        {"channels", 0, CR_OPTION_INT, &a.channels, "3", .min = 1, .max = 3,
         .help = "input channels"},
        {"warmup", 0, CR_OPTION_INT, &a.warmup, "5", .min = 1, .max = 10000,
         .help = "untimed steps first (primitive creation, caches)"},
        {"steps", 0, CR_OPTION_INT, &a.steps, "20", .min = 1, .max = 100000,
         .help = "timed steps; the median is reported"},
        {"threads", 0, CR_OPTION_INT, &a.threads, "0", .min = 0, .max = 1024,
         .help = "compute threads; 0: one per core"},
        {"json", 0, CR_OPTION_FLAG, &a.json, .help = "one JSON object per configuration"},
        {"profile", 0, CR_OPTION_FLAG, &a.profile,
         .help = "also time every layer over the timed steps and print where a step goes"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "bench train",
        .usage = "[--model NAME] [--resolution 64,128] [--batch-size N] [--json]",
        .description = "Measures training steps (forward, cross-entropy, backward, SGD with "
                       "momentum 0.9 and weight decay 5e-4) on a fixed random batch and prints "
                       "images per second from the median step time.",
        .options = options,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    cr_backend *be;
    cr_status s = cr_backend_create(CR_DEVICE_CPU, a.threads, &be);
    if (s != CR_STATUS_OK) return cr_cli_failure(s);
    double *times = malloc(sizeof *times * (size_t)a.steps);
    for (int i = 0; s == CR_STATUS_OK && i < a.resolutions.count; i++) {
        int side = a.resolutions.values[i];
        s = times ? bench_resolution(be, &a, side, times) : cr_fail(CR_STATUS_NOMEM, "no memory");
        if (s != CR_STATUS_OK) break;
        qsort(times, (size_t)a.steps, sizeof *times, compare_doubles);
        double median = a.steps % 2 ? times[a.steps / 2]
                                    : 0.5 * (times[a.steps / 2 - 1] + times[a.steps / 2]);
        double ips = a.batch_size / median;
        if (a.json)
            printf("{\"framework\": \"crescendo\", \"version\": \"%s\", \"model\": \"%s\", "
                   "\"mode\": \"fp32\", \"resolution\": %d, \"batch_size\": %d, \"threads\": %d, "
                   "\"steps\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
                   "\"images_per_sec\": %.2f}\n",
                   cr_version(), a.model, side, a.batch_size, be->threads, a.steps,
                   1e3 * median, 1e3 * times[0], ips);
        else
            printf("%-10s %4dpx  batch %d  %d threads  median %.1f ms  min %.1f ms  %.1f img/s\n",
                   a.model, side, a.batch_size, be->threads, 1e3 * median, 1e3 * times[0], ips);
        fflush(stdout);
    }
    free(times);
    cr_backend_destroy(be);
    return s == CR_STATUS_OK ? CR_EXIT_OK : cr_cli_failure(s);
}

int cr_cmd_bench(int argc, char **argv) {
    static const cr_command benches[] = {
        {"train", bench_train, "training-step throughput on a random batch"},
        {"data", cr_cmd_bench_data, "loader throughput: decode, resize and augment into batches"},
        {NULL, NULL, NULL},
    };
    static const cr_command_group group = {
        .name = "bench",
        .noun = "benchmark",
        .description = "Measures speed; compare with bench/pytorch_train_step.py and "
                       "bench/data_pil.py on the same machine.",
        .commands = benches,
    };
    return cr_cli_dispatch(&group, argc, argv);
}
