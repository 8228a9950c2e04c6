/* Gradient check of the CPU softmax cross-entropy: loss and probabilities against a double
 * reference of torch.nn.CrossEntropyLoss (batch mean, label smoothing), and of a mixed batch's
 * soft target (timm's mixup_target: weight w on each sample's label, 1 - w on its second),
 * dlogits against central differences of that loss times grad_scale, stability with logits in the
 * thousands, and bad labels refused. Tolerances are those of gradcheck.h. */
#include <string.h>

#include "gradcheck.h"

typedef struct xent_case {
    const char *name;
    int n, k;
    float smoothing, logit_scale, grad_scale;
    float weight; /* > 0: a mixed batch, this much on the first label */
} xent_case;

static const xent_case cases[] = {
    {"6 x 10, no smoothing", 6, 10, 0.0f, 3, 1, 0},
    {"6 x 10, smoothing 0.1", 6, 10, 0.1f, 3, 1, 0},
    {"64 x 100, smoothing 0.1, threaded", 64, 100, 0.1f, 3, 1, 0},
    {"4 x 1000, smoothing 0.2", 4, 1000, 0.2f, 5, 1, 0},
    {"5 x 7, logits in the thousands", 5, 7, 0.1f, 3000, 1, 0},
    {"6 x 10, grad_scale 128 (fp16 loss scaling)", 6, 10, 0.1f, 3, 128, 0},
    {"3 x 1, one class", 3, 1, 0.1f, 3, 1, 0},
    {"6 x 10, mixed 0.3, smoothing 0.1", 6, 10, 0.1f, 3, 1, 0.3f},
    {"64 x 100, mixed 0.85, threaded", 64, 100, 0.0f, 3, 1, 0.85f},
    {"8 x 3, mixed 0.5, labels often equal", 8, 3, 0.2f, 3, 1, 0.5f},
};
enum { CASES = sizeof cases / sizeof cases[0] };

typedef struct xent_ctx {
    const xent_case *k;
    const double *z;
    const int32_t *labels, *mixed; /* mixed NULL: not a mixed batch */
} xent_ctx;

/* The mean over the batch of -sum_j target_j log softmax(z)_j, target = (1 - s) onehot + s / K;
 * fills probs when given. */
static double xent_ref(const xent_case *k, const double *z, const int32_t *labels,
                       const int32_t *mixed, double *probs) {
    double total = 0;
    for (int i = 0; i < k->n; i++) {
        const double *row = z + (size_t)i * k->k;
        double max = row[0], sum = 0;
        for (int j = 1; j < k->k; j++) max = row[j] > max ? row[j] : max;
        for (int j = 0; j < k->k; j++) sum += exp(row[j] - max);
        double lse = max + log(sum);
        for (int j = 0; j < k->k; j++) {
            double target = k->smoothing / k->k + (j == labels[i] ? 1 - k->smoothing : 0);
            if (mixed)
                target = k->weight * target + (1 - k->weight) * (k->smoothing / k->k +
                                                                 (j == mixed[i] ? 1 - k->smoothing
                                                                                : 0));
            total -= target * (row[j] - lse);
            if (probs) probs[(size_t)i * k->k + j] = exp(row[j] - lse);
        }
    }
    return total / k->n;
}

static double xent_loss(void *p) {
    xent_ctx *c = p;
    return xent_ref(c->k, c->z, c->labels, c->mixed, NULL);
}

static void check_case(cr_backend *be, const xent_case *k, uint64_t seed) {
    size_t count = (size_t)k->n * k->k;
    char what[160];
    float *z = gc_uniform(count, seed, 1, -1, 1);
    for (size_t i = 0; i < count; i++) z[i] *= k->logit_scale;
    int32_t *labels = gc_alloc((size_t)k->n * sizeof *labels);
    cr_rng rng = cr_rng_stream(seed, 2, 0);
    for (int i = 0; i < k->n; i++) labels[i] = (int32_t)cr_rng_below(&rng, (uint32_t)k->k);
    int32_t *mixed = NULL;
    if (k->weight > 0) {
        mixed = gc_alloc((size_t)k->n * sizeof *mixed);
        for (int i = 0; i < k->n; i++) mixed[i] = (int32_t)cr_rng_below(&rng, (uint32_t)k->k);
    }
    float *probs = gc_filled(count, NAN), *dz = gc_filled(count, NAN), loss = NAN, loss2 = NAN;
    double *zd = gc_to_double(z, count), *pd = gc_alloc(count * 8);
    cr_xent_args a = {.n = k->n, .k = k->k, .smoothing = k->smoothing, .logits = z,
                      .labels = labels, .probs = probs, .loss = &loss, .dlogits = dz,
                      .grad_scale = k->grad_scale, .mix_labels = mixed, .weight = k->weight};
    CHECK_OK(be->ops->softmax_xent_forward(be, &a));
    double want = xent_ref(k, zd, labels, mixed, pd);
    snprintf(what, sizeof what, "%s: loss", k->name);
    gc_compare(what, &loss, &want, 1, GC_FORWARD_TOL);
    snprintf(what, sizeof what, "%s: probabilities", k->name);
    gc_compare(what, probs, pd, count, GC_FORWARD_TOL);
    a.loss = &loss2;
    CHECK_OK(be->ops->softmax_xent_forward(be, &a));
    CHECK(memcmp(&loss, &loss2, sizeof loss) == 0);

    CHECK_OK(be->ops->softmax_xent_backward(be, &a));
    xent_ctx ctx = {k, zd, labels, mixed};
    snprintf(what, sizeof what, "%s: dlogits", k->name);
    gc_check_grad(what, xent_loss, &ctx, zd, count, 1e-5 * k->logit_scale, dz, NULL,
                  k->grad_scale);
    free(z), free(labels), free(mixed), free(probs), free(dz), free(zd), free(pd);
}

static void test_bad_labels_fail(cr_backend *be) {
    float z[6] = {0}, probs[6], loss;
    int32_t labels[2] = {1, 3};
    cr_xent_args a = {.n = 2, .k = 3, .logits = z, .labels = labels, .probs = probs,
                      .loss = &loss};
    CHECK_FAILS(be->ops->softmax_xent_forward(be, &a), CR_STATUS_INVALID,
                "label 3 of sample 1 is outside [0, 3)");
    labels[1] = -1;
    CHECK_FAILS(be->ops->softmax_xent_forward(be, &a), CR_STATUS_INVALID, "label -1");
    labels[1] = 0;
    a.smoothing = 1.5f;
    CHECK_FAILS(be->ops->softmax_xent_forward(be, &a), CR_STATUS_INVALID, "smoothing");
}

int main(void) {
    cr_backend *be = gc_backend();
    for (int i = 0; i < CASES; i++) {
        printf("%s\n", cases[i].name);
        check_case(be, &cases[i], 600 + (uint64_t)i);
    }
    test_bad_labels_fail(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/xent");
}
