/* Unit tests of the synthetic set: the files and CSVs it writes, their determinism, and the
 * property it exists for: its texture is gone from JPEGs decoded at 1/2 and 1/4 scale (period
 * 4) or at 1/4 only (period 8). */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "crescendo/dataset.h"
#include "crescendo/image.h"
#include "crescendo/prepare.h"
#include "temp_tree.h"
#include "testing.h"

enum { CLASSES = 4, PER_CLASS = 3, VAL_PER_CLASS = 2, SMALL = 64, FULL = 256, QUALITY = 90 };

static temp_tree tree;

static cr_status run(const char *out, int classes, int size, uint64_t seed, int threads,
                     cr_prepare_result *result) {
    char path[512];
    cr_synthetic_options o = {.out = temp_tree_path(&tree, out, path, sizeof path),
                              .classes = classes, .per_class = PER_CLASS,
                              .val_per_class = VAL_PER_CLASS, .size = size, .seed = seed,
                              .quality = QUALITY, .threads = threads};
    return cr_prepare_synthetic(&o, result);
}

/* The whole file at root/rel, NUL-terminated; *size its length. */
static uint8_t *slurp(const char *rel, size_t *size) {
    char path[512];
    FILE *f = fopen(temp_tree_path(&tree, rel, path, sizeof path), "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)n + 1);
    *size = fread(bytes, 1, (size_t)n, f);
    bytes[*size] = 0;
    fclose(f);
    return bytes;
}

static void check_split(const char *out, const char *split, int per_class) {
    char csv[64], root[512], path[512];
    snprintf(csv, sizeof csv, "%s/%s.csv", out, split);
    size_t size = 0;
    char *text = (char *)slurp(csv, &size);
    CHECK(text && strncmp(text, "class_name,image_path,target\n", 29) == 0);
    free(text);
    cr_dataset *ds = NULL;
    CHECK_OK(cr_dataset_from_csv(temp_tree_path(&tree, csv, path, sizeof path),
                                 temp_tree_path(&tree, out, root, sizeof root), NULL, &ds));
    if (!ds) return;
    CHECK(cr_dataset_count(ds) == CLASSES * per_class);
    cr_decode_options rgb = {.channels = 3};
    cr_image image = {0};
    for (int i = 0; i < cr_dataset_count(ds); i++) {
        int k = i / per_class;
        char want[64], name[64];
        snprintf(want, sizeof want, "%s/%05d.jpg", split, i);
        CHECK(strcmp(cr_dataset_path(ds, i), want) == 0);
        CHECK(cr_dataset_label(ds, i) == k);
        snprintf(name, sizeof name, "%s-%s", cr_synthetic_shapes[k / 3],
                 cr_synthetic_textures[k % 3]);
        CHECK(strcmp(cr_dataset_class_name(ds, k), name) == 0);
        CHECK_OK(cr_dataset_resolve(ds, i, path, sizeof path));
        CHECK_OK(cr_image_read(NULL, path, &rgb, &image));
        CHECK(image.width == SMALL && image.height == SMALL && image.channels == 3);
    }
    cr_image_free(&image);
    cr_dataset_destroy(ds);
}

static void test_writes_the_set(void) {
    cr_prepare_result result = {0};
    CHECK_OK(run("out", CLASSES, SMALL, 7, 2, &result));
    CHECK(result.train_count == CLASSES * PER_CLASS);
    CHECK(result.test_count == CLASSES * VAL_PER_CLASS);
    CHECK(result.num_classes == CLASSES);
    check_split("out", "train", PER_CLASS);
    check_split("out", "val", VAL_PER_CLASS);
    char path[512];
    CHECK(access(temp_tree_path(&tree, "out/train.csv.tmp", path, sizeof path), F_OK) != 0);
    CHECK(strcmp(cr_synthetic_shapes[3], "cross") == 0);
    CHECK(strcmp(cr_synthetic_textures[2], "checker") == 0);
}

/* How many of the set's files in a and b have the same bytes. */
static int same_files(const char *a, const char *b) {
    static const char *const files[] = {"train.csv", "val.csv", "train/00000.jpg",
                                        "train/00005.jpg", "train/00011.jpg", "val/00000.jpg",
                                        "val/00007.jpg"};
    int same = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char ra[256], rb[256];
        snprintf(ra, sizeof ra, "%s/%s", a, files[i]);
        snprintf(rb, sizeof rb, "%s/%s", b, files[i]);
        size_t na = 0, nb = 0;
        uint8_t *fa = slurp(ra, &na), *fb = slurp(rb, &nb);
        CHECK(fa && fb);
        if (fa && fb && na == nb && memcmp(fa, fb, na) == 0) same++;
        free(fa);
        free(fb);
    }
    return same;
}

static void test_seed_decides_the_bytes(void) {
    CHECK_OK(run("seed7_a", CLASSES, SMALL, 7, 1, NULL));
    CHECK_OK(run("seed7_b", CLASSES, SMALL, 7, 3, NULL)); /* other threads, same images */
    CHECK_OK(run("seed8", CLASSES, SMALL, 8, 1, NULL));
    CHECK(same_files("seed7_a", "seed7_b") == 7);
    CHECK(same_files("seed7_a", "seed8") == 2); /* the CSVs only */
}

/* The texture's sign at t, written out as the 8-pixel block's + - - + + - - +. */
static int sign_at(int t) {
    static const int block[8] = {1, -1, -1, 1, 1, -1, -1, 1};
    return block[t % 8];
}

static cr_synthetic_image geometry(int shape, int texture) {
    return (cr_synthetic_image){.shape = shape, .texture = texture,
                                .background = {70, 80, 190}, .gradient = {9.0f, -6.0f},
                                .foreground = {195, 170, 60}, .center_x = 121.3f,
                                .center_y = 133.8f, .radius = 77.0f, .noise_key = 12345};
}

/* Renders at FULL, encodes as the generator does, decodes for a target of min_width pixels. */
static void render_decode(const cr_synthetic_image *im, int min_width, cr_image *out) {
    static uint8_t rgb[FULL * FULL * 3];
    CHECK_OK(cr_synthetic_render(im, FULL, rgb));
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    CHECK(tjCompress2(tj, rgb, FULL, 0, FULL, TJPF_RGB, &jpeg, &size, TJSAMP_420, QUALITY, 0) ==
          0);
    cr_decode_options o = {.channels = 3, .min_width = min_width, .min_height = min_width};
    CHECK_OK(cr_image_decode(NULL, jpeg, size, "render", &o, out));
    CHECK(out->width == (min_width ? min_width : FULL) && out->height == out->width);
    tjFree(jpeg);
    tjDestroy(tj);
}

static double mean_abs_diff(const cr_image *a, const cr_image *b) {
    size_t n = (size_t)a->width * a->height * 3;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += abs(a->pixels[i] - b->pixels[i]);
    return sum / n;
}

/* Before any JPEG, the textures differ by exactly 20 (s(y) - s(x)) and so on, pixel by pixel:
 * the shape, gradient and noise are the same, and nothing is clamped. */
static void test_texture_is_additive_with_the_block_phase(void) {
    static uint8_t img[3][SMALL * SMALL * 3];
    for (int t = 0; t < 3; t++) {
        cr_synthetic_image im = geometry(4, t);
        im.center_x = im.center_y = 30.0f;
        im.radius = 20.0f;
        CHECK_OK(cr_synthetic_render(&im, SMALL, img[t]));
    }
    int wrong = 0;
    for (int y = 0; y < SMALL; y++)
        for (int x = 0; x < SMALL; x++)
            for (int c = 0; c < 3; c++) {
                int i = 3 * (y * SMALL + x) + c;
                int hv = img[0][i] - img[1][i], hc = img[0][i] - img[2][i];
                int want_hv = 20 * (sign_at(y) - sign_at(x));
                int want_hc = 20 * (sign_at(y) - sign_at(x) * sign_at(y));
                wrong += abs(hv - want_hv) > 1 || abs(hc - want_hc) > 1;
            }
    CHECK(wrong == 0);
}

/* How far apart the three textures of one geometry decode for a target of `target` px (0: full
 * size): the least and the most mean absolute difference of a pair. */
static void texture_spread(int shape, int period, int target, double *least, double *worst) {
    cr_image img[3] = {{0}};
    for (int t = 0; t < 3; t++) {
        cr_synthetic_image im = geometry(shape, t);
        im.texture_period = period;
        render_decode(&im, target, &img[t]);
    }
    *worst = 0, *least = 1e9;
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++) {
            double d = mean_abs_diff(&img[a], &img[b]);
            *worst = d > *worst ? d : *worst;
            *least = d < *least ? d : *least;
        }
    printf("%s, period %d, at %d px: textures differ by %.3f to %.3f levels (mean absolute)\n",
           cr_synthetic_shapes[shape], period, img[0].width, *least, *worst);
    for (int t = 0; t < 3; t++) cr_image_free(&img[t]);
}

/* The three textures of one geometry decoded for a 64, 128 and 256 px target: with period 4 the
 * same pixels at 1/4 and 1/2 scale (the texture is in no coefficient those read) and far apart
 * at full size; with period 8 the same at 1/4 only, apart from 1/2 up; and at 1/4 the shape
 * still shows, by much more than the textures differ. */
static void test_texture_only_full_size_sees(void) {
    static const int targets[3] = {SMALL, FULL / 2, 0};
    for (int shape = 0; shape < CR_SYNTHETIC_SHAPES; shape += 4)
        for (int period = 4; period <= 8; period += 4)
            for (int s = 0; s < 3; s++) {
                double least, worst;
                texture_spread(shape, period, targets[s], &least, &worst);
                bool hidden = targets[s] == SMALL || (period == 4 && targets[s] != 0);
                if (hidden) CHECK(worst < 1.5);
                else CHECK(least > 5.0);
            }
    cr_image disc = {0}, square = {0}, disc_other_texture = {0};
    cr_synthetic_image im = geometry(0, 0);
    render_decode(&im, SMALL, &disc);
    im.texture = 2;
    render_decode(&im, SMALL, &disc_other_texture);
    im = geometry(1, 0);
    render_decode(&im, SMALL, &square);
    double shapes = mean_abs_diff(&disc, &square);
    double textures = mean_abs_diff(&disc, &disc_other_texture);
    printf("at 64 px: disc vs square %.3f levels, horizontal vs checker %.3f\n", shapes, textures);
    CHECK(shapes > 5.0 && shapes > 10 * textures);
    cr_image_free(&disc);
    cr_image_free(&square);
    cr_image_free(&disc_other_texture);
}

static void test_bad_options_are_named(void) {
    CHECK_FAILS(run("bad", 0, SMALL, 0, 1, NULL), CR_STATUS_INVALID,
                "classes 0 is not in [1, 15]");
    CHECK_FAILS(run("bad", 16, SMALL, 0, 1, NULL), CR_STATUS_INVALID,
                "classes 16 is not in [1, 15]");
    CHECK_FAILS(run("bad", CLASSES, 100, 0, 1, NULL), CR_STATUS_INVALID,
                "size 100 is not a multiple of 8");
    CHECK_FAILS(run("bad", CLASSES, 56, 0, 1, NULL), CR_STATUS_INVALID,
                "size 56 is not a multiple of 8 in [64,");
    CHECK_FAILS(cr_prepare_synthetic(&(cr_synthetic_options){0}, NULL), CR_STATUS_INVALID,
                "no output folder");
    uint8_t rgb[SMALL * SMALL * 3];
    cr_synthetic_image im = geometry(5, 0);
    CHECK_FAILS(cr_synthetic_render(&im, SMALL, rgb), CR_STATUS_INVALID, "shape 5 is not in");
    im = geometry(0, 3);
    CHECK_FAILS(cr_synthetic_render(&im, SMALL, rgb), CR_STATUS_INVALID, "texture 3 is not in");
    im.texture = 0;
    im.texture_period = 6;
    CHECK_FAILS(cr_synthetic_render(&im, SMALL, rgb), CR_STATUS_INVALID, "period 6 is not 4 or 8");
    char path[512];
    CHECK(access(temp_tree_path(&tree, "bad", path, sizeof path), F_OK) != 0);
}

int main(void) {
    temp_tree_make(&tree, "cr_synthetic_");
    test_writes_the_set();
    test_seed_decides_the_bytes();
    test_texture_is_additive_with_the_block_phase();
    test_texture_only_full_size_sees();
    test_bad_options_are_named();
    temp_tree_remove(&tree);
    return cr_test_summary("test_synthetic");
}
