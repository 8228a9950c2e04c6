/* crescendo/transform.h — from a decoded image to the floats of one batch slot, in one pass.
 *
 * The resize is PIL's Image.resize((w, h), BILINEAR) with reducing_gap=None, which is what
 * torchvision's Resize((h, w)) does to a PIL image: an antialiased triangle filter whose support
 * grows with the reduction factor, a horizontal pass then a vertical pass, each in PIL's 22-bit
 * fixed point and rounded to 8 bits, so the 8-bit result is PIL's, bit for bit. A crop is taken
 * first, as torchvision's resized_crop crops then resizes. The flip, ToTensor's /255 and
 * Normalize's (x - mean) / std follow, computed in float32 as torchvision computes them.
 *
 * Nothing is allocated: the caller gives scratch memory sized by cr_transform_scratch_bytes for
 * the largest source it will pass. */
#ifndef CRESCENDO_TRANSFORM_H
#define CRESCENDO_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crescendo/image.h"
#include "crescendo/status.h"

/* A rectangle of the source image, in its pixels (not the file's, if it was DCT-scaled). */
typedef struct cr_crop {
    int x, y, width, height;
} cr_crop;

typedef struct cr_transform {
    int out_width, out_height; /* >= 1 */
    int channels;              /* 1 or 3; the source must have as many */
    float mean[3], std[3];     /* per channel, on the [0, 1] scale, as torchvision's Normalize */
} cr_transform;

/* Scratch bytes cr_transform_apply needs for any source (or crop) up to this size. */
size_t cr_transform_scratch_bytes(const cr_transform *t, int max_src_width, int max_src_height);

/* Crops src to *crop (NULL: the whole image), resizes to (out_height, out_width), mirrors left to
 * right when flip is set, and writes ((v / 255) - mean) / std for every sample to
 * out (out_height, out_width, channels), channels-last as the backends take it.
 * Fails with CR_STATUS_INVALID when the crop leaves the image, the channels differ, or
 * scratch_bytes is below cr_transform_scratch_bytes for this source. */
cr_status cr_transform_apply(const cr_transform *t, const cr_image *src, const cr_crop *crop,
                             bool flip, void *scratch, size_t scratch_bytes, float *out);

/* The steps of cr_transform_apply after the resize, for an image already at the output size
 * (the loader keeps resized images between epochs): src (out_height, out_width, channels),
 * mirrored when flip is set, becomes ((v / 255) - mean) / std in out as above. Equal, bit for bit,
 * to cr_transform_apply on the image src was resized from. Fails with CR_STATUS_INVALID on a
 * transform out of range. */
cr_status cr_transform_finish(const cr_transform *t, const uint8_t *src, bool flip, float *out);

/* The 8-bit resize alone, for tests and for tools that write images. src is
 * (src_height, src_width, channels) with rows src_stride bytes apart; dst is
 * (dst_height, dst_width, channels) packed. channels is 1 to 4. */
size_t cr_resize_scratch_bytes(int src_width, int src_height, int dst_width, int dst_height,
                               int channels);
cr_status cr_resize_u8(const uint8_t *src, int src_width, int src_height, size_t src_stride,
                       int channels, uint8_t *dst, int dst_width, int dst_height, void *scratch,
                       size_t scratch_bytes);

#endif
