/* Unit tests of the optimizers on the CPU backend: SGD and AdamW against the update rules written
 * out in double below, weight decay kept off BatchNorm and biases, one backend call per step,
 * freezing and the per-parameter step counts, state checkpoints and their errors.
 * test_optim_torch.py compares with torch.optim through this program's helper mode:
 *   --run sgd|adamw lrs=0.1,0.05 [momentum=F dampening=F nesterov=0|1 wd=F decay_all=0|1
 *         beta1=F beta2=F eps=F]     prints "name index value" for every parameter element */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/optim.h"
#include "optim/optimizer_impl.h"
#include "testing.h"

/* A small model in torchvision's state_dict order, trainable values packed in one arena. */
enum { PARAMS = 6, TRAINABLE_FLOATS = 19, BUFFER_FLOATS = 2 };
static const struct {
    const char *name;
    cr_param_kind kind;
    int ndim;
    int64_t shape[2];
} layout[PARAMS] = {
    {"conv.weight", CR_PARAM_WEIGHT, 2, {2, 3}},    {"bn.weight", CR_PARAM_NORM, 1, {2}},
    {"bn.bias", CR_PARAM_NORM, 1, {2}},             {"bn.running_mean", CR_PARAM_BUFFER, 1, {2}},
    {"fc.weight", CR_PARAM_WEIGHT, 2, {3, 2}},      {"fc.bias", CR_PARAM_BIAS, 1, {3}},
};

typedef struct fixture {
    cr_backend *be;
    float *values;  /* (TRAINABLE_FLOATS) */
    float *grads;   /* (TRAINABLE_FLOATS) */
    float *buffers; /* (BUFFER_FLOATS) */
    cr_param params[PARAMS];
} fixture;

/* Exact binary fractions, so that test_optim_torch.py builds the same numbers. Trainable tensor
 * k, element i: value ((7i + 3k) mod 17 - 8) / 8; gradient at step t: ((5i + 3t + k) mod 13 - 6)
 * / 16. */
static float initial_value(int k, int i) { return (float)((7 * i + 3 * k) % 17 - 8) / 8.0f; }
static float gradient(int k, int i, int t) { return (float)((5 * i + 3 * t + k) % 13 - 6) / 16.0f; }

static void fixture_init(fixture *f, cr_backend *be) {
    f->be = be;
    f->values = be->ops->alloc(be, TRAINABLE_FLOATS * sizeof(float));
    f->grads = be->ops->alloc(be, TRAINABLE_FLOATS * sizeof(float));
    f->buffers = be->ops->alloc(be, BUFFER_FLOATS * sizeof(float));
    size_t offset = 0;
    for (int p = 0, k = 0; p < PARAMS; p++) {
        cr_param *q = &f->params[p];
        memset(q, 0, sizeof *q);
        snprintf(q->name, sizeof q->name, "%s", layout[p].name);
        q->kind = layout[p].kind;
        if (q->kind == CR_PARAM_BUFFER) {
            q->value = cr_tensor_make(CR_DTYPE_F32, layout[p].ndim, layout[p].shape, f->buffers);
            for (int i = 0; i < BUFFER_FLOATS; i++) f->buffers[i] = 0.25f * (float)i;
            continue;
        }
        q->value = cr_tensor_make(CR_DTYPE_F32, layout[p].ndim, layout[p].shape,
                                  f->values + offset);
        q->grad = f->grads + offset;
        q->offset = offset;
        for (int i = 0; i < cr_tensor_numel(&q->value); i++)
            ((float *)q->value.data)[i] = initial_value(k, i);
        offset += (size_t)cr_tensor_numel(&q->value);
        k++;
    }
}

static void fixture_grads(fixture *f, int t) {
    for (int p = 0, k = 0; p < PARAMS; p++) {
        if (f->params[p].kind == CR_PARAM_BUFFER) continue;
        for (int i = 0; i < cr_tensor_numel(&f->params[p].value); i++)
            f->params[p].grad[i] = gradient(k, i, t);
        k++;
    }
}

static void fixture_release(fixture *f) {
    f->be->ops->free(f->be, f->values);
    f->be->ops->free(f->be, f->grads);
    f->be->ops->free(f->be, f->buffers);
}

static cr_optimizer *make(fixture *f, const cr_optimizer_config *c) {
    cr_optimizer *opt = NULL;
    CHECK_OK(cr_optimizer_create(f->be, c, f->params, PARAMS, &opt));
    return opt;
}

/* torch.optim.SGD and torch.optim.AdamW in double, for `steps` steps from the fixture's start. */
static void reference(const cr_optimizer_config *c, const double *lrs, int steps,
                      double out[TRAINABLE_FLOATS]) {
    double m[TRAINABLE_FLOATS] = {0}, v[TRAINABLE_FLOATS] = {0};
    for (int t = 1; t <= steps; t++) {
        double lr = lrs[t - 1];
        int flat = 0;
        for (int p = 0, k = 0; p < PARAMS; p++) {
            if (layout[p].kind == CR_PARAM_BUFFER) continue;
            double wd = c->decay_norm_and_bias || layout[p].kind == CR_PARAM_WEIGHT
                            ? c->weight_decay : 0.0;
            int n = (int)(layout[p].shape[0] * (layout[p].ndim == 2 ? layout[p].shape[1] : 1));
            for (int i = 0; i < n; i++, flat++) {
                double *x = &out[flat], g = gradient(k, i, t);
                if (t == 1) *x = initial_value(k, i);
                if (c->kind == CR_OPTIMIZER_SGD) {
                    g += wd * *x;
                    if (c->momentum != 0.0) {
                        m[flat] = t == 1 ? g : c->momentum * m[flat] + (1 - c->dampening) * g;
                        g = c->nesterov ? g + c->momentum * m[flat] : m[flat];
                    }
                    *x -= lr * g;
                } else {
                    *x *= 1 - lr * wd;
                    m[flat] = c->beta1 * m[flat] + (1 - c->beta1) * g;
                    v[flat] = c->beta2 * v[flat] + (1 - c->beta2) * g * g;
                    double m_hat = m[flat] / (1 - pow(c->beta1, t));
                    double v_hat = v[flat] / (1 - pow(c->beta2, t));
                    /* torch divides sqrt(v) by sqrt(1 - beta2^t) before adding eps */
                    *x -= lr * m_hat / (sqrt(v_hat) + c->eps);
                }
            }
            k++;
        }
    }
}

static void check_against_reference(cr_backend *be, const cr_optimizer_config *c, int line) {
    static const double lrs[3] = {0.1, 0.05, 0.02};
    fixture f;
    fixture_init(&f, be);
    cr_optimizer *opt = make(&f, c);
    for (int t = 1; opt && t <= 3; t++) {
        fixture_grads(&f, t);
        CHECK_OK(cr_optimizer_step(opt, lrs[t - 1]));
    }
    double want[TRAINABLE_FLOATS];
    reference(c, lrs, 3, want);
    for (int i = 0; i < TRAINABLE_FLOATS; i++) {
        cr_test_checks++;
        if (!(fabs(f.values[i] - want[i]) <= 2e-6 * fmax(1.0, fabs(want[i]))))
            cr_test_fail(__FILE__, line, "element %d: %.9g, reference %.9g", i, f.values[i],
                         want[i]);
    }
    for (int i = 0; i < BUFFER_FLOATS; i++) CHECK(f.buffers[i] == 0.25f * (float)i); /* untouched */
    CHECK(opt && cr_optimizer_step_count(opt) == 3);
    cr_optimizer_destroy(opt);
    fixture_release(&f);
}

static cr_optimizer_config sgd_recipe(void) {
    cr_optimizer_config c = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    c.momentum = 0.9;
    c.nesterov = true;
    c.weight_decay = 5e-4;
    return c;
}

static void test_sgd_matches_reference(cr_backend *be) {
    cr_optimizer_config c = sgd_recipe();
    check_against_reference(be, &c, __LINE__);
    c.nesterov = false;
    c.dampening = 0.5;
    c.decay_norm_and_bias = true;
    c.weight_decay = 0.1;
    check_against_reference(be, &c, __LINE__);
    c = cr_optimizer_defaults(CR_OPTIMIZER_SGD);
    c.weight_decay = 0.01;
    check_against_reference(be, &c, __LINE__);
}

static void test_adamw_matches_reference(cr_backend *be) {
    cr_optimizer_config c = cr_optimizer_defaults(CR_OPTIMIZER_ADAMW);
    check_against_reference(be, &c, __LINE__);
    c.decay_norm_and_bias = true;
    c.weight_decay = 0.3;
    c.beta1 = 0.5;
    c.beta2 = 0.9;
    c.eps = 1e-3;
    check_against_reference(be, &c, __LINE__);
}

/* Contiguous neighbours with the same decay share one segment. */
static void test_segments(cr_backend *be) {
    fixture f;
    fixture_init(&f, be);
    cr_optimizer_config c = sgd_recipe();
    cr_optimizer *opt = make(&f, &c);
    /* conv.weight | bn.weight bn.bias | fc.weight | fc.bias: decay changes at every border */
    CHECK(opt && opt->segment_count == 4 && opt->count == 5 && opt->slot_floats == 19);
    cr_optimizer_destroy(opt);
    c.decay_norm_and_bias = true;
    opt = make(&f, &c);
    CHECK(opt && opt->segment_count == 1 && opt->segments[0].count == TRAINABLE_FLOATS);
    cr_optimizer_destroy(opt);
    c.momentum = 0;
    c.nesterov = false;
    opt = make(&f, &c);
    CHECK(opt && opt->state == NULL && cr_optimizer_state_count(opt) == 2);
    cr_optimizer_destroy(opt);
    fixture_release(&f);
}

/* A backend that counts the optimizer steps it is asked for and forwards them to the CPU's. */
static const cr_backend_ops *counted_ops;
static int sgd_calls, adamw_calls;

static cr_status counting_sgd(cr_backend *be, const cr_sgd_args *a) {
    sgd_calls++;
    return counted_ops->sgd_step(be, a);
}

static cr_status counting_adamw(cr_backend *be, const cr_adamw_args *a) {
    adamw_calls++;
    return counted_ops->adamw_step(be, a);
}

/* Whatever the number of segments, a step is one backend call: one fork of the threads. */
static void test_one_call_per_step(cr_backend *be) {
    counted_ops = be->ops;
    cr_backend_ops ops = *be->ops;
    ops.sgd_step = counting_sgd;
    ops.adamw_step = counting_adamw;
    cr_backend counting = *be;
    counting.ops = &ops;
    fixture f;
    fixture_init(&f, &counting);
    cr_optimizer_config configs[2] = {sgd_recipe(), cr_optimizer_defaults(CR_OPTIMIZER_ADAMW)};
    for (int i = 0; i < 2; i++) {
        cr_optimizer *opt = make(&f, &configs[i]);
        CHECK(opt && opt->segment_count == 4);
        for (int t = 1; opt && t <= 3; t++) CHECK_OK(cr_optimizer_step(opt, 0.1));
        cr_optimizer_destroy(opt);
    }
    CHECK(sgd_calls == 3 && adamw_calls == 3);
    fixture_release(&f);
}

/* conv.weight, bn.weight and bn.bias (and the buffer among them) frozen; fc trains. */
static const bool body_frozen[PARAMS] = {true, true, true, true, false, false};
enum { FC_FLOAT = 10 }; /* fc.weight's first element in the trainable arena */

/* Two steps with the body frozen, then one with everything: frozen values do not move (weight
 * decay and momentum included), fc follows the reference as if nothing were frozen, and the body's
 * first step is a fresh optimizer's first step, as torch counts steps per parameter. The state,
 * per-parameter steps included, resumes from a checkpoint. */
static void check_freezing(cr_backend *be, const cr_optimizer_config *c, const char *path) {
    static const double lrs[3] = {0.1, 0.05, 0.02};
    fixture f, fresh, resumed;
    fixture_init(&f, be);
    fixture_init(&fresh, be);
    fixture_init(&resumed, be);
    cr_optimizer *opt = make(&f, c), *first = make(&fresh, c), *again = make(&resumed, c);
    if (!opt || !first || !again) goto done;
    CHECK_OK(cr_optimizer_set_frozen(opt, body_frozen));
    for (int t = 1; t <= 2; t++) {
        fixture_grads(&f, t);
        CHECK_OK(cr_optimizer_step(opt, lrs[t - 1]));
    }
    CHECK(memcmp(f.values, fresh.values, FC_FLOAT * sizeof(float)) == 0);
    CHECK(memcmp(f.values + FC_FLOAT, fresh.values + FC_FLOAT,
                 (TRAINABLE_FLOATS - FC_FLOAT) * sizeof(float)) != 0);
    CHECK_OK(cr_optimizer_set_frozen(opt, NULL));
    fixture_grads(&f, 3);
    CHECK_OK(cr_optimizer_step(opt, lrs[2]));
    double want[TRAINABLE_FLOATS];
    reference(c, lrs, 3, want);
    for (int i = FC_FLOAT; i < TRAINABLE_FLOATS; i++)
        CHECK_NEAR(f.values[i], want[i], 2e-6 * fmax(1.0, fabs(want[i])));
    fixture_grads(&fresh, 3);
    CHECK_OK(cr_optimizer_step(first, lrs[2]));
    CHECK(memcmp(f.values, fresh.values, FC_FLOAT * sizeof(float)) == 0);
    CHECK(cr_optimizer_step_count(opt) == 3);

    int n = cr_optimizer_state_count(opt);
    cr_named_tensor *state = calloc((size_t)n, sizeof *state);
    CHECK_OK(cr_optimizer_state_export(opt, state));
    const cr_named_tensor *steps = &state[n - 1];
    CHECK(strcmp(steps->name, "optimizer.param_steps") == 0 && steps->tensor.shape[0] == 5);
    const int64_t *taken = steps->tensor.data;
    CHECK(taken[0] == 1 && taken[1] == 1 && taken[2] == 1 && taken[3] == 3 && taken[4] == 3);
    CHECK_OK(cr_safetensors_write(path, state, n, NULL, 0));
    free(state);
    cr_safetensors *file = NULL;
    CHECK_OK(cr_safetensors_open(path, &file));
    if (file) CHECK_OK(cr_optimizer_state_import(again, file));
    cr_safetensors_close(file);
    memcpy(resumed.values, f.values, TRAINABLE_FLOATS * sizeof(float));
    fixture_grads(&f, 4);
    fixture_grads(&resumed, 4);
    CHECK_OK(cr_optimizer_step(opt, 0.01));
    CHECK_OK(cr_optimizer_step(again, 0.01));
    CHECK(memcmp(f.values, resumed.values, TRAINABLE_FLOATS * sizeof(float)) == 0);
    unlink(path);
done:
    cr_optimizer_destroy(opt);
    cr_optimizer_destroy(first);
    cr_optimizer_destroy(again);
    fixture_release(&f);
    fixture_release(&fresh);
    fixture_release(&resumed);
}

static void test_freezing(cr_backend *be, const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/frozen.safetensors", dir);
    cr_optimizer_config sgd = sgd_recipe(), adamw = cr_optimizer_defaults(CR_OPTIMIZER_ADAMW);
    sgd.dampening = 0.5; /* torch's first momentum step has none: the late start shows */
    sgd.nesterov = false;
    check_freezing(be, &sgd, path);
    check_freezing(be, &adamw, path);
}

/* Two steps, a checkpoint, one more step: the same as three steps without the checkpoint. */
static void check_checkpoint_resumes(cr_backend *be, const cr_optimizer_config *c,
                                     const char *path) {
    fixture a, b;
    fixture_init(&a, be);
    fixture_init(&b, be);
    cr_optimizer *first = make(&a, c), *resumed = make(&b, c);
    if (!first || !resumed) goto done;
    for (int t = 1; t <= 2; t++) {
        fixture_grads(&a, t);
        CHECK_OK(cr_optimizer_step(first, 0.1));
    }
    int n = cr_optimizer_state_count(first);
    cr_named_tensor *state = calloc((size_t)n, sizeof *state);
    CHECK_OK(cr_optimizer_state_export(first, state));
    CHECK(strcmp(state[0].name, "optimizer.step") == 0 && *(int64_t *)state[0].tensor.data == 2);
    CHECK(strstr(state[1].name, "optimizer.") == state[1].name &&
          strstr(state[1].name, ".conv.weight") != NULL);
    CHECK(state[1].tensor.ndim == 2 && state[1].tensor.shape[1] == 3);
    CHECK_OK(cr_safetensors_write(path, state, n, NULL, 0));
    free(state);

    cr_safetensors *file = NULL;
    CHECK_OK(cr_safetensors_open(path, &file));
    memcpy(b.values, a.values, TRAINABLE_FLOATS * sizeof(float));
    if (file) CHECK_OK(cr_optimizer_state_import(resumed, file));
    cr_safetensors_close(file);
    CHECK(cr_optimizer_step_count(resumed) == 2);
    fixture_grads(&a, 3);
    fixture_grads(&b, 3);
    CHECK_OK(cr_optimizer_step(first, 0.05));
    CHECK_OK(cr_optimizer_step(resumed, 0.05));
    CHECK(memcmp(a.values, b.values, TRAINABLE_FLOATS * sizeof(float)) == 0);
done:
    cr_optimizer_destroy(first);
    cr_optimizer_destroy(resumed);
    fixture_release(&a);
    fixture_release(&b);
}

static void test_checkpoints(cr_backend *be, const char *dir) {
    char sgd_path[256], adamw_path[256];
    snprintf(sgd_path, sizeof sgd_path, "%s/sgd.safetensors", dir);
    snprintf(adamw_path, sizeof adamw_path, "%s/adamw.safetensors", dir);
    cr_optimizer_config sgd = sgd_recipe(), adamw = cr_optimizer_defaults(CR_OPTIMIZER_ADAMW);
    check_checkpoint_resumes(be, &sgd, sgd_path);
    check_checkpoint_resumes(be, &adamw, adamw_path);

    /* an SGD checkpoint does not resume AdamW, and the failure changes nothing */
    fixture f;
    fixture_init(&f, be);
    cr_optimizer *opt = make(&f, &adamw);
    cr_safetensors *file = NULL;
    CHECK_OK(cr_safetensors_open(sgd_path, &file));
    if (opt && file) {
        CHECK_FAILS(cr_optimizer_state_import(opt, file), CR_STATUS_DATA,
                    "loading the adamw optimizer's state: ");
        CHECK(strstr(cr_error_message(), "sgd.safetensors: no tensor named "
                                         "\"optimizer.exp_avg.conv.weight\"") != NULL);
        CHECK(cr_optimizer_step_count(opt) == 0);
    }
    cr_safetensors_close(file);
    cr_optimizer_destroy(opt);

    /* a checkpoint of another architecture: fc.weight has another shape */
    f.params[4].value.shape[0] = 2;
    f.params[4].value.shape[1] = 3;
    opt = make(&f, &sgd);
    CHECK_OK(cr_safetensors_open(sgd_path, &file));
    if (opt && file)
        CHECK_FAILS(cr_optimizer_state_import(opt, file), CR_STATUS_DATA,
                    "\"optimizer.momentum_buffer.fc.weight\" is F32 [3, 2], expected F32 [2, 3]");
    cr_safetensors_close(file);
    cr_optimizer_destroy(opt);
    fixture_release(&f);
    unlink(sgd_path);
    unlink(adamw_path);
}

static void test_rejects_bad_configs(cr_backend *be) {
    fixture f;
    fixture_init(&f, be);
    cr_optimizer *opt;
    cr_optimizer_config c = sgd_recipe();
    c.momentum = 0;
    CHECK_FAILS(cr_optimizer_create(be, &c, f.params, PARAMS, &opt), CR_STATUS_INVALID,
                "Nesterov momentum needs momentum > 0 and dampening 0");
    c = sgd_recipe();
    c.weight_decay = -1;
    CHECK_FAILS(cr_optimizer_create(be, &c, f.params, PARAMS, &opt), CR_STATUS_INVALID,
                "weight decay -1");
    c = cr_optimizer_defaults(CR_OPTIMIZER_ADAMW);
    c.beta2 = 1.0;
    CHECK_FAILS(cr_optimizer_create(be, &c, f.params, PARAMS, &opt), CR_STATUS_INVALID,
                "betas (0.9, 1) must be in [0, 1)");
    c = cr_optimizer_defaults(CR_OPTIMIZER_ADAMW);
    c.eps = NAN;
    CHECK_FAILS(cr_optimizer_create(be, &c, f.params, PARAMS, &opt), CR_STATUS_INVALID, "eps");
    f.params[5].grad = NULL;
    c = sgd_recipe();
    CHECK_FAILS(cr_optimizer_create(be, &c, f.params, PARAMS, &opt), CR_STATUS_INVALID,
                "parameter \"fc.bias\" needs F32 values and a gradient");
    CHECK(opt == NULL);
    f.params[5].kind = CR_PARAM_BUFFER; /* buffers have no gradient and are skipped */
    opt = make(&f, &c);
    if (opt) {
        CHECK_FAILS(cr_optimizer_step(opt, NAN), CR_STATUS_INVALID, "learning rate nan");
        CHECK_FAILS(cr_optimizer_step(opt, -0.1), CR_STATUS_INVALID, "learning rate -0.1");
        CHECK(cr_optimizer_step_count(opt) == 0);
    }
    cr_optimizer_destroy(opt);
    fixture_release(&f);
}

static int key_is(const char *arg, size_t n, const char *key) {
    return strlen(key) == n && strncmp(arg, key, n) == 0;
}

/* Helper mode: steps with the given config and lrs, then prints every element. */
static int run_steps(cr_backend *be, int argc, char **argv) {
    cr_optimizer_config c = cr_optimizer_defaults(strcmp(argv[0], "adamw") == 0
                                                      ? CR_OPTIMIZER_ADAMW : CR_OPTIMIZER_SGD);
    double lrs[64];
    int steps = 0;
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) return 2;
        size_t n = (size_t)(eq - argv[i]);
        const char *v = eq + 1;
        if (key_is(argv[i], n, "lrs")) {
            for (char *end; *v && steps < 64; v = *end ? end + 1 : end)
                lrs[steps++] = strtod(v, &end);
        } else if (key_is(argv[i], n, "momentum")) c.momentum = strtod(v, NULL);
        else if (key_is(argv[i], n, "dampening")) c.dampening = strtod(v, NULL);
        else if (key_is(argv[i], n, "nesterov")) c.nesterov = atoi(v) != 0;
        else if (key_is(argv[i], n, "wd")) c.weight_decay = strtod(v, NULL);
        else if (key_is(argv[i], n, "decay_all")) c.decay_norm_and_bias = atoi(v) != 0;
        else if (key_is(argv[i], n, "beta1")) c.beta1 = strtod(v, NULL);
        else if (key_is(argv[i], n, "beta2")) c.beta2 = strtod(v, NULL);
        else if (key_is(argv[i], n, "eps")) c.eps = strtod(v, NULL);
        else return 2;
    }
    fixture f;
    fixture_init(&f, be);
    cr_optimizer *opt = NULL;
    cr_status s = cr_optimizer_create(be, &c, f.params, PARAMS, &opt);
    for (int t = 1; s == CR_STATUS_OK && t <= steps; t++) {
        fixture_grads(&f, t);
        s = cr_optimizer_step(opt, lrs[t - 1]);
    }
    if (s != CR_STATUS_OK) fprintf(stderr, "%s\n", cr_error_message());
    for (int p = 0; s == CR_STATUS_OK && p < PARAMS; p++)
        for (int i = 0; i < cr_tensor_numel(&f.params[p].value); i++)
            printf("%s %d %a\n", f.params[p].name, i,
                   (double)((float *)f.params[p].value.data)[i]); /* exact, for bit comparisons */
    cr_optimizer_destroy(opt);
    fixture_release(&f);
    return s != CR_STATUS_OK;
}

int main(int argc, char **argv) {
    cr_backend *be = NULL;
    if (cr_backend_create(CR_DEVICE_CPU, 2, &be) != CR_STATUS_OK) {
        fprintf(stderr, "no CPU backend: %s\n", cr_error_message());
        return 1;
    }
    if (argc >= 3 && strcmp(argv[1], "--run") == 0) {
        int rc = run_steps(be, argc - 2, argv + 2);
        cr_backend_destroy(be);
        return rc;
    }
    char dir[] = "/tmp/cr_optim_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_sgd_matches_reference(be);
    test_adamw_matches_reference(be);
    test_segments(be);
    test_one_call_per_step(be);
    test_checkpoints(be, dir);
    test_freezing(be, dir);
    test_rejects_bad_configs(be);
    rmdir(dir);
    cr_backend_destroy(be);
    return cr_test_summary("optim");
}
