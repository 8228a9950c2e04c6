/* tool_parity: the crescendo side of the tests in tests/parity (test_*_parity.py), through the
 * same step as training (crescendo/step.h).
 *   tool_parity train MODEL IN OUT [bf16]  loads weights, input and labels from IN; writes the
 *                                    logits, loss, gradients, running statistics and the weights
 *                                    after SGD steps, in fp32 or bf16 mixed precision
 *   tool_parity export MODEL OUT [C] writes a fresh model's state dict, an input of C channels
 *                                    (default 3) and the eval-mode logits, to load into PyTorch
 *   tool_parity init MODEL WEIGHTS IN OUT  starts a model from WEIGHTS as train --init does
 *                                    (cr_checkpoint_load_init) and writes its state dict under
 *                                    "state.", the eval-mode logits on IN's input, and in the
 *                                    metadata the tensors loaded and whether it swapped the
 *                                    classifier */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/checkpoint.h"
#include "crescendo/graph.h"
#include "crescendo/model.h"
#include "crescendo/optim.h"
#include "crescendo/rng.h"
#include "crescendo/safetensors.h"
#include "crescendo/step.h"

enum { CLASSES = 10, MAX_OUTPUTS = 2048 };

/* Output tensors, each with its own copy of the data (names and buffers freed at exit). */
typedef struct outputs {
    cr_named_tensor items[MAX_OUTPUTS];
    int count;
} outputs;

static cr_status emit(outputs *o, const char *prefix, const char *name, const cr_tensor *t,
                      const void *data) {
    if (o->count == MAX_OUTPUTS) return cr_fail(CR_STATUS_INVALID, "too many outputs");
    size_t bytes = cr_tensor_bytes(t);
    char *label = malloc(strlen(prefix) + strlen(name) + 1);
    void *copy = malloc(bytes ? bytes : 1);
    if (!label || !copy) return cr_fail(CR_STATUS_NOMEM, "out of memory");
    strcpy(label, prefix);
    strcat(label, name);
    memcpy(copy, data, bytes);
    o->items[o->count].name = label;
    o->items[o->count].tensor = *t;
    o->items[o->count].tensor.data = copy;
    o->count++;
    return CR_STATUS_OK;
}

static void outputs_free(outputs *o) {
    for (int i = 0; i < o->count; i++) {
        free((void *)o->items[i].name);
        free(o->items[i].tensor.data);
    }
}

/* Every tensor of a state dict under a name prefix; with `buffers_only`, the model's buffers. */
static cr_status emit_state(outputs *o, cr_graph *g, const char *prefix,
                            const cr_graph_state *state, bool buffers_only) {
    for (int i = 0; i < state->count; i++) {
        const cr_named_tensor *t = &state->tensors[i];
        if (buffers_only && cr_param_trainable(cr_graph_find_param(g, t->name))) continue;
        CR_TRY(emit(o, prefix, t->name, &t->tensor, t->tensor.data));
    }
    return CR_STATUS_OK;
}

/* The model's values (or gradients) exported to the host and emitted under a prefix. */
static cr_status emit_params(outputs *o, cr_graph *g, const char *prefix, bool grads,
                             bool buffers_only) {
    cr_graph_state state;
    CR_TRY(grads ? cr_graph_gradients_export(g, &state) : cr_graph_state_export(g, &state));
    cr_status s = emit_state(o, g, prefix, &state, buffers_only);
    cr_graph_state_free(&state);
    return s;
}

/* (N, C, H, W) -> (N, H, W, C) */
static float *to_channels_last(const float *nchw, int n, int c, int h, int w) {
    float *nhwc = malloc(sizeof(float) * (size_t)n * c * h * w);
    if (!nhwc) return NULL;
    for (int s = 0; s < n; s++)
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    nhwc[(((size_t)s * h + y) * w + x) * c + k] =
                        nchw[(((size_t)s * c + k) * h + y) * w + x];
    return nhwc;
}

static double metadata_number(const cr_safetensors *f, const char *key) {
    const char *v = cr_safetensors_metadata(f, key);
    return v ? atof(v) : 0.0;
}

static cr_status run_train(cr_backend *be, const char *model, const char *in, const char *out,
                           cr_dtype precision) {
    cr_safetensors *file;
    CR_TRY(cr_safetensors_open(in, &file));
    cr_graph *g = NULL;
    cr_optimizer *opt = NULL;
    cr_step *step = NULL;
    outputs o = {0};
    float *x = NULL;
    int32_t *labels = NULL;
    const cr_tensor *input = cr_safetensors_find(file, "input");
    const cr_tensor *label64 = cr_safetensors_find(file, "labels");
    cr_status s = CR_STATUS_OK;
    if (!input || !label64 || input->ndim != 4 || input->shape[2] != input->shape[3])
        s = cr_fail(CR_STATUS_DATA, "%s: needs a square 'input' (N, C, H, W) and 'labels'", in);
    /* the model takes as many channels as the input has: 3 for the ResNets, 1 for gray images */
    cr_model_config config = {.num_classes = CLASSES,
                              .in_channels = s == CR_STATUS_OK ? (int)input->shape[1] : 0};
    if (s == CR_STATUS_OK) s = cr_model_create(be, model, &config, 0, &g);
    if (s == CR_STATUS_OK) s = cr_graph_set_precision(g, precision);
    if (s == CR_STATUS_OK)
        s = cr_graph_state_load(g, file, (const char *const[]){"input", "labels", NULL});
    int n = 0, c = 0, h = 0, w = 0;
    if (s == CR_STATUS_OK) {
        n = (int)input->shape[0], c = (int)input->shape[1];
        h = (int)input->shape[2], w = (int)input->shape[3];
        x = to_channels_last(input->data, n, c, h, w);
        labels = malloc(sizeof *labels * (size_t)n);
        if (!x || !labels) s = cr_fail(CR_STATUS_NOMEM, "out of memory");
    }
    if (s == CR_STATUS_OK) {
        for (int i = 0; i < n; i++) labels[i] = (int32_t)((const int64_t *)label64->data)[i];
    }
    cr_optimizer_config sgd = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    sgd.momentum = metadata_number(file, "momentum");
    sgd.weight_decay = metadata_number(file, "weight_decay");
    sgd.decay_norm_and_bias = true; /* torch.optim.SGD decays every parameter */
    double lr = metadata_number(file, "lr");
    int steps = (int)metadata_number(file, "steps");
    if (s == CR_STATUS_OK)
        s = cr_optimizer_create(be, &sgd, cr_graph_params(g), cr_graph_param_count(g), &opt);
    if (s == CR_STATUS_OK) s = cr_step_create(g, opt, &(cr_step_config){0}, &step);
    if (s == CR_STATUS_OK) s = cr_step_prepare(step, n, h);
    for (int i = 0; s == CR_STATUS_OK && i < steps; i++) {
        cr_step_result r;
        s = cr_step_train(step, x, labels, n, lr, i, &r);
        /* the update leaves the gradients and running statistics of the step as they were */
        if (s == CR_STATUS_OK && i == 0) {
            int64_t lshape[2] = {n, CLASSES};
            cr_tensor lt = cr_tensor_make(CR_DTYPE_F32, 2, lshape, NULL);
            cr_tensor st = cr_tensor_make(CR_DTYPE_F32, 0, NULL, NULL);
            s = emit(&o, "", "logits", &lt, r.logits);
            if (s == CR_STATUS_OK) s = emit(&o, "", "loss", &st, &r.loss);
            if (s == CR_STATUS_OK) s = emit_params(&o, g, "grad.", true, false);
            if (s == CR_STATUS_OK) s = emit_params(&o, g, "after1.", false, true);
        }
    }
    if (s == CR_STATUS_OK) s = emit_params(&o, g, "final.", false, false);
    if (s == CR_STATUS_OK) s = cr_safetensors_write(out, o.items, o.count, NULL, 0);
    outputs_free(&o);
    cr_step_destroy(step);
    cr_optimizer_destroy(opt);
    cr_graph_destroy(g);
    cr_safetensors_close(file);
    free(x);
    free(labels);
    return s;
}

/* A fresh model whose running statistics moved (two training forwards), its state dict, an input
 * and the eval-mode logits on it. */
static cr_status run_export(cr_backend *be, const char *model, int c, const char *out) {
    enum { N = 4, MAX_C = 3, H = 64, W = 64 };
    if (c < 1 || c > MAX_C) return cr_fail(CR_STATUS_INVALID, "%d channels: 1 to %d", c, MAX_C);
    cr_model_config config = {.num_classes = CLASSES, .in_channels = c};
    cr_graph *g;
    CR_TRY(cr_model_create(be, model, &config, 7, &g));
    static float nchw[N * MAX_C * H * W];
    cr_rng rng = cr_rng_stream(99, 0, 0);
    for (size_t i = 0; i < (size_t)N * c * H * W; i++) nchw[i] = cr_rng_normal(&rng);
    float *x = to_channels_last(nchw, N, c, H, W);
    static int32_t labels[N];
    cr_step *step = NULL;
    cr_step_result r;
    outputs o = {0};
    cr_status s = x ? cr_step_create(g, NULL, &(cr_step_config){0}, &step)
                    : cr_fail(CR_STATUS_NOMEM, "out of memory");
    if (s == CR_STATUS_OK) s = cr_step_prepare(step, N, H);
    for (int i = 0; s == CR_STATUS_OK && i < 2; i++) s = cr_step_forward_train(step, x, N, i);
    if (s == CR_STATUS_OK) s = cr_step_eval(step, x, labels, N, &r);
    if (s == CR_STATUS_OK) s = emit_params(&o, g, "", false, false);
    int64_t ishape[4] = {N, c, H, W}, lshape[2] = {N, CLASSES};
    cr_tensor it = cr_tensor_make(CR_DTYPE_F32, 4, ishape, NULL);
    cr_tensor lt = cr_tensor_make(CR_DTYPE_F32, 2, lshape, NULL);
    if (s == CR_STATUS_OK) s = emit(&o, "", "input", &it, nchw);
    if (s == CR_STATUS_OK) s = emit(&o, "", "logits", &lt, r.logits);
    if (s == CR_STATUS_OK) s = cr_safetensors_write(out, o.items, o.count, NULL, 0);
    outputs_free(&o);
    cr_step_destroy(step);
    cr_graph_destroy(g);
    free(x);
    return s;
}

/* The model started from `weights` as train --init starts it, then evaluated on IN's input. */
static cr_status run_init(cr_backend *be, const char *model, const char *weights, const char *in,
                          const char *out) {
    cr_safetensors *file;
    CR_TRY(cr_safetensors_open(in, &file));
    const cr_tensor *input = cr_safetensors_find(file, "input");
    if (!input || input->ndim != 4 || input->shape[2] != input->shape[3]) {
        cr_safetensors_close(file);
        return cr_fail(CR_STATUS_DATA, "%s: needs a square 'input' (N, C, H, W)", in);
    }
    int n = (int)input->shape[0], c = (int)input->shape[1], side = (int)input->shape[2];
    cr_status s = CR_STATUS_OK;
    cr_model_config config = {.num_classes = CLASSES, .in_channels = c};
    cr_graph *g = NULL;
    cr_step *step = NULL;
    cr_init_result init = {0};
    outputs o = {0};
    float *x = NULL;
    int32_t *labels = calloc((size_t)n + 1, sizeof *labels);
    if (!labels) s = cr_fail(CR_STATUS_NOMEM, "out of memory");
    if (s == CR_STATUS_OK) s = cr_model_create(be, model, &config, 0, &g);
    if (s == CR_STATUS_OK) s = cr_checkpoint_load_init(g, weights, &init);
    if (s == CR_STATUS_OK) s = emit_params(&o, g, "state.", false, false);
    if (s == CR_STATUS_OK && !(x = to_channels_last(input->data, n, c, side, side)))
        s = cr_fail(CR_STATUS_NOMEM, "out of memory");
    if (s == CR_STATUS_OK) s = cr_step_create(g, NULL, &(cr_step_config){0}, &step);
    if (s == CR_STATUS_OK) s = cr_step_prepare(step, n, side);
    cr_step_result r;
    if (s == CR_STATUS_OK) s = cr_step_eval(step, x, labels, n, &r);
    int64_t lshape[2] = {n, CLASSES};
    cr_tensor lt = cr_tensor_make(CR_DTYPE_F32, 2, lshape, NULL);
    if (s == CR_STATUS_OK) s = emit(&o, "", "logits", &lt, r.logits);
    char loaded[16], swapped[16];
    snprintf(loaded, sizeof loaded, "%d", init.loaded);
    snprintf(swapped, sizeof swapped, "%d", init.swapped);
    cr_metadata_entry meta[2] = {{"loaded", loaded}, {"swapped", swapped}};
    if (s == CR_STATUS_OK) s = cr_safetensors_write(out, o.items, o.count, meta, 2);
    outputs_free(&o);
    cr_step_destroy(step);
    cr_graph_destroy(g);
    cr_safetensors_close(file);
    free(x);
    free(labels);
    return s;
}

int main(int argc, char **argv) {
    bool train = (argc == 5 || argc == 6) && strcmp(argv[1], "train") == 0;
    bool export = (argc == 4 || argc == 5) && strcmp(argv[1], "export") == 0;
    bool init = argc == 6 && strcmp(argv[1], "init") == 0;
    bool bf16 = train && argc == 6 && strcmp(argv[5], "bf16") == 0;
    if ((!train && !export && !init) || (train && argc == 6 && !bf16)) {
        fprintf(stderr, "usage: tool_parity train MODEL IN OUT [bf16] | export MODEL OUT "
                "[CHANNELS] | init MODEL WEIGHTS IN OUT\n");
        return 2;
    }
    cr_backend *be;
    cr_status s = cr_backend_create(CR_DEVICE_CPU, 0, &be);
    if (s == CR_STATUS_OK) {
        if (train)
            s = run_train(be, argv[2], argv[3], argv[4], bf16 ? CR_DTYPE_BF16 : CR_DTYPE_F32);
        else if (export)
            s = run_export(be, argv[2], argc == 5 ? atoi(argv[4]) : 3, argv[3]);
        else
            s = run_init(be, argv[2], argv[3], argv[4], argv[5]);
        cr_backend_destroy(be);
    }
    if (s != CR_STATUS_OK) {
        fprintf(stderr, "tool_parity: %s\n", cr_error_message());
        return 1;
    }
    return 0;
}
