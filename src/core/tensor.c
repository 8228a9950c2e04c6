/* Tensor views: dtype sizes and names, element counts, shapes as text (bf16 rounding is inline in
 * tensor.h).
 * Nothing here allocates; memory comes from arenas and loaders. */
#include "crescendo/tensor.h"

#include <stdio.h>
#include <string.h>

static const struct {
    cr_dtype dtype;
    const char *name;
    size_t size;
} dtypes[] = {
    {CR_DTYPE_F32, "F32", 4}, {CR_DTYPE_BF16, "BF16", 2}, {CR_DTYPE_F16, "F16", 2},
    {CR_DTYPE_I64, "I64", 8}, {CR_DTYPE_I32, "I32", 4},   {CR_DTYPE_U8, "U8", 1},
};
enum { DTYPE_COUNT = sizeof dtypes / sizeof dtypes[0] };

size_t cr_dtype_size(cr_dtype dtype) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].size;
    return 0;
}

const char *cr_dtype_name(cr_dtype dtype) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (dtypes[i].dtype == dtype) return dtypes[i].name;
    return "?";
}

int cr_dtype_parse(const char *name, cr_dtype *out) {
    for (int i = 0; i < DTYPE_COUNT; i++)
        if (strcmp(dtypes[i].name, name) == 0) {
            *out = dtypes[i].dtype;
            return 0;
        }
    return -1;
}

int64_t cr_tensor_numel(const cr_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t cr_tensor_bytes(const cr_tensor *t) {
    return (size_t)cr_tensor_numel(t) * cr_dtype_size(t->dtype);
}

void cr_shape_format(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld",
                                 (long long)shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

cr_tensor cr_tensor_make(cr_dtype dtype, int ndim, const int64_t *shape, void *data) {
    cr_tensor t = {.dtype = dtype, .device = CR_DEVICE_CPU, .ndim = ndim, .data = data};
    for (int i = 0; i < ndim && i < CR_MAX_DIMS; i++) t.shape[i] = shape[i];
    return t;
}
