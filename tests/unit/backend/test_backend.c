/* Unit tests of the backend registry and the CPU backend's memory ops: device names, CUDA absent
 * with a clear error, thread counts and the rest of the backend's report, aligned allocation,
 * copies, zeroing and empty caches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/backend.h"
#include "testing.h"

static void test_registry(void) {
    CHECK(strcmp(cr_device_name(CR_DEVICE_CPU), "cpu") == 0);
    CHECK(strcmp(cr_device_name(CR_DEVICE_CUDA), "cuda") == 0);
    CHECK(cr_backend_available(CR_DEVICE_CPU));
    CHECK(!cr_backend_available(CR_DEVICE_CUDA));
    cr_backend *be = (cr_backend *)1;
    CHECK_FAILS(cr_backend_create(CR_DEVICE_CUDA, 0, &be), CR_STATUS_UNSUPPORTED, "no CUDA");
    CHECK(be == NULL);
    CHECK_FAILS(cr_backend_create(CR_DEVICE_CPU, -1, &be), CR_STATUS_INVALID, "threads");
    cr_backend_destroy(NULL);
}

static void test_threads(void) {
    cr_backend *be = NULL;
    cr_backend_info info;
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 0, &be));
    CHECK(be && be->device == CR_DEVICE_CPU && strcmp(be->ops->name, "cpu") == 0);
    CHECK_OK(be->ops->info(be, &info));
    CHECK(info.processors >= 1 && info.threads == info.processors && be->threads == info.threads);
    cr_backend_destroy(be);
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 3, &be));
    CHECK_OK(be->ops->info(be, &info));
    CHECK(be->threads == 3 && info.threads == 3);
    cr_backend_destroy(be);
}

/* The rest of the report: oneDNN's version and instruction set, bf16 where that set has it, and
 * OMP_NUM_THREADS as the environment holds it at the time of the call. */
static void test_info(void) {
    cr_backend *be = NULL;
    cr_backend_info info;
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 2, &be));
    unsetenv("OMP_NUM_THREADS");
    CHECK_OK(be->ops->info(be, &info));
    CHECK(strcmp(info.library, "onednn") == 0);
    int major = -1, minor = -1, patch = -1;
    CHECK(sscanf(info.version, "%d.%d.%d", &major, &minor, &patch) == 3 && major >= 2);
    CHECK(info.isa[0] != '\0' && info.omp_num_threads[0] == '\0');
    bool bf16_isa = strcmp(info.isa, "avx512_core_bf16") == 0 || strstr(info.isa, "amx") != NULL;
    CHECK(info.bf16 == bf16_isa);
    CHECK(cr_backend_supports(be, CR_DTYPE_F32));
    CHECK(cr_backend_supports(be, CR_DTYPE_BF16) == info.bf16);
    CHECK(!cr_backend_supports(be, CR_DTYPE_F16));
    CHECK(setenv("OMP_NUM_THREADS", "5", 1) == 0);
    CHECK_OK(be->ops->info(be, &info));
    CHECK(strcmp(info.omp_num_threads, "5") == 0 && info.threads == 2);
    unsetenv("OMP_NUM_THREADS");
    cr_backend_destroy(be);
}

static void test_memory(void) {
    cr_backend *be = NULL;
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 2, &be));
    const cr_backend_ops *ops = be->ops;
    size_t bytes = (3u << 20) + 5; /* several of cpu_zero's chunks and a ragged end */
    unsigned char *dev = ops->alloc(be, bytes), *host = malloc(bytes), *back = malloc(bytes);
    CHECK(dev && ((uintptr_t)dev % 64) == 0);
    for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)(i * 7 + 1);
    CHECK_OK(ops->copy_from_host(be, dev, host, bytes));
    CHECK_OK(ops->copy_to_host(be, back, dev, bytes));
    CHECK(memcmp(host, back, bytes) == 0);
    CHECK_OK(ops->zero(be, dev, bytes));
    CHECK_OK(ops->synchronize(be));
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; i++) nonzero += dev[i] != 0;
    CHECK(nonzero == 0);
    void *tiny = ops->alloc(be, 0);
    CHECK(tiny != NULL);
    ops->free(be, tiny);
    ops->free(be, dev);
    ops->cache_destroy(be, NULL);
    free(host);
    free(back);
    cr_backend_destroy(be);
}

int main(void) {
    test_registry();
    test_threads();
    test_info();
    test_memory();
    return cr_test_summary("unit/backend");
}
