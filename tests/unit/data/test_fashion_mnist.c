/* Unit tests of the Fashion-MNIST importer on tiny fake IDX files (gzipped and plain): the PNGs
 * and CSVs it writes read back as the same pixels and labels, and broken files are named. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "crescendo/dataset.h"
#include "crescendo/image.h"
#include "crescendo/prepare.h"
#include "temp_tree.h"
#include "testing.h"

enum { ROWS = 3, COLS = 4, TRAIN = 5, TEST = 3 };

static temp_tree tree;

/* An IDX file: magic 0x0000080<ndim>, big-endian dimensions, then the bytes (extra bytes past
 * them allowed, to write broken files). gzipped when the name ends with .gz. */
static void write_idx(const char *rel, int ndim, const int *dims, const uint8_t *data,
                      size_t size) {
    uint8_t header[16] = {0, 0, 8, (uint8_t)ndim};
    for (int d = 0; d < ndim; d++)
        for (int b = 0; b < 4; b++) header[4 + 4 * d + b] = (uint8_t)(dims[d] >> (24 - 8 * b));
    size_t header_size = 4 + 4 * (size_t)ndim;
    uint8_t *bytes = malloc(header_size + size + 1);
    memcpy(bytes, header, header_size);
    memcpy(bytes + header_size, data, size);
    if (strstr(rel, ".gz")) {
        char path[512];
        temp_tree_mkdirs(&tree, rel);
        gzFile f = gzopen(temp_tree_path(&tree, rel, path, sizeof path), "wb");
        CHECK(f && gzwrite(f, bytes, (unsigned)(header_size + size)) == (int)(header_size + size));
        CHECK(gzclose(f) == Z_OK);
    } else {
        temp_tree_write(&tree, rel, bytes, header_size + size);
    }
    free(bytes);
}

static uint8_t train_pixels[TRAIN * ROWS * COLS], test_pixels[TEST * ROWS * COLS];
static const uint8_t train_labels[TRAIN] = {9, 0, 3, 0, 6}, test_labels[TEST] = {1, 2, 9};

/* A good source folder: train files gzipped, t10k files plain. */
static void write_source(const char *dir) {
    char rel[256];
    for (size_t i = 0; i < sizeof train_pixels; i++) train_pixels[i] = (uint8_t)(i * 37 + 1);
    for (size_t i = 0; i < sizeof test_pixels; i++) test_pixels[i] = (uint8_t)(255 - i);
    snprintf(rel, sizeof rel, "%s/train-images-idx3-ubyte.gz", dir);
    write_idx(rel, 3, (int[]){TRAIN, ROWS, COLS}, train_pixels, sizeof train_pixels);
    snprintf(rel, sizeof rel, "%s/train-labels-idx1-ubyte.gz", dir);
    write_idx(rel, 1, (int[]){TRAIN}, train_labels, TRAIN);
    snprintf(rel, sizeof rel, "%s/t10k-images-idx3-ubyte", dir);
    write_idx(rel, 3, (int[]){TEST, ROWS, COLS}, test_pixels, sizeof test_pixels);
    snprintf(rel, sizeof rel, "%s/t10k-labels-idx1-ubyte", dir);
    write_idx(rel, 1, (int[]){TEST}, test_labels, TEST);
}

static cr_status run(const char *src, const char *out, cr_prepare_result *result) {
    char src_path[512], out_path[512];
    cr_fashion_mnist_options o = {.src = temp_tree_path(&tree, src, src_path, sizeof src_path),
                                  .out = temp_tree_path(&tree, out, out_path, sizeof out_path),
                                  .threads = 2};
    return cr_prepare_fashion_mnist(&o, result);
}

static void check_split(const char *csv, int count, const uint8_t *labels, const uint8_t *pixels,
                        const char *prefix) {
    char path[512], root[512];
    cr_dataset *ds = NULL;
    CHECK_OK(cr_dataset_from_csv(temp_tree_path(&tree, csv, path, sizeof path),
                                 temp_tree_path(&tree, "out", root, sizeof root), NULL, &ds));
    if (!ds) return;
    CHECK(cr_dataset_count(ds) == count);
    cr_decode_options gray = {.channels = 1};
    cr_image image = {0};
    for (int i = 0; i < count && i < cr_dataset_count(ds); i++) {
        char want[64];
        snprintf(want, sizeof want, "%s/%05d.png", prefix, i);
        CHECK(strcmp(cr_dataset_path(ds, i), want) == 0);
        CHECK(cr_dataset_label(ds, i) == labels[i]);
        CHECK(strcmp(cr_dataset_class_name(ds, labels[i]), cr_fashion_mnist_classes[labels[i]]) ==
              0);
        CHECK_OK(cr_dataset_resolve(ds, i, path, sizeof path));
        CHECK_OK(cr_image_read(NULL, path, &gray, &image));
        CHECK(image.width == COLS && image.height == ROWS && image.channels == 1);
        CHECK(memcmp(image.pixels, pixels + i * ROWS * COLS, ROWS * COLS) == 0);
    }
    cr_image_free(&image);
    cr_dataset_destroy(ds);
}

static void test_import_reads_back(void) {
    write_source("src");
    cr_prepare_result result = {0};
    CHECK_OK(run("src", "out", &result));
    CHECK(result.train_count == TRAIN && result.test_count == TEST && result.num_classes == 10);
    check_split("out/train.csv", TRAIN, train_labels, train_pixels, "train");
    check_split("out/test.csv", TEST, test_labels, test_pixels, "test");
    /* Running again over the same folder replaces the files. */
    CHECK_OK(run("src", "out", NULL));
    char path[512];
    CHECK(access(temp_tree_path(&tree, "out/train.csv.tmp", path, sizeof path), F_OK) != 0);
    CHECK(strcmp(cr_fashion_mnist_classes[0], "T-shirt/top") == 0);
    CHECK(strcmp(cr_fashion_mnist_classes[9], "Ankle boot") == 0);
}

/* Copies the good source to dir, then overwrites one file with a broken one. */
static void check_broken(const char *dir, const char *file, int ndim, const int *dims,
                         const uint8_t *data, size_t size, cr_status status, const char *needle) {
    write_source(dir);
    char rel[256];
    snprintf(rel, sizeof rel, "%s/%s", dir, file);
    write_idx(rel, ndim, dims, data, size);
    CHECK_FAILS(run(dir, "out_broken", NULL), status, needle);
}

static void test_broken_sources_are_named(void) {
    uint8_t labels[TRAIN + 1] = {0, 1, 2, 3, 4, 5};
    check_broken("b1", "train-labels-idx1-ubyte.gz", 1, (int[]){TRAIN - 1}, labels, TRAIN - 1,
                 CR_STATUS_DATA, "train-labels-idx1-ubyte.gz: 4 labels for 5 images");
    labels[2] = 10;
    check_broken("b2", "train-labels-idx1-ubyte.gz", 1, (int[]){TRAIN}, labels, TRAIN,
                 CR_STATUS_DATA, "label 10 of image 2 is not below 10");
    check_broken("b3", "t10k-images-idx3-ubyte", 1, (int[]){TEST}, labels, TEST, CR_STATUS_DATA,
                 "t10k-images-idx3-ubyte: magic number 00000801 is not that of an IDX file of "
                 "unsigned bytes in 3 dimensions");
    check_broken("b4", "t10k-images-idx3-ubyte", 3, (int[]){TEST, ROWS, COLS}, test_pixels, 7,
                 CR_STATUS_DATA, "t10k-images-idx3-ubyte: truncated: the header promises 36 "
                 "bytes of data, the file has 7");
    check_broken("b5", "t10k-labels-idx1-ubyte", 1, (int[]){TEST}, labels, TEST + 1,
                 CR_STATUS_DATA, "t10k-labels-idx1-ubyte: more data than the header's 3 bytes");

    /* A gzip stream with a damaged body. */
    write_source("b6");
    char path[512];
    temp_tree_path(&tree, "b6/train-images-idx3-ubyte.gz", path, sizeof path);
    FILE *f = fopen(path, "r+b");
    fseek(f, 12, SEEK_SET);
    fputs("garbage!garbage!", f);
    fclose(f);
    CHECK_FAILS(run("b6", "out_broken", NULL), CR_STATUS_DATA, "train-images-idx3-ubyte.gz: ");

    temp_tree_mkdirs(&tree, "empty/");
    CHECK_FAILS(run("empty", "out_broken", NULL), CR_STATUS_IO,
                "neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte is there");
    temp_tree_write_text(&tree, "a_file", "x");
    CHECK_FAILS(run("src", "a_file", NULL), CR_STATUS_IO, "a_file: exists and is not a folder");
    CHECK_FAILS(cr_prepare_fashion_mnist(&(cr_fashion_mnist_options){0}, NULL), CR_STATUS_INVALID,
                "no output folder");
}

int main(void) {
    temp_tree_make(&tree, "cr_fmnist_");
    test_import_reads_back();
    test_broken_sources_are_named();
    temp_tree_remove(&tree);
    return cr_test_summary("test_fashion_mnist");
}
