/* PNG through libpng: decoding from memory into 8-bit gray or RGB, and writing 8-bit PNGs to a
 * file or to memory.
 * libpng reports errors by longjmp; every function here that calls setjmp keeps the state it
 * changes afterwards behind pointers, so a jump back finds it intact (C11 7.13.2.1). */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/decode.h"

typedef struct png_job {
    const uint8_t *bytes; /* (size) the file, when reading */
    size_t size, position;
    int truncated;        /* the reader asked for bytes past the end */
    char message[256];    /* libpng's last error */
} png_job;

static void on_error(png_structp png, png_const_charp message) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", message);
    png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk, a colour profile libpng dislikes) do not stop PIL from
 * reading a file either; the library never prints, so they are dropped. */
static void on_warning(png_structp png, png_const_charp message) {}

static void read_bytes(png_structp png, png_bytep data, size_t length) {
    png_job *job = png_get_io_ptr(png);
    if (length > job->size - job->position) {
        job->truncated = 1;
        png_error(png, "unexpected end of file");
    }
    memcpy(data, job->bytes + job->position, length);
    job->position += length;
}

static cr_status grow_rows(cr_decoder *decoder, const char *name, size_t height) {
    if (height <= decoder->rows_capacity) return CR_STATUS_OK;
    free(decoder->rows);
    decoder->rows_capacity = 0;
    decoder->rows = malloc(height * sizeof *decoder->rows);
    if (!decoder->rows)
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory for %zu PNG rows", name, height);
    decoder->rows_capacity = height;
    return CR_STATUS_OK;
}

/* Asks libpng for 8-bit gray or RGB without alpha, as PIL's convert("L" / "RGB") would give. */
static void request_transforms(png_structp png, png_infop info, int channels) {
    int depth = png_get_bit_depth(png, info), color = png_get_color_type(png, info);
    if (depth == 16) png_set_strip_16(png); /* keeps the high byte, as PIL does */
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    if (channels == 3 && !(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

static cr_status read_png(png_structp png, png_infop info, png_job *job, cr_decoder *decoder,
                          const char *name, const cr_decode_options *options, cr_image *out) {
    if (setjmp(png_jmpbuf(png))) {
        if (job->truncated)
            return cr_fail(CR_STATUS_DATA, "%s: truncated PNG (the file ends after %zu bytes)",
                           name, job->size);
        return cr_fail(CR_STATUS_DATA, "%s: corrupt PNG: %s", name, job->message);
    }
    png_set_read_fn(png, job, read_bytes);
    png_read_info(png, info);
    uint32_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    CR_TRY(cr_image_check_size(name, "PNG", width, height, options));
    if (options->plan) {
        /* PNG has no reduced decode: the plan sees the size, its minimum is not needed */
        int min_width = options->min_width, min_height = options->min_height;
        options->plan(options->plan_context, (int)width, (int)height, &min_width, &min_height);
    }
    request_transforms(png, info, options->channels);

    int stored = png_get_channels(png, info);
    if (png_get_bit_depth(png, info) != 8 || (stored != 1 && stored != 3) ||
        (stored == 1 && options->channels == 3) ||
        png_get_rowbytes(png, info) != (size_t)width * (size_t)stored)
        return cr_fail(CR_STATUS_INTERNAL, "%s: libpng gave %d channels of %d bits, not 8-bit "
                       "gray or RGB", name, stored, png_get_bit_depth(png, info));
    CR_TRY(cr_image_reserve(out, name, (int)width, (int)height, stored, options->channels));
    CR_TRY(grow_rows(decoder, name, height));
    for (size_t y = 0; y < height; y++)
        decoder->rows[y] = out->pixels + y * (size_t)width * (size_t)stored;
    png_read_image(png, decoder->rows);
    png_read_end(png, NULL);

    if (stored == 3 && options->channels == 1)
        cr_image_rgb_to_gray(out->pixels, (size_t)width * height);
    out->source_width = (int)width;
    out->source_height = (int)height;
    return CR_STATUS_OK;
}

cr_status cr_png_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                        const cr_decode_options *options, cr_image *out) {
    png_job job = {.bytes = bytes, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    cr_status s = info ? read_png(png, info, &job, decoder, name, options, out)
                       : cr_fail(CR_STATUS_NOMEM, "%s: out of memory starting libpng", name);
    png_destroy_read_struct(&png, &info, NULL);
    return s;
}

static cr_status write_png(png_structp png, png_infop info, png_job *job, FILE *file,
                           const char *path, const cr_image *image) {
    if (setjmp(png_jmpbuf(png)))
        return cr_fail(CR_STATUS_IO, "%s: writing PNG: %s", path, job->message);
    png_init_io(png, file);
    png_set_IHDR(png, info, (uint32_t)image->width, (uint32_t)image->height, 8,
                 image->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t stride = (size_t)image->width * (size_t)image->channels;
    for (int y = 0; y < image->height; y++) png_write_row(png, image->pixels + (size_t)y * stride);
    png_write_end(png, info);
    return CR_STATUS_OK;
}

/* Writes image as a PNG into file; `name` (a path, or what the bytes are for) starts errors. */
static cr_status png_to_stream(FILE *file, const char *name, const cr_image *image) {
    png_job job = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    cr_status s = info ? write_png(png, info, &job, file, name, image)
                       : cr_fail(CR_STATUS_NOMEM, "%s: out of memory starting libpng", name);
    png_destroy_write_struct(&png, &info);
    return s;
}

static cr_status check_writable(const char *name, const cr_image *image) {
    if ((image->channels != 1 && image->channels != 3) || image->width < 1 || image->height < 1 ||
        !image->pixels)
        return cr_fail(CR_STATUS_INVALID, "%s: cannot write a %dx%d image of %d channels as PNG",
                       name, image->width, image->height, image->channels);
    return CR_STATUS_OK;
}

cr_status cr_image_write_png(const char *path, const cr_image *image) {
    CR_TRY(check_writable(path, image));
    FILE *file = fopen(path, "wb");
    if (!file) return cr_fail(CR_STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
    cr_status s = png_to_stream(file, path, image);
    if (fclose(file) != 0 && s == CR_STATUS_OK)
        s = cr_fail(CR_STATUS_IO, "%s: closing: %s", path, strerror(errno));
    if (s != CR_STATUS_OK) remove(path);
    return s;
}

cr_status cr_image_encode_png(const cr_image *image, uint8_t **bytes, size_t *size) {
    *bytes = NULL;
    *size = 0;
    CR_TRY(check_writable("PNG in memory", image));
    char *buffer = NULL;
    size_t length = 0;
    FILE *file = open_memstream(&buffer, &length);
    if (!file) return cr_fail(CR_STATUS_NOMEM, "out of memory for a PNG in memory");
    cr_status s = png_to_stream(file, "PNG in memory", image);
    if (fclose(file) != 0 && s == CR_STATUS_OK)
        s = cr_fail(CR_STATUS_NOMEM, "out of memory for a PNG in memory");
    if (s != CR_STATUS_OK) {
        free(buffer);
        return s;
    }
    *bytes = (uint8_t *)buffer;
    *size = length;
    return CR_STATUS_OK;
}
