/* Unit tests of the core: error messages, dtypes, bf16 rounding, arenas and the Philox streams.
 * The Philox vectors are the published known-answer tests of Random123 (kat_vectors). */
#include <string.h>

#include "crescendo/arena.h"
#include "crescendo/rng.h"
#include "crescendo/status.h"
#include "crescendo/tensor.h"
#include "testing.h"

static void test_errors_carry_their_message(void) {
    cr_status s = cr_fail(CR_STATUS_DATA, "%s (row %d): bad", "train.csv", 7);
    CHECK(s == CR_STATUS_DATA);
    CHECK(strcmp(cr_error_message(), "train.csv (row 7): bad") == 0);
    cr_fail_context(s, "loading %s", "data");
    CHECK(strcmp(cr_error_message(), "loading data: train.csv (row 7): bad") == 0);
    CHECK(strcmp(cr_status_name(CR_STATUS_INVALID), "invalid argument") == 0);
}

static void test_philox_known_answers(void) {
    uint32_t out[4];
    cr_philox(0, 0, 0, out);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu &&
          out[3] == 0x9b00dbd8u);
    /* counter all ones, key all ones */
    cr_philox(~0ull, ~0ull, ~0ull, out);
    CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u &&
          out[3] == 0x6d5451fdu);
}

static void test_streams_are_reproducible_and_distinct(void) {
    cr_rng a = cr_rng_stream(42, 3, 17), b = cr_rng_stream(42, 3, 17), c = cr_rng_stream(42, 3, 18);
    int same = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t x = cr_rng_u32(&a), y = cr_rng_u32(&b), z = cr_rng_u32(&c);
        CHECK(x == y);
        same += x == z;
    }
    CHECK(same < 2);
    double sum = 0, sum_sq = 0;
    cr_rng n = cr_rng_stream(1, 0, 0);
    for (int i = 0; i < 100000; i++) {
        float u = cr_rng_uniform(&n);
        CHECK(u >= 0.0f && u < 1.0f);
        float g = cr_rng_normal(&n);
        sum += g;
        sum_sq += (double)g * g;
    }
    CHECK_NEAR(sum / 100000, 0.0, 0.02);
    CHECK_NEAR(sum_sq / 100000, 1.0, 0.02);
    for (int i = 0; i < 1000; i++) CHECK(cr_rng_below(&n, 7) < 7);
}

/* Beta draws (mixup's weight) have the distribution's mean and variance, below and above a
 * shape of 1 (the two branches of the gamma sampler). */
static void test_beta_moments(void) {
    const double shapes[][2] = {{0.4, 0.4}, {2.0, 5.0}, {1.0, 1.0}};
    for (int s = 0; s < 3; s++) {
        double a = shapes[s][0], b = shapes[s][1], sum = 0, squares = 0;
        cr_rng rng = cr_rng_stream(5, (uint64_t)s, 0);
        const int n = 40000;
        int outside = 0;
        for (int i = 0; i < n; i++) {
            double x = cr_rng_beta(&rng, a, b);
            outside += !(x >= 0.0 && x <= 1.0);
            sum += x;
            squares += x * x;
        }
        CHECK(outside == 0);
        double mean = sum / n, var = squares / n - mean * mean;
        double want_mean = a / (a + b), want_var = a * b / ((a + b) * (a + b) * (a + b + 1));
        CHECK_NEAR(mean, want_mean, 0.01);
        CHECK_NEAR(var, want_var, 0.01);
    }
}

static void test_bf16_rounds_to_nearest_even(void) {
    CHECK(cr_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(cr_bf16_to_f32(cr_f32_to_bf16(1.00390625f)) == 1.0f);      /* tie -> even */
    CHECK(cr_bf16_to_f32(cr_f32_to_bf16(1.01171875f)) == 1.015625f); /* tie -> even (up) */
    CHECK(cr_bf16_to_f32(cr_f32_to_bf16(-2.5f)) == -2.5f);
}

static void test_arena_aligns_and_fills(void) {
    cr_arena arena;
    CHECK_OK(cr_arena_init(&arena, 1000));
    void *a = cr_arena_alloc(&arena, 10), *b = cr_arena_alloc(&arena, 100);
    CHECK(a && b && ((uintptr_t)a % CR_ARENA_ALIGN) == 0 && ((uintptr_t)b % CR_ARENA_ALIGN) == 0);
    CHECK((char *)b - (char *)a == 64);
    CHECK(cr_arena_alloc(&arena, 2000) == NULL);
    cr_arena_reset(&arena);
    CHECK(cr_arena_alloc(&arena, 10) == a);
    cr_arena_release(&arena);
}

static void test_dtypes(void) {
    cr_dtype d;
    CHECK(cr_dtype_parse("BF16", &d) == 0 && d == CR_DTYPE_BF16 && cr_dtype_size(d) == 2);
    CHECK(cr_dtype_parse("F64", &d) == -1);
    int64_t shape[3] = {2, 3, 4};
    cr_tensor t = cr_tensor_make(CR_DTYPE_I64, 3, shape, NULL);
    CHECK(cr_tensor_numel(&t) == 24 && cr_tensor_bytes(&t) == 192);
}

int main(void) {
    test_errors_carry_their_message();
    test_philox_known_answers();
    test_streams_are_reproducible_and_distinct();
    test_beta_moments();
    test_bf16_rounds_to_nearest_even();
    test_arena_aligns_and_fills();
    test_dtypes();
    return cr_test_summary("core");
}
