/* Decoding dispatch: the format is told by the file's first bytes, never by its name; plus the
 * decoder's reusable buffers (the file's, refilled by cr_read_file) and the pixel conversions PNG
 * and JPEG share. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/files.h"
#include "data/decode.h"

static const uint8_t PNG_SIGNATURE[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

cr_status cr_decoder_create(cr_decoder **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return cr_fail(CR_STATUS_NOMEM, "out of memory creating an image decoder");
    return CR_STATUS_OK;
}

void cr_decoder_destroy(cr_decoder *decoder) {
    if (!decoder) return;
    cr_jpeg_release(decoder->jpeg);
    free(decoder->file);
    free(decoder->rows);
    free(decoder);
}

void cr_image_free(cr_image *image) {
    free(image->pixels);
    memset(image, 0, sizeof *image);
}

cr_status cr_image_check_size(const char *name, const char *format, uint64_t width,
                              uint64_t height, const cr_decode_options *options) {
    uint64_t limit = options->max_pixels ? options->max_pixels : CR_IMAGE_DEFAULT_MAX_PIXELS;
    if (width == 0 || height == 0)
        return cr_fail(CR_STATUS_DATA, "%s: %s header gives an empty image (%llux%llu)", name,
                       format, (unsigned long long)width, (unsigned long long)height);
    if (width * height > limit)
        return cr_fail(CR_STATUS_DATA,
                       "%s: %llux%llu %s is %llu pixels, over the limit of %llu (a possible "
                       "decompression bomb)",
                       name, (unsigned long long)width, (unsigned long long)height, format,
                       (unsigned long long)(width * height), (unsigned long long)limit);
    return CR_STATUS_OK;
}

cr_status cr_image_reserve(cr_image *image, const char *name, int width, int height,
                           int stored_channels, int channels) {
    size_t bytes = (size_t)width * (size_t)height * (size_t)stored_channels;
    if (bytes > image->capacity) {
        /* the old pixels are not kept, so free + malloc spares realloc's copy */
        free(image->pixels);
        image->capacity = 0;
        image->pixels = malloc(bytes);
        if (!image->pixels)
            return cr_fail(CR_STATUS_NOMEM, "%s: out of memory for %dx%d pixels", name, width,
                           height);
        image->capacity = bytes;
    }
    image->width = width;
    image->height = height;
    image->channels = channels;
    return CR_STATUS_OK;
}

void cr_image_rgb_to_gray(uint8_t *pixels, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t r = pixels[3 * i], g = pixels[3 * i + 1], b = pixels[3 * i + 2];
        pixels[i] = (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    }
}

/* Names a format we recognise but do not read, so the message says what the file is. */
static const char *other_format(const uint8_t *b, size_t n) {
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "a GIF image";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "a BMP image";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "a WebP image";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "a TIFF image";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) return "an ISO media file (HEIF, AVIF or video)";
    return "unknown format";
}

cr_status cr_image_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                          const cr_decode_options *options, cr_image *out) {
    if (options->channels != 1 && options->channels != 3)
        return cr_fail(CR_STATUS_INVALID, "%s: decode channels must be 1 or 3, not %d", name,
                       options->channels);
    if (options->min_width < 0 || options->min_height < 0)
        return cr_fail(CR_STATUS_INVALID, "%s: negative minimum decode size %dx%d", name,
                       options->min_width, options->min_height);
    if (size == 0) return cr_fail(CR_STATUS_DATA, "%s: empty file (0 bytes)", name);

    size_t png_prefix = size < sizeof PNG_SIGNATURE ? size : sizeof PNG_SIGNATURE;
    bool is_png = memcmp(bytes, PNG_SIGNATURE, png_prefix) == 0;
    bool is_jpeg = size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
    if (!is_png && !is_jpeg) {
        char hex[3 * 8] = "";
        for (size_t i = 0, n = 0; i < size && i < 8; i++)
            n += (size_t)snprintf(hex + n, sizeof hex - n, "%s%02x", i ? " " : "", bytes[i]);
        return cr_fail(CR_STATUS_DATA, "%s: not a PNG or JPEG file (%s; first bytes %s)", name,
                       other_format(bytes, size), hex);
    }

    cr_decoder *temporary = NULL;
    if (!decoder) {
        CR_TRY(cr_decoder_create(&temporary));
        decoder = temporary;
    }
    cr_status s = is_png ? cr_png_decode(decoder, bytes, size, name, options, out)
                         : cr_jpeg_decode(decoder, bytes, size, name, options, out);
    cr_decoder_destroy(temporary);
    return s;
}

cr_status cr_image_read(cr_decoder *decoder, const char *path, const cr_decode_options *options,
                        cr_image *out) {
    cr_decoder *temporary = NULL;
    if (!decoder) {
        CR_TRY(cr_decoder_create(&temporary));
        decoder = temporary;
    }
    size_t size = 0;
    cr_status s = cr_read_file(path, &decoder->file, &decoder->file_capacity, &size);
    if (s == CR_STATUS_OK) s = cr_image_decode(decoder, decoder->file, size, path, options, out);
    cr_decoder_destroy(temporary);
    return s;
}
