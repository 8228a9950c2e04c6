/* torch.optim.SGD's and torch.optim.AdamW's updates, each one OpenMP pass over every segment of the
 * parameter arena, rounded as PyTorch's CPU kernels round them (fused multiply-adds where its
 * add-with-alpha uses them), for parity. */
#include <math.h>
#include <omp.h>

#include "backend/cpu/cpu.h"

/* Threads' shares start at multiples of a cache line of floats, so that no line of the parameters
 * or the state is written by two threads. */
enum { SHARE_ALIGN = 16 };

/* Updates elements [begin, end) of segment s; args is the op's argument struct. */
typedef void (*slice_update)(const void *args, const cr_optim_segment *s, size_t begin,
                             size_t end);

/* Where thread t's share of `total` elements starts (t == threads: the end). */
static size_t share_start(size_t total, size_t t, size_t threads) {
    if (t == threads) return total;
    size_t at = total / threads * t + total % threads * t / threads; /* total * t / threads */
    return at - at % SHARE_ALIGN;
}

/* Runs `update` over every segment in one parallel region. The threads split the elements of all
 * segments together into equal shares, whatever the segments' sizes: a ResNet's table alternates
 * large weight segments with tiny norm ones, and a split per segment would fork once for each. */
static void update_segments(const cr_backend *be, const cr_optim_segment *segments, int count,
                            slice_update update, const void *args) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += segments[i].count;
#pragma omp parallel num_threads(be->threads) if (total > CR_CPU_PARALLEL_MIN)
    {
        size_t threads = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        size_t begin = share_start(total, t, threads), end = share_start(total, t + 1, threads);
        size_t start = 0; /* of segment i in the concatenation */
        for (int i = 0; i < count && start < end; start += segments[i++].count) {
            size_t lo = begin > start ? begin - start : 0;
            size_t hi = end - start < segments[i].count ? end - start : segments[i].count;
            if (lo < hi) update(args, &segments[i], lo, hi);
        }
    }
}

/* Every segment must have its values and gradient before any is updated, so that a bad table
 * changes nothing. */
static cr_status check_segments(const char *op, const cr_optim_segment *segments, int count) {
    if (count < 0 || (count > 0 && !segments))
        return cr_fail(CR_STATUS_INVALID, "%s: %d segments", op, count);
    for (int i = 0; i < count; i++)
        if (segments[i].count > 0 && (!segments[i].param || !segments[i].grad))
            return cr_fail(CR_STATUS_INVALID, "%s: segment %d needs param and grad", op, i);
    return CR_STATUS_OK;
}

static void sgd_slice(const void *args, const cr_optim_segment *s, size_t begin, size_t end) {
    const cr_sgd_args *a = args;
    const float lr = a->lr, mom = a->momentum, damp = 1.0f - a->dampening;
    const float wd = (float)s->weight_decay;
    const bool use_wd = wd != 0.0f, use_mom = mom != 0.0f, first = a->first_step;
    const bool nesterov = a->nesterov;
    float *param = s->param, *buf = use_mom ? a->momentum_buffer + s->state_offset : NULL;
    const float *grad = s->grad;
#pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float g = use_wd ? fmaf(param[i], wd, grad[i]) : grad[i]; /* grad + wd * param */
        if (use_mom) {
            float b = first ? g : fmaf(g, damp, buf[i] * mom); /* mom * buf + (1 - damp) * g */
            buf[i] = b;
            g = nesterov ? fmaf(b, mom, g) : b;
        }
        param[i] = fmaf(g, -lr, param[i]); /* param - lr * g */
    }
}

cr_status cr_cpu_sgd_step(cr_backend *be, const cr_sgd_args *a) {
    CR_TRY(check_segments("sgd", a->segments, a->segment_count));
    if (a->momentum != 0.0f && !a->momentum_buffer)
        return cr_fail(CR_STATUS_INVALID, "sgd: momentum %g needs a momentum buffer",
                       (double)a->momentum);
    update_segments(be, a->segments, a->segment_count, sgd_slice, a);
    return CR_STATUS_OK;
}

static void adamw_slice(const void *args, const cr_optim_segment *s, size_t begin, size_t end) {
    const cr_adamw_args *a = args;
    const float decay = (float)(1.0 - a->lr * s->weight_decay); /* torch: Python floats */
    const float beta1 = a->beta1, one_minus_beta1 = a->one_minus_beta1, beta2 = a->beta2;
    const float one_minus_beta2 = a->one_minus_beta2, step_size = a->step_size;
    const float bias2_sqrt = a->bias2_sqrt, eps = a->eps;
    float *param = s->param, *exp_avg = a->exp_avg + s->state_offset;
    float *exp_avg_sq = a->exp_avg_sq + s->state_offset;
    const float *grad = s->grad;
#pragma omp simd
    for (size_t i = begin; i < end; i++) {
        float g = grad[i];
        float m = fmaf(g, one_minus_beta1, exp_avg[i] * beta1); /* torch's fused add-alpha */
        float v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        float denom = sqrtf(v) / bias2_sqrt + eps;
        param[i] = param[i] * decay + -step_size * m / denom;
    }
}

cr_status cr_cpu_adamw_step(cr_backend *be, const cr_adamw_args *a) {
    CR_TRY(check_segments("adamw", a->segments, a->segment_count));
    if (a->segment_count > 0 && (!a->exp_avg || !a->exp_avg_sq))
        return cr_fail(CR_STATUS_INVALID, "adamw: exp_avg and exp_avg_sq are required");
    update_segments(be, a->segments, a->segment_count, adamw_slice, a);
    return CR_STATUS_OK;
}
