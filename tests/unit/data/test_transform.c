/* Unit tests of cr_transform_apply: ToTensor + Normalize values, the (H, W, C) layout, flip, crop,
 * gray, the scratch contract and its errors.
 *
 * With CR_TRANSFORM_JOBS naming a file, this program instead runs the jobs listed there, one per
 * line, and exits non-zero if one fails. tests/unit/data/test_resize_pil.py drives it to compare
 * against PIL and torchvision, and the `bench` job times the loader's per-image work:
 *   decode <image> <channels> <min_w> <min_h> <out>    decoded pixels (JPEG DCT-scaled to min)
 *   resize <image> <channels> <width> <height> <out>   cr_resize_u8 of the decoded image
 *   transform <image> <channels> <width> <height> <flip> <x> <y> <w> <h> <mean0..2> <std0..2> <out>
 *                                                 (w = 0: no crop)
 *   bench <directory> <resolution> <passes>       read + DCT-scaled decode + transform of every
 *                                                 .jpg there, one thread; prints a JSON line
 * Outputs are three little-endian int32 (width, height, channels) then the samples (uint8 for
 * decode and resize, float32 for transform). */
#include <dirent.h>
#include <stdlib.h>
#include <time.h>

#include "crescendo/image.h"
#include "crescendo/rng.h"
#include "crescendo/transform.h"
#include "testing.h"

static const cr_transform IMAGENET = {.out_width = 6, .out_height = 4, .channels = 3,
                                      .mean = {0.485f, 0.456f, 0.406f},
                                      .std = {0.229f, 0.224f, 0.225f}};

/* Runs the transform with exactly the scratch it asks for; out is (t->out_height,
 * t->out_width, channels) and freed by the caller. */
static float *apply(const cr_transform *t, const cr_image *src, const cr_crop *crop, bool flip) {
    int w = crop ? crop->width : src->width, h = crop ? crop->height : src->height;
    size_t bytes = cr_transform_scratch_bytes(t, w, h);
    void *scratch = malloc(bytes);
    float *out = malloc(sizeof(float) * (size_t)t->out_width * t->out_height * t->channels);
    CHECK_OK(cr_transform_apply(t, src, crop, flip, scratch, bytes, out));
    free(scratch);
    return out;
}

static cr_image pattern(int w, int h, int channels) {
    cr_image img = {.width = w, .height = h, .channels = channels};
    img.pixels = malloc((size_t)w * h * channels);
    for (int i = 0; i < w * h * channels; i++) img.pixels[i] = (uint8_t)((i * 97 + i / 7) % 256);
    return img;
}

static float normalized(int v, float mean, float std) { return ((float)v / 255.0f - mean) / std; }

static void test_values_and_layout(void) {
    /* same size: no resampling, so each output is the formula of its own input sample */
    cr_image img = pattern(6, 4, 3);
    float *out = apply(&IMAGENET, &img, NULL, false);
    int wrong = 0;
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++)
            for (int c = 0; c < 3; c++) {
                int i = (y * 6 + x) * 3 + c;
                wrong += out[i] != normalized(img.pixels[i], IMAGENET.mean[c], IMAGENET.std[c]);
            }
    CHECK(wrong == 0);
    free(out);

    /* a flat image stays flat through any resize */
    memset(img.pixels, 200, 6 * 4 * 3);
    cr_transform t = IMAGENET;
    t.out_width = 17;
    t.out_height = 3;
    out = apply(&t, &img, NULL, true);
    wrong = 0;
    for (int i = 0; i < 17 * 3 * 3; i++)
        wrong += out[i] != normalized(200, t.mean[i % 3], t.std[i % 3]);
    CHECK(wrong == 0);
    free(out);
    cr_image_free(&img);
}

static void test_flip_mirrors_the_resized_image(void) {
    cr_image img = pattern(50, 37, 3);
    cr_transform t = IMAGENET;
    t.out_width = 13;
    t.out_height = 11;
    float *plain = apply(&t, &img, NULL, false), *flipped = apply(&t, &img, NULL, true);
    int wrong = 0;
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 13; x++)
            for (int c = 0; c < 3; c++)
                wrong += flipped[(y * 13 + x) * 3 + c] != plain[(y * 13 + 12 - x) * 3 + c];
    CHECK(wrong == 0);
    free(plain);
    free(flipped);

    /* the same width (no horizontal resampling) must still mirror */
    t.out_width = 50;
    plain = apply(&t, &img, NULL, false);
    flipped = apply(&t, &img, NULL, true);
    wrong = 0;
    for (int y = 0; y < 11; y++)
        for (int x = 0; x < 50; x++)
            for (int c = 0; c < 3; c++)
                wrong += flipped[(y * 50 + x) * 3 + c] != plain[(y * 50 + 49 - x) * 3 + c];
    CHECK(wrong == 0);
    free(plain);
    free(flipped);
    cr_image_free(&img);
}

static void test_crop_equals_resizing_the_cut_out(void) {
    cr_image img = pattern(40, 30, 3);
    cr_crop crop = {7, 5, 21, 17};
    cr_image cut = {.width = 21, .height = 17, .channels = 3, .pixels = malloc(21 * 17 * 3)};
    for (int y = 0; y < 17; y++)
        memcpy(cut.pixels + y * 21 * 3, img.pixels + ((y + 5) * 40 + 7) * 3, 21 * 3);
    cr_transform t = IMAGENET;
    t.out_width = t.out_height = 9;
    float *a = apply(&t, &img, &crop, true), *b = apply(&t, &cut, NULL, true);
    CHECK(memcmp(a, b, sizeof(float) * 9 * 9 * 3) == 0);
    free(a);
    free(b);
    cr_image_free(&cut);
    cr_image_free(&img);
}

static void test_gray(void) {
    cr_image img = pattern(5, 5, 1);
    cr_transform t = {.out_width = 5, .out_height = 5, .channels = 1, .mean = {0.5f},
                      .std = {0.25f}};
    float *out = apply(&t, &img, NULL, false);
    int wrong = 0;
    for (int i = 0; i < 25; i++) wrong += out[i] != normalized(img.pixels[i], 0.5f, 0.25f);
    CHECK(wrong == 0);
    free(out);
    cr_image_free(&img);
}

static void test_scratch_and_errors(void) {
    cr_transform t = IMAGENET;
    t.out_width = t.out_height = 64;
    /* sized once for the largest source, the scratch serves smaller ones */
    size_t bytes = cr_transform_scratch_bytes(&t, 500, 375);
    CHECK(cr_transform_scratch_bytes(&t, 125, 94) <= bytes);
    void *scratch = malloc(bytes);
    float *out = malloc(sizeof(float) * 64 * 64 * 3);
    cr_image small = pattern(125, 94, 3), big = pattern(500, 375, 3), gray = pattern(8, 8, 1);
    CHECK_OK(cr_transform_apply(&t, &small, NULL, false, scratch, bytes, out));
    CHECK_OK(cr_transform_apply(&t, &big, NULL, true, scratch, bytes, out));

    CHECK_FAILS(cr_transform_apply(&t, &big, NULL, false, scratch, bytes / 2, out),
                CR_STATUS_INVALID, "scratch bytes");
    CHECK_FAILS(cr_transform_apply(&t, &gray, NULL, false, scratch, bytes, out),
                CR_STATUS_INVALID, "3 channels given a 1-channel image");
    CHECK_FAILS(cr_transform_apply(&t, &small, &(cr_crop){100, 0, 26, 10}, false, scratch, bytes,
                                   out),
                CR_STATUS_INVALID, "crop 26x10 at (100, 0) leaves the 125x94 image");
    CHECK_FAILS(cr_transform_apply(&t, &small, &(cr_crop){0, 0, 0, 10}, false, scratch, bytes,
                                   out),
                CR_STATUS_INVALID, "crop 0x10");
    t.std[1] = 0.0f;
    CHECK_FAILS(cr_transform_apply(&t, &small, NULL, false, scratch, bytes, out),
                CR_STATUS_INVALID, "std[1] is 0");
    t = IMAGENET;
    t.out_width = 0;
    CHECK_FAILS(cr_transform_apply(&t, &small, NULL, false, scratch, bytes, out),
                CR_STATUS_INVALID, "transform to 0x4");
    free(scratch);
    free(out);
    cr_image_free(&small);
    cr_image_free(&big);
    cr_image_free(&gray);
}

/* ---- the job runner ---- */

static int write_result(const char *path, int w, int h, int c, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    int32_t head[3] = {w, h, c};
    int ok = f && fwrite(head, sizeof head, 1, f) == 1 && fwrite(data, 1, bytes, f) == bytes;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "cannot write %s\n", path);
    return ok;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Images per second of what one loader worker does per sample: read the file, decode at the
 * smallest DCT scale covering the resolution, resize, flip half of them, normalize. The median
 * of `passes` passes over the directory is printed, with a decode-only figure beside it. */
static int bench(const char *dir, int resolution, int passes) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 0;
    }
    char **paths = NULL;
    size_t count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".jpg") != 0) continue;
        paths = realloc(paths, (count + 1) * sizeof *paths);
        paths[count] = malloc(strlen(dir) + n + 2);
        sprintf(paths[count++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(paths, count, sizeof *paths, by_name);

    cr_transform t = IMAGENET;
    t.out_width = t.out_height = resolution;
    size_t bytes = cr_transform_scratch_bytes(&t, 2048, 2048);
    void *scratch = malloc(bytes);
    float *out = malloc(sizeof(float) * 3 * (size_t)resolution * resolution);
    cr_decoder *decoder;
    cr_image img = {0};
    cr_decode_options o = {.channels = 3, .min_width = resolution, .min_height = resolution};
    int ok = count > 0 && cr_decoder_create(&decoder) == CR_STATUS_OK;
    double *full = calloc((size_t)passes, sizeof(double));
    double *decode_only = calloc((size_t)passes, sizeof(double));
    for (int p = 0; ok && p < passes; p++) {
        cr_rng rng = cr_rng_stream(0, (uint64_t)p, 0);
        double start = seconds();
        for (size_t i = 0; ok && i < count; i++) {
            ok = cr_image_read(decoder, paths[i], &o, &img) == CR_STATUS_OK &&
                 cr_transform_apply(&t, &img, NULL, cr_rng_u32(&rng) & 1, scratch, bytes,
                                    out) == CR_STATUS_OK;
        }
        full[p] = seconds() - start;
        start = seconds();
        for (size_t i = 0; ok && i < count; i++)
            ok = cr_image_read(decoder, paths[i], &o, &img) == CR_STATUS_OK;
        decode_only[p] = seconds() - start;
    }
    if (!ok) fprintf(stderr, "bench failed: %s\n", cr_error_message());
    if (ok) {
        qsort(full, (size_t)passes, sizeof(double), compare_doubles);
        qsort(decode_only, (size_t)passes, sizeof(double), compare_doubles);
        double a = full[passes / 2], b = decode_only[passes / 2];
        printf("{\"resolution\": %d, \"images\": %zu, \"decoded\": \"%dx%d\", "
               "\"images_per_sec\": %.0f, \"ms_per_image\": %.3f, \"decode_only_per_sec\": %.0f}\n",
               resolution, count, img.width, img.height, (double)count / a, 1e3 * a / (double)count,
               (double)count / b);
        cr_decoder_destroy(decoder);
    }
    for (size_t i = 0; i < count; i++) free(paths[i]);
    free(paths);
    free(full);
    free(decode_only);
    free(scratch);
    free(out);
    cr_image_free(&img);
    return ok;
}

static int run_job(char *line) {
    char kind[16], in[1024], out_path[1024];
    int channels, w, h, flip;
    cr_crop crop;
    cr_transform t = {0};
    cr_image img = {0};
    int ok = 0;
    if (sscanf(line, "%15s", kind) != 1) return 1; /* blank line */
    if (strcmp(kind, "bench") == 0) {
        int resolution, passes;
        if (sscanf(line, "bench %1023s %d %d", in, &resolution, &passes) == 3 && passes > 0)
            return bench(in, resolution, passes);
    } else if (strcmp(kind, "decode") == 0 &&
               sscanf(line, "decode %1023s %d %d %d %1023s", in, &channels, &w, &h, out_path) ==
                   5) {
        cr_decode_options o = {.channels = channels, .min_width = w, .min_height = h};
        ok = cr_image_read(NULL, in, &o, &img) == CR_STATUS_OK &&
             write_result(out_path, img.width, img.height, img.channels, img.pixels,
                          (size_t)img.width * img.height * img.channels);
    } else if (strcmp(kind, "resize") == 0 &&
               sscanf(line, "resize %1023s %d %d %d %1023s", in, &channels, &w, &h, out_path) ==
                   5) {
        cr_decode_options o = {.channels = channels};
        if (cr_image_read(NULL, in, &o, &img) == CR_STATUS_OK) {
            size_t bytes = cr_resize_scratch_bytes(img.width, img.height, w, h, channels);
            void *scratch = malloc(bytes);
            uint8_t *dst = malloc((size_t)w * h * channels);
            ok = cr_resize_u8(img.pixels, img.width, img.height, (size_t)img.width * channels,
                              channels, dst, w, h, scratch, bytes) == CR_STATUS_OK &&
                 write_result(out_path, w, h, channels, dst, (size_t)w * h * channels);
            free(scratch);
            free(dst);
        }
    } else if (strcmp(kind, "transform") == 0 &&
               sscanf(line, "transform %1023s %d %d %d %d %d %d %d %d %f %f %f %f %f %f %1023s",
                      in, &channels, &w, &h, &flip, &crop.x, &crop.y, &crop.width, &crop.height,
                      &t.mean[0], &t.mean[1], &t.mean[2], &t.std[0], &t.std[1], &t.std[2],
                      out_path) == 16) {
        cr_decode_options o = {.channels = channels};
        t.out_width = w;
        t.out_height = h;
        t.channels = channels;
        if (cr_image_read(NULL, in, &o, &img) == CR_STATUS_OK) {
            const cr_crop *c = crop.width > 0 ? &crop : NULL;
            size_t bytes = cr_transform_scratch_bytes(&t, img.width, img.height);
            void *scratch = malloc(bytes);
            float *dst = malloc(sizeof(float) * (size_t)w * h * channels);
            ok = cr_transform_apply(&t, &img, c, flip != 0, scratch, bytes, dst) ==
                     CR_STATUS_OK &&
                 write_result(out_path, w, h, channels, dst, sizeof(float) * w * h * channels);
            free(scratch);
            free(dst);
        }
    } else {
        fprintf(stderr, "bad job: %s", line);
        return 0;
    }
    if (!ok) fprintf(stderr, "job failed: %s  %s\n", line, cr_error_message());
    cr_image_free(&img);
    return ok;
}

static int run_jobs(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    char line[4096];
    int failed = 0;
    while (fgets(line, sizeof line, f)) failed += !run_job(line);
    fclose(f);
    return failed != 0;
}

int main(void) {
    const char *jobs = getenv("CR_TRANSFORM_JOBS");
    if (jobs && *jobs) return run_jobs(jobs);
    test_values_and_layout();
    test_flip_mirrors_the_resized_image();
    test_crop_equals_resizing_the_cut_out();
    test_gray();
    test_scratch_and_errors();
    return cr_test_summary("transform");
}
