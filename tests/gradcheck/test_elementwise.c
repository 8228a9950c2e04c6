/* Checks of the CPU elementwise ops: ReLU (forward, and backward against central differences),
 * add and accumulate (aliasing allowed), the per-sample transpose behind flatten, and dropout:
 * its mask rule (a pure function of seed, stream and index), its statistics and scaling, a
 * backward that matches the forward, and independence from the thread count. Sizes are above the
 * backend's parallel threshold so that the threaded loops run. */
#include <string.h>

#include "gradcheck.h"

enum { BIG = (1 << 16) + 3 }; /* above the parallel threshold, and not a multiple of 4 */

static void test_relu(cr_backend *be) {
    float *x = gc_uniform(BIG, 1, 1, -1, 1), *dy = gc_uniform(BIG, 1, 2, -1, 1);
    float *y = gc_filled(BIG, NAN), *dx = gc_filled(BIG, NAN);
    for (size_t i = 0; i < BIG; i++) /* away from the kink, where the derivative is defined */
        if (fabsf(x[i]) < 1e-3f) x[i] = 0.5f;
    CHECK_OK(be->ops->relu_forward(be, CR_DTYPE_F32, BIG, x, y));
    int wrong = 0;
    for (size_t i = 0; i < BIG; i++) wrong += y[i] != (x[i] > 0 ? x[i] : 0.0f);
    CHECK(wrong == 0);
    CHECK_OK(be->ops->relu_backward(be, CR_DTYPE_F32, BIG, y, dy, dx));
    /* central differences of sum(r * relu(x)) at a spread of elements */
    enum { PICK = 500 };
    double want[PICK];
    float got[PICK];
    for (int j = 0; j < PICK; j++) {
        size_t i = (size_t)j * (BIG / PICK);
        double h = 1e-4, up = x[i] + h, down = x[i] - h;
        want[j] = dy[i] * ((up > 0 ? up : 0) - (down > 0 ? down : 0)) / (2 * h);
        got[j] = dx[i];
    }
    gc_compare("relu backward", got, want, PICK, GC_GRAD_TOL);
    /* in place */
    float *z = gc_alloc(BIG * 4);
    memcpy(z, x, BIG * 4);
    CHECK_OK(be->ops->relu_forward(be, CR_DTYPE_F32, BIG, z, z));
    CHECK(memcmp(z, y, BIG * 4) == 0);
    /* a NaN is not hidden */
    float nan_in = NAN, out = 0;
    CHECK_OK(be->ops->relu_forward(be, CR_DTYPE_F32, 1, &nan_in, &out));
    CHECK(isnan(out));
    free(x), free(y), free(dy), free(dx), free(z);
}

static void test_add_and_accumulate(cr_backend *be) {
    float *a = gc_uniform(BIG, 2, 1, -1, 1), *b = gc_uniform(BIG, 2, 2, -1, 1);
    float *y = gc_filled(BIG, NAN), *acc = gc_uniform(BIG, 2, 3, -1, 1);
    float *acc0 = gc_alloc(BIG * 4);
    memcpy(acc0, acc, BIG * 4);
    CHECK_OK(be->ops->add(be, CR_DTYPE_F32, BIG, a, b, false, y));
    int wrong = 0;
    for (size_t i = 0; i < BIG; i++) wrong += y[i] != a[i] + b[i];
    CHECK(wrong == 0);
    CHECK_OK(be->ops->add(be, CR_DTYPE_F32, BIG, y, b, false, y)); /* y aliases the output */
    wrong = 0;
    for (size_t i = 0; i < BIG; i++) wrong += y[i] != (a[i] + b[i]) + b[i];
    CHECK(wrong == 0);
    /* with the ReLU after a residual add in the same pass, written over an input */
    memcpy(y, a, BIG * 4);
    CHECK_OK(be->ops->add(be, CR_DTYPE_F32, BIG, y, b, true, y));
    wrong = 0;
    for (size_t i = 0; i < BIG; i++) wrong += y[i] != (a[i] + b[i] < 0.0f ? 0.0f : a[i] + b[i]);
    CHECK(wrong == 0);
    CHECK_OK(be->ops->accumulate(be, CR_DTYPE_F32, BIG, a, acc));
    CHECK_OK(be->ops->accumulate(be, CR_DTYPE_F32, BIG, a, acc));
    wrong = 0;
    for (size_t i = 0; i < BIG; i++) wrong += acc[i] != (acc0[i] + a[i]) + a[i];
    CHECK(wrong == 0);
    free(a), free(b), free(y), free(acc), free(acc0);
}

static void test_transpose(cr_backend *be) {
    enum { N = 3, ROWS = 37, COLS = 21 }; /* not multiples of the tile */
    float *src = gc_uniform(N * ROWS * COLS, 3, 1, -1, 1), *dst = gc_filled(N * ROWS * COLS, NAN);
    float *back = gc_filled(N * ROWS * COLS, NAN);
    CHECK_OK(be->ops->transpose(be, N, ROWS, COLS, CR_DTYPE_F32, src, CR_DTYPE_F32, dst));
    int wrong = 0;
    for (int n = 0; n < N; n++)
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                wrong += dst[(n * COLS + c) * ROWS + r] != src[(n * ROWS + r) * COLS + c];
    CHECK(wrong == 0);
    CHECK_OK(be->ops->transpose(be, N, COLS, ROWS, CR_DTYPE_F32, dst, CR_DTYPE_F32, back));
    CHECK(memcmp(back, src, sizeof(float) * N * ROWS * COLS) == 0);
    free(src), free(dst), free(back);
}

/* The rule the header promises: element i is kept when the uniform drawn for it from stream
 * (seed, stream), word i % 4 of Philox block i / 4, is at least p. */
static bool kept(uint64_t seed, uint64_t stream, size_t i, float p) {
    cr_rng s = cr_rng_stream(seed, stream, 0);
    uint32_t bits[4];
    cr_philox(s.key, s.stream, i / 4, bits);
    return (float)(bits[i % 4] >> 8) * 0x1.0p-24f >= p;
}

static void test_dropout(cr_backend *be) {
    enum { COUNT = 1 << 20 };
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    float *x = gc_uniform(COUNT, 4, 1, 1, 2);
    float *y = gc_filled(COUNT, NAN), *y2 = gc_filled(COUNT, NAN);
    float *dy = gc_uniform(COUNT, 4, 2, -1, 1), *dx = gc_filled(COUNT, NAN);
    cr_dropout_args a = {.count = COUNT, .p = p, .seed = 1234, .stream = 77, .x = x, .y = y,
                         .dy = dy, .dx = dx};
    CHECK_OK(be->ops->dropout_forward(be, &a));

    /* every element follows the rule, kept ones scaled exactly, and the kept share is 1 - p */
    size_t keep = 0, wrong = 0;
    for (size_t i = 0; i < COUNT; i++) {
        bool k = kept(1234, 77, i, p);
        keep += k;
        wrong += y[i] != (k ? x[i] * scale : 0.0f);
    }
    CHECK(wrong == 0);
    double share = (double)keep / COUNT, sigma = sqrt(p * (1 - p) / COUNT);
    CHECK(fabs(share - (1 - p)) < 5 * sigma);

    /* backward: the same mask and scale, so dx = dy * dy/dx of the forward exactly */
    CHECK_OK(be->ops->dropout_backward(be, &a));
    wrong = 0;
    for (size_t i = 0; i < COUNT; i++) wrong += dx[i] != (y[i] != 0.0f ? dy[i] * scale : 0.0f);
    CHECK(wrong == 0);

    /* reproducible; another stream gives another mask; one thread gives the same bits */
    a.y = y2;
    CHECK_OK(be->ops->dropout_forward(be, &a));
    CHECK(memcmp(y, y2, COUNT * 4) == 0);
    a.stream = 78;
    CHECK_OK(be->ops->dropout_forward(be, &a));
    size_t same = 0;
    for (size_t i = 0; i < COUNT; i++) same += (y[i] == 0.0f) == (y2[i] == 0.0f);
    /* two independent masks agree on p^2 + (1 - p)^2 = 58% of the elements */
    CHECK(fabs((double)same / COUNT - 0.58) < 0.01);
    cr_backend *one = NULL;
    CHECK_OK(cr_backend_create(CR_DEVICE_CPU, 1, &one));
    a.stream = 77;
    CHECK_OK(one->ops->dropout_forward(one, &a));
    CHECK(memcmp(y, y2, COUNT * 4) == 0);
    cr_backend_destroy(one);

    /* p = 0 is the identity, p = 1 drops everything, p outside [0, 1] is refused */
    a.p = 0;
    CHECK_OK(be->ops->dropout_forward(be, &a));
    CHECK(memcmp(x, y2, COUNT * 4) == 0);
    a.p = 1;
    CHECK_OK(be->ops->dropout_forward(be, &a));
    wrong = 0;
    for (size_t i = 0; i < COUNT; i++) wrong += y2[i] != 0.0f;
    CHECK(wrong == 0);
    a.p = 1.5f;
    CHECK_FAILS(be->ops->dropout_forward(be, &a), CR_STATUS_INVALID, "outside [0, 1]");
    free(x), free(y), free(y2), free(dy), free(dx);
}

int main(void) {
    cr_backend *be = gc_backend();
    test_relu(be);
    test_add_and_accumulate(be);
    test_transpose(be);
    test_dropout(be);
    cr_backend_destroy(be);
    return cr_test_summary("gradcheck/elementwise");
}
