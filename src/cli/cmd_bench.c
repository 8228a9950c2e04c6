/* `crescendo bench` and its `train` benchmark: training-step throughput on a fixed random batch,
 * measured the way bench/pytorch_train_step.py measures PyTorch (zero_grad, forward, loss,
 * backward, SGD step; median of the timed steps after warm-up), so the two print comparable
 * images/s, with the step's time split and its arithmetic rate. Under mpirun every process steps
 * on its own batch and the gradients are averaged as in training: rank 0 prints the job's
 * images/s and what the allreduce took. `bench data` lives in cmd_bench_data.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/precision.h"
#include "crescendo/graph.h"
#include "crescendo/log.h"
#include "crescendo/model.h"
#include "crescendo/optim.h"
#include "crescendo/rng.h"
#include "crescendo/step.h"
#include "crescendo/version.h"

typedef struct bench_args {
    const char *model;
    cr_int_list resolutions;
    int batch_size, classes, channels, warmup, steps, threads, precision;
    bool json, profile;
} bench_args;

/* What one resolution measured: step times, sorted, and the phases of the median step. */
typedef struct bench_result {
    double *times;       /* (steps) seconds */
    cr_step_times *phases; /* (steps), in the order of times */
    double step_flop;    /* arithmetic of one training step (cr_graph_flops) */
    size_t gradient_bytes; /* what each step's allreduce sums */
} bench_result;

/* Sorts the step times and their phases together. */
static void sort_steps(bench_result *r, int steps) {
    for (int i = 1; i < steps; i++)
        for (int j = i; j > 0 && r->times[j] < r->times[j - 1]; j--) {
            double t = r->times[j];
            cr_step_times p = r->phases[j];
            r->times[j] = r->times[j - 1], r->phases[j] = r->phases[j - 1];
            r->times[j - 1] = t, r->phases[j - 1] = p;
        }
}

/* Times `steps` training steps at one resolution after `warmup` untimed ones. */
static cr_status bench_resolution(cr_backend *be, const bench_args *a, cr_dtype precision,
                                  int side, bench_result *out) {
    cr_model_config mc = {.num_classes = a->classes, .in_channels = a->channels};
    cr_graph *g;
    CR_TRY(cr_model_create(be, a->model, &mc, 0, &g));
    cr_optimizer_config oc = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    oc.momentum = 0.9;
    oc.weight_decay = 5e-4;
    cr_optimizer *opt = NULL;
    cr_step *step = NULL;
    size_t count = (size_t)a->batch_size * side * side * a->channels;
    float *images = malloc(count * sizeof *images);
    int32_t *labels = malloc(sizeof *labels * (size_t)a->batch_size);
    cr_status s = images && labels ? cr_graph_set_precision(g, precision)
                                   : cr_fail(CR_STATUS_NOMEM, "out of memory");
    if (s == CR_STATUS_OK)
        s = cr_optimizer_create(be, &oc, cr_graph_params(g), cr_graph_param_count(g), &opt);
    if (s == CR_STATUS_OK)
        s = cr_step_create(g, opt, &(cr_step_config){.time_phases = true, .dist = cr_cli_dist()},
                           &step);
    if (s == CR_STATUS_OK) s = cr_step_prepare(step, a->batch_size, side);
    if (s == CR_STATUS_OK) out->step_flop = cr_graph_flops(g, true) * a->batch_size;
    size_t gradients;
    cr_graph_param_grads(g, &gradients);
    out->gradient_bytes = gradients * sizeof(float);
    cr_rng rng = cr_rng_stream(1, (uint64_t)side, 0);
    for (size_t i = 0; images && i < count; i++) images[i] = cr_rng_normal(&rng);
    for (int i = 0; labels && i < a->batch_size; i++)
        labels[i] = (int32_t)cr_rng_below(&rng, (uint32_t)a->classes);
    for (int i = 0; s == CR_STATUS_OK && i < a->warmup + a->steps; i++) {
        double start = cr_now_seconds();
        cr_step_result r;
        s = cr_step_train(step, images, labels, a->batch_size, 0.01, i, &r);
        if (i >= a->warmup) {
            out->times[i - a->warmup] = cr_now_seconds() - start;
            out->phases[i - a->warmup] = cr_step_last_times(step);
        }
        if (a->profile && i + 1 == a->warmup) cr_graph_set_profiling(g, true);
    }
    if (s == CR_STATUS_OK && a->profile) cr_graph_print_profile(g, stdout);
    cr_step_destroy(step);
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
        CR_CLI_PRECISION_OPTION(a.precision),
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
    bench_result r = {.times = malloc(sizeof *r.times * (size_t)a.steps),
                      .phases = malloc(sizeof *r.phases * (size_t)a.steps)};
    const char *mode = cr_cli_precisions[a.precision];
    cr_dtype precision = CR_DTYPE_F32;
    double peak = 0.0;
    s = cr_cli_precision(a.precision, be, &precision);
    if (s == CR_STATUS_OK) s = cr_backend_peak_gflops(be, precision, &peak);
    if (s == CR_STATUS_OK && !a.json)
        printf("peak: %.0f GFLOP/s in %s (the backend's best convolution, 3x3 256 channels at "
               "14x14)\n", peak, mode);
    for (int i = 0; s == CR_STATUS_OK && i < a.resolutions.count; i++) {
        int side = a.resolutions.values[i];
        s = r.times && r.phases ? bench_resolution(be, &a, precision, side, &r)
                                : cr_fail(CR_STATUS_NOMEM, "no memory");
        if (s != CR_STATUS_OK) break;
        sort_steps(&r, a.steps);
        int mid = a.steps / 2; /* the median step (the upper one of an even count) */
        double median = a.steps % 2 ? r.times[mid] : 0.5 * (r.times[mid - 1] + r.times[mid]);
        int processes = cr_dist_size(cr_cli_dist());
        double ips = processes * a.batch_size / median, gflops = r.step_flop / median * 1e-9;
        cr_step_times p = r.phases[mid];
        if (a.json)
            printf("{\"framework\": \"crescendo\", \"version\": \"%s\", \"model\": \"%s\", "
                   "\"mode\": \"%s\", \"resolution\": %d, \"batch_size\": %d, \"threads\": %d, "
                   "\"steps\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
                   "\"images_per_sec\": %.2f, \"forward_ms\": %.3f, \"backward_ms\": %.3f, "
                   "\"optimizer_ms\": %.3f, \"gflops\": %.1f, \"peak_gflops\": %.1f, "
                   "\"processes\": %d, \"allreduce_ms\": %.3f, \"allreduce_bytes\": %zu}\n",
                   cr_version(), a.model, mode, side, a.batch_size, be->threads, a.steps,
                   1e3 * median, 1e3 * r.times[0], ips, 1e3 * p.forward, 1e3 * p.backward,
                   1e3 * p.optimizer, gflops, peak, processes, 1e3 * p.allreduce,
                   processes > 1 ? r.gradient_bytes : 0);
        else if (processes > 1)
            printf("%-10s %4dpx  %s  %d processes x batch %d  %d threads each  median %.1f ms "
                   "(forward %.1f, backward %.1f, allreduce %.1f of %.1f MB, optimizer %.1f)  "
                   "%.1f img/s in all\n",
                   a.model, side, mode, processes, a.batch_size, be->threads, 1e3 * median,
                   1e3 * p.forward, 1e3 * p.backward, 1e3 * p.allreduce,
                   r.gradient_bytes / 1048576.0, 1e3 * p.optimizer, ips);
        else
            printf("%-10s %4dpx  %s  batch %d  %d threads  median %.1f ms (forward %.1f, backward "
                   "%.1f, optimizer %.1f)  min %.1f ms  %.1f img/s  %.0f GFLOP/s "
                   "(%.0f%% of peak)\n",
                   a.model, side, mode, a.batch_size, be->threads, 1e3 * median, 1e3 * p.forward,
                   1e3 * p.backward, 1e3 * p.optimizer, 1e3 * r.times[0], ips, gflops,
                   100.0 * gflops / peak);
        fflush(stdout);
    }
    free(r.times);
    free(r.phases);
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
