/* Unit tests of the 8-bit resize: small cases whose expected pixels were produced by PIL 9.4's
 * Image.fromarray(a).resize((w, h), Image.BILINEAR), identity and constant images, and the
 * scratch contract. The wide comparison against PIL is tests/unit/data/test_resize_pil.py. */
#include <stdlib.h>

#include "crescendo/transform.h"
#include "testing.h"

/* Resizes src into a fresh buffer with exactly the scratch the library asks for. */
static uint8_t *resize(const uint8_t *src, int w, int h, int c, int ow, int oh) {
    size_t bytes = cr_resize_scratch_bytes(w, h, ow, oh, c);
    void *scratch = malloc(bytes);
    uint8_t *dst = malloc((size_t)ow * oh * c);
    CHECK_OK(cr_resize_u8(src, w, h, (size_t)w * c, c, dst, ow, oh, scratch, bytes));
    free(scratch);
    return dst;
}

static void check_pixels(const uint8_t *got, const uint8_t *want, int n, const char *what) {
    int bad = 0;
    for (int i = 0; i < n && bad < 5; i++)
        if (got[i] != want[i]) {
            cr_test_fail(__FILE__, __LINE__, "%s: byte %d is %d, PIL gives %d", what, i, got[i],
                         want[i]);
            bad++;
        }
    cr_test_checks++;
}

static void test_one_row_matches_pil(void) {
    const uint8_t row[7] = {0, 100, 200, 255, 30, 60, 90};
    static const struct {
        int width;
        uint8_t want[10];
    } cases[] = {
        {3, {86, 169, 64}},
        {2, {125, 100}},
        {1, {117}},
        {5, {33, 156, 204, 43, 80}},
        {10, {0, 55, 125, 195, 236, 176, 31, 53, 74, 90}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *got = resize(row, 7, 1, 1, cases[i].width, 1);
        check_pixels(got, cases[i].want, cases[i].width, "7x1 gray row");
        free(got);
    }
}

/* numpy.random.RandomState(1).randint(0, 256, (4, 5, 3)) */
static const uint8_t RGB_5x4[60] = {
    37,  235, 140, 72,  255, 137, 203, 133, 79,  192, 144, 129, 204, 71,  237,
    252, 134, 25,  178, 20,  254, 101, 146, 212, 139, 252, 234, 156, 157, 142,
    50,  68,  215, 215, 233, 241, 247, 222, 96,  86,  141, 233, 137, 7,   63,
    61,  22,  57,  1,   128, 60,  209, 8,   216, 141, 115, 175, 234, 121, 200};

static void test_rgb_down_and_up_match_pil(void) {
    static const uint8_t down_3x2[18] = {134, 161, 145, 157, 160, 164, 166, 138, 179,
                                         98,  100, 139, 169, 133, 174, 154, 106, 165};
    uint8_t *got = resize(RGB_5x4, 5, 4, 3, 3, 2);
    check_pixels(got, down_3x2, 18, "5x4 RGB -> 3x2");
    free(got);

    static const uint8_t up_7x6_first_row[21] = {37,  235, 140, 57,  246, 138, 109,
                                                 220, 120, 203, 133, 79,  195, 141,
                                                 115, 197, 113, 175, 204, 71,  237};
    static const uint8_t up_7x6_last_row[21] = {61,  22,  57,  27,  83,  59,  60,
                                                94,  105, 209, 8,   216, 160, 84,
                                                187, 181, 118, 186, 234, 121, 200};
    got = resize(RGB_5x4, 5, 4, 3, 7, 6);
    check_pixels(got, up_7x6_first_row, 21, "5x4 RGB -> 7x6, row 0");
    check_pixels(got + 5 * 21, up_7x6_last_row, 21, "5x4 RGB -> 7x6, row 5");
    free(got);
}

static void test_identity_and_constant(void) {
    uint8_t *same = resize(RGB_5x4, 5, 4, 3, 5, 4);
    check_pixels(same, RGB_5x4, 60, "5x4 -> 5x4");
    free(same);

    /* a flat image stays flat at every factor, including the 22-bit rounding of the weights */
    enum { W = 97, H = 61 };
    static uint8_t flat[W * H * 3];
    const uint8_t colour[3] = {255, 1, 128};
    for (int i = 0; i < W * H * 3; i++) flat[i] = colour[i % 3];
    const int sizes[][2] = {{1, 1}, {13, 7}, {64, 64}, {96, 60}, {200, 150}, {500, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int ow = sizes[s][0], oh = sizes[s][1];
        uint8_t *got = resize(flat, W, H, 3, ow, oh);
        int wrong = 0;
        for (int i = 0; i < ow * oh * 3; i++) wrong += got[i] != colour[i % 3];
        CHECK(wrong == 0);
        free(got);
    }
}

static void test_one_pixel_and_strided_source(void) {
    const uint8_t one[3] = {10, 20, 30};
    uint8_t *got = resize(one, 1, 1, 3, 4, 3);
    for (int i = 0; i < 12; i++) CHECK(got[i] == one[i % 3]);
    free(got);

    /* a 2x2 window of a wider image, read through its stride, equals the window copied out */
    uint8_t window[2 * 2 * 3];
    for (int y = 0; y < 2; y++) memcpy(window + y * 6, RGB_5x4 + (y + 1) * 15 + 3, 6);
    size_t bytes = cr_resize_scratch_bytes(2, 2, 5, 5, 3);
    void *scratch = malloc(bytes);
    uint8_t strided[75], packed[75];
    CHECK_OK(cr_resize_u8(RGB_5x4 + 15 + 3, 2, 2, 15, 3, strided, 5, 5, scratch, bytes));
    CHECK_OK(cr_resize_u8(window, 2, 2, 6, 3, packed, 5, 5, scratch, bytes));
    CHECK(memcmp(strided, packed, sizeof packed) == 0);
    free(scratch);
}

static void test_scratch_contract(void) {
    /* a plan sized for the largest source serves every smaller one */
    size_t big = cr_resize_scratch_bytes(500, 375, 64, 64, 3);
    CHECK(cr_resize_scratch_bytes(499, 375, 64, 64, 3) <= big);
    CHECK(cr_resize_scratch_bytes(125, 94, 64, 64, 3) <= big);
    CHECK(cr_resize_scratch_bytes(1, 1, 64, 64, 3) <= big);

    uint8_t dst[12];
    size_t need = cr_resize_scratch_bytes(5, 4, 2, 2, 3);
    void *scratch = malloc(need);
    CHECK_FAILS(cr_resize_u8(RGB_5x4, 5, 4, 15, 3, dst, 2, 2, scratch, need - 1),
                CR_STATUS_INVALID, "scratch bytes");
    CHECK_FAILS(cr_resize_u8(RGB_5x4, 5, 4, 15, 3, dst, 0, 2, scratch, need), CR_STATUS_INVALID,
                "sizes must be positive");
    CHECK_FAILS(cr_resize_u8(RGB_5x4, 5, 4, 14, 3, dst, 2, 2, scratch, need), CR_STATUS_INVALID,
                "rows 14 bytes apart from 5 pixels wide");
    /* reductions from 2^16 : 1 are refused, well before the fixed-point sums could overflow */
    CHECK_FAILS(cr_resize_u8(RGB_5x4, 1 << 16, 1, (size_t)3 << 16, 3, dst, 1, 1, scratch, need),
                CR_STATUS_INVALID, "a reduction of 65536 or more");
    free(scratch);
}

int main(void) {
    test_one_row_matches_pil();
    test_rgb_down_and_up_match_pil();
    test_identity_and_constant();
    test_one_pixel_and_strided_source();
    test_scratch_contract();
    return cr_test_summary("resize");
}
