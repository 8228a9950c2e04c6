/* The typical image size of a dataset, from a few headers: what the default progressive schedule
 * grows to when the user names no size. */
#include <stdlib.h>

#include "crescendo/dataset.h"
#include "crescendo/image.h"

/* Records the size stored in the file and asks for the smallest decode, so that a JPEG costs
 * an eighth of its pixels. */
static void record_size(void *context, int width, int height, int *min_width, int *min_height) {
    int *shorter = context;
    *shorter = width < height ? width : height;
    *min_width = 1;
    *min_height = 1;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

cr_status cr_dataset_typical_side(const cr_dataset *ds, int samples, int *side) {
    int count = cr_dataset_count(ds);
    if (count < 1) return cr_fail(CR_STATUS_INVALID, "%s holds no images", cr_dataset_source(ds));
    if (samples < 1 || samples > count) samples = count;
    int *sides = malloc(sizeof *sides * (size_t)samples);
    cr_decoder *decoder = NULL;
    cr_status s = sides ? cr_decoder_create(&decoder) : cr_fail(CR_STATUS_NOMEM, "out of memory");
    cr_image image = {0};
    int read = 0;
    for (int k = 0; k < samples && s != CR_STATUS_NOMEM; k++) {
        char path[4096];
        int shorter = 0;
        cr_decode_options options = {.channels = 3, .plan = record_size, .plan_context = &shorter};
        int i = (int)((int64_t)k * count / samples);
        s = cr_dataset_resolve(ds, i, path, sizeof path);
        if (s == CR_STATUS_OK) s = cr_image_read(decoder, path, &options, &image);
        if (s == CR_STATUS_OK) sides[read++] = shorter;
    }
    if (read > 0) {
        qsort(sides, (size_t)read, sizeof *sides, compare_ints);
        *side = sides[read / 2];
        s = CR_STATUS_OK;
    }
    cr_image_free(&image);
    cr_decoder_destroy(decoder);
    free(sides);
    return s;
}
