/* A graph's state dict: export to named host tensors and load from a safetensors file (whole, or
 * one chosen tensor at a time), by torchvision's names, so weights move between crescendo and
 * PyTorch unchanged. */
#include <stdlib.h>
#include <string.h>

#include "crescendo/arena.h"
#include "nn/graph_internal.h"

/* Copies every parameter and buffer, or with `grads` every trainable parameter's gradient, to
 * host memory under the parameter's name. */
static cr_status export(cr_graph *g, bool grads, cr_graph_state *out) {
    memset(out, 0, sizeof *out);
    size_t bytes = 0;
    for (int i = 0; i < g->param_count; i++)
        if (!grads || cr_param_trainable(&g->params[i]))
            bytes += cr_align_up(cr_tensor_bytes(&g->params[i].value), 64);
    out->tensors = calloc((size_t)g->param_count, sizeof *out->tensors);
    out->host = malloc(bytes ? bytes : 1);
    if (!out->tensors || !out->host) {
        cr_graph_state_free(out);
        return cr_fail(CR_STATUS_NOMEM, "cannot allocate %zu bytes for a state dict", bytes);
    }
    char *host = out->host;
    for (int i = 0; i < g->param_count; i++) {
        const cr_param *p = &g->params[i];
        if (grads && !cr_param_trainable(p)) continue;
        size_t size = cr_tensor_bytes(&p->value);
        if (p->value.dtype == CR_DTYPE_I64) {
            memcpy(host, p->value.data, size); /* counters live on the host */
        } else {
            cr_status s = g->be->ops->copy_to_host(g->be, host, grads ? p->grad : p->value.data,
                                                   size);
            if (s != CR_STATUS_OK) {
                cr_graph_state_free(out);
                return s;
            }
        }
        cr_named_tensor *t = &out->tensors[out->count++];
        t->name = p->name;
        t->tensor = p->value;
        t->tensor.data = host;
        t->tensor.device = CR_DEVICE_CPU;
        host += cr_align_up(size, 64);
    }
    return CR_STATUS_OK;
}

cr_status cr_graph_state_export(cr_graph *g, cr_graph_state *out) { return export(g, false, out); }

cr_status cr_graph_gradients_export(cr_graph *g, cr_graph_state *out) {
    return export(g, true, out);
}

void cr_graph_state_free(cr_graph_state *state) {
    free(state->tensors);
    free(state->host);
    memset(state, 0, sizeof *state);
}

static bool ignored(const char *name, const char *const *ignore) {
    for (; ignore && *ignore; ignore++)
        if (strncmp(name, *ignore, strlen(*ignore)) == 0) return true;
    return false;
}

cr_status cr_graph_state_load(cr_graph *g, const cr_safetensors *file, const char *const *ignore) {
    for (int i = 0; i < cr_safetensors_count(file); i++) {
        const char *name = cr_safetensors_at(file, i)->name;
        if (!cr_graph_find_param(g, name) && !ignored(name, ignore))
            return cr_fail(CR_STATUS_DATA, "%s: tensor '%s' is not a parameter of this model "
                           "(another architecture or class count?)", cr_safetensors_path(file),
                           name);
    }
    for (int i = 0; i < g->param_count; i++) {
        cr_param *p = &g->params[i];
        const cr_tensor *t;
        CR_TRY(cr_safetensors_expect(file, p->name, p->value.dtype, p->value.ndim, p->value.shape,
                                     &t));
        CR_TRY(cr_graph_param_load(g, p, t));
    }
    return CR_STATUS_OK;
}

cr_status cr_graph_param_load(cr_graph *g, cr_param *p, const cr_tensor *host) {
    bool same = host->dtype == p->value.dtype && host->ndim == p->value.ndim;
    for (int d = 0; same && d < host->ndim; d++) same = host->shape[d] == p->value.shape[d];
    if (!same) return cr_fail(CR_STATUS_INVALID, "%s: another dtype or shape", p->name);
    size_t size = cr_tensor_bytes(&p->value);
    if (p->value.dtype == CR_DTYPE_I64) {
        memcpy(p->value.data, host->data, size); /* counters live on the host */
        return CR_STATUS_OK;
    }
    return g->be->ops->copy_from_host(g->be, p->value.data, host->data, size);
}
