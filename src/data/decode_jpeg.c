/* JPEG through TurboJPEG: baseline, progressive, gray and CMYK, decoded at the smallest DCT scale
 * that still covers the size the caller needs, which skips most of the work for small targets. */
#include <stdbool.h>
#include <string.h>
#include <turbojpeg.h>

#include "data/decode.h"

void cr_jpeg_release(void *handle) {
    if (handle) tjDestroy(handle);
}

/* The largest reduction 1/d among 1/8, 1/4 and 1/2 with width >= d * min_width and
 * height >= d * min_height, else full size: the rule of PIL's Image.draft(), so that the pixels
 * equal what a PIL pipeline using draft() decodes. libjpeg-turbo also offers 3/8, 5/8, 3/4 and
 * 7/8, but has SIMD code only for these three: on 500x375 photos 3/8 decodes 15% slower than 1/2,
 * and 3/4 half as fast as full size, so the in-between scales would cost more than the smaller
 * resize they save. */
static tjscalingfactor pick_scale(int width, int height, const cr_decode_options *options) {
    if (options->min_width <= 0 && options->min_height <= 0) return (tjscalingfactor){1, 1};
    for (int denom = 8; denom > 1; denom /= 2) {
        if ((int64_t)width >= (int64_t)denom * options->min_width &&
            (int64_t)height >= (int64_t)denom * options->min_height)
            return (tjscalingfactor){1, denom};
    }
    return (tjscalingfactor){1, 1};
}

/* Whether the last call failed only with a warning that leaves every pixel decoded: some
 * encoders pad between markers, and PIL reads such files without complaint. Every other warning
 * (premature end of file, corrupt data segment) means gray or garbage pixels, and is an error. */
static bool harmless(tjhandle tj) {
    return tjGetErrorCode(tj) == TJERR_WARNING &&
           strstr(tjGetErrorStr2(tj), "extraneous bytes before marker") != NULL;
}

/* libjpeg reports only the first warning of a decode, so a harmless one can hide a truncation
 * that follows. A whole file has an end-of-image marker after its last start-of-scan; entropy
 * data cannot contain either (0xff is stuffed), so the later of the two tells. */
static bool ends_after_last_scan(const uint8_t *bytes, size_t size) {
    for (size_t i = size - 1; i > 0; i--)
        if (bytes[i - 1] == 0xff && (bytes[i] == 0xd9 || bytes[i] == 0xda)) return bytes[i] == 0xd9;
    return false;
}

/* In place, front to back: Adobe-inverted CMYK (as stored by Photoshop and by PIL) to RGB with
 * PIL's cmyk2rgb arithmetic, so the pixels equal Image.convert("RGB"). */
static void cmyk_to_rgb(uint8_t *pixels, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int not_k = pixels[4 * i + 3]; /* stored inverted: 255 - K */
        for (int c = 0; c < 3; c++) {
            int ink = 255 - pixels[4 * i + c];
            int t = ink * not_k + 128;
            pixels[3 * i + c] = (uint8_t)(not_k - (((t >> 8) + t) >> 8));
        }
    }
}

cr_status cr_jpeg_decode(cr_decoder *decoder, const uint8_t *bytes, size_t size, const char *name,
                         const cr_decode_options *options, cr_image *out) {
    if (!decoder->jpeg && !(decoder->jpeg = tjInitDecompress()))
        return cr_fail(CR_STATUS_NOMEM, "%s: cannot start TurboJPEG: %s", name,
                       tjGetErrorStr2(NULL));
    tjhandle tj = decoder->jpeg;
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, bytes, (unsigned long)size, &width, &height, &subsampling,
                            &colorspace) != 0 &&
        !harmless(tj))
        return cr_fail(CR_STATUS_DATA, "%s: corrupt or truncated JPEG header: %s", name,
                       tjGetErrorStr2(tj));
    /* libjpeg stops quietly at the end of data before any frame header */
    if (width <= 0 || height <= 0)
        return cr_fail(CR_STATUS_DATA, "%s: corrupt or truncated JPEG header: no frame size "
                       "in %zu bytes", name, size);
    CR_TRY(cr_image_check_size(name, "JPEG", (uint64_t)width, (uint64_t)height, options));

    cr_decode_options planned = *options;
    if (planned.plan) {
        planned.plan(planned.plan_context, width, height, &planned.min_width,
                     &planned.min_height);
        if (planned.min_width < 0 || planned.min_height < 0)
            return cr_fail(CR_STATUS_INVALID, "%s: negative minimum decode size %dx%d", name,
                           planned.min_width, planned.min_height);
    }
    tjscalingfactor scale = pick_scale(width, height, &planned);
    int scaled_width = TJSCALED(width, scale), scaled_height = TJSCALED(height, scale);
    bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    int format = cmyk ? TJPF_CMYK
                 : options->channels == 1 && colorspace == TJCS_GRAY ? TJPF_GRAY
                                                                     : TJPF_RGB;
    int stored = tjPixelSize[format];
    CR_TRY(cr_image_reserve(out, name, scaled_width, scaled_height, stored, options->channels));
    if (tjDecompress2(tj, bytes, (unsigned long)size, out->pixels, scaled_width, 0, scaled_height,
                      format, 0) != 0) {
        if (!harmless(tj))
            return cr_fail(CR_STATUS_DATA, "%s: corrupt or truncated JPEG: %s", name,
                           tjGetErrorStr2(tj));
        if (!ends_after_last_scan(bytes, size))
            return cr_fail(CR_STATUS_DATA, "%s: truncated JPEG: no end-of-image marker after "
                           "the last scan", name);
    }

    size_t count = (size_t)scaled_width * (size_t)scaled_height;
    if (cmyk) cmyk_to_rgb(out->pixels, count);
    if (format != TJPF_GRAY && options->channels == 1) cr_image_rgb_to_gray(out->pixels, count);
    out->source_width = width;
    out->source_height = height;
    return CR_STATUS_OK;
}
