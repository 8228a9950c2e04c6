/* The per-sample transform of the loader: crop, resize, flip, ToTensor and Normalize, written
 * straight into a batch slot. Each output row leaves the vertical pass as 8-bit values and is
 * turned into floats through a 256-entry table per channel while it is still in cache; an image
 * resized in an earlier epoch takes only that last step (cr_transform_finish). */
#include <stdint.h>

#include "crescendo/arena.h"
#include "crescendo/transform.h"
#include "data/resize.h"

enum { LEVELS = 256 };

/* Scratch: the float table (channels, 256), one 8-bit output row, then the resize plan. */
static size_t table_bytes(int channels) {
    return cr_align_up((size_t)channels * LEVELS * sizeof(float), CR_ARENA_ALIGN);
}

static size_t row_bytes(const cr_transform *t) {
    return cr_align_up((size_t)t->out_width * (size_t)t->channels, CR_ARENA_ALIGN);
}

size_t cr_transform_scratch_bytes(const cr_transform *t, int max_src_width, int max_src_height) {
    return CR_ARENA_ALIGN + table_bytes(t->channels) + row_bytes(t) +
           cr_resize_plan_bytes(max_src_width, max_src_height, t->out_width, t->out_height,
                                t->channels);
}

static cr_status check_transform(const cr_transform *t) {
    if (t->out_width < 1 || t->out_height < 1 || (t->channels != 1 && t->channels != 3))
        return cr_fail(CR_STATUS_INVALID, "transform to %dx%d with %d channels: out of range",
                       t->out_width, t->out_height, t->channels);
    for (int c = 0; c < t->channels; c++)
        if (!(t->std[c] != 0.0f))
            return cr_fail(CR_STATUS_INVALID, "transform std[%d] is %g, must be non-zero", c,
                           (double)t->std[c]);
    return CR_STATUS_OK;
}

static cr_status check(const cr_transform *t, const cr_image *src, const cr_crop *crop) {
    CR_TRY(check_transform(t));
    if (src->channels != t->channels)
        return cr_fail(CR_STATUS_INVALID, "transform for %d channels given a %d-channel image",
                       t->channels, src->channels);
    if (src->width < 1 || src->height < 1 || !src->pixels)
        return cr_fail(CR_STATUS_INVALID, "transform given an empty %dx%d image", src->width,
                       src->height);
    if (crop && (crop->width < 1 || crop->height < 1 || crop->x < 0 || crop->y < 0 ||
                 crop->x > src->width - crop->width || crop->y > src->height - crop->height))
        return cr_fail(CR_STATUS_INVALID, "crop %dx%d at (%d, %d) leaves the %dx%d image",
                       crop->width, crop->height, crop->x, crop->y, src->width, src->height);
    return CR_STATUS_OK;
}

/* ToTensor then Normalize, in the float32 operations torchvision uses, so that table
 * (channels, 256) holds exactly the values PyTorch would compute. */
static void fill_table(const cr_transform *t, float *table) {
    for (int c = 0; c < t->channels; c++)
        for (int v = 0; v < LEVELS; v++)
            table[c * LEVELS + v] = ((float)v / 255.0f - t->mean[c]) / t->std[c];
}

/* One row of `width` pixels through the table, read right to left when mirror is set. */
static void row_to_floats(const float *table, const uint8_t *row, size_t width, int channels,
                          bool mirror, float *o /* (width, channels) */) {
    if (channels == 3) {
        for (size_t x = 0; x < width; x++) {
            const uint8_t *p = row + 3 * (mirror ? width - 1 - x : x);
            o[3 * x + 0] = table[p[0]];
            o[3 * x + 1] = table[LEVELS + p[1]];
            o[3 * x + 2] = table[2 * LEVELS + p[2]];
        }
    } else {
        for (size_t x = 0; x < width; x++) o[x] = table[row[mirror ? width - 1 - x : x]];
    }
}

cr_status cr_transform_apply(const cr_transform *t, const cr_image *src, const cr_crop *crop,
                             bool flip, void *scratch, size_t scratch_bytes, float *out) {
    CR_TRY(check(t, src, crop));
    cr_crop box = crop ? *crop : (cr_crop){0, 0, src->width, src->height};
    CR_TRY(cr_resize_check(box.width, box.height, t->out_width, t->out_height));
    size_t need = cr_transform_scratch_bytes(t, box.width, box.height);
    if (scratch_bytes < need)
        return cr_fail(CR_STATUS_INVALID, "transform of a %dx%d source needs %zu scratch bytes, "
                       "given %zu", box.width, box.height, need, scratch_bytes);

    int channels = t->channels;
    char *next = (char *)cr_align_up((uintptr_t)scratch, CR_ARENA_ALIGN);
    float *table = (float *)next; /* (channels, 256) */
    next += table_bytes(channels);
    uint8_t *row = (uint8_t *)next; /* (out_width, channels) */
    next += row_bytes(t);
    fill_table(t, table);

    cr_resize_plan plan;
    cr_resize_plan_init(&plan, box.width, box.height, t->out_width, t->out_height, channels, next);
    size_t stride = (size_t)src->width * (size_t)channels;
    const uint8_t *origin = src->pixels + (size_t)box.y * stride + (size_t)box.x * channels;
    cr_resize_rows rows = cr_resize_horizontal(&plan, origin, stride, flip);

    size_t width = (size_t)t->out_width;
    for (int y = 0; y < t->out_height; y++) {
        cr_resize_vertical_row(&plan, rows, y, row);
        /* the horizontal pass has mirrored already */
        row_to_floats(table, row, width, channels, false, out + (size_t)y * width * channels);
    }
    return CR_STATUS_OK;
}

cr_status cr_transform_finish(const cr_transform *t, const uint8_t *src, bool flip, float *out) {
    CR_TRY(check_transform(t));
    float table[3 * LEVELS]; /* (channels, 256) */
    fill_table(t, table);
    size_t row = (size_t)t->out_width * (size_t)t->channels;
    for (int y = 0; y < t->out_height; y++)
        row_to_floats(table, src + (size_t)y * row, (size_t)t->out_width, t->channels, flip,
                      out + (size_t)y * row);
    return CR_STATUS_OK;
}
