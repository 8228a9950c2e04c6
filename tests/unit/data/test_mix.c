/* Mixup and cutmix of a batch (cr_mix_batch) against their formulas: mixup makes every sample
 * lam * x_i + (1 - lam) * x_(N-1-i) (the middle of an odd batch is its own partner); cutmix swaps
 * one box between partners, leaves the rest, and sets lam to the uncovered share; the second
 * labels are the batch's reversed; with both on each kind comes up; prob 0 mixes nothing; the
 * weight's mean is Beta's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/mix.h"
#include "testing.h"

enum { N = 5, H = 6, W = 8, C = 3, IMAGE = H * W * C };

static void fill(float *x) {
    for (int i = 0; i < N * IMAGE; i++) x[i] = (float)((i * 7919) % 1000) / 100.0f - 5.0f;
}

static void check_labels(const int32_t *labels, const int32_t *partners) {
    for (int i = 0; i < N; i++) CHECK(partners[i] == labels[N - 1 - i]);
}

static void test_mixup(void) {
    float x[N * IMAGE], y[N * IMAGE];
    int32_t labels[N] = {0, 1, 2, 3, 4}, partners[N];
    fill(x);
    memcpy(y, x, sizeof x);
    cr_mix_config c = {.mixup_alpha = 0.4f, .prob = 1.0f, .switch_prob = 0.5f};
    cr_rng rng = cr_rng_stream(1, 2, 3);
    cr_mix m;
    cr_mix_batch(&c, &rng, y, N, H, W, C, labels, partners, &m);
    CHECK(!m.cutmix && m.weight > 0.0f && m.weight < 1.0f);
    check_labels(labels, partners);
    float lam = m.weight, worst = 0.0f;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < IMAGE; k++) {
            float want = i == N / 2 ? x[i * IMAGE + k]
                                    : lam * x[i * IMAGE + k] + (1.0f - lam) * x[(N - 1 - i) * IMAGE + k];
            worst = fmaxf(worst, fabsf(y[i * IMAGE + k] - want));
        }
    CHECK(worst == 0.0f);
}

static void test_cutmix(void) {
    float x[N * IMAGE], y[N * IMAGE];
    int32_t labels[N] = {4, 4, 0, 1, 2}, partners[N];
    int boxes = 0;
    for (uint64_t s = 0; s < 20; s++) {
        fill(x);
        memcpy(y, x, sizeof x);
        cr_mix_config c = {.cutmix_alpha = 1.0f, .prob = 1.0f, .switch_prob = 0.5f};
        cr_rng rng = cr_rng_stream(7, s, 0);
        cr_mix m;
        cr_mix_batch(&c, &rng, y, N, H, W, C, labels, partners, &m);
        CHECK(m.cutmix);
        check_labels(labels, partners);
        CHECK(m.top >= 0 && m.top <= m.bottom && m.bottom <= H);
        CHECK(m.left >= 0 && m.left <= m.right && m.right <= W);
        int area = (m.bottom - m.top) * (m.right - m.left);
        boxes += area > 0;
        CHECK_NEAR(m.weight, 1.0 - (double)area / (H * W), 1e-6);
        int wrong = 0;
        for (int i = 0; i < N; i++)
            for (int r = 0; r < H; r++)
                for (int col = 0; col < W; col++)
                    for (int ch = 0; ch < C; ch++) {
                        bool inside = r >= m.top && r < m.bottom && col >= m.left && col < m.right;
                        int from = inside ? N - 1 - i : i;
                        size_t at = (size_t)(r * W + col) * C + ch;
                        wrong += y[i * IMAGE + at] != x[from * IMAGE + at];
                    }
        CHECK(wrong == 0);
    }
    CHECK(boxes > 10); /* most draws cut something */
}

static void test_switch_prob_and_weights(void) {
    float x[N * IMAGE];
    int32_t labels[N] = {0}, partners[N];
    int cutmixes = 0, mixups = 0, untouched = 0;
    double sum = 0.0;
    const int draws = 400;
    for (int s = 0; s < draws; s++) {
        fill(x);
        cr_mix_config c = {.mixup_alpha = 0.4f, .cutmix_alpha = 1.0f, .prob = 0.75f,
                           .switch_prob = 0.5f};
        cr_rng rng = cr_rng_stream(3, (uint64_t)s, 9);
        cr_mix m;
        cr_mix_batch(&c, &rng, x, N, H, W, C, labels, partners, &m);
        if (m.weight == 1.0f && !m.cutmix) untouched++;
        else if (m.cutmix) cutmixes++;
        else mixups++, sum += m.weight;
    }
    CHECK(untouched > draws / 8 && untouched < draws * 3 / 8); /* prob 0.75: a quarter */
    CHECK(cutmixes > draws / 4 && mixups > draws / 4);
    CHECK_NEAR(sum / mixups, 0.5, 0.06); /* Beta(0.4, 0.4) is centered */

    fill(x);
    float before[N * IMAGE];
    memcpy(before, x, sizeof x);
    cr_mix_config off = {.mixup_alpha = 0.4f, .prob = 0.0f};
    cr_rng rng = cr_rng_stream(3, 0, 0);
    cr_mix m;
    CHECK(!cr_mix_enabled(&off));
    cr_mix_batch(&off, &rng, x, N, H, W, C, labels, partners, &m);
    CHECK(m.weight == 1.0f && memcmp(before, x, sizeof x) == 0);
}

int main(void) {
    test_mixup();
    test_cutmix();
    test_switch_prob_and_weights();
    return cr_test_summary("mix");
}
