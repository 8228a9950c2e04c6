/* torch.optim.SGD's update as one OpenMP pass over a flat range of parameters, rounded as PyTorch's
 * CPU kernels round it (fused multiply-adds where its add-with-alpha uses them), for parity. */
#include <math.h>

#include "backend/cpu/cpu.h"

cr_status cr_cpu_sgd_step(cr_backend *be, const cr_sgd_args *a) {
    if (!a->param || !a->grad)
        return cr_fail(CR_STATUS_INVALID, "sgd: param and grad are required");
    if (a->momentum != 0.0f && !a->momentum_buffer)
        return cr_fail(CR_STATUS_INVALID, "sgd: momentum %g needs a momentum buffer",
                       (double)a->momentum);
    const float lr = a->lr, mom = a->momentum, damp = 1.0f - a->dampening, wd = a->weight_decay;
    const bool use_wd = wd != 0.0f, use_mom = mom != 0.0f, first = a->first_step;
    const bool nesterov = a->nesterov;
    float *param = a->param, *buf = a->momentum_buffer;
    const float *grad = a->grad;
    const size_t count = a->count;
#pragma omp parallel for simd num_threads(be->threads) if (count > CR_CPU_PARALLEL_MIN)          \
    schedule(static)
    for (size_t i = 0; i < count; i++) {
        float g = use_wd ? fmaf(param[i], wd, grad[i]) : grad[i]; /* grad + wd * param */
        if (use_mom) {
            float b = first ? g : fmaf(g, damp, buf[i] * mom); /* mom * buf + (1 - damp) * g */
            buf[i] = b;
            g = nesterov ? fmaf(b, mom, g) : b;
        }
        param[i] = fmaf(g, -lr, param[i]); /* param - lr * g */
    }
    return CR_STATUS_OK;
}
