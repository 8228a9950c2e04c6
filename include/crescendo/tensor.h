/* crescendo/tensor.h — a typed, shaped view of memory owned elsewhere (an arena, a loader slot).
 * Shapes are logical (N, C, H, W); the backend decides the memory order (see backend.h). */
#ifndef CRESCENDO_TENSOR_H
#define CRESCENDO_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum cr_dtype {
    CR_DTYPE_F32,
    CR_DTYPE_BF16,
    CR_DTYPE_F16,
    CR_DTYPE_I64,
    CR_DTYPE_I32,
    CR_DTYPE_U8
} cr_dtype;

typedef enum cr_device { CR_DEVICE_CPU, CR_DEVICE_CUDA } cr_device;

enum { CR_MAX_DIMS = 6 };

typedef struct cr_tensor {
    cr_dtype dtype;
    cr_device device;
    int ndim;
    int64_t shape[CR_MAX_DIMS];
    void *data; /* not owned */
} cr_tensor;

size_t cr_dtype_size(cr_dtype dtype);
/* The safetensors spelling: "F32", "BF16", "F16", "I64", "I32", "U8". */
const char *cr_dtype_name(cr_dtype dtype);
/* Parses a safetensors dtype name; returns 0 on success, -1 when unknown. */
int cr_dtype_parse(const char *name, cr_dtype *out);

int64_t cr_tensor_numel(const cr_tensor *t);
size_t cr_tensor_bytes(const cr_tensor *t);
/* "[64, 3, 7, 7]" ("[]" for a scalar) into buf, truncated to size, for messages. */
void cr_shape_format(char *buf, size_t size, int ndim, const int64_t *shape);
/* A CPU tensor of the given shape over data; ndim <= CR_MAX_DIMS. */
cr_tensor cr_tensor_make(cr_dtype dtype, int ndim, const int64_t *shape, void *data);

/* bf16 <-> fp32 with round-to-nearest-even, the rounding oneDNN and PyTorch use. Inline and free of
 * branches, so that kernels looping over bf16 activations vectorize them. */
static inline uint16_t cr_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (u >> 16) | 0x40u; /* rounding could carry a NaN into infinity */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

static inline float cr_bf16_to_f32(uint16_t x) {
    uint32_t u = (uint32_t)x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
