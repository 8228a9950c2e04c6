/* crescendo/image.h — decoding PNG and JPEG files into 8-bit pixels, and writing PNGs.
 *
 * The format is told by the first bytes, never by the file name. Pixels come out as PIL's
 * Image.open(path).convert("RGB") or .convert("L") would give them, so that a model trained here
 * sees what a torchvision pipeline would have seen:
 *   - alpha is dropped, not composited (RGBA, gray+alpha, palette with tRNS), as convert("RGB");
 *   - gray is replicated to RGB; RGB becomes gray with ITU-R 601-2 luma in PIL's fixed point,
 *     L = (19595 R + 38470 G + 7471 B + 32768) >> 16;
 *   - 16-bit samples keep their high byte (v >> 8); 1, 2 and 4-bit gray are scaled to 0..255;
 *   - CMYK JPEGs are read as Adobe-inverted (as Photoshop and PIL write them) and converted as PIL
 *     does: R = (255 - K) - (255 - K) C / 255, rounded;
 *   - colour profiles and gamma are ignored, as PIL ignores them.
 * A JPEG may be decoded at a reduced DCT scale (1/8, 1/4 or 1/2) when the caller only needs a
 * smaller image: see cr_decode_options.min_width, and cr_decode_options.plan to choose that size
 * from the file's.
 *
 * Decoding allocates nothing per image once warm: a cr_decoder keeps the TurboJPEG handle and the
 * file buffer, and a cr_image keeps its pixel buffer between calls when it is large enough. */
#ifndef CRESCENDO_IMAGE_H
#define CRESCENDO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "crescendo/status.h"

/* PIL's Image.MAX_IMAGE_PIXELS: larger images are refused as possible decompression bombs. */
#define CR_IMAGE_DEFAULT_MAX_PIXELS 178956970ull

typedef struct cr_image {
    int width, height, channels;
    uint8_t *pixels;     /* (height, width, channels), rows packed; owned */
    size_t capacity;     /* bytes allocated at pixels; reused by the next decode into this image */
    int source_width;    /* the size stored in the file, before any DCT scaling: a crop chosen */
    int source_height;   /* in file coordinates maps to pixels by width / source_width */
} cr_image;

/* Called once a header has given the size stored in the file, before any pixel is decoded: the
 * caller can choose what part of the image it needs (a random crop) and set the minimum decode
 * size for it in *min_width and *min_height (they start at the options' values). */
typedef void (*cr_decode_plan)(void *context, int width, int height, int *min_width,
                               int *min_height);

typedef struct cr_decode_options {
    int channels;        /* 1 (gray) or 3 (RGB) */
    int min_width;       /* JPEG only: decode at the smallest DCT scale 1/d (1/8, 1/4, 1/2, 1) */
    int min_height;      /* with width / d and height / d >= these, as PIL's draft(); 0, 0: full */
    uint64_t max_pixels; /* width * height above this is an error; 0: CR_IMAGE_DEFAULT_MAX_PIXELS */
    cr_decode_plan plan; /* NULL, or called with plan_context for PNG and JPEG alike, after the */
    void *plan_context;  /* size check; the minimum size it sets is checked as the options' */
} cr_decode_options;

/* Reusable decoding state: one per thread (it is not shared-safe). */
typedef struct cr_decoder cr_decoder;

cr_status cr_decoder_create(cr_decoder **out);
void cr_decoder_destroy(cr_decoder *decoder);

/* Decodes an in-memory PNG or JPEG into *out. `name` (a path) starts every error message.
 * `decoder` may be NULL (a temporary one is made). *out must be zero-initialized or hold an
 * earlier image, whose buffer is reused or grown. Fails with CR_STATUS_DATA on an empty,
 * truncated, corrupt or unknown file (the message names the first bytes) and on a file over
 * max_pixels (checked from the header, before decoding); CR_STATUS_INVALID on bad options.
 * On failure *out keeps its buffer but its size is unspecified. */
cr_status cr_image_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                          const cr_decode_options *options, cr_image *out);

/* Reads the file at path (CR_STATUS_IO if it cannot) and decodes it as cr_image_decode. */
cr_status cr_image_read(cr_decoder *decoder, const char *path, const cr_decode_options *options,
                        cr_image *out);

/* Frees the pixel buffer and zeroes the struct. */
void cr_image_free(cr_image *image);

/* Writes an 8-bit gray (1 channel) or RGB (3 channel) PNG. */
cr_status cr_image_write_png(const char *path, const cr_image *image);
/* The same PNG in memory: *bytes (*size of them) is malloc'ed, for the caller to free. */
cr_status cr_image_encode_png(const cr_image *image, uint8_t **bytes, size_t *size);

#endif
