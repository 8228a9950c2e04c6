/* What every optimizer shares: the trainable parameters, one block of state parallel to them, the
 * step counts (the optimizer's and each parameter's), freezing, and the state's checkpoint names.
 * The update rules live in sgd.c and adamw.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optimizer_impl.h"

cr_optimizer_config cr_optimizer_defaults(cr_optimizer_kind kind) {
    return (cr_optimizer_config){
        .kind = kind,
        .weight_decay = kind == CR_OPTIMIZER_ADAMW ? 1e-2 : 0.0,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
    };
}

static const cr_optim_rule *rule_of(cr_optimizer_kind kind) {
    switch (kind) {
    case CR_OPTIMIZER_SGD: return &cr_optim_sgd_rule;
    case CR_OPTIMIZER_ADAMW: return &cr_optim_adamw_rule;
    }
    return NULL;
}

static cr_status check_params(const cr_param *params, int count) {
    if (count < 0 || (count > 0 && !params))
        return cr_fail(CR_STATUS_INVALID, "optimizer: %d parameters", count);
    for (int i = 0; i < count; i++) {
        const cr_param *p = &params[i];
        if (!cr_param_trainable(p)) continue;
        if (p->value.dtype != CR_DTYPE_F32 || !p->value.data || !p->grad)
            return cr_fail(CR_STATUS_INVALID, "optimizer: parameter \"%s\" needs F32 values and a "
                           "gradient", p->name);
    }
    return CR_STATUS_OK;
}

static double decay_of(const cr_optimizer_config *c, const cr_param *p) {
    return c->decay_norm_and_bias || p->kind == CR_PARAM_WEIGHT ? c->weight_decay : 0.0;
}

static bool has_group(const cr_optimizer *opt, int64_t steps) {
    for (int k = 0; k < opt->group_count; k++)
        if (opt->groups[k].steps == steps) return true;
    return false;
}

/* The table of what trains: the parameters not frozen, in groups by the steps they have taken (each
 * group one backend call). Within a group, neighbours whose memory is contiguous and whose decay
 * agrees merge: a model built in one arena then steps over a handful of segments instead of one
 * per tensor. */
static cr_status build_segments(cr_optimizer *opt) {
    free(opt->segments);
    free(opt->groups);
    opt->segments = calloc((size_t)opt->count + 1, sizeof *opt->segments);
    opt->groups = calloc((size_t)opt->count + 1, sizeof *opt->groups);
    opt->segment_count = opt->group_count = 0;
    if (!opt->segments || !opt->groups) return cr_fail(CR_STATUS_NOMEM, "optimizer: out of memory");
    for (int i = 0; i < opt->count; i++) {
        if (opt->frozen[i] || has_group(opt, opt->param_steps[i])) continue;
        cr_optim_group *group = &opt->groups[opt->group_count++];
        *group = (cr_optim_group){.first = opt->segment_count, .steps = opt->param_steps[i]};
        cr_optim_segment *last = NULL;
        for (int j = i, previous = -1; j < opt->count; j++) {
            if (opt->frozen[j] || opt->param_steps[j] != group->steps) continue;
            const cr_param *p = &opt->params[j];
            size_t n = (size_t)cr_tensor_numel(&p->value);
            double wd = decay_of(&opt->config, p);
            if (last && previous == j - 1 && last->param + last->count == (float *)p->value.data &&
                last->grad + last->count == p->grad && last->weight_decay == wd) {
                last->count += n;
            } else {
                last = &opt->segments[opt->segment_count++];
                *last = (cr_optim_segment){.param = p->value.data, .grad = p->grad,
                                           .state_offset = opt->state_offset[j], .count = n,
                                           .weight_decay = wd};
            }
            previous = j;
        }
        group->count = opt->segment_count - group->first;
    }
    return CR_STATUS_OK;
}

static cr_status build_names(cr_optimizer *opt) {
    opt->names = calloc((size_t)(opt->slots * opt->count + 1), sizeof *opt->names);
    if (!opt->names) return cr_fail(CR_STATUS_NOMEM, "optimizer: out of memory");
    snprintf(opt->names[0], sizeof opt->names[0], CR_OPTIMIZER_PREFIX "step");
    for (int s = 0; s < opt->slots; s++)
        for (int i = 0; i < opt->count; i++)
            snprintf(opt->names[1 + s * opt->count + i], sizeof opt->names[0],
                     CR_OPTIMIZER_PREFIX "%s.%s", opt->rule->slot_names[s], opt->params[i].name);
    return CR_STATUS_OK;
}

static cr_status allocate(cr_optimizer *opt, const cr_param *params, int count) {
    for (int i = 0; i < count; i++) opt->count += cr_param_trainable(&params[i]);
    size_t entries = (size_t)opt->count + 1;
    opt->params = calloc(entries, sizeof *opt->params);
    opt->state_offset = calloc(entries, sizeof *opt->state_offset);
    opt->source = calloc(entries, sizeof *opt->source);
    opt->frozen = calloc(entries, sizeof *opt->frozen);
    opt->param_steps = calloc(entries, sizeof *opt->param_steps);
    if (!opt->params || !opt->state_offset || !opt->source || !opt->frozen || !opt->param_steps)
        return cr_fail(CR_STATUS_NOMEM, "optimizer: out of memory");
    int n = 0;
    for (int i = 0; i < count; i++) {
        if (!cr_param_trainable(&params[i])) continue;
        opt->params[n] = params[i];
        opt->source[n] = i;
        opt->state_offset[n] = opt->slot_floats;
        opt->slot_floats += (size_t)cr_tensor_numel(&params[i].value);
        n++;
    }
    opt->slots = opt->rule->slots(&opt->config);
    size_t bytes = (size_t)opt->slots * opt->slot_floats * sizeof(float);
    if (bytes == 0) return CR_STATUS_OK;
    opt->state = opt->be->ops->alloc(opt->be, bytes);
    if (!opt->state)
        return cr_fail(CR_STATUS_NOMEM, "optimizer %s: cannot allocate %zu bytes of state",
                       opt->rule->name, bytes);
    return opt->be->ops->zero(opt->be, opt->state, bytes);
}

cr_status cr_optimizer_create(cr_backend *be, const cr_optimizer_config *config,
                              const cr_param *params, int count, cr_optimizer **out) {
    *out = NULL;
    const cr_optim_rule *rule = rule_of(config->kind);
    if (!rule) return cr_fail(CR_STATUS_INVALID, "optimizer: unknown kind %d", (int)config->kind);
    if (!(config->weight_decay >= 0.0 && isfinite(config->weight_decay)))
        return cr_fail(CR_STATUS_INVALID, "optimizer %s: weight decay %g must be finite and >= 0",
                       rule->name, config->weight_decay);
    CR_TRY(rule->check(config, be));
    CR_TRY(check_params(params, count));
    cr_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt) return cr_fail(CR_STATUS_NOMEM, "optimizer: out of memory");
    opt->be = be;
    opt->config = *config;
    opt->rule = rule;
    cr_status s = allocate(opt, params, count);
    if (s == CR_STATUS_OK) s = build_segments(opt);
    if (s == CR_STATUS_OK) s = build_names(opt);
    if (s != CR_STATUS_OK) {
        cr_optimizer_destroy(opt);
        return s;
    }
    *out = opt;
    return CR_STATUS_OK;
}

void cr_optimizer_destroy(cr_optimizer *opt) {
    if (!opt) return;
    if (opt->state) opt->be->ops->free(opt->be, opt->state);
    free(opt->params);
    free(opt->state_offset);
    free(opt->source);
    free(opt->frozen);
    free(opt->param_steps);
    free(opt->segments);
    free(opt->groups);
    free(opt->names);
    free(opt->host_state);
    free(opt);
}

cr_status cr_optimizer_step(cr_optimizer *opt, double lr) {
    if (!(lr >= 0.0 && isfinite(lr)))
        return cr_fail(CR_STATUS_INVALID, "optimizer %s: learning rate %g at step %lld",
                       opt->rule->name, lr, (long long)opt->steps);
    for (int k = 0; k < opt->group_count; k++) {
        const cr_optim_group *group = &opt->groups[k];
        CR_TRY(opt->rule->update(opt, opt->segments + group->first, group->count, lr,
                                 group->steps + 1));
    }
    for (int k = 0; k < opt->group_count; k++) opt->groups[k].steps++;
    for (int i = 0; i < opt->count; i++) opt->param_steps[i] += !opt->frozen[i];
    opt->steps++;
    return CR_STATUS_OK;
}

int64_t cr_optimizer_step_count(const cr_optimizer *opt) { return opt->steps; }

cr_status cr_optimizer_set_frozen(cr_optimizer *opt, const bool *frozen) {
    for (int i = 0; i < opt->count; i++) opt->frozen[i] = frozen && frozen[opt->source[i]];
    return build_segments(opt);
}

#define PARAM_STEPS_NAME CR_OPTIMIZER_PREFIX "param_steps"

int cr_optimizer_state_count(const cr_optimizer *opt) { return 2 + opt->slots * opt->count; }

cr_status cr_optimizer_state_export(cr_optimizer *opt, cr_named_tensor *out) {
    cr_backend *be = opt->be;
    float *state = opt->state;
    size_t bytes = (size_t)opt->slots * opt->slot_floats * sizeof(float);
    CR_TRY(be->ops->synchronize(be));
    if (bytes && be->device != CR_DEVICE_CPU) {
        if (!opt->host_state && !(opt->host_state = malloc(bytes)))
            return cr_fail(CR_STATUS_NOMEM, "optimizer: cannot copy %zu bytes of state", bytes);
        CR_TRY(be->ops->copy_to_host(be, opt->host_state, opt->state, bytes));
        state = opt->host_state;
    }
    opt->exported_steps = opt->steps;
    out[0] = (cr_named_tensor){opt->names[0], cr_tensor_make(CR_DTYPE_I64, 0, NULL,
                                                             &opt->exported_steps)};
    for (int s = 0; s < opt->slots; s++)
        for (int i = 0; i < opt->count; i++) {
            const cr_tensor *v = &opt->params[i].value;
            float *data = state + (size_t)s * opt->slot_floats + opt->state_offset[i];
            out[1 + s * opt->count + i] = (cr_named_tensor){
                opt->names[1 + s * opt->count + i], cr_tensor_make(CR_DTYPE_F32, v->ndim, v->shape,
                                                                   data)};
        }
    int64_t shape[1] = {opt->count};
    out[1 + opt->slots * opt->count] = (cr_named_tensor){
        PARAM_STEPS_NAME, cr_tensor_make(CR_DTYPE_I64, 1, shape, opt->param_steps)};
    return CR_STATUS_OK;
}

/* Checks every tensor before copying any, so a bad checkpoint leaves the state as it was. */
static cr_status find_state(const cr_optimizer *opt, const cr_safetensors *file, int copy) {
    for (int s = 0; s < opt->slots; s++)
        for (int i = 0; i < opt->count; i++) {
            const cr_tensor *v = &opt->params[i].value, *t;
            CR_TRY(cr_safetensors_expect(file, opt->names[1 + s * opt->count + i], CR_DTYPE_F32,
                                         v->ndim, v->shape, &t));
            if (copy)
                CR_TRY(opt->be->ops->copy_from_host(
                    opt->be, cr_optim_slot(opt, s) + opt->state_offset[i],
                    t->data, cr_tensor_bytes(t)));
        }
    return CR_STATUS_OK;
}

/* The steps each parameter has taken, each in [0, steps]; NULL in *out when the file predates
 * them, which means every parameter took all the steps. */
static cr_status find_param_steps(const cr_optimizer *opt, const cr_safetensors *file,
                                  int64_t steps, const int64_t **out) {
    *out = NULL;
    if (!cr_safetensors_find(file, PARAM_STEPS_NAME)) return CR_STATUS_OK;
    const cr_tensor *t;
    int64_t shape[1] = {opt->count};
    CR_TRY(cr_safetensors_expect(file, PARAM_STEPS_NAME, CR_DTYPE_I64, 1, shape, &t));
    const int64_t *v = t->data;
    for (int i = 0; i < opt->count; i++)
        if (v[i] < 0 || v[i] > steps)
            return cr_fail(CR_STATUS_DATA, "%s: %s[%d] is %lld, not in [0, %lld]",
                           cr_safetensors_path(file), PARAM_STEPS_NAME, i, (long long)v[i],
                           (long long)steps);
    *out = v;
    return CR_STATUS_OK;
}

cr_status cr_optimizer_state_import(cr_optimizer *opt, const cr_safetensors *file) {
    const cr_tensor *step;
    const int64_t *param_steps = NULL;
    cr_status s = cr_safetensors_expect(file, opt->names[0], CR_DTYPE_I64, 0, NULL, &step);
    if (s == CR_STATUS_OK && *(const int64_t *)step->data < 0)
        s = cr_fail(CR_STATUS_DATA, "%s: %s is negative", cr_safetensors_path(file),
                    opt->names[0]);
    if (s == CR_STATUS_OK)
        s = find_param_steps(opt, file, *(const int64_t *)step->data, &param_steps);
    if (s == CR_STATUS_OK) s = find_state(opt, file, 0);
    if (s == CR_STATUS_OK) s = find_state(opt, file, 1);
    if (s != CR_STATUS_OK)
        return cr_fail_context(s, "loading the %s optimizer's state", opt->rule->name);
    opt->steps = *(const int64_t *)step->data;
    for (int i = 0; i < opt->count; i++)
        opt->param_steps[i] = param_steps ? param_steps[i] : opt->steps;
    return build_segments(opt);
}
