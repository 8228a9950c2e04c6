/* The synthetic set: shape-and-texture JPEGs whose texture small decodes cannot see.
 * Every image is drawn from its own random stream (seed, split, index), so the bytes written do
 * not depend on the thread that writes them. The why of the texture is in crescendo/prepare.h. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "crescendo/files.h"
#include "crescendo/prepare.h"
#include "crescendo/rng.h"
#include "data/prepare/output.h"

/* Channels are drawn in [LOW, HIGH]; the gradient, texture and noise together move a pixel by
 * less than LOW, so rounding never needs to clamp and the texture stays exactly additive. */
enum { LOW = 50, HIGH = 205, MIN_SIZE = 64, MAX_SIZE = 8192, MAX_PER_CLASS = 1000000 };
#define GRADIENT_LEVELS 12.0f  /* the most the background changes across the image, per axis */
#define MIN_CONTRAST 40.0f     /* levels of luminance the shape is above the background */
#define MIN_EXTENT 0.4f        /* the shape's side as a fraction of the image's */
#define MAX_EXTENT 0.7f

const char *const cr_synthetic_shapes[CR_SYNTHETIC_SHAPES] = {"disc", "square", "triangle",
                                                              "cross", "ring"};
const char *const cr_synthetic_textures[CR_SYNTHETIC_TEXTURES] = {"horizontal", "vertical",
                                                                  "checker"};

/* Period 4: + - - + over t mod 4, the frequency-4 DCT basis on an 8-pixel block. Period 8:
 * + + - - - - + + over t mod 8, the signs of the frequency-2 basis. */
static inline float sign_at(int period, int t) {
    return ((t + period / 4) & (period / 2)) ? -1.0f : 1.0f;
}

static float texture_at(int texture, int period, int x, int y) {
    switch (texture) {
    case 0: return sign_at(period, y);                       /* horizontal stripes */
    case 1: return sign_at(period, x);                       /* vertical stripes */
    default: return sign_at(period, x) * sign_at(period, y); /* checker */
    }
}

/* Whether the point (dx, dy) from the centre is in the shape of half-side r. */
static bool inside(int shape, float dx, float dy, float r) {
    float ax = fabsf(dx), ay = fabsf(dy), d2 = dx * dx + dy * dy;
    switch (shape) {
    case 0: return d2 <= r * r;          /* disc */
    case 1: return ax <= r && ay <= r;   /* square */
    case 2: return ay <= r && ax <= 0.5f * (dy + r); /* triangle, apex up */
    case 3: return (ax <= r / 3 && ay <= r) || (ay <= r / 3 && ax <= r); /* cross */
    default: return d2 <= r * r && d2 >= 0.3025f * r * r; /* ring, inner radius 0.55 r */
    }
}

/* About N(0, 1): the sum of four uniform bytes is bell-shaped, bounded and costs one draw. */
static float noise(cr_rng *rng) {
    uint32_t u = cr_rng_u32(rng);
    int sum = (int)(u & 255) + (int)(u >> 8 & 255) + (int)(u >> 16 & 255) + (int)(u >> 24);
    return (float)(sum - 510) / 147.8f; /* sqrt(4 (256^2 - 1) / 12) */
}

static cr_status check_size(int size) {
    if (size < MIN_SIZE || size > MAX_SIZE || size % 8 != 0)
        return cr_fail(CR_STATUS_INVALID, "size %d is not a multiple of 8 in [%d, %d]: the "
                       "texture must line up with JPEG's 8x8 blocks", size, MIN_SIZE, MAX_SIZE);
    return CR_STATUS_OK;
}

cr_status cr_synthetic_render(const cr_synthetic_image *image, int size, uint8_t *rgb) {
    CR_TRY(check_size(size));
    if (image->shape < 0 || image->shape >= CR_SYNTHETIC_SHAPES)
        return cr_fail(CR_STATUS_INVALID, "shape %d is not in [0, %d)", image->shape,
                       CR_SYNTHETIC_SHAPES);
    if (image->texture < 0 || image->texture >= CR_SYNTHETIC_TEXTURES)
        return cr_fail(CR_STATUS_INVALID, "texture %d is not in [0, %d)", image->texture,
                       CR_SYNTHETIC_TEXTURES);
    int period = image->texture_period ? image->texture_period : 4;
    if (period != 4 && period != 8)
        return cr_fail(CR_STATUS_INVALID, "texture period %d is not 4 or 8", period);
    cr_rng rng = cr_rng_stream(image->noise_key, 0, 0);
    for (int y = 0; y < size; y++) {
        float fy = (y + 0.5f) / size - 0.5f;
        for (int x = 0; x < size; x++) {
            float fx = (x + 0.5f) / size - 0.5f;
            bool in = inside(image->shape, x + 0.5f - image->center_x,
                             y + 0.5f - image->center_y, image->radius);
            float shift = image->gradient[0] * fx + image->gradient[1] * fy;
            float added = CR_SYNTHETIC_TEXTURE_LEVELS * texture_at(image->texture, period, x, y) +
                          CR_SYNTHETIC_NOISE_LEVELS * noise(&rng);
            uint8_t *p = rgb + 3 * ((size_t)y * size + x);
            for (int c = 0; c < 3; c++) {
                float v = (in ? image->foreground[c] : image->background[c] + shift) + added;
                p[c] = (uint8_t)lrintf(fminf(fmaxf(v, 0.0f), 255.0f));
            }
        }
    }
    return CR_STATUS_OK;
}

static float luminance(const uint8_t c[3]) { return 0.299f * c[0] + 0.587f * c[1] + 0.114f * c[2]; }

static void draw_colour(cr_rng *rng, uint8_t c[3]) {
    for (int i = 0; i < 3; i++) c[i] = (uint8_t)(LOW + cr_rng_below(rng, HIGH - LOW + 1));
}

/* The random choices of image `index` of split `split` (0 train, 1 val) of class k. */
static cr_synthetic_image draw_image(uint64_t seed, int split, int index, int k, int size,
                                     int period) {
    cr_rng rng = cr_rng_stream(seed, (uint64_t)split, (uint64_t)index);
    cr_synthetic_image im = {.shape = k / CR_SYNTHETIC_TEXTURES,
                             .texture = k % CR_SYNTHETIC_TEXTURES, .texture_period = period};
    draw_colour(&rng, im.background);
    for (int i = 0; i < 2; i++) im.gradient[i] = (2 * cr_rng_uniform(&rng) - 1) * GRADIENT_LEVELS;
    do draw_colour(&rng, im.foreground);
    while (fabsf(luminance(im.foreground) - luminance(im.background)) < MIN_CONTRAST);
    if (luminance(im.foreground) < luminance(im.background)) { /* the shape is the lighter */
        uint8_t c[3];
        memcpy(c, im.foreground, 3);
        memcpy(im.foreground, im.background, 3);
        memcpy(im.background, c, 3);
    }
    float extent = MIN_EXTENT + (MAX_EXTENT - MIN_EXTENT) * cr_rng_uniform(&rng);
    im.radius = 0.5f * extent * size;
    im.center_x = im.radius + cr_rng_uniform(&rng) * (size - 2 * im.radius);
    im.center_y = im.radius + cr_rng_uniform(&rng) * (size - 2 * im.radius);
    uint64_t hi = cr_rng_u32(&rng);
    im.noise_key = hi << 32 | cr_rng_u32(&rng);
    return im;
}

/* The two splits taken as one range of images, train first. */
typedef struct plan {
    const cr_synthetic_options *o;
    int count[2];     /* images in train, val */
    int per_class[2]; /* per_class, val_per_class */
} plan;

static const char *const split_names[2] = {"train", "val"};

/* One range's encoder and buffers, made once and reused for every image. */
typedef struct writer {
    tjhandle tj;
    uint8_t *rgb;          /* (size, size, 3) */
    unsigned char *jpeg;   /* (jpeg_capacity): TurboJPEG's bound for the size, never grown */
    unsigned long jpeg_capacity;
} writer;

static cr_status write_image(const plan *p, writer *w, int split, int index) {
    const cr_synthetic_options *o = p->o;
    int k = index / p->per_class[split];
    cr_synthetic_image im = draw_image(o->seed, split, index, k, o->size, o->texture_period);
    CR_TRY(cr_synthetic_render(&im, o->size, w->rgb));
    char rel[64], path[CR_PREPARE_PATH_SIZE];
    snprintf(rel, sizeof rel, "%s/%05d.jpg", split_names[split], index);
    CR_TRY(cr_prepare_join(path, o->out, rel));
    unsigned long bytes = w->jpeg_capacity;
    if (tjCompress2(w->tj, w->rgb, o->size, 0, o->size, TJPF_RGB, &w->jpeg, &bytes, TJSAMP_420,
                    o->quality, TJFLAG_NOREALLOC) != 0)
        return cr_fail(CR_STATUS_INTERNAL, "%s: cannot encode: %s", path, tjGetErrorStr2(w->tj));
    FILE *f = fopen(path, "wb");
    if (!f) return cr_fail(CR_STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t written = fwrite(w->jpeg, 1, bytes, f);
    if (fclose(f) != 0 || written != bytes)
        return cr_fail(CR_STATUS_IO, "%s: write error (disk full?)", path);
    return CR_STATUS_OK;
}

static cr_status write_range(void *context, int begin, int end, const atomic_int *stop) {
    const plan *p = context;
    int size = p->o->size;
    writer w = {.tj = tjInitCompress(),
                .rgb = malloc((size_t)size * size * 3),
                .jpeg_capacity = tjBufSize(size, size, TJSAMP_420)};
    w.jpeg = tjAlloc((int)w.jpeg_capacity);
    cr_status s = CR_STATUS_OK;
    if (!w.tj || !w.rgb || !w.jpeg)
        s = cr_fail(CR_STATUS_NOMEM, "no memory for a %dx%d JPEG encoder", size, size);
    for (int k = begin; k < end && s == CR_STATUS_OK && !atomic_load(stop); k++)
        s = k < p->count[0] ? write_image(p, &w, 0, k) : write_image(p, &w, 1, k - p->count[0]);
    if (w.tj) tjDestroy(w.tj);
    tjFree(w.jpeg);
    free(w.rgb);
    return s;
}

typedef struct csv_rows {
    const plan *p;
    int split;
} csv_rows;

static void csv_row(void *context, int row, FILE *f) {
    const csv_rows *c = context;
    int k = row / c->p->per_class[c->split];
    fprintf(f, "%s-%s,%s/%05d.jpg,%d\n", cr_synthetic_shapes[k / CR_SYNTHETIC_TEXTURES],
            cr_synthetic_textures[k % CR_SYNTHETIC_TEXTURES], split_names[c->split], row, k);
}

static cr_status check_options(const cr_synthetic_options *o) {
    if (!o || !o->out || !o->out[0])
        return cr_fail(CR_STATUS_INVALID, "synthetic set: no output folder given");
    int most = CR_SYNTHETIC_SHAPES * CR_SYNTHETIC_TEXTURES;
    if (o->classes < 1 || o->classes > most)
        return cr_fail(CR_STATUS_INVALID, "classes %d is not in [1, %d]: there are %d shapes "
                       "times %d textures", o->classes, most, CR_SYNTHETIC_SHAPES,
                       CR_SYNTHETIC_TEXTURES);
    if (o->per_class < 1 || o->per_class > MAX_PER_CLASS)
        return cr_fail(CR_STATUS_INVALID, "per-class %d is not in [1, %d]", o->per_class,
                       MAX_PER_CLASS);
    if (o->val_per_class < 0 || o->val_per_class > MAX_PER_CLASS)
        return cr_fail(CR_STATUS_INVALID, "val-per-class %d is not in [0, %d]",
                       o->val_per_class, MAX_PER_CLASS);
    CR_TRY(check_size(o->size));
    if (o->texture_period != 0 && o->texture_period != 4 && o->texture_period != 8)
        return cr_fail(CR_STATUS_INVALID, "texture period %d is not 4 or 8", o->texture_period);
    if (o->quality < 1 || o->quality > 100)
        return cr_fail(CR_STATUS_INVALID, "JPEG quality %d is not in [1, 100]", o->quality);
    if (o->threads < 0 || o->threads > CR_PREPARE_MAX_THREADS)
        return cr_fail(CR_STATUS_INVALID, "threads %d is not in [0, %d] (0: one per core)",
                       o->threads, CR_PREPARE_MAX_THREADS);
    return CR_STATUS_OK;
}

cr_status cr_prepare_synthetic(const cr_synthetic_options *options, cr_prepare_result *result) {
    CR_TRY(check_options(options));
    plan p = {.o = options,
              .count = {options->classes * options->per_class,
                        options->classes * options->val_per_class},
              .per_class = {options->per_class, options->val_per_class}};
    char path[CR_PREPARE_PATH_SIZE];
    CR_TRY(cr_make_dirs(options->out));
    for (int i = 0; i < 2; i++) {
        CR_TRY(cr_prepare_join(path, options->out, split_names[i]));
        CR_TRY(cr_make_dirs(path));
    }
    CR_TRY(cr_prepare_parallel(p.count[0] + p.count[1], options->threads, write_range, &p));
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s.csv", split_names[i]);
        CR_TRY(cr_prepare_write_csv(options->out, name, p.count[i], csv_row,
                                    &(csv_rows){.p = &p, .split = i}));
    }
    if (result)
        *result = (cr_prepare_result){.train_count = p.count[0], .test_count = p.count[1],
                                      .num_classes = options->classes};
    return CR_STATUS_OK;
}
