/* The Fashion-MNIST importer: four IDX files in, PNG images and two CSVs out.
 * PNG encoding is the slow part (70000 files), so it is spread over threads (output.h), and the
 * CSVs appear whole or not at all. */
#include <stdio.h>
#include <unistd.h>

#include "crescendo/image.h"
#include "crescendo/files.h"
#include "crescendo/prepare.h"
#include "data/prepare/idx.h"
#include "data/prepare/output.h"

enum { CLASSES = 10, PATH_SIZE = CR_PREPARE_PATH_SIZE };

const char *const cr_fashion_mnist_classes[CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* One split as read: images (count, rows, cols) and labels (count). */
typedef struct split {
    const char *name; /* "train" or "test": the folder and the CSV */
    const char *idx;  /* "train" or "t10k": the IDX files' prefix */
    cr_idx images, labels;
} split;

/* src/base.gz, or src/base when only the gunzipped file is there. */
static cr_status find_source(const char *src, const char *base, char *path) {
    char gz[PATH_SIZE];
    snprintf(gz, sizeof gz, "%s.gz", base);
    CR_TRY(cr_prepare_join(path, src, gz));
    if (access(path, F_OK) == 0) return CR_STATUS_OK;
    CR_TRY(cr_prepare_join(path, src, base));
    if (access(path, F_OK) == 0) return CR_STATUS_OK;
    return cr_fail(CR_STATUS_IO, "%s: neither %s.gz nor %s is there (Debian's "
                   "dataset-fashion-mnist package installs them in %s)", src, base, base,
                   CR_FASHION_MNIST_DEFAULT_SRC);
}

static cr_status read_split(const char *src, split *s) {
    char base[64], path[PATH_SIZE];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", s->idx);
    CR_TRY(find_source(src, base, path));
    CR_TRY(cr_idx_read(path, 3, &s->images));
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", s->idx);
    CR_TRY(find_source(src, base, path));
    CR_TRY(cr_idx_read(path, 1, &s->labels));
    if (s->labels.dims[0] != s->images.dims[0])
        return cr_fail(CR_STATUS_DATA, "%s: %d labels for %d images in %s-images-idx3-ubyte",
                       path, s->labels.dims[0], s->images.dims[0], s->idx);
    for (int i = 0; i < s->labels.dims[0]; i++)
        if (s->labels.data[i] >= CLASSES)
            return cr_fail(CR_STATUS_DATA, "%s: label %d of image %d is not below %d", path,
                           s->labels.data[i], i, CLASSES);
    return CR_STATUS_OK;
}

static cr_status write_png(const char *out, const split *s, int i) {
    char rel[64], path[PATH_SIZE];
    snprintf(rel, sizeof rel, "%s/%05d.png", s->name, i);
    CR_TRY(cr_prepare_join(path, out, rel));
    const cr_idx *im = &s->images;
    size_t bytes = (size_t)im->dims[1] * im->dims[2];
    cr_image image = {.width = im->dims[2], .height = im->dims[1], .channels = 1,
                      .pixels = im->data + (size_t)i * bytes};
    return cr_image_write_png(path, &image);
}

typedef struct output {
    const char *out;
    const split *splits; /* (2) */
} output;

/* The images [begin, end) of both splits taken as one range, train first. */
static cr_status write_pngs(void *context, int begin, int end, const atomic_int *stop) {
    const output *o = context;
    int train = o->splits[0].images.dims[0];
    for (int k = begin; k < end && !atomic_load(stop); k++) {
        const split *s = k < train ? &o->splits[0] : &o->splits[1];
        CR_TRY(write_png(o->out, s, k < train ? k : k - train));
    }
    return CR_STATUS_OK;
}

static void csv_row(void *context, int row, FILE *f) {
    const split *s = context;
    int label = s->labels.data[row];
    fprintf(f, "%s,%s/%05d.png,%d\n", cr_fashion_mnist_classes[label], s->name, row, label);
}

static cr_status prepare(const cr_fashion_mnist_options *o, split splits[2]) {
    const char *src = o->src ? o->src : CR_FASHION_MNIST_DEFAULT_SRC;
    for (int i = 0; i < 2; i++) CR_TRY(read_split(src, &splits[i]));
    char path[PATH_SIZE];
    CR_TRY(cr_make_dirs(o->out));
    for (int i = 0; i < 2; i++) {
        CR_TRY(cr_prepare_join(path, o->out, splits[i].name));
        CR_TRY(cr_make_dirs(path));
    }
    int total = splits[0].images.dims[0] + splits[1].images.dims[0];
    CR_TRY(cr_prepare_parallel(total, o->threads, write_pngs,
                               &(output){.out = o->out, .splits = splits}));
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s.csv", splits[i].name);
        CR_TRY(cr_prepare_write_csv(o->out, name, splits[i].labels.dims[0], csv_row, &splits[i]));
    }
    return CR_STATUS_OK;
}

cr_status cr_prepare_fashion_mnist(const cr_fashion_mnist_options *options,
                                   cr_prepare_result *result) {
    if (!options || !options->out || !options->out[0])
        return cr_fail(CR_STATUS_INVALID, "Fashion-MNIST: no output folder given");
    if (options->threads < 0 || options->threads > CR_PREPARE_MAX_THREADS)
        return cr_fail(CR_STATUS_INVALID, "threads %d is not in [0, %d] (0: one per core)",
                       options->threads, CR_PREPARE_MAX_THREADS);
    split splits[2] = {{.name = "train", .idx = "train"}, {.name = "test", .idx = "t10k"}};
    cr_status s = prepare(options, splits);
    if (s == CR_STATUS_OK && result)
        *result = (cr_prepare_result){.train_count = splits[0].images.dims[0],
                                      .test_count = splits[1].images.dims[0],
                                      .num_classes = CLASSES};
    for (int i = 0; i < 2; i++) {
        cr_idx_free(&splits[i].images);
        cr_idx_free(&splits[i].labels);
    }
    return s;
}
