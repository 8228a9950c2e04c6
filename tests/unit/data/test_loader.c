/* Unit tests of the batch loader on tiny PNGs written for the test: every sample once per epoch,
 * orders and augmentations that do not depend on the worker count, size changes between epochs,
 * bad images failing with their CSV line or skipped, the decoded-image cache, the random
 * crop's geometry, and random crops of JPEGs decoded at a reduced DCT scale. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "crescendo/dataset.h"
#include "crescendo/image.h"
#include "crescendo/loader.h"
#include "temp_tree.h"
#include "testing.h"

enum { N = 37 };

static temp_tree tree;

/* Sample i's pixel (x, y, c). "flat" images are one colour per sample, so a sample is known by
 * any of its output values whatever the resize; the others are gradients, so flips and crops
 * show. */
static uint8_t pixel(int i, int x, int y, int c, bool flat) {
    return (uint8_t)(flat ? i * 7 + c * 50 : x * 10 + y * 3 + c * 40 + i); /* below 256 */
}

/* Writes N images of w x h under <dir>/ and <dir>.csv listing them with labels i % 3. */
/* Writes <dir>.csv with the rows `csv` and opens it as a dataset rooted at the tree. */
static cr_dataset *open_csv_set(const char *dir, const char *csv) {
    char rel[256], path[512];
    snprintf(rel, sizeof rel, "%s.csv", dir);
    temp_tree_write_text(&tree, rel, csv);
    cr_dataset *ds = NULL;
    CHECK_OK(cr_dataset_from_csv(temp_tree_path(&tree, rel, path, sizeof path), tree.root, NULL,
                                 &ds));
    return ds;
}

static cr_dataset *make_set(const char *dir, int w, int h, bool flat) {
    char rel[256], path[512], csv[8192];
    size_t used = (size_t)snprintf(csv, sizeof csv, "image_path,target\n");
    uint8_t *pixels = malloc((size_t)w * h * 3);
    for (int i = 0; i < N; i++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) pixels[(y * w + x) * 3 + c] = pixel(i, x, y, c, flat);
        cr_image image = {.width = w, .height = h, .channels = 3, .pixels = pixels};
        snprintf(rel, sizeof rel, "%s/%02d.png", dir, i);
        temp_tree_mkdirs(&tree, rel);
        CHECK_OK(cr_image_write_png(temp_tree_path(&tree, rel, path, sizeof path), &image));
        used += (size_t)snprintf(csv + used, sizeof csv - used, "%s,%d\n", rel, i % 3);
    }
    free(pixels);
    return open_csv_set(dir, csv);
}

static cr_loader *make_loader(const cr_dataset *ds, int workers, int prefetch, cr_on_bad on_bad) {
    cr_loader_options options = {.workers = workers, .prefetch = prefetch, .seed = 1234,
                                 .on_bad = on_bad};
    cr_loader *l = NULL;
    CHECK_OK(cr_loader_create(ds, &options, &l));
    return l;
}

/* Runs one epoch and keeps the indices in order and, when images is given, every float. */
static int run_epoch(cr_loader *l, const cr_loader_epoch *e, int *indices, float *images) {
    CHECK_OK(cr_loader_start_epoch(l, e));
    cr_batch b;
    int n = 0;
    cr_status s;
    while ((s = cr_loader_next(l, &b)) == CR_STATUS_OK) {
        size_t floats = (size_t)b.width * b.height * b.channels;
        for (int i = 0; i < b.count; i++) indices[n + i] = b.indices[i];
        if (images) memcpy(images + n * floats, b.images, b.count * floats * sizeof(float));
        n += b.count;
    }
    CHECK(s == CR_STATUS_END);
    if (s != CR_STATUS_END) fprintf(stderr, "  (%s)\n", cr_error_message());
    return n;
}

static void test_each_sample_once_with_its_label_and_pixels(void) {
    cr_dataset *ds = make_set("flat", 9, 7, true);
    cr_loader *l = make_loader(ds, 3, 0, CR_ON_BAD_FAIL);
    cr_loader_epoch e = {.epoch = 2, .resolution = 5, .batch_size = 5, .shuffle = true};
    CHECK_OK(cr_loader_start_epoch(l, &e));
    CHECK(cr_loader_batches(l) == 8 && cr_loader_workers(l) == 3);
    int seen[N] = {0}, batches = 0, wrong_pixels = 0, wrong_labels = 0, last_count = 0;
    cr_batch b;
    while (cr_loader_next(l, &b) == CR_STATUS_OK) {
        CHECK(b.width == 5 && b.height == 5 && b.channels == 3 && b.number == batches);
        CHECK(((uintptr_t)b.images & 63) == 0);
        for (int i = 0; i < b.count; i++) {
            int k = b.indices[i];
            seen[k]++;
            wrong_labels += b.labels[i] != k % 3;
            for (int p = 0; p < 25 * 3; p++)
                wrong_pixels += fabsf(b.images[i * 75 + p] - pixel(k, 0, 0, p % 3, true) / 255.0f)
                                > 1e-6f;
        }
        batches++;
        last_count = b.count;
    }
    CHECK(batches == 8 && last_count == 2);
    CHECK(wrong_pixels == 0 && wrong_labels == 0);
    for (int k = 0; k < N; k++) CHECK(seen[k] == 1);
    CHECK(cr_loader_next(l, &b) == CR_STATUS_END);
    cr_loader_stats stats;
    cr_loader_get_stats(l, &stats);
    CHECK(stats.batches == 8 && stats.samples == N && stats.skipped == 0);
    CHECK(stats.wait_seconds >= 0.0 && stats.total_wait_seconds >= stats.wait_seconds);

    /* drop_last leaves out the short batch; without shuffle the order is the dataset's. */
    int order[N];
    cr_loader_epoch keep = {.resolution = 5, .batch_size = 5, .drop_last = true};
    CHECK(run_epoch(l, &keep, order, NULL) == 35);
    for (int i = 0; i < 35; i++) CHECK(order[i] == i);
    cr_loader_destroy(l);
    cr_dataset_destroy(ds);
}

static void test_results_do_not_depend_on_workers(void) {
    cr_dataset *ds = make_set("grad", 12, 10, false);
    cr_loader_epoch e = {.epoch = 1, .resolution = 6, .batch_size = 4, .shuffle = true,
                         .flip = true, .crop_scale_min = 0.3f};
    size_t floats = (size_t)N * 12 * 10 * 3; /* the largest epoch below */
    float *one = malloc(floats * sizeof *one), *many = malloc(floats * sizeof *many);
    int order_one[N], order_many[N], order_next[N];
    cr_loader *l = make_loader(ds, 1, 2, CR_ON_BAD_FAIL);
    CHECK(run_epoch(l, &e, order_one, one) == N);
    cr_loader_destroy(l);
    l = make_loader(ds, 5, 6, CR_ON_BAD_FAIL);
    CHECK(run_epoch(l, &e, order_many, many) == N);
    CHECK(memcmp(order_one, order_many, sizeof order_one) == 0);
    CHECK(memcmp(one, many, (size_t)N * 6 * 6 * 3 * sizeof *one) == 0);
    /* Another epoch: another order. */
    e.epoch = 2;
    CHECK(run_epoch(l, &e, order_next, NULL) == N);
    CHECK(memcmp(order_one, order_next, sizeof order_one) != 0);

    /* Flips happen, about half the time: the whole-image gradient then runs right to left. */
    cr_loader_epoch flip_only = {.epoch = 1, .width = 12, .height = 10, .batch_size = 8,
                                 .flip = true};
    CHECK(run_epoch(l, &flip_only, order_one, one) == N);
    int flipped = 0, exact = 0;
    for (int i = 0; i < N; i++) {
        const float *img = one + (size_t)i * 12 * 10 * 3;
        bool mirrored = img[0] > img[11 * 3];
        flipped += mirrored;
        int x0 = mirrored ? 11 : 0;
        exact += fabsf(img[0] - pixel(order_one[i], x0, 0, 0, false) / 255.0f) < 1e-6f;
    }
    CHECK(flipped > 5 && flipped < N - 5);
    CHECK(exact == N);
    free(one);
    free(many);
    cr_loader_destroy(l);
    cr_dataset_destroy(ds);
}

static void test_size_changes_between_epochs(void) {
    cr_dataset *ds = make_set("flat2", 20, 16, true);
    cr_loader_options gray = {.workers = 2, .channels = 1, .mean = {0.5f}, .std = {0.25f}};
    cr_loader *l = NULL;
    CHECK_OK(cr_loader_create(ds, &gray, &l));
    float mean[3], std[3];
    cr_loader_normalization(l, mean, std);
    CHECK(mean[0] == 0.5f && std[0] == 0.25f);
    cr_loader *plain = NULL; /* no std: no normalization, told as mean 0 and std 1 */
    CHECK_OK(cr_loader_create(ds, &(cr_loader_options){.workers = 1}, &plain));
    if (plain) cr_loader_normalization(plain, mean, std);
    CHECK(plain && mean[0] == 0.0f && mean[2] == 0.0f && std[0] == 1.0f && std[2] == 1.0f);
    cr_loader_destroy(plain);
    cr_loader_epoch stages[] = {
        {.resolution = 4, .batch_size = 3},
        {.width = 16, .height = 12, .batch_size = 10, .shuffle = true, .epoch = 1},
        {.resolution = 8, .batch_size = 2, .shuffle = true, .epoch = 2},
    };
    for (int st = 0; st < 3; st++) {
        CHECK_OK(cr_loader_start_epoch(l, &stages[st]));
        cr_batch b;
        int n = 0, wrong = 0;
        while (cr_loader_next(l, &b) == CR_STATUS_OK) {
            CHECK(b.channels == 1 && b.count <= stages[st].batch_size);
            int pixels = b.width * b.height;
            for (int i = 0; i < b.count; i++) {
                int k = b.indices[i];
                /* PIL's convert("L") of a flat colour, then Normalize(0.5, 0.25). */
                int r = pixel(k, 0, 0, 0, true), g = pixel(k, 0, 0, 1, true),
                    bl = pixel(k, 0, 0, 2, true);
                int luma = (19595 * r + 38470 * g + 7471 * bl + 32768) >> 16;
                float want = (luma / 255.0f - 0.5f) / 0.25f;
                for (int p = 0; p < pixels; p++)
                    wrong += fabsf(b.images[i * pixels + p] - want) > 1e-5f;
            }
            n += b.count;
            if (st == 1) CHECK(b.width == 16 && b.height == 12);
        }
        CHECK(n == N && wrong == 0);
    }
    /* An epoch abandoned midway, then a new one: nothing of the old one leaks into it. */
    cr_batch b;
    CHECK_OK(cr_loader_start_epoch(l, &stages[1]));
    CHECK_OK(cr_loader_next(l, &b));
    int order[N];
    CHECK(run_epoch(l, &stages[0], order, NULL) == N);
    for (int i = 0; i < N; i++) CHECK(order[i] == i);
    /* And destroyed midway, with workers busy. */
    CHECK_OK(cr_loader_start_epoch(l, &stages[2]));
    CHECK_OK(cr_loader_next(l, &b));
    cr_loader_destroy(l);
    cr_dataset_destroy(ds);
}

static void test_bad_images_fail_with_their_line_or_are_skipped(void) {
    cr_dataset *ds = make_set("bad", 6, 6, true);
    /* Line 12 of bad.csv is sample 10: break its file. */
    temp_tree_write_text(&tree, "bad/10.png", "not a png at all");
    cr_loader *l = make_loader(ds, 3, 0, CR_ON_BAD_FAIL);
    cr_loader_epoch e = {.resolution = 4, .batch_size = 4};
    CHECK_OK(cr_loader_start_epoch(l, &e));
    cr_batch b;
    cr_status s;
    int good = 0;
    while ((s = cr_loader_next(l, &b)) == CR_STATUS_OK) good += b.count;
    CHECK(good == 8); /* batches 0 and 1; batch 2 holds sample 10 */
    CHECK(s == CR_STATUS_DATA);
    CHECK(strstr(cr_error_message(), "bad.csv:12: ") != NULL);
    CHECK(strstr(cr_error_message(), "bad/10.png") != NULL);
    CHECK_FAILS(cr_loader_next(l, &b), CR_STATUS_DATA, "bad.csv:12: ");
    cr_loader_destroy(l);

    l = make_loader(ds, 2, 0, CR_ON_BAD_SKIP);
    int order[N];
    for (int epoch = 0; epoch < 2; epoch++) {
        e.epoch = epoch;
        e.shuffle = epoch == 1;
        CHECK(run_epoch(l, &e, order, NULL) == N - 1);
        for (int i = 0; i < N - 1; i++) CHECK(order[i] != 10);
        cr_loader_stats stats;
        cr_loader_get_stats(l, &stats);
        CHECK(stats.skipped == 1 && stats.samples == N - 1);
    }
    CHECK(cr_loader_bad_count(l) == 1);
    CHECK(strstr(cr_loader_bad_message(l, 0), "bad.csv:12: ") != NULL);
    CHECK(cr_loader_bad_message(l, 1) == NULL);
    cr_loader_destroy(l);

    /* A batch of one bad sample is not handed out at all. */
    l = make_loader(ds, 1, 0, CR_ON_BAD_SKIP);
    cr_loader_epoch single = {.resolution = 4, .batch_size = 1};
    CHECK_OK(cr_loader_start_epoch(l, &single));
    int numbers = 0, gap = 0;
    while (cr_loader_next(l, &b) == CR_STATUS_OK) {
        gap += b.number != numbers;
        numbers = b.number + 1;
    }
    CHECK(gap == 1 && numbers == N);
    cr_loader_destroy(l);
    cr_dataset_destroy(ds);
}

static void test_invalid_configurations(void) {
    cr_dataset *ds = make_set("inv", 4, 4, true);
    cr_loader *l = NULL;
    CHECK_FAILS(cr_loader_create(ds, &(cr_loader_options){.workers = -1}, &l), CR_STATUS_INVALID,
                "workers -1");
    CHECK_FAILS(cr_loader_create(ds, &(cr_loader_options){.prefetch = 1}, &l), CR_STATUS_INVALID,
                "prefetch 1 is not in [2, 64]");
    CHECK_FAILS(cr_loader_create(ds, &(cr_loader_options){.channels = 2}, &l), CR_STATUS_INVALID,
                "channels 2");
    CHECK_FAILS(cr_loader_create(ds, &(cr_loader_options){.std = {1, 0, 1}}, &l),
                CR_STATUS_INVALID, "std[1] = 0 must be > 0");
    CHECK(l == NULL);
    CHECK_OK(cr_loader_create(ds, NULL, &l));
    CHECK(cr_loader_workers(l) >= 1);
    cr_batch b;
    CHECK_FAILS(cr_loader_next(l, &b), CR_STATUS_INVALID, "before cr_loader_start_epoch");
    CHECK_FAILS(cr_loader_start_epoch(l, &(cr_loader_epoch){.batch_size = 2}), CR_STATUS_INVALID,
                "image size 0x0");
    CHECK_FAILS(cr_loader_start_epoch(l, &(cr_loader_epoch){.resolution = 8}), CR_STATUS_INVALID,
                "batch size 0");
    CHECK_FAILS(cr_loader_start_epoch(l, &(cr_loader_epoch){.resolution = 8, .batch_size = 1,
                                                            .crop_scale_min = 2}),
                CR_STATUS_INVALID, "crop scale minimum 2");
    /* drop_last with fewer samples than a batch: an empty epoch. */
    CHECK_OK(cr_loader_start_epoch(l, &(cr_loader_epoch){.resolution = 8, .batch_size = 64,
                                                         .drop_last = true}));
    CHECK(cr_loader_next(l, &b) == CR_STATUS_END);
    cr_loader_destroy(l);
    cr_loader_destroy(NULL);
    cr_dataset_destroy(ds);
}

/* Runs epoch e on both loaders: the same order and the same floats, bit for bit. Returns the
 * images the cached loader decoded. */
static int64_t same_epoch(cr_loader *plain, cr_loader *cached, const cr_loader_epoch *e,
                          float *a, float *b, size_t values) {
    int order_a[N], order_b[N];
    CHECK(run_epoch(plain, e, order_a, a) == N);
    CHECK(run_epoch(cached, e, order_b, b) == N);
    CHECK(memcmp(order_a, order_b, sizeof order_a) == 0);
    CHECK(memcmp(a, b, (size_t)N * values * sizeof *a) == 0);
    cr_loader_stats stats;
    cr_loader_get_stats(plain, &stats);
    CHECK(stats.decoded == N);
    cr_loader_get_stats(cached, &stats);
    CHECK(stats.samples == N);
    return stats.decoded;
}

/* The decoded-image cache changes nothing in the batches (flips still differ per epoch, since they
 * are applied after the cache), only how many images are decoded: all in the first epoch at a
 * size, none after; a new size starts over, random crops go around it, and a budget smaller than
 * the set keeps the first samples. */
static void test_cache_gives_the_same_batches_with_fewer_decodes(void) {
    cr_dataset *ds = make_set("cache", 12, 10, false);
    size_t values = 6 * 5 * 3; /* per image of the largest epoch below */
    cr_loader_options o = {.workers = 3, .seed = 77, .mean = {0.4f, 0.5f, 0.6f},
                           .std = {0.2f, 0.3f, 0.25f}};
    cr_loader *plain = NULL, *cached = NULL;
    CHECK_OK(cr_loader_create(ds, &o, &plain));
    o.cache_bytes = N * values;
    CHECK_OK(cr_loader_create(ds, &o, &cached));
    float *a = malloc(N * values * sizeof *a), *b = malloc(N * values * sizeof *b);

    cr_loader_epoch e = {.width = 6, .height = 5, .batch_size = 4, .shuffle = true, .flip = true};
    for (e.epoch = 0; e.epoch < 3; e.epoch++)
        CHECK(same_epoch(plain, cached, &e, a, b, values) == (e.epoch == 0 ? N : 0));
    e.crop_scale_min = 0.5f;
    CHECK(same_epoch(plain, cached, &e, a, b, values) == N);
    e.crop_scale_min = 0.0f;
    CHECK(same_epoch(plain, cached, &e, a, b, values) == 0); /* the crops left the cache alone */
    cr_loader_epoch small = {.epoch = 4, .resolution = 4, .batch_size = 5, .flip = true};
    CHECK(same_epoch(plain, cached, &small, a, b, 4 * 4 * 3) == N);
    CHECK(same_epoch(plain, cached, &small, a, b, 4 * 4 * 3) == 0);
    CHECK(same_epoch(plain, cached, &e, a, b, values) == N); /* back to 6x5: emptied */
    cr_loader_destroy(cached);

    /* room for 10 images and a bit: samples 0..9 are kept */
    o.cache_bytes = 10 * values + values - 1;
    CHECK_OK(cr_loader_create(ds, &o, &cached));
    CHECK(same_epoch(plain, cached, &e, a, b, values) == N);
    e.epoch = 9;
    CHECK(same_epoch(plain, cached, &e, a, b, values) == N - 10);
    cr_loader_destroy(cached);
    cr_loader_destroy(plain);
    free(a);
    free(b);
    cr_dataset_destroy(ds);
}

static void test_random_crop_geometry(void) {
    cr_rng rng = cr_rng_stream(5, 0, 0);
    double area_sum = 0;
    int inside = 0, trials = 2000;
    for (int t = 0; t < trials; t++) {
        cr_crop c = cr_loader_random_crop(&rng, 200, 150, 0.25f, 1.0f, 0.75f, 4.0f / 3.0f);
        inside += c.x >= 0 && c.y >= 0 && c.width >= 1 && c.height >= 1 &&
                  c.x + c.width <= 200 && c.y + c.height <= 150;
        area_sum += (double)c.width * c.height / (200.0 * 150.0);
    }
    CHECK(inside == trials);
    /* Area fractions are uniform in [0.25, 1] for the tries that fit: a mean a bit under 0.625. */
    CHECK(area_sum / trials > 0.5 && area_sum / trials < 0.65);
    /* Nothing fits a 100x10 strip at a square ratio and 90% of its area: the central fallback. */
    cr_crop c = cr_loader_random_crop(&rng, 100, 10, 0.9f, 1.0f, 1.0f, 1.0f);
    CHECK(c.x == 45 && c.y == 0 && c.width == 10 && c.height == 10);
    c = cr_loader_random_crop(&rng, 64, 64, 1.0f, 1.0f, 1.0f, 1.0f);
    CHECK(c.x == 0 && c.y == 0 && c.width == 64 && c.height == 64);
}

/* Writes N smooth JPEGs of w x h (TurboJPEG, quality 95) under <dir>/ and <dir>.csv. */
static cr_dataset *make_jpeg_set(const char *dir, int w, int h) {
    char rel[256], path[512], csv[8192];
    size_t used = (size_t)snprintf(csv, sizeof csv, "image_path,target\n");
    uint8_t *pixels = malloc((size_t)w * h * 3); /* (h, w, 3) */
    tjhandle tj = tjInitCompress();
    CHECK(tj != NULL);
    for (int i = 0; i < N; i++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    pixels[(y * w + x) * 3 + c] =
                        (uint8_t)((x * 160 / w + y * 60 / h + c * 20 + i) % 256);
        unsigned char *jpeg = NULL;
        unsigned long size = 0;
        CHECK(tjCompress2(tj, pixels, w, 0, h, TJPF_RGB, &jpeg, &size, TJSAMP_420, 95, 0) == 0);
        snprintf(rel, sizeof rel, "%s/%02d.jpg", dir, i);
        temp_tree_mkdirs(&tree, rel);
        FILE *f = fopen(temp_tree_path(&tree, rel, path, sizeof path), "wb");
        CHECK(f && fwrite(jpeg, 1, size, f) == size);
        if (f) fclose(f);
        tjFree(jpeg);
        used += (size_t)snprintf(csv + used, sizeof csv - used, "%s,%d\n", rel, i % 3);
    }
    tjDestroy(tj);
    free(pixels);
    return open_csv_set(dir, csv);
}

/* One epoch at 16 px from its own loader, of random crops or whole images; returns the decoded
 * pixels. */
static int64_t epoch_at_16(const cr_dataset *ds, int workers, cr_jpeg_scale scale, bool crops,
                           float *images) {
    cr_loader_options options = {.workers = workers, .seed = 99, .jpeg_scale = scale};
    cr_loader *l = NULL;
    CHECK_OK(cr_loader_create(ds, &options, &l));
    cr_loader_epoch e = {.epoch = 1, .resolution = 16, .batch_size = 8, .shuffle = true,
                         .flip = true, .crop_scale_min = crops ? 0.35f : 0.0f};
    int indices[N];
    CHECK(run_epoch(l, &e, indices, images) == N);
    cr_loader_stats stats;
    cr_loader_get_stats(l, &stats);
    cr_loader_destroy(l);
    return stats.decoded_pixels;
}

/* A crop of at least 35% of a 320x240 JPEG is over 130 px on its shorter side, so a 16 px output
 * lets the decode drop to 1/4 or 1/8 scale. The crop is drawn in the file's pixels before the
 * decode, with the same random draws as at full size, so the batches only differ by the scaled
 * decode: a little, on smooth images. */
static void test_random_crops_decode_jpegs_scaled(void) {
    cr_dataset *ds = make_jpeg_set("ramps", 320, 240);
    size_t floats = (size_t)N * 16 * 16 * 3;
    float *exact = malloc(floats * sizeof(float)), *scaled = malloc(floats * sizeof(float));
    float *other = malloc(floats * sizeof(float));
    int64_t exact_pixels = epoch_at_16(ds, 2, CR_JPEG_SCALE_FULL, true, exact);
    int64_t scaled_pixels = epoch_at_16(ds, 1, CR_JPEG_SCALE_SMALLEST, true, scaled);
    CHECK(exact_pixels == (int64_t)N * 320 * 240);
    CHECK(scaled_pixels <= (int64_t)N * 80 * 60);
    CHECK(epoch_at_16(ds, 3, CR_JPEG_SCALE_SMALLEST, true, other) == scaled_pixels);
    CHECK(memcmp(scaled, other, floats * sizeof(float)) == 0);
    double diff = 0;
    for (size_t i = 0; i < floats; i++) diff += fabs((double)scaled[i] - exact[i]);
    diff /= (double)floats;
    /* on the [0, 1] scale (no normalization; 0.045 after ImageNet's std): 0.0056 measured, mostly
     * the edges of the crop rounded outward to whole scaled pixels */
    CHECK(diff < 0.01);
    if (diff >= 0.01) fprintf(stderr, "  mean abs diff %g\n", diff);
    free(exact);
    free(scaled);
    free(other);
    cr_dataset_destroy(ds);
}

/* Whole 320x240 images at 16 px: the smallest scale that covers 16 px is 1/8 (40x30), the
 * smallest that covers 32 px is 1/4 (80x60, since 30 < 32), and full is full. */
static void test_jpeg_scale_chooses_the_decoded_size(void) {
    cr_dataset *ds = make_jpeg_set("scales", 320, 240);
    float *images = malloc((size_t)N * 16 * 16 * 3 * sizeof(float));
    CHECK(epoch_at_16(ds, 2, CR_JPEG_SCALE_SMALLEST, false, images) == (int64_t)N * 40 * 30);
    CHECK(epoch_at_16(ds, 2, CR_JPEG_SCALE_DOUBLE, false, images) == (int64_t)N * 80 * 60);
    CHECK(epoch_at_16(ds, 2, CR_JPEG_SCALE_FULL, false, images) == (int64_t)N * 320 * 240);
    free(images);
    cr_dataset_destroy(ds);
}

int main(void) {
    temp_tree_make(&tree, "cr_loader_");
    test_each_sample_once_with_its_label_and_pixels();
    test_results_do_not_depend_on_workers();
    test_size_changes_between_epochs();
    test_bad_images_fail_with_their_line_or_are_skipped();
    test_invalid_configurations();
    test_cache_gives_the_same_batches_with_fewer_decodes();
    test_random_crop_geometry();
    test_random_crops_decode_jpegs_scaled();
    test_jpeg_scale_chooses_the_decoded_size();
    temp_tree_remove(&tree);
    return cr_test_summary("test_loader");
}
