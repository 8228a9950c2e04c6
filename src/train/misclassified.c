/* The misclassified validation images of a pass, kept as small PNGs for the run's report.
 * Only wrong predictions are touched, and only until the grid is full: a pass pays almost nothing. */
#include "train/misclassified.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/image.h"
#include "crescendo/metrics.h"
#include "crescendo/transform.h"

struct cr_misclassified {
    int classes, capacity, per_class; /* per_class: the most kept of one true class */
    int count;
    int *kept_of;                 /* (classes) images kept of each true class */
    float mean[3], std[3];
    cr_report_thumbnail *items;   /* (capacity) */
    uint8_t **png;                /* (capacity) the items' PNGs, owned */
    uint8_t *pixels;              /* (height, width, channels) of the image being kept */
    size_t pixels_bytes;
    uint8_t *small;               /* (side, side, channels) after the shrink */
    void *scratch;                /* the resize's */
    size_t scratch_bytes;
};

cr_status cr_misclassified_create(cr_misclassified **out, int classes, int capacity,
                                  const float mean[3], const float std[3]) {
    *out = NULL;
    if (classes < 1 || capacity < 1)
        return cr_fail(CR_STATUS_INVALID, "misclassified images: %d classes, room for %d",
                       classes, capacity);
    cr_misclassified *m = calloc(1, sizeof *m);
    if (!m) return cr_fail(CR_STATUS_NOMEM, "out of memory for misclassified images");
    m->classes = classes;
    m->capacity = capacity;
    m->per_class = (capacity + classes - 1) / classes;
    if (m->per_class < 2) m->per_class = 2;
    memcpy(m->mean, mean, sizeof m->mean);
    memcpy(m->std, std, sizeof m->std);
    m->kept_of = calloc((size_t)classes, sizeof *m->kept_of);
    m->items = calloc((size_t)capacity, sizeof *m->items);
    m->png = calloc((size_t)capacity, sizeof *m->png);
    m->small = malloc((size_t)CR_THUMBNAIL_SIDE * CR_THUMBNAIL_SIDE * 3);
    if (!m->kept_of || !m->items || !m->png || !m->small) {
        cr_misclassified_destroy(m);
        return cr_fail(CR_STATUS_NOMEM, "out of memory for misclassified images");
    }
    *out = m;
    return CR_STATUS_OK;
}

void cr_misclassified_reset(cr_misclassified *m) {
    for (int i = 0; i < m->count; i++) {
        free(m->png[i]);
        m->png[i] = NULL;
    }
    m->count = 0;
    memset(m->kept_of, 0, (size_t)m->classes * sizeof *m->kept_of);
}

void cr_misclassified_destroy(cr_misclassified *m) {
    if (!m) return;
    if (m->png) cr_misclassified_reset(m);
    free(m->kept_of);
    free(m->items);
    free(m->png);
    free(m->pixels);
    free(m->small);
    free(m->scratch);
    free(m);
}

/* Grows *buffer to hold `bytes`. */
static cr_status reserve(void **buffer, size_t *capacity, size_t bytes) {
    if (bytes <= *capacity) return CR_STATUS_OK;
    void *grown = realloc(*buffer, bytes);
    if (!grown) return cr_fail(CR_STATUS_NOMEM, "out of memory for a misclassified image");
    *buffer = grown;
    *capacity = bytes;
    return CR_STATUS_OK;
}

/* The inverse of the loader's normalization, x = (v / 255 - mean) / std, rounded to 8 bits. */
static void to_pixels(const cr_misclassified *m, const float *x /* (H, W, C) */, int width,
                      int height, int channels, uint8_t *out) {
    size_t n = (size_t)width * (size_t)height;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < channels; c++) {
            float v = (x[i * channels + c] * m->std[c] + m->mean[c]) * 255.0f;
            out[i * channels + c] = (uint8_t)lrintf(fminf(255.0f, fmaxf(0.0f, v)));
        }
}

/* Keeps image i of the batch as the next thumbnail. */
static cr_status keep(cr_misclassified *m, const cr_batch *b, int i, int predicted) {
    int w = b->width, h = b->height, ch = b->channels;
    CR_TRY(reserve((void **)&m->pixels, &m->pixels_bytes, (size_t)w * (size_t)h * (size_t)ch));
    to_pixels(m, b->images + (size_t)i * (size_t)w * (size_t)h * (size_t)ch, w, h, ch, m->pixels);
    cr_image image = {.width = w, .height = h, .channels = ch, .pixels = m->pixels};
    int longest = w > h ? w : h;
    if (longest > CR_THUMBNAIL_SIDE) {
        int tw = (int)lround((double)w * CR_THUMBNAIL_SIDE / longest);
        int th = (int)lround((double)h * CR_THUMBNAIL_SIDE / longest);
        tw = tw < 1 ? 1 : tw;
        th = th < 1 ? 1 : th;
        size_t need = cr_resize_scratch_bytes(w, h, tw, th, ch);
        CR_TRY(reserve(&m->scratch, &m->scratch_bytes, need));
        CR_TRY(cr_resize_u8(m->pixels, w, h, (size_t)w * (size_t)ch, ch, m->small, tw, th,
                            m->scratch, m->scratch_bytes));
        image = (cr_image){.width = tw, .height = th, .channels = ch, .pixels = m->small};
    }
    uint8_t *png = NULL;
    size_t size = 0;
    CR_TRY(cr_image_encode_png(&image, &png, &size));
    int label = b->labels[i];
    m->png[m->count] = png;
    m->items[m->count++] = (cr_report_thumbnail){.png = png, .png_size = size,
                                                 .width = image.width, .height = image.height,
                                                 .true_class = label,
                                                 .predicted_class = predicted};
    m->kept_of[label]++;
    return CR_STATUS_OK;
}

cr_status cr_misclassified_add(cr_misclassified *m, const cr_batch *batch, const float *scores) {
    for (int i = 0; i < batch->count && m->count < m->capacity; i++) {
        int label = batch->labels[i];
        if (label < 0 || label >= m->classes || m->kept_of[label] >= m->per_class) continue;
        int predicted = cr_metrics_predict(scores + (size_t)i * (size_t)m->classes, m->classes);
        if (predicted != label) CR_TRY(keep(m, batch, i, predicted));
    }
    return CR_STATUS_OK;
}

int cr_misclassified_count(const cr_misclassified *m) { return m->count; }

const cr_report_thumbnail *cr_misclassified_thumbnails(const cr_misclassified *m) {
    return m->items;
}
