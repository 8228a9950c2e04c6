/* Unit tests of the report's misclassified thumbnails: which images are kept (wrong ones only, the
 * first met, a cap per class), and that decoding a kept PNG gives the pixels the loader read. */
#include <stdlib.h>
#include <string.h>

#include "crescendo/image.h"
#include "testing.h"
#include "train/misclassified.h"

static const float MEAN[3] = {0.5f, 0.4f, 0.3f}, STD[3] = {0.25f, 0.2f, 0.5f};

static uint8_t pixel(int image, int y, int x, int c) {
    return (uint8_t)(image * 40 + y * 13 + x * 7 + c * 50);
}

/* count images of side x side x channels, normalized as the loader does. */
static float *make_images(int count, int width, int height, int channels) {
    float *x = malloc(sizeof *x * (size_t)count * width * height * channels);
    for (int i = 0; i < count; i++)
        for (int y = 0; y < height; y++)
            for (int px = 0; px < width; px++)
                for (int c = 0; c < channels; c++)
                    x[(((size_t)i * height + y) * width + px) * channels + c] =
                        (pixel(i, y, px, c) / 255.0f - MEAN[c]) / STD[c];
    return x;
}

/* Scores (n, 3) that predict classes[i] for row i. */
static void scores_for(const int *classes, int n, float *scores) {
    for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) scores[i * 3 + c] = c == classes[i] ? 2.0f : -1.0f;
}

static cr_image decode(const cr_report_thumbnail *t, int channels) {
    cr_image image = {0};
    cr_decode_options o = {.channels = channels};
    CHECK_OK(cr_image_decode(NULL, t->png, t->png_size, "thumbnail", &o, &image));
    return image;
}

static void test_which_are_kept_and_their_pixels(void) {
    enum { N = 6, SIDE = 8 };
    float *images = make_images(N, SIDE, SIDE, 3);
    int32_t labels[N] = {0, 0, 0, 0, 1, 2};
    int predicted[N] = {1, 1, 2, 1, 1, 0}; /* image 4 is right */
    float scores[N * 3];
    scores_for(predicted, N, scores);
    int32_t indices[N] = {0};
    cr_batch batch = {.images = images, .labels = labels, .indices = indices, .count = N,
                      .width = SIDE, .height = SIDE, .channels = 3};
    cr_misclassified *m = NULL;
    /* room for 4 among 3 classes: at most 2 of a class */
    CHECK_OK(cr_misclassified_create(&m, 3, 4, MEAN, STD));
    if (!m) return;
    CHECK_OK(cr_misclassified_add(m, &batch, scores));
    CHECK(cr_misclassified_count(m) == 3);
    const cr_report_thumbnail *t = cr_misclassified_thumbnails(m);
    static const int kept[3] = {0, 1, 5};
    for (int k = 0; k < 3 && k < cr_misclassified_count(m); k++) {
        int i = kept[k];
        CHECK(t[k].true_class == labels[i] && t[k].predicted_class == predicted[i]);
        CHECK(t[k].width == SIDE && t[k].height == SIDE);
        cr_image back = decode(&t[k], 3);
        int wrong = 0;
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++)
                for (int c = 0; c < 3; c++)
                    wrong += back.pixels &&
                             back.pixels[(y * SIDE + x) * 3 + c] != pixel(i, y, x, c);
        CHECK(back.width == SIDE && wrong == 0);
        cr_image_free(&back);
    }
    /* the next batch fills the last place; then nothing more is kept */
    CHECK_OK(cr_misclassified_add(m, &batch, scores));
    CHECK(cr_misclassified_count(m) == 4 && t[3].true_class == 2);
    CHECK_OK(cr_misclassified_add(m, &batch, scores));
    CHECK(cr_misclassified_count(m) == 4);
    /* a new pass starts empty, and unlabeled samples are passed over */
    cr_misclassified_reset(m);
    CHECK(cr_misclassified_count(m) == 0);
    for (int i = 0; i < N; i++) labels[i] = -1;
    CHECK_OK(cr_misclassified_add(m, &batch, scores));
    CHECK(cr_misclassified_count(m) == 0);
    cr_misclassified_destroy(m);
    free(images);
}

/* A large gray image is shrunk to fit 64 px, keeping its aspect; a flat one stays flat. */
static void test_large_images_shrink(void) {
    enum { W = 160, H = 96 };
    float *image = malloc(sizeof *image * W * H);
    for (int i = 0; i < W * H; i++) image[i] = (90 / 255.0f - MEAN[0]) / STD[0];
    int32_t label = 1, index = 0;
    float scores[3];
    scores_for((int[]){0}, 1, scores);
    cr_batch batch = {.images = image, .labels = &label, .indices = &index, .count = 1,
                      .width = W, .height = H, .channels = 1};
    cr_misclassified *m = NULL;
    CHECK_OK(cr_misclassified_create(&m, 3, 8, MEAN, STD));
    if (!m) return;
    CHECK_OK(cr_misclassified_add(m, &batch, scores));
    CHECK(cr_misclassified_count(m) == 1);
    if (cr_misclassified_count(m) == 1) {
        const cr_report_thumbnail *t = cr_misclassified_thumbnails(m);
        CHECK(t->width == CR_THUMBNAIL_SIDE && t->height == 38); /* 96 * 64 / 160 = 38.4 */
        cr_image back = decode(t, 1);
        int off = 0;
        for (int i = 0; back.pixels && i < back.width * back.height; i++)
            off += back.pixels[i] != 90;
        CHECK(back.width == t->width && back.height == t->height && back.channels == 1);
        CHECK(off == 0);
        cr_image_free(&back);
    }
    cr_misclassified_destroy(m);
    free(image);
    CHECK_FAILS(cr_misclassified_create(&m, 0, 8, MEAN, STD), CR_STATUS_INVALID, "0 classes");
}

int main(void) {
    test_which_are_kept_and_their_pixels();
    test_large_images_shrink();
    return cr_test_summary("misclassified");
}
