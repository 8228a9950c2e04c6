/* decode.h — what the format decoders (decode_png.c, decode_jpeg.c) share with the dispatcher.
 * Private to src/data: the public contract is crescendo/image.h. */
#ifndef CR_DATA_DECODE_H
#define CR_DATA_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "crescendo/image.h"

/* One per thread: the buffers grow to the largest image seen and are then reused. */
struct cr_decoder {
    void *jpeg;          /* tjhandle, made on the first JPEG */
    void *file;          /* (file_capacity) bytes: the last file read by cr_image_read */
    size_t file_capacity;
    uint8_t **rows;      /* (rows_capacity) row pointers for libpng */
    size_t rows_capacity;
};

/* Fails with CR_STATUS_DATA when width x height is over the options' pixel limit. */
cr_status cr_image_check_size(const char *name, const char *format, uint64_t width,
                              uint64_t height, const cr_decode_options *options);

/* Makes room for (height, width, stored_channels) bytes and sets the image's size to
 * (height, width, channels): a decoder may need more bytes per pixel (CMYK) than it hands out. */
cr_status cr_image_reserve(cr_image *image, const char *name, int width, int height,
                           int stored_channels, int channels);

/* In place, row-major, front to back: RGB -> gray with PIL's ITU-R 601-2 luma. */
void cr_image_rgb_to_gray(uint8_t *pixels, size_t count);

/* The decoders. The dispatcher has checked the signature and the options. */
cr_status cr_png_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                        const cr_decode_options *options, cr_image *out);
cr_status cr_jpeg_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                         const cr_decode_options *options, cr_image *out);
/* Destroys a decoder's TurboJPEG handle (NULL is fine). */
void cr_jpeg_release(void *handle);

#endif
