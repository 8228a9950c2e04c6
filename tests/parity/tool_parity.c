/* tool_parity: the crescendo side of the tests in tests/parity (test_*_parity.py).
 *   tool_parity train MODEL IN OUT   loads weights, input and labels from IN; writes the logits, loss,
 *                                    gradients, running statistics and the weights after SGD steps
 *   tool_parity export MODEL OUT [C] writes a fresh model's state dict, an input of C channels
 *                                    (default 3) and the eval-mode logits, to load into PyTorch */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/graph.h"
#include "crescendo/model.h"
#include "crescendo/optim.h"
#include "crescendo/rng.h"
#include "crescendo/safetensors.h"

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

/* Every parameter (with `grads`, its gradient instead) under a name prefix. */
static cr_status emit_params(outputs *o, cr_graph *g, const char *prefix, bool grads,
                             bool buffers_only) {
    for (int i = 0; i < cr_graph_param_count(g); i++) {
        const cr_param *p = &cr_graph_params(g)[i];
        if (buffers_only && cr_param_trainable(p)) continue;
        if (grads && !cr_param_trainable(p)) continue;
        CR_TRY(emit(o, prefix, p->name, &p->value, grads ? (const void *)p->grad : p->value.data));
    }
    return CR_STATUS_OK;
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

static cr_status run_train(cr_backend *be, const char *model, const char *in, const char *out) {
    cr_safetensors *file;
    CR_TRY(cr_safetensors_open(in, &file));
    cr_graph *g = NULL;
    cr_optimizer *opt = NULL;
    outputs o = {0};
    float *x = NULL;
    int32_t *labels = NULL;
    const cr_tensor *input = cr_safetensors_find(file, "input");
    const cr_tensor *label64 = cr_safetensors_find(file, "labels");
    cr_status s = CR_STATUS_OK;
    if (!input || !label64 || input->ndim != 4)
        s = cr_fail(CR_STATUS_DATA, "%s: needs 'input' (N, C, H, W) and 'labels'", in);
    /* the model takes as many channels as the input has: 3 for the ResNets, 1 for gray images */
    cr_model_config config = {.num_classes = CLASSES,
                              .in_channels = s == CR_STATUS_OK ? (int)input->shape[1] : 0};
    if (s == CR_STATUS_OK) s = cr_model_create(be, model, &config, 0, &g);
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
        s = cr_graph_plan(g, n, h, w);
    }
    cr_optimizer_config sgd = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    sgd.momentum = metadata_number(file, "momentum");
    sgd.weight_decay = metadata_number(file, "weight_decay");
    sgd.decay_norm_and_bias = true; /* torch.optim.SGD decays every parameter */
    double lr = metadata_number(file, "lr");
    int steps = (int)metadata_number(file, "steps");
    if (s == CR_STATUS_OK)
        s = cr_optimizer_create(be, &sgd, cr_graph_params(g), cr_graph_param_count(g), &opt);
    for (int step = 0; s == CR_STATUS_OK && step < steps; step++) {
        const float *logits;
        float loss;
        s = cr_graph_zero_grad(g);
        if (s == CR_STATUS_OK) s = cr_graph_forward(g, x, n, true, &logits);
        if (s == CR_STATUS_OK) s = cr_graph_loss(g, labels, 0.0f, &loss, NULL);
        if (s == CR_STATUS_OK) s = cr_graph_backward(g);
        if (s == CR_STATUS_OK && step == 0) {
            int64_t lshape[2] = {n, CLASSES};
            cr_tensor lt = cr_tensor_make(CR_DTYPE_F32, 2, lshape, NULL);
            cr_tensor st = cr_tensor_make(CR_DTYPE_F32, 0, NULL, NULL);
            s = emit(&o, "", "logits", &lt, logits);
            if (s == CR_STATUS_OK) s = emit(&o, "", "loss", &st, &loss);
            if (s == CR_STATUS_OK) s = emit_params(&o, g, "grad.", true, false);
            if (s == CR_STATUS_OK) s = emit_params(&o, g, "after1.", false, true);
        }
        if (s == CR_STATUS_OK) s = cr_optimizer_step(opt, lr);
    }
    if (s == CR_STATUS_OK) s = emit_params(&o, g, "final.", false, false);
    if (s == CR_STATUS_OK) s = cr_safetensors_write(out, o.items, o.count, NULL, 0);
    outputs_free(&o);
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
    const float *logits;
    cr_graph_state state = {0};
    outputs o = {0};
    cr_status s = x ? cr_graph_plan(g, N, H, W) : cr_fail(CR_STATUS_NOMEM, "out of memory");
    for (int i = 0; s == CR_STATUS_OK && i < 2; i++) s = cr_graph_forward(g, x, N, true, &logits);
    if (s == CR_STATUS_OK) s = cr_graph_forward(g, x, N, false, &logits);
    if (s == CR_STATUS_OK) s = cr_graph_state_export(g, &state);
    for (int i = 0; s == CR_STATUS_OK && i < state.count; i++)
        s = emit(&o, "", state.tensors[i].name, &state.tensors[i].tensor,
                 state.tensors[i].tensor.data);
    int64_t ishape[4] = {N, c, H, W}, lshape[2] = {N, CLASSES};
    cr_tensor it = cr_tensor_make(CR_DTYPE_F32, 4, ishape, NULL);
    cr_tensor lt = cr_tensor_make(CR_DTYPE_F32, 2, lshape, NULL);
    if (s == CR_STATUS_OK) s = emit(&o, "", "input", &it, nchw);
    if (s == CR_STATUS_OK) s = emit(&o, "", "logits", &lt, logits);
    if (s == CR_STATUS_OK) s = cr_safetensors_write(out, o.items, o.count, NULL, 0);
    outputs_free(&o);
    cr_graph_state_free(&state);
    cr_graph_destroy(g);
    free(x);
    return s;
}

int main(int argc, char **argv) {
    bool train = argc == 5 && strcmp(argv[1], "train") == 0;
    bool export = (argc == 4 || argc == 5) && strcmp(argv[1], "export") == 0;
    if (!train && !export) {
        fprintf(stderr, "usage: tool_parity train MODEL IN OUT | export MODEL OUT [CHANNELS]\n");
        return 2;
    }
    cr_backend *be;
    cr_status s = cr_backend_create(CR_DEVICE_CPU, 0, &be);
    if (s == CR_STATUS_OK) {
        s = train ? run_train(be, argv[2], argv[3], argv[4])
                  : run_export(be, argv[2], argc == 5 ? atoi(argv[4]) : 3, argv[3]);
        cr_backend_destroy(be);
    }
    if (s != CR_STATUS_OK) {
        fprintf(stderr, "tool_parity: %s\n", cr_error_message());
        return 1;
    }
    return 0;
}
