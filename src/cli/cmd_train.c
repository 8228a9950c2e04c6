/* `crescendo train`: reads the options into a cr_train_config, opens the datasets, saves the
 * resolved configuration into the run folder (rerunnable with -c) and runs the trainer. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/datasets.h"
#include "cli/precision.h"
#include "crescendo/budget.h"
#include "crescendo/files.h"
#include "crescendo/log.h"
#include "crescendo/model.h"
#include "crescendo/trainer.h"

/* Everything the command line sets, before it becomes a cr_train_config. */
typedef struct train_args {
    const char *data, *train_csv, *val_csv, *model, *schedule, *out, *resume, *mean, *std, *init;
    const char *time_budget;
    double val_split, lr, momentum, weight_decay, label_smoothing, dropout;
    double pct_start, div_factor, final_div_factor, random_crop, final_share;
    int epochs, resolution, batch_size, eval_resolution, early_stop, warmup_epochs, workers;
    int threads, seed, channels, max_image_pixels, cache_decoded_mib;
    int optimizer, lr_schedule, precision, device, on_bad, jpeg_scale;
    int lr_pace, batch_pixels, lr_scaling, stage_patience, stage_metric, bn_recalibrate;
    int freeze_epochs, max_resolution, best, plateau_patience;
    double stage_min_delta, clip_grad_norm, ema, mixup, cutmix, plateau_factor;
    bool nesterov, flip, overwrite, eval_at_switch, progressive_reg, test_res_search, match_scale;
    bool sync_bn;
    cr_cli_columns columns;
} train_args;

static const char *const optimizers[] = {"sgd", "adamw", NULL};
static const char *const lr_schedules[] = {"onecycle", "cosine", "step", "constant", "plateau",
                                           NULL};
static const char *const devices[] = {"cpu", "cuda", NULL};
static const char *const on_bad_choices[] = {"fail", "skip", NULL};
static const char *const lr_scalings[] = {"linear", "sqrt", "none", NULL};
static const char *const stage_metrics[] = {"val_loss", "val_acc", NULL};
static const char *const lr_paces[] = {"pixels", "steps", NULL}; /* in cr_lr_pace's order */
static const char *const best_choices[] = {"ema", "raw", NULL};

static const cr_lr_schedule_kind lr_kinds[] = {CR_LR_SCHEDULE_ONECYCLE, CR_LR_SCHEDULE_COSINE,
                                               CR_LR_SCHEDULE_STEP, CR_LR_SCHEDULE_CONSTANT,
                                               CR_LR_SCHEDULE_PLATEAU};
static const cr_lr_scaling lr_scaling_kinds[] = {CR_LR_SCALING_LINEAR, CR_LR_SCALING_SQRT,
                                                 CR_LR_SCALING_NONE};

static bool file_exists(const char *dir, const char *name) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof path && access(path, F_OK) == 0;
}

/* The config the trainer runs, from parsed arguments; fails with a usage message. */
static cr_status make_config(const train_args *a, cr_train_config *c) {
    *c = cr_train_defaults();
    c->model = a->model;
    c->channels = a->channels;
    c->dropout = (float)a->dropout;
    c->flip = a->flip;
    c->crop_scale_min = (float)a->random_crop;
    c->workers = a->workers;
    c->on_bad = a->on_bad == 1 ? CR_ON_BAD_SKIP : CR_ON_BAD_FAIL;
    c->max_image_pixels = (uint64_t)a->max_image_pixels;
    c->cache_bytes = (size_t)a->cache_decoded_mib << 20;
    c->jpeg_scale = (cr_jpeg_scale)a->jpeg_scale;
    c->stage_rules = (cr_stage_rules){
        .epochs = a->epochs, .batch_size = a->batch_size, .batch_pixels = a->batch_pixels,
        .lr_scaling = lr_scaling_kinds[a->lr_scaling], .patience = a->stage_patience,
        .min_delta = a->stage_min_delta};
    c->stage_metric = a->stage_metric == 1 ? CR_STAGE_METRIC_VAL_ACC : CR_STAGE_METRIC_VAL_LOSS;
    c->bn_recalibrate = a->bn_recalibrate;
    c->eval_resolution = a->eval_resolution;
    c->eval_at_switch = a->eval_at_switch;
    c->progressive_reg = a->progressive_reg;
    c->match_scale = a->match_scale;
    c->sync_batchnorm = a->sync_bn;
    c->clip_grad_norm = a->clip_grad_norm;
    c->plateau_patience = a->plateau_patience;
    c->plateau_factor = a->plateau_factor;
    c->mix.mixup_alpha = (float)a->mixup;
    c->mix.cutmix_alpha = (float)a->cutmix;
    c->ema_decay = a->ema;
    c->best_raw = a->best == 1;
    c->test_res_search = a->test_res_search;
    c->label_smoothing = (float)a->label_smoothing;
    c->early_stop = a->early_stop;
    c->warmup_epochs = a->warmup_epochs;
    c->lr_pace = (cr_lr_pace)a->lr_pace;
    c->seed = (uint64_t)a->seed;
    if (a->device != 0)
        return cr_fail(CR_STATUS_UNSUPPORTED, "--device cuda: this build has no CUDA backend");
    static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
    static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
    CR_TRY(cr_cli_parse_channels(a->mean, "mean", a->channels, imagenet_mean, c->mean));
    CR_TRY(cr_cli_parse_channels(a->std, "std", a->channels, imagenet_std, c->std));
    if (a->schedule)
        CR_TRY(cr_schedule_parse(a->schedule, a->epochs, &c->schedule));
    else if (a->resolution > 0)
        c->schedule = cr_schedule_fixed(a->resolution, a->epochs);
    c->optimizer = cr_optimizer_defaults(a->optimizer == 1 ? CR_OPTIMIZER_ADAMW : CR_OPTIMIZER_SGD);
    if (a->optimizer == 0) c->optimizer.momentum = a->momentum;
    c->optimizer.nesterov = a->nesterov;
    c->optimizer.weight_decay = a->weight_decay;
    c->lr_schedule = cr_lr_schedule_defaults(lr_kinds[a->lr_schedule], a->lr, 1);
    c->lr_schedule.pct_start = a->pct_start;
    c->lr_schedule.div_factor = a->div_factor;
    c->lr_schedule.final_div_factor = a->final_div_factor;
    c->out_dir = a->resume ? a->resume : a->out;
    c->resume = a->resume != NULL;
    /* a resumed run's config.yaml names the weights it started from; its checkpoint holds them */
    c->init_path = a->resume ? NULL : a->init;
    c->freeze_epochs = a->freeze_epochs;
    return CR_STATUS_OK;
}

/* The training and validation sets: a validation CSV, a stratified split, or none. */
static cr_status open_datasets(const train_args *a, cr_dataset **train, cr_dataset **val) {
    cr_dataset_options options = {.on_bad = a->on_bad == 1 ? CR_ON_BAD_SKIP : CR_ON_BAD_FAIL};
    cr_cli_apply_columns(&a->columns, &options);
    cr_dataset *all;
    const char *csv = a->train_csv;
    if (!csv && file_exists(a->data, "train.csv")) csv = "train.csv";
    CR_TRY(cr_cli_open_dataset(a->data, csv, &options, &all));
    if (a->val_csv) {
        int k = cr_dataset_num_classes(all);
        const char **names = malloc(sizeof *names * (size_t)k);
        if (!names) {
            cr_dataset_destroy(all);
            return cr_fail(CR_STATUS_NOMEM, "out of memory");
        }
        for (int i = 0; i < k; i++) names[i] = cr_dataset_class_name(all, i);
        options.num_classes = k;
        options.class_names = names;
        cr_status s = cr_cli_open_dataset(a->data, a->val_csv, &options, val);
        free(names);
        if (s != CR_STATUS_OK) {
            cr_dataset_destroy(all);
            return s;
        }
        *train = all;
        return CR_STATUS_OK;
    }
    if (a->val_split > 0) {
        cr_status s = cr_dataset_split(all, a->val_split, (uint64_t)a->seed, train, val);
        cr_dataset_destroy(all);
        return s;
    }
    *train = all;
    *val = NULL;
    return CR_STATUS_OK;
}

/* The signal that asked the run to stop (SIGINT, SIGTERM), 0 while none has. */
static volatile sig_atomic_t stop_signal;

static void request_stop(int signo) { stop_signal = signo; }

/* SIGINT and SIGTERM finish the step under way and write last.safetensors there; a second one
 * ends the process at once, as it would have without this. */
static void stop_on_signals(void) {
    struct sigaction action = {.sa_handler = request_stop, .sa_flags = SA_RESETHAND};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

/* "90", "90s", "25m", "2h", "1h30m": seconds in *out, > 0. */
static cr_status parse_duration(const char *text, double *out) {
    const char *p = text;
    double total = 0.0;
    while (*p) {
        char *end;
        double value = strtod(p, &end);
        if (end == p || !(value >= 0.0)) break;
        double unit = 1.0;
        if (*end == 'h') unit = 3600.0;
        else if (*end == 'm') unit = 60.0;
        else if (*end == 's' || *end == '\0') unit = 1.0;
        else break;
        total += value * unit;
        p = *end ? end + 1 : end;
    }
    if (*p || !(total > 0.0) || !isfinite(total))
        return cr_fail(CR_STATUS_INVALID, "--time-budget %s: expected a duration such as 90s, "
                       "25m, 2h or 1h30m", text);
    *out = total;
    return CR_STATUS_OK;
}

/* --time-budget: the epochs of each stage of config->schedule (sizes and batches as given)
 * chosen so that the run, from `started` on, ends within the budget: the stages are timed on a
 * throwaway model, the plan printed, and `planned` (the schedule's text) recorded in config.yaml
 * in place of --schedule, so that --resume continues the same plan. The test-resolution search's
 * passes after the last epoch are set aside first. */
static cr_status plan_budget(train_args *a, cr_backend *be, cr_train_config *c, double started,
                             char *planned, int planned_size) {
    double budget = 0.0;
    CR_TRY(parse_duration(a->time_budget, &budget));
    cr_stage_rules rules = c->stage_rules;
    rules.max_batch = cr_dataset_count(c->train);
    cr_stage_machine machine;
    cr_schedule sizes = c->schedule;
    for (int i = 0; i < sizes.count; i++) sizes.stages[i].epochs = 1;
    CR_TRY(cr_stage_machine_init(&machine, &sizes, &rules));
    cr_stage_cost costs[CR_SCHEDULE_MAX_STAGES];
    for (int i = 0; i < sizes.count; i++) {
        cr_stage_plan stage = cr_stage_machine_stage(&machine, i);
        costs[i] = (cr_stage_cost){.resolution = stage.resolution,
                                   .batch_size = stage.batch_size};
    }
    double measuring = cr_now_seconds();
    CR_TRY(cr_budget_measure(be, c, costs, sizes.count));
    double now = cr_now_seconds(), elapsed = now - started;
    /* every process plans alike: by the slowest one's start */
    CR_TRY(cr_dist_max_f64(c->dist, &elapsed, 1));
    double left = budget - elapsed;
    const cr_stage_cost *last = &costs[sizes.count - 1];
    /* the search validates at the last size times 1.15 and 1.3: about their areas' worth */
    if (c->test_res_search && c->val) left -= last->val_seconds * (1.15 * 1.15 + 1.3 * 1.3);
    cr_budget_recipe recipe = {.last_share = a->final_share};
    double seconds;
    cr_status s = cr_budget_schedule(&sizes, costs, left, &recipe, &c->schedule, &seconds);
    if (s != CR_STATUS_OK) return cr_fail_context(s, "--time-budget %s", a->time_budget);
    cr_schedule_format(&c->schedule, planned, planned_size);
    a->schedule = planned;
    printf("time budget %s (%.0f s): measured in %.1f s, an epoch with validation and checkpoints:",
           a->time_budget, budget, now - measuring);
    for (int i = 0; i < sizes.count; i++)
        printf("%s %d px %.3g s", i ? "," : "", costs[i].resolution,
               costs[i].train_seconds + costs[i].val_seconds + costs[i].end_seconds);
    printf("\nplan %s: %.0f s of training\n", planned, seconds);
    return CR_STATUS_OK;
}

/* With neither --schedule nor --resolution: from 64 to the images' size (at most
 * DEFAULT_SCHEDULE_TOP, at least what the model takes) in steps of at most 1.5x, said on the
 * console. */
enum { DEFAULT_SCHEDULE_FROM = 64, DEFAULT_SCHEDULE_TOP = 512, SIZE_SAMPLES = 32 };

static cr_status default_schedule(const train_args *a, const cr_dataset *train,
                                  cr_train_config *c) {
    int side;
    CR_TRY(cr_dataset_typical_side(train, SIZE_SAMPLES, &side));
    int top = side < DEFAULT_SCHEDULE_TOP ? side : DEFAULT_SCHEDULE_TOP;
    if (a->max_resolution > 0) top = a->max_resolution;
    int min_side = cr_model_min_resolution(a->model);
    if (top < min_side) top = min_side;
    /* under a time budget every size is kept; the plan sets the epochs */
    c->schedule = cr_schedule_growing(DEFAULT_SCHEDULE_FROM, top,
                                       a->time_budget ? CR_SCHEDULE_MAX_STAGES : a->epochs);
    char text[256], origin[64];
    cr_schedule_format(&c->schedule, text, sizeof text);
    if (a->max_resolution > 0) snprintf(origin, sizeof origin, "--max-resolution %d", top);
    else snprintf(origin, sizeof origin, "the images' %d px", side);
    if (!a->time_budget)
        printf("schedule %s, from %s (--schedule or --resolution choose another)\n", text,
               origin);
    else {
        printf("sizes");
        for (int i = 0; i < c->schedule.count; i++)
            printf("%s%d", i ? ", " : " ", c->schedule.stages[i].resolution);
        printf(" px, from %s (--schedule or --resolution choose others)\n", origin);
    }
    return CR_STATUS_OK;
}

static void print_skipped(const cr_dataset *ds) {
    int n = cr_dataset_skipped_count(ds);
    if (n == 0) return;
    fprintf(stderr, "crescendo: skipped %d bad rows of %s (--on-bad skip):\n", n,
            cr_dataset_source(ds));
    for (int i = 0; i < n && i < 10; i++)
        fprintf(stderr, "  %s\n", cr_dataset_skipped_message(ds, i));
    if (n > 10) fprintf(stderr, "  ... and %d more\n", n - 10);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    char buf[4096];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, mem);
    if (mem) fclose(mem);
    fclose(f);
    return text;
}

/* The VALUE of --name VALUE or --name=VALUE on the command line, or NULL. */
static const char *argument(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strncmp(argv[i], "--", 2) != 0 || strncmp(argv[i] + 2, name, n) != 0) continue;
        const char *rest = argv[i] + 2 + n;
        if (rest[0] == '\0' && i + 1 < argc) return argv[i + 1];
        if (rest[0] == '=') return rest + 1;
    }
    return NULL;
}

int cr_cli_train_command(int argc, char **argv, bool find) {
    double started = cr_now_seconds();
    train_args a = {0};
    char planned[256];
    const cr_option options[] = {
        {"data", 0, CR_OPTION_STRING, &a.data, .metavar = "DIR", .required = true,
         .help = "the image root: CSV paths are relative to it; without a CSV (and no "
                 "DIR/train.csv) it is read as an ImageFolder tree DIR/<class>/<image>"},
        {"train-csv", 0, CR_OPTION_STRING, &a.train_csv, .metavar = "FILE",
         .help = "training rows class_name,image_path,target (default DIR/train.csv if present)"},
        {"val-csv", 0, CR_OPTION_STRING, &a.val_csv, .metavar = "FILE",
         .help = "validation rows, with the training set's classes"},
        CR_CLI_COLUMN_OPTIONS(a.columns),
        {"val-split", 0, CR_OPTION_FLOAT, &a.val_split, "0", .metavar = "F", .min = 0, .max = 0.9,
         .help = "without --val-csv, hold out this fraction of each class for validation"},
        {"model", 'm', CR_OPTION_STRING, &a.model, "resnet18", .metavar = "NAME",
         .help = "resnet18, resnet34, resnet50 or simple_cnn"},
        {"channels", 0, CR_OPTION_INT, &a.channels, "3", .min = 1, .max = 3,
         .help = "1 trains on gray images, 3 on RGB"},
        {"epochs", 'e', CR_OPTION_INT, &a.epochs, "10", .min = 1, .max = 100000,
         .help = "epochs at --resolution; the run's length for ramp: and auto: schedules (at "
                 "most), and for explicit stages that give none"},
        {"resolution", 'r', CR_OPTION_INT, &a.resolution, "0", .metavar = "PX", .min = 0,
         .max = 8192, .help = "square training size when there is no --schedule; 0: progressive "
                              "resizing from 64 to the images' size (at most 512) in steps of "
                              "at most 1.5x, with --epochs shared among the sizes, the largest "
                              "getting the extra ones"},
        {"max-resolution", 0, CR_OPTION_INT, &a.max_resolution, "0", .metavar = "PX", .min = 0,
         .max = 8192, .help = "the last size of the default progressive schedule; 0: the "
                              "images' size (at most 512)"},
        {"time-budget", 0, CR_OPTION_STRING, &a.time_budget, .metavar = "DURATION",
         .help = "end the run within DURATION (90s, 25m, 2h, 1h30m): the stages' sizes are "
                 "timed on a throwaway model and their epochs chosen to fill it, --final-share of "
                 "it at the last size (replaces --epochs; config.yaml records the plan, which "
                 "--resume keeps)"},
        {"final-share", 0, CR_OPTION_FLOAT, &a.final_share, "0.5", .metavar = "F", .min = 0.01,
         .max = 1, .help = "under --time-budget, the share of the budget trained at the last "
                           "size; the other sizes share the rest equally"},
        {"schedule", 's', CR_OPTION_STRING, &a.schedule, .metavar = "SPEC",
         .help = "progressive resizing: RES[:EPOCHS][@BATCH],... (64:10,128:10,256:5; a "
                 "stage without epochs takes --epochs), "
                 "double:FROM-TO/EPOCHS (double:64-256/10), ramp:FROM-TO@E1-E2[/MULTIPLE] "
                 "(ramp:160-192@10-25/32) or auto:RES[@BATCH],... (auto:64,128,256)"},
        {"stage-patience", 0, CR_OPTION_INT, &a.stage_patience, "3", .metavar = "N", .min = 1,
         .max = 100000, .help = "auto schedules: move on after N epochs without improvement"},
        {"stage-min-delta", 0, CR_OPTION_FLOAT, &a.stage_min_delta, "0", .metavar = "F",
         .min = 0, .max = 1e9, .help = "auto schedules: an improvement is a change of more "
                                       "than F"},
        {"stage-metric", 0, CR_OPTION_ENUM, &a.stage_metric, "val_loss", .choices = stage_metrics,
         .help = "what auto schedules watch"},
        {"bn-recalibrate", 0, CR_OPTION_INT, &a.bn_recalibrate, "0", .metavar = "N", .min = 0,
         .max = 100000, .help = "at each change of stage, N forward batches in training mode "
                                "at the new size re-estimate BatchNorm statistics first"},
        {"eval-at-switch", 0, CR_OPTION_FLAG, &a.eval_at_switch,
         .help = "validate at each new stage's size before it trains (after --bn-recalibrate): "
                 "the accuracy right after a switch, in metrics.jsonl as switch_val_acc"},
        {"match-scale", 0, CR_OPTION_FLAG, &a.match_scale, "false",
         .help = "stages below the last size train on random crops of at least (size / last "
                 "size)^2 of the area, so that they see objects as large as the last stage "
                 "will"},
        {"progressive-reg", 0, CR_OPTION_FLAG, &a.progressive_reg,
         .help = "grow regularization with the stages (EfficientNetV2): stage i of n trains with "
                 "i/n of --dropout, of --mixup's and --cutmix's alphas and of --random-crop's "
                 "strength"},
        {"eval-resolution", 0, CR_OPTION_INT, &a.eval_resolution, "0", .metavar = "PX", .min = 0,
         .max = 8192, .help = "validate at this size; 0 validates at the stage's size"},
        {"test-res-search", 0, CR_OPTION_FLAG, &a.test_res_search,
         .help = "after training, validate at the last size times 1, 1.15 and 1.3 and report the "
                 "best (FixRes); the table goes to test_res_search.json"},
        {"batch-size", 'b', CR_OPTION_INT, &a.batch_size, "64", .min = 1, .max = 1 << 20,
         .help = "images per step of stages without @BATCH, unless --batch-pixels"},
        {"batch-pixels", 0, CR_OPTION_INT, &a.batch_pixels, "0", .metavar = "N", .min = 0,
         .max = 2147483647, .help = "stages without @BATCH take N / side^2 images per step "
                                    "(rounded, at most the training set); 0: --batch-size"},
        {"lr", 0, CR_OPTION_FLOAT, &a.lr, "0.1", .min = 0, .max = 100,
         .help = "peak learning rate (of the first stage's batch size)"},
        {"lr-scaling", 0, CR_OPTION_ENUM, &a.lr_scaling, "linear", .choices = lr_scalings,
         .help = "a stage with another batch size scales the lr by b / b0, its square root, "
                 "or not"},
        {"lr-pace", 0, CR_OPTION_ENUM, &a.lr_pace, "pixels", .choices = lr_paces,
         .help = "how the lr schedule advances: steps, one unit per step; pixels, by the "
                 "pixels each step trains on, so a stage of small images takes the share of the "
                 "schedule that it takes of the compute"},
        {"lr-schedule", 0, CR_OPTION_ENUM, &a.lr_schedule, "onecycle", .choices = lr_schedules,
         .help = "how the learning rate moves over the run; plateau holds --lr and lowers it "
                 "when validation stops improving (torch's ReduceLROnPlateau)"},
        {"plateau-patience", 0, CR_OPTION_INT, &a.plateau_patience, "3", .metavar = "N",
         .min = 0, .max = 10000,
         .help = "with --lr-schedule plateau, epochs without improvement of --stage-metric "
                 "tolerated before the lr is lowered"},
        {"plateau-factor", 0, CR_OPTION_FLOAT, &a.plateau_factor, "0.1", .metavar = "F",
         .min = 1e-6, .max = 0.999999,
         .help = "with --lr-schedule plateau, what each lowering multiplies the lr by"},
        {"warmup-epochs", 0, CR_OPTION_INT, &a.warmup_epochs, "0", .min = 0, .max = 1000,
         .help = "linear warm-up before the schedule"},
        {"pct-start", 0, CR_OPTION_FLOAT, &a.pct_start, "0.25", .min = 0.01, .max = 0.99,
         .help = "onecycle: share of the steps spent rising to the peak"},
        {"div-factor", 0, CR_OPTION_FLOAT, &a.div_factor, "10", .min = 1, .max = 1e6,
         .help = "onecycle: the start is lr / div-factor"},
        {"final-div-factor", 0, CR_OPTION_FLOAT, &a.final_div_factor, "100", .min = 1, .max = 1e9,
         .help = "onecycle: the end is the start / final-div-factor"},
        {"optimizer", 0, CR_OPTION_ENUM, &a.optimizer, "sgd", .choices = optimizers,
         .help = "sgd (with momentum) or adamw"},
        {"momentum", 0, CR_OPTION_FLOAT, &a.momentum, "0.9", .min = 0, .max = 0.9999,
         .help = "SGD momentum"},
        {"nesterov", 0, CR_OPTION_FLAG, &a.nesterov, "true", .help = "Nesterov momentum (SGD)"},
        {"weight-decay", 0, CR_OPTION_FLOAT, &a.weight_decay, "5e-4", .min = 0, .max = 10,
         .help = "L2 penalty (SGD) or decoupled decay (AdamW); not applied to BatchNorm and "
                 "biases"},
        {"label-smoothing", 0, CR_OPTION_FLOAT, &a.label_smoothing, "0", .min = 0, .max = 0.99,
         .help = "spread this much of each target over all classes"},
        {"dropout", 0, CR_OPTION_FLOAT, &a.dropout, "0", .min = 0, .max = 0.95,
         .help = "dropout before the classifier (simple_cnn: in its head)"},
        {"mixup", 0, CR_OPTION_FLOAT, &a.mixup, "0", .metavar = "ALPHA", .min = 0, .max = 100,
         .help = "mix each training batch with itself reversed, by a weight ~ Beta(ALPHA, ALPHA), "
                 "and the targets alike (timm's mixup; 0.2 to 0.8 is common); 0: off"},
        {"cutmix", 0, CR_OPTION_FLOAT, &a.cutmix, "0", .metavar = "ALPHA", .min = 0, .max = 100,
         .help = "paste into each image a box of its partner in the reversed batch (timm's "
                 "cutmix; 1.0 is common); with --mixup, each batch takes one of the two at even "
                 "odds; 0: off"},
        {"ema", 0, CR_OPTION_FLOAT, &a.ema, "0", .metavar = "DECAY", .min = 0, .max = 0.999999,
         .help = "keep a moving average of the weights (ema += (1 - DECAY) * (w - ema) after "
                 "every step, as timm's ModelEmaV2; 0.999 is common), validated each epoch "
                 "beside them and saved as ema.safetensors; 0: none"},
        {"best", 0, CR_OPTION_ENUM, &a.best, "ema", .choices = best_choices,
         .help = "with --ema, the weights best.safetensors keeps and early stopping and auto "
                 "stages follow: the average's or the raw ones'"},
        {"clip-grad-norm", 0, CR_OPTION_FLOAT, &a.clip_grad_norm, "0", .metavar = "F", .min = 0,
         .max = 1e9, .help = "scale each step's gradients down to an L2 norm of F when above it "
                             "(torch.nn.utils.clip_grad_norm_); 0: never"},
        {"flip", 0, CR_OPTION_FLAG, &a.flip, "true", .help = "random horizontal flips"},
        {"random-crop", 0, CR_OPTION_FLOAT, &a.random_crop, "0", .metavar = "SCALE_MIN",
         .min = 0, .max = 1,
         .help = "train on random resized crops of SCALE_MIN to all of the image's area, aspect "
                 "3/4 to 4/3 (torchvision's RandomResizedCrop); 0: off"},
        {"mean", 0, CR_OPTION_STRING, &a.mean, "imagenet", .metavar = "F[,F,F]",
         .help = "per-channel mean subtracted after scaling to [0, 1]; imagenet: 0.485,0.456,0.406 "
                 "(0.449 for one channel)"},
        {"std", 0, CR_OPTION_STRING, &a.std, "imagenet", .metavar = "F[,F,F]",
         .help = "per-channel standard deviation divided by; imagenet: 0.229,0.224,0.225 (0.226 "
                 "for one channel)"},
        {"early-stop", 0, CR_OPTION_INT, &a.early_stop, "0", .metavar = "N", .min = 0,
         .max = 100000, .help = "stop after N epochs without a better val accuracy; 0: never"},
        CR_CLI_PRECISION_OPTION(a.precision),
        {"device", 0, CR_OPTION_ENUM, &a.device, "cpu", .choices = devices,
         .help = "where to train"},
        {"workers", 'j', CR_OPTION_INT, &a.workers, "0", .min = 0, .max = 1024,
         .help = "image-decoding threads; 0: one per core"},
        CR_CLI_JPEG_SCALE_OPTION(a.jpeg_scale, "the stage's size"),
        {"cache-decoded", 0, CR_OPTION_INT, &a.cache_decoded_mib, "0", .metavar = "MIB",
         .min = 0, .max = 1 << 24,
         .help = "keep up to this many MiB of decoded images at the stage's size, so that later "
                 "epochs of the stage skip decoding; 0: off"},
        {"max-image-pixels", 0, CR_OPTION_INT, &a.max_image_pixels, "178956970", .metavar = "N",
         .min = 1, .max = 2147483647,
         .help = "larger images are bad samples (possible decompression bombs); PIL's limit by "
                 "default"},
        {"threads", 0, CR_OPTION_INT, &a.threads, "0", .min = 0, .max = 1024,
         .help = "compute threads (of each process under mpirun); 0: one per core"},
        {"sync-bn", 0, CR_OPTION_FLAG, &a.sync_bn,
         .help = "under mpirun, BatchNorm normalizes training batches with statistics over "
                 "every process's batch (as PyTorch's SyncBatchNorm) instead of its own"},
        {"seed", 0, CR_OPTION_INT, &a.seed, "0", .min = 0, .max = 2147483647,
         .help = "fixes initialization, order and augmentation: equal seeds and thread counts "
                 "give equal runs"},
        {"on-bad", 0, CR_OPTION_ENUM, &a.on_bad, "fail", .choices = on_bad_choices,
         .help = "a bad CSV row or image: stop with its file and line, or skip and count it"},
        {"out", 'o', CR_OPTION_STRING, &a.out, "runs/train", .metavar = "DIR",
         .help = "the run folder: config.yaml, metrics.jsonl, confusion/, last and best "
                 "checkpoints"},
        {"overwrite", 0, CR_OPTION_FLAG, &a.overwrite, .no_save = true,
         .help = "start afresh in an --out folder that holds an earlier run"},
        {"resume", 0, CR_OPTION_STRING, &a.resume, .metavar = "DIR", .no_save = true,
         .help = "continue the run in DIR from its last checkpoint, with its config.yaml"},
        {"init", 0, CR_OPTION_STRING, &a.init, .metavar = "FILE",
         .help = "start from pretrained weights: a safetensors state dict under the model's "
                 "names (torchvision's or timm's save_file(model.state_dict()), or a crescendo "
                 "checkpoint), every name and shape checked; a classifier with another class "
                 "count is left out and the model's keeps its fresh initialization"},
        {"freeze-epochs", 0, CR_OPTION_INT, &a.freeze_epochs, "0", .metavar = "N", .min = 0,
         .max = 100000,
         .help = "with --init, the first N epochs train the classifier alone: the layers before "
                 "it keep their weights and BatchNorm statistics and get no backward pass; "
                 "every layer trains after them"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = find ? "lr-find" : "train",
        .usage = "--data DIR [options]",
        .description = find ? "Finds a learning rate for a training run given by train's "
                              "options: on a throwaway copy of its model, at its first stage's "
                              "size and batch and with its optimizer, 100 steps whose rate grows "
                              "from 1e-7 to 10 (stopping once the loss runs away), then the "
                              "smoothed loss against the rate as a text plot and a suggested "
                              "--lr: the middle of the longest fall of the loss. Writes nothing."
                            : "Trains a classifier on a folder of images, with progressive "
                              "resizing when --schedule has several stages, from a fresh "
                              "initialization or from pretrained weights (--init). Every epoch "
                              "prints one line and writes metrics.jsonl, the confusion matrix and "
                              "last.safetensors; the best validation accuracy is kept in "
                              "best.safetensors.",
        .options = options,
        .config = true,
    };
    /* --resume DIR reads DIR/config.yaml as if given with -c: the run's own options, with the
     * command line on top. */
    char config_path[4096] = "";
    char *resumed_argv[argc + 3];
    const char *resume_dir = argument(argc, argv, "resume");
    if (resume_dir && argument(argc, argv, "init"))
        return cr_cli_usage_error("train", "--init with --resume: a resumed run restores its own "
                                  "weights");
    if (resume_dir) {
        snprintf(config_path, sizeof config_path, "%s/config.yaml", resume_dir);
        if (access(config_path, R_OK) != 0)
            return cr_cli_usage_error("train", "--resume %s: no config.yaml there", resume_dir);
        memcpy(resumed_argv, argv, sizeof *argv * (size_t)argc);
        resumed_argv[argc] = "-c";
        resumed_argv[argc + 1] = config_path;
        resumed_argv[argc + 2] = NULL;
        argv = resumed_argv;
        argc += 2;
    }
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;
    if (!find && !a.resume && file_exists(a.out, "last.safetensors") && !a.overwrite)
        return cr_cli_usage_error(spec.name, "%s holds an earlier run: --resume %s continues it, "
                                  "--overwrite starts afresh, or choose another --out", a.out,
                                  a.out);
    cr_train_config config;
    cr_status s = make_config(&a, &config);
    config.dist = cr_cli_dist();
    if (s != CR_STATUS_OK) return cr_cli_failure(s);

    cr_dataset *train = NULL, *val = NULL;
    s = open_datasets(&a, &train, &val);
    if (s != CR_STATUS_OK) return cr_cli_failure(s);
    print_skipped(train);
    if (val) print_skipped(val);
    if (!a.schedule && a.resolution == 0) s = default_schedule(&a, train, &config);

    cr_backend *be = NULL;
    char *yaml = NULL;
    bool stopped = false;
    if (s == CR_STATUS_OK) s = cr_backend_create(CR_DEVICE_CPU, a.threads, &be);
    if (s == CR_STATUS_OK) s = cr_cli_precision(a.precision, be, &config.precision);
    if (s == CR_STATUS_OK && find) {
        config.train = train;
        s = cr_cli_lr_find(be, &config);
    }
    if (s == CR_STATUS_OK && !find) s = cr_make_dirs(config.out_dir);
    if (s == CR_STATUS_OK && !find && a.time_budget && !a.resume) {
        config.train = train;
        config.val = val;
        s = plan_budget(&a, be, &config, started, planned, sizeof planned);
    }
    if (s == CR_STATUS_OK && !find && cr_dist_writes(config.dist)) {
        snprintf(config_path, sizeof config_path, "%s/config.yaml", config.out_dir);
        s = cr_options_save_yaml(&spec, config_path);
        yaml = read_text(config_path);
        config.config_yaml = yaml;
    }
    if (s == CR_STATUS_OK && !find) {
        config.train = train;
        config.val = val;
        config.console = stdout;
        printf("training %s on %d images (%d classes), ", config.model, cr_dataset_count(train),
               cr_dataset_num_classes(train));
        if (val) printf("validating on %d, ", cr_dataset_count(val));
        int processes = cr_dist_size(config.dist);
        if (processes > 1)
            printf("%d processes of %d threads, batches of %d images per process; ", processes,
                   be->threads, config.stage_rules.batch_size);
        else
            printf("%d threads; ", be->threads);
        printf("run folder %s\n", config.out_dir);
        cr_train_result result;
        config.stop = &stop_signal;
        stop_on_signals();
        s = cr_train(be, &config, &result);
        stopped = s == CR_STATUS_OK && result.stopped;
        bool done = s == CR_STATUS_OK && !result.stopped;
        if (done && !isnan(result.best_val_acc))
            printf("done: %d epochs in %.1f s; val accuracy%s %.2f%% (best %.2f%% at epoch %d)\n",
                   result.epochs, result.seconds,
                   config.ema_decay > 0 && !config.best_raw ? " of the weights' average" : "",
                   100.0 * result.val_acc, 100.0 * result.best_val_acc, result.best_epoch);
        else if (done)
            printf("done: %d epochs in %.1f s\n", result.epochs, result.seconds);
        if (done && result.test_resolution > 0)
            printf("best test resolution %d px: val accuracy %.2f%% (crescendo eval "
                   "--resolution %d)\n", result.test_resolution, 100.0 * result.test_acc,
                   result.test_resolution);
    }
    free(yaml);
    cr_backend_destroy(be);
    cr_dataset_destroy(val);
    cr_dataset_destroy(train);
    if (s != CR_STATUS_OK) return cr_cli_failure(s);
    return stopped ? CR_EXIT_STOPPED + stop_signal : CR_EXIT_OK; /* as a shell reports it */
}

int cr_cmd_train(int argc, char **argv) { return cr_cli_train_command(argc, argv, false); }
