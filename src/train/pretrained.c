/* Starting a model from pretrained weights (train --init): a state dict saved under the model's
 * parameter names (torchvision's or timm's save_file(model.state_dict()), or a crescendo
 * checkpoint) is checked against the model name by name and shape by shape, every mismatch listed
 * before anything is copied, then loaded, the classifier left fresh when the file's counts other
 * classes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crescendo/checkpoint.h"

enum { LISTED_MAX = 6 }; /* mismatches spelled out in the message; the rest are counted */

/* The mismatches between a file and a model, as the lines of one error message. */
typedef struct mismatch_list {
    char text[900];
    size_t used;
    int count;
} mismatch_list;

static void append(mismatch_list *m, const char *fmt, va_list ap) {
    size_t room = sizeof m->text - m->used; /* at least 1: used stops at the last byte */
    int n = vsnprintf(m->text + m->used, room, fmt, ap);
    if (n > 0) m->used += (size_t)n < room ? (size_t)n : room - 1;
}

static void add_line(mismatch_list *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_line(mismatch_list *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    append(m, fmt, ap);
    va_end(ap);
}

static void mismatch(mismatch_list *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mismatch(mismatch_list *m, const char *fmt, ...) {
    if (m->count++ >= LISTED_MAX) return;
    add_line(m, "\n  ");
    va_list ap;
    va_start(ap, fmt);
    append(m, fmt, ap);
    va_end(ap);
}

/* "F32 [64, 3, 7, 7]" */
static void describe(char *buf, size_t size, const cr_tensor *t) {
    int n = snprintf(buf, size, "%s ", cr_dtype_name(t->dtype));
    if (n > 0 && (size_t)n < size) cr_shape_format(buf + n, size - (size_t)n, t->ndim, t->shape);
}

static bool same_type(const cr_tensor *a, const cr_tensor *b) {
    bool same = a->dtype == b->dtype && a->ndim == b->ndim;
    for (int d = 0; same && d < a->ndim; d++) same = a->shape[d] == b->shape[d];
    return same;
}

/* A first convolution that differs from the model's in its input channels alone. */
static bool other_channels(const cr_tensor *file, const cr_tensor *model) {
    return file->ndim == 4 && model->ndim == 4 && file->dtype == model->dtype &&
           file->shape[0] == model->shape[0] && file->shape[1] != model->shape[1] &&
           file->shape[2] == model->shape[2] && file->shape[3] == model->shape[3];
}

/* The classifier's weight and bias ("<name>.weight", "<name>.bias"; the bias may be absent). */
static void classifier_params(cr_graph *g, cr_param **weight, cr_param **bias) {
    char name[CR_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", cr_graph_classifier_name(g));
    *weight = cr_graph_find_param(g, name);
    snprintf(name, sizeof name, "%s.bias", cr_graph_classifier_name(g));
    *bias = cr_graph_find_param(g, name);
}

/* Every parameter the file lacks or holds with another dtype or shape, then every tensor of the
 * file the model has no parameter for, but a crescendo checkpoint's optimizer state. */
static void list_mismatches(cr_graph *g, const cr_safetensors *file, const cr_param *skip_a,
                            const cr_param *skip_b, mismatch_list *m, cr_init_result *out) {
    const char *format = cr_safetensors_metadata(file, "format");
    bool crescendo = format && strcmp(format, "crescendo") == 0;
    char got[160], want[160];
    for (int i = 0; i < cr_graph_param_count(g); i++) {
        const cr_param *p = &cr_graph_params(g)[i];
        if (p == skip_a || p == skip_b) continue;
        const cr_tensor *t = cr_safetensors_find(file, p->name);
        describe(want, sizeof want, &p->value);
        if (!t) {
            mismatch(m, "missing tensor \"%s\" (%s)", p->name, want);
            continue;
        }
        if (same_type(t, &p->value)) continue;
        describe(got, sizeof got, t);
        /* parameters are registered as the model is built: the first is the first layer's */
        if (i == 0 && other_channels(t, &p->value))
            mismatch(m, "\"%s\" is %s in the file, %s in the model: the file's first layer reads "
                     "%lld input channels, this model %lld (--channels)", p->name, got, want,
                     (long long)t->shape[1], (long long)p->value.shape[1]);
        else
            mismatch(m, "\"%s\" is %s in the file, %s in the model", p->name, got, want);
    }
    for (int i = 0; i < cr_safetensors_count(file); i++) {
        const cr_named_tensor *t = cr_safetensors_at(file, i);
        if (crescendo && strncmp(t->name, CR_OPTIMIZER_PREFIX, strlen(CR_OPTIMIZER_PREFIX)) == 0) {
            out->ignored++;
            continue;
        }
        if (cr_graph_find_param(g, t->name)) continue;
        describe(got, sizeof got, &t->tensor);
        mismatch(m, "unexpected tensor \"%s\" (%s): the model has no such parameter", t->name,
                 got);
    }
}

cr_status cr_checkpoint_load_init(cr_graph *g, const char *path, cr_init_result *out) {
    *out = (cr_init_result){0};
    cr_safetensors *file;
    CR_TRY(cr_safetensors_open(path, &file));
    /* A classifier that reads the same features for another number of classes is swapped: it
     * keeps the model's fresh initialization. */
    cr_param *weight, *bias;
    classifier_params(g, &weight, &bias);
    const cr_tensor *theirs = cr_safetensors_find(file, weight->name);
    out->file_classes = theirs && theirs->ndim == 2 ? (int)theirs->shape[0] : 0;
    out->swapped = theirs && theirs->dtype == weight->value.dtype && theirs->ndim == 2 &&
                   theirs->shape[1] == weight->value.shape[1] &&
                   theirs->shape[0] != weight->value.shape[0];
    mismatch_list m = {0};
    list_mismatches(g, file, out->swapped ? weight : NULL, out->swapped ? bias : NULL, &m, out);
    cr_status s = CR_STATUS_OK;
    if (m.count > LISTED_MAX) add_line(&m, "\n  ... and %d more", m.count - LISTED_MAX);
    if (m.count > 0)
        s = cr_fail(CR_STATUS_DATA, "%s does not fit the model (%d mismatch%s, nothing loaded):%s",
                    path, m.count, m.count == 1 ? "" : "es", m.text);
    for (int i = 0; s == CR_STATUS_OK && i < cr_graph_param_count(g); i++) {
        cr_param *p = &cr_graph_params(g)[i];
        if (out->swapped && (p == weight || p == bias)) continue;
        s = cr_graph_param_load(g, p, cr_safetensors_find(file, p->name));
        out->loaded += s == CR_STATUS_OK;
    }
    cr_safetensors_close(file);
    return s;
}
