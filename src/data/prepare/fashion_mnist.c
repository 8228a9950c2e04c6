/* The Fashion-MNIST importer: four IDX files in, PNG images and two CSVs out.
 * PNG encoding is the slow part (70000 files), so it is spread over threads by contiguous ranges;
 * the CSVs are written to a temporary name and renamed, so a half-written one is never read. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crescendo/image.h"
#include "crescendo/files.h"
#include "crescendo/prepare.h"
#include "data/prepare/idx.h"

enum { CLASSES = 10, PATH_SIZE = 4096, MESSAGE_SIZE = 1024, MAX_THREADS = 64 };

const char *const cr_fashion_mnist_classes[CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* One split as read: images (count, rows, cols) and labels (count). */
typedef struct split {
    const char *name; /* "train" or "test": the folder and the CSV */
    const char *idx;  /* "train" or "t10k": the IDX files' prefix */
    cr_idx images, labels;
} split;

static cr_status join(char *buf, const char *a, const char *b) {
    int n = snprintf(buf, PATH_SIZE, "%s/%s", a, b);
    if (n < 0 || n >= PATH_SIZE) return cr_fail(CR_STATUS_INVALID, "%s/%s: path too long", a, b);
    return CR_STATUS_OK;
}

/* src/base.gz, or src/base when only the gunzipped file is there. */
static cr_status find_source(const char *src, const char *base, char *path) {
    char gz[PATH_SIZE];
    snprintf(gz, sizeof gz, "%s.gz", base);
    CR_TRY(join(path, src, gz));
    if (access(path, F_OK) == 0) return CR_STATUS_OK;
    CR_TRY(join(path, src, base));
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

/* The images [begin, end) of both splits taken as one range, train first. */
typedef struct png_job {
    pthread_t thread;
    const char *out;
    const split *splits; /* (2) */
    int begin, end;
    atomic_int *stop;    /* set by the first job that fails, so the others end early */
    cr_status status;
    char message[MESSAGE_SIZE];
} png_job;

static cr_status write_png(const char *out, const split *s, int i) {
    char rel[64], path[PATH_SIZE];
    snprintf(rel, sizeof rel, "%s/%05d.png", s->name, i);
    CR_TRY(join(path, out, rel));
    const cr_idx *im = &s->images;
    size_t bytes = (size_t)im->dims[1] * im->dims[2];
    cr_image image = {.width = im->dims[2], .height = im->dims[1], .channels = 1,
                      .pixels = im->data + (size_t)i * bytes};
    return cr_image_write_png(path, &image);
}

static void *png_main(void *arg) {
    png_job *job = arg;
    int train = job->splits[0].images.dims[0];
    for (int k = job->begin; k < job->end && job->status == CR_STATUS_OK; k++) {
        if (atomic_load(job->stop)) break;
        const split *s = k < train ? &job->splits[0] : &job->splits[1];
        job->status = write_png(job->out, s, k < train ? k : k - train);
    }
    if (job->status != CR_STATUS_OK) {
        snprintf(job->message, sizeof job->message, "%s", cr_error_message());
        atomic_store(job->stop, 1);
    }
    return NULL;
}

static cr_status write_pngs(const char *out, const split splits[2], int threads) {
    int total = splits[0].images.dims[0] + splits[1].images.dims[0];
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    }
    png_job jobs[MAX_THREADS];
    atomic_int stop = 0;
    int started = 0;
    cr_status s = CR_STATUS_OK;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (png_job){.out = out, .splits = splits, .stop = &stop,
                            .begin = (int)((long)total * t / threads),
                            .end = (int)((long)total * (t + 1) / threads)};
        int err = pthread_create(&jobs[t].thread, NULL, png_main, &jobs[t]);
        if (err) {
            s = cr_fail(CR_STATUS_INTERNAL, "cannot start a PNG thread: %s", strerror(err));
            atomic_store(&stop, 1);
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) pthread_join(jobs[t].thread, NULL);
    for (int t = 0; t < started && s == CR_STATUS_OK; t++)
        if (jobs[t].status != CR_STATUS_OK) s = cr_fail(jobs[t].status, "%s", jobs[t].message);
    return s;
}

static cr_status write_csv(const char *out, const split *s) {
    char name[64], path[PATH_SIZE], temp[PATH_SIZE + 8];
    snprintf(name, sizeof name, "%s.csv", s->name);
    CR_TRY(join(path, out, name));
    snprintf(temp, sizeof temp, "%s.tmp", path);
    FILE *f = fopen(temp, "w");
    if (!f) return cr_fail(CR_STATUS_IO, "%s: cannot create: %s", temp, strerror(errno));
    fputs("class_name,image_path,target\n", f);
    for (int i = 0; i < s->labels.dims[0]; i++) {
        int label = s->labels.data[i];
        fprintf(f, "%s,%s/%05d.png,%d\n", cr_fashion_mnist_classes[label], s->name, i, label);
    }
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        remove(temp);
        return cr_fail(CR_STATUS_IO, "%s: write error (disk full?)", temp);
    }
    if (rename(temp, path) != 0) {
        remove(temp);
        return cr_fail(CR_STATUS_IO, "%s: cannot rename to %s: %s", temp, path, strerror(errno));
    }
    return CR_STATUS_OK;
}

static cr_status prepare(const cr_fashion_mnist_options *o, split splits[2]) {
    const char *src = o->src ? o->src : CR_FASHION_MNIST_DEFAULT_SRC;
    for (int i = 0; i < 2; i++) CR_TRY(read_split(src, &splits[i]));
    char path[PATH_SIZE];
    CR_TRY(cr_make_dirs(o->out));
    for (int i = 0; i < 2; i++) {
        CR_TRY(join(path, o->out, splits[i].name));
        CR_TRY(cr_make_dirs(path));
    }
    CR_TRY(write_pngs(o->out, splits, o->threads));
    for (int i = 0; i < 2; i++) CR_TRY(write_csv(o->out, &splits[i]));
    return CR_STATUS_OK;
}

cr_status cr_prepare_fashion_mnist(const cr_fashion_mnist_options *options,
                                   cr_prepare_result *result) {
    if (!options || !options->out || !options->out[0])
        return cr_fail(CR_STATUS_INVALID, "Fashion-MNIST: no output folder given");
    if (options->threads < 0 || options->threads > MAX_THREADS)
        return cr_fail(CR_STATUS_INVALID, "threads %d is not in [0, %d] (0: one per core)",
                       options->threads, MAX_THREADS);
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
