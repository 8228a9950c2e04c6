/* Picks a backend at run time. The only file that knows which backends were built in, so that the
 * rest of the program asks for a device by name and gets a clear error when it is missing. */
#include <omp.h>
#include <stdlib.h>

#include "backend/cpu/cpu.h"
#include "crescendo/backend.h"

cr_status cr_backend_create(cr_device device, int threads, cr_backend **out) {
    *out = NULL;
    if (threads < 0) return cr_fail(CR_STATUS_INVALID, "backend: %d threads (0 means one per core)",
                                    threads);
    switch (device) {
    case CR_DEVICE_CPU: return cr_cpu_backend_create(threads ? threads : omp_get_num_procs(), out);
    case CR_DEVICE_CUDA:
        return cr_fail(CR_STATUS_UNSUPPORTED, "this build of crescendo has no CUDA backend; "
                                              "use --device cpu");
    }
    return cr_fail(CR_STATUS_INVALID, "backend: unknown device %d", (int)device);
}

void cr_backend_destroy(cr_backend *be) {
    if (!be) return;
    switch (be->device) {
    case CR_DEVICE_CPU: cr_cpu_backend_destroy(be); return;
    case CR_DEVICE_CUDA: return; /* never created by this build */
    }
}

const char *cr_device_name(cr_device device) {
    switch (device) {
    case CR_DEVICE_CPU: return "cpu";
    case CR_DEVICE_CUDA: return "cuda";
    }
    return "unknown";
}

int cr_backend_available(cr_device device) { return device == CR_DEVICE_CPU; }

cr_status cr_backend_describe(const cr_backend *be, cr_backend_info *out) {
    return be->ops->info(be, out);
}

cr_status cr_backend_peak_gflops(cr_backend *be, cr_dtype compute, double *out) {
    return be->ops->peak_gflops(be, compute, out);
}

bool cr_backend_supports(const cr_backend *be, cr_dtype compute) {
    cr_backend_info info;
    switch (compute) {
    case CR_DTYPE_F32: return true;
    case CR_DTYPE_BF16: return cr_backend_describe(be, &info) == CR_STATUS_OK && info.bf16;
    default: return false; /* fp16 arithmetic waits for a GPU backend */
    }
}
