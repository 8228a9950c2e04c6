/* Unit tests of the decoders: every PNG colour type and depth (written here through libpng),
 * JPEGs of each kind (written here through TurboJPEG), DCT-scaled sizes, names that lie about the
 * format, a large photo and one at the pixel limit, and the errors a user meets: empty,
 * truncated, corrupt, unknown and oversized files, each naming the file.
 * Agreement with PIL on files PIL writes is checked by tests/unit/data/test_resize_pil.py. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "crescendo/image.h"
#include "testing.h"

typedef struct buffer {
    uint8_t *data;
    size_t size, capacity;
} buffer;

static void append(buffer *b, const void *data, size_t n) {
    if (b->size + n > b->capacity) {
        b->capacity = (b->size + n) * 2;
        b->data = realloc(b->data, b->capacity);
    }
    memcpy(b->data + b->size, data, n);
    b->size += n;
}

static void png_append(png_structp png, png_bytep data, size_t n) {
    append(png_get_io_ptr(png), data, n);
}

static void png_flush_nothing(png_structp png) {}

typedef struct png_spec {
    int width, height, bit_depth, color_type, interlace;
    const png_color *palette;
    int palette_size;
    const uint8_t *trns; /* palette alpha */
    int trns_size;
} png_spec;

/* A PNG in memory; rows are given in the file's own layout (packed bits, big-endian 16-bit). */
static buffer make_png(const png_spec *spec, const uint8_t *rows, size_t row_bytes) {
    buffer out = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        cr_test_fail(__FILE__, __LINE__, "libpng failed writing a test PNG");
        png_destroy_write_struct(&png, &info);
        return out;
    }
    png_set_write_fn(png, &out, png_append, png_flush_nothing);
    png_set_IHDR(png, info, (uint32_t)spec->width, (uint32_t)spec->height, spec->bit_depth,
                 spec->color_type, spec->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (spec->palette) png_set_PLTE(png, info, spec->palette, spec->palette_size);
    if (spec->trns) png_set_tRNS(png, info, spec->trns, spec->trns_size, NULL);
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < spec->height; y++) png_write_row(png, rows + (size_t)y * row_bytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return out;
}

#define SPEC(w_, h_, depth_, color_, interlace_)                                               \
    (&(png_spec){.width = (w_), .height = (h_), .bit_depth = (depth_), .color_type = (color_),     \
                 .interlace = (interlace_)})

static cr_decode_options opts(int channels) { return (cr_decode_options){.channels = channels}; }

static void decode_ok(const buffer *file, int channels, cr_image *img) {
    cr_decode_options o = opts(channels);
    CHECK_OK(cr_image_decode(NULL, file->data, file->size, "test.png", &o, img));
}

static void test_png_gray_and_rgb(void) {
    const uint8_t gray[6] = {0, 50, 100, 150, 200, 255};
    buffer f = make_png(SPEC(3, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), gray, 3);
    cr_image img = {0};
    decode_ok(&f, 1, &img);
    CHECK(img.width == 3 && img.height == 2 && img.channels == 1);
    CHECK(memcmp(img.pixels, gray, 6) == 0);
    decode_ok(&f, 3, &img); /* gray replicated */
    CHECK(img.channels == 3);
    for (int i = 0; i < 18; i++) CHECK(img.pixels[i] == gray[i / 3]);
    free(f.data);

    /* pure red, green, blue, white: PIL's convert("L") gives 76, 150, 29, 255 */
    const uint8_t rgb[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    f = make_png(SPEC(2, 2, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE), rgb, 6);
    decode_ok(&f, 3, &img);
    CHECK(memcmp(img.pixels, rgb, 12) == 0);
    decode_ok(&f, 1, &img);
    CHECK(img.pixels[0] == 76 && img.pixels[1] == 150 && img.pixels[2] == 29 &&
          img.pixels[3] == 255);
    CHECK(img.source_width == 2 && img.source_height == 2);
    free(f.data);
    cr_image_free(&img);
    CHECK(img.pixels == NULL && img.capacity == 0);
}

static void test_png_alpha_is_dropped(void) {
    const uint8_t rgba[8] = {10, 20, 30, 0, 40, 50, 60, 255};
    buffer f = make_png(SPEC(2, 1, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE), rgba, 8);
    cr_image img = {0};
    decode_ok(&f, 3, &img);
    CHECK(img.channels == 3 && memcmp(img.pixels, (uint8_t[]){10, 20, 30, 40, 50, 60}, 6) == 0);
    free(f.data);

    const uint8_t gray_alpha[4] = {77, 0, 200, 128};
    f = make_png(SPEC(2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE), gray_alpha, 4);
    decode_ok(&f, 1, &img);
    CHECK(img.channels == 1 && img.pixels[0] == 77 && img.pixels[1] == 200);
    decode_ok(&f, 3, &img);
    CHECK(memcmp(img.pixels, (uint8_t[]){77, 77, 77, 200, 200, 200}, 6) == 0);
    free(f.data);

    const png_color palette[3] = {{255, 0, 0}, {0, 128, 0}, {1, 2, 3}};
    const uint8_t trns[3] = {0, 128, 255}, indices[3] = {2, 0, 1};
    f = make_png(&(png_spec){.width = 3, .height = 1, .bit_depth = 8,
                             .color_type = PNG_COLOR_TYPE_PALETTE, .palette = palette,
                             .palette_size = 3, .trns = trns, .trns_size = 3},
                 indices, 3);
    decode_ok(&f, 3, &img);
    CHECK(img.channels == 3 &&
          memcmp(img.pixels, (uint8_t[]){1, 2, 3, 255, 0, 0, 0, 128, 0}, 9) == 0);
    free(f.data);
    cr_image_free(&img);
}

static void test_png_depths(void) {
    /* 16-bit RGB, big-endian: the high byte is kept */
    const uint8_t rgb16[6] = {0xab, 0xcd, 0x00, 0xff, 0xff, 0x00};
    buffer f = make_png(SPEC(1, 1, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE), rgb16, 6);
    cr_image img = {0};
    decode_ok(&f, 3, &img);
    CHECK(img.pixels[0] == 0xab && img.pixels[1] == 0x00 && img.pixels[2] == 0xff);
    free(f.data);

    const uint8_t gray16[4] = {0x12, 0x34, 0xfe, 0xdc};
    f = make_png(SPEC(2, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), gray16, 4);
    decode_ok(&f, 1, &img);
    CHECK(img.pixels[0] == 0x12 && img.pixels[1] == 0xfe);
    free(f.data);

    /* low-depth gray is scaled to the full range: 1-bit to 0/255, 2-bit by 85, 4-bit by 17 */
    const uint8_t bits1[1] = {0xa0}; /* 1 0 1 0 */
    f = make_png(SPEC(4, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), bits1, 1);
    decode_ok(&f, 1, &img);
    CHECK(memcmp(img.pixels, (uint8_t[]){255, 0, 255, 0}, 4) == 0);
    free(f.data);
    const uint8_t bits2[1] = {0x1b}; /* 0 1 2 3 */
    f = make_png(SPEC(4, 1, 2, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), bits2, 1);
    decode_ok(&f, 1, &img);
    CHECK(memcmp(img.pixels, (uint8_t[]){0, 85, 170, 255}, 4) == 0);
    free(f.data);
    const uint8_t bits4[1] = {0x3c}; /* 3 12 */
    f = make_png(SPEC(2, 1, 4, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), bits4, 1);
    decode_ok(&f, 1, &img);
    CHECK(img.pixels[0] == 51 && img.pixels[1] == 204);
    free(f.data);
    cr_image_free(&img);
}

static void test_png_interlaced_and_tiny(void) {
    enum { W = 11, H = 9 };
    uint8_t rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 7 + 3);
    buffer f = make_png(SPEC(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7), rgb, W * 3);
    cr_image img = {0};
    decode_ok(&f, 3, &img);
    CHECK(img.width == W && img.height == H && memcmp(img.pixels, rgb, sizeof rgb) == 0);
    free(f.data);

    const uint8_t one[3] = {9, 8, 7};
    f = make_png(SPEC(1, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE), one, 3);
    decode_ok(&f, 3, &img);
    CHECK(img.width == 1 && img.height == 1 && memcmp(img.pixels, one, 3) == 0);
    free(f.data);
    cr_image_free(&img);
}

/* A JPEG of a smooth colour ramp (w, h), from TurboJPEG. */
static buffer make_jpeg(int w, int h, int format, int subsampling, int quality, int flags,
                        uint8_t **pixels_out) {
    int bpp = tjPixelSize[format];
    uint8_t *pixels = malloc((size_t)w * h * bpp);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bpp; c++)
                pixels[((size_t)y * w + x) * bpp + c] =
                    (uint8_t)(c == 0 ? x * 255 / (w > 1 ? w - 1 : 1)
                              : c == 1 ? y * 255 / (h > 1 ? h - 1 : 1)
                                       : 60 + 40 * c);
    tjhandle tj = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    if (tjCompress2(tj, pixels, w, 0, h, format, &jpeg, &size, subsampling, quality, flags) != 0)
        cr_test_fail(__FILE__, __LINE__, "tjCompress2: %s", tjGetErrorStr2(tj));
    buffer out = {0};
    append(&out, jpeg, size);
    tjFree(jpeg);
    tjDestroy(tj);
    if (pixels_out)
        *pixels_out = pixels;
    else
        free(pixels);
    return out;
}

static int max_difference(const uint8_t *a, const uint8_t *b, size_t n) {
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

static void test_jpeg_kinds(void) {
    uint8_t *original;
    buffer f = make_jpeg(64, 48, TJPF_RGB, TJSAMP_444, 100, 0, &original);
    cr_image base = {0}, img = {0};
    cr_decode_options o = opts(3);
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "ramp.jpg", &o, &base));
    CHECK(base.width == 64 && base.height == 48 && base.channels == 3);
    CHECK(max_difference(base.pixels, original, 64 * 48 * 3) <= 4);
    free(original);
    free(f.data);

    /* progressive stores the same quantized coefficients: the same pixels come out */
    f = make_jpeg(64, 48, TJPF_RGB, TJSAMP_444, 100, TJFLAG_PROGRESSIVE, NULL);
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "progressive.jpg", &o, &img));
    CHECK(img.width == 64 && memcmp(img.pixels, base.pixels, 64 * 48 * 3) == 0);
    free(f.data);

    f = make_jpeg(40, 30, TJPF_GRAY, TJSAMP_GRAY, 95, 0, &original);
    o.channels = 1;
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "gray.jpg", &o, &img));
    CHECK(img.channels == 1 && max_difference(img.pixels, original, 40 * 30) <= 3);
    o.channels = 3;
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "gray.jpg", &o, &img));
    int replicated = 1;
    for (int i = 0; i < 40 * 30; i++)
        replicated &= img.pixels[3 * i] == img.pixels[3 * i + 1] &&
                      img.pixels[3 * i] == img.pixels[3 * i + 2];
    CHECK(img.channels == 3 && replicated);
    free(original);
    free(f.data);

    /* CMYK, stored inverted: R = (255 - C)(255 - K) / 255 with C = 255 - stored */
    uint8_t *cmyk;
    f = make_jpeg(16, 16, TJPF_CMYK, TJSAMP_444, 100, 0, &cmyk);
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "cmyk.jpg", &o, &img));
    CHECK(img.channels == 3 && img.width == 16);
    int worst = 0;
    for (int i = 0; i < 16 * 16; i++)
        for (int c = 0; c < 3; c++) {
            int want = cmyk[4 * i + c] * cmyk[4 * i + 3] / 255;
            int d = abs(img.pixels[3 * i + c] - want);
            if (d > worst) worst = d;
        }
    CHECK(worst <= 6);
    free(cmyk);
    free(f.data);

    f = make_jpeg(1, 1, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "one.jpg", &o, &img));
    CHECK(img.width == 1 && img.height == 1);
    free(f.data);
    cr_image_free(&img);
    cr_image_free(&base);
}

static void test_jpeg_dct_scaling(void) {
    buffer f = make_jpeg(500, 375, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    static const struct {
        int min_w, min_h, want_w, want_h;
    } cases[] = {
        {0, 0, 500, 375},     {64, 64, 125, 94},   {128, 128, 250, 188}, {125, 94, 250, 188},
        {125, 93, 125, 94},   {256, 256, 500, 375}, {512, 512, 500, 375}, {600, 10, 500, 375},
        {10, 0, 63, 47},      {1, 1, 63, 47},
    };
    cr_image img = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_decode_options o = {.channels = 3, .min_width = cases[i].min_w,
                               .min_height = cases[i].min_h};
        CHECK_OK(cr_image_decode(NULL, f.data, f.size, "big.jpg", &o, &img));
        if (img.width != cases[i].want_w || img.height != cases[i].want_h)
            cr_test_fail(__FILE__, __LINE__, "min %dx%d decoded to %dx%d, expected %dx%d",
                         cases[i].min_w, cases[i].min_h, img.width, img.height, cases[i].want_w,
                         cases[i].want_h);
        CHECK(img.source_width == 500 && img.source_height == 375);
    }
    free(f.data);
    cr_image_free(&img);
}

static void test_buffers_are_reused(void) {
    buffer big = make_jpeg(64, 48, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    buffer small = make_jpeg(8, 8, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    cr_decoder *decoder;
    CHECK_OK(cr_decoder_create(&decoder));
    cr_image img = {0};
    cr_decode_options o = opts(3);
    CHECK_OK(cr_image_decode(decoder, big.data, big.size, "big.jpg", &o, &img));
    uint8_t *pixels = img.pixels;
    size_t capacity = img.capacity;
    CHECK_OK(cr_image_decode(decoder, small.data, small.size, "small.jpg", &o, &img));
    CHECK(img.pixels == pixels && img.capacity == capacity && img.width == 8);
    cr_decoder_destroy(decoder);
    cr_image_free(&img);
    free(big.data);
    free(small.data);
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1u));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void append_chunk(buffer *b, const char *type, const uint8_t *data, uint32_t n) {
    uint8_t head[8], crc[4];
    put_be32(head, n);
    memcpy(head + 4, type, 4);
    append(b, head, 8);
    size_t start = b->size - 4;
    if (n) append(b, data, n);
    put_be32(crc, crc32_of(b->data + start, n + 4));
    append(b, crc, 4);
}

static void test_errors_name_the_file(void) {
    cr_image img = {0};
    cr_decode_options o = opts(3);
    CHECK_FAILS(cr_image_decode(NULL, (const uint8_t *)"", 0, "empty.png", &o, &img),
                CR_STATUS_DATA, "empty.png: empty file");
    CHECK_FAILS(cr_image_decode(NULL, (const uint8_t *)"GIF89a\x01\x00\x01\x00", 10, "a.gif", &o,
                                &img),
                CR_STATUS_DATA, "a.gif: not a PNG or JPEG file (a GIF image; first bytes 47 49 46");
    CHECK_FAILS(cr_image_decode(NULL, (const uint8_t *)"hi", 2, "note.txt", &o, &img),
                CR_STATUS_DATA, "unknown format; first bytes 68 69)");
    o.channels = 2;
    CHECK_FAILS(cr_image_decode(NULL, (const uint8_t *)"hi", 2, "x.png", &o, &img),
                CR_STATUS_INVALID, "channels must be 1 or 3");
    o.channels = 3;

    uint8_t rgb[32 * 32 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 131 % 251);
    buffer png = make_png(SPEC(32, 32, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE), rgb, 96);
    CHECK_FAILS(cr_image_decode(NULL, png.data, png.size / 2, "half.png", &o, &img),
                CR_STATUS_DATA, "half.png: truncated PNG");
    CHECK_FAILS(cr_image_decode(NULL, png.data, png.size - 12, "no-end.png", &o, &img),
                CR_STATUS_DATA, "no-end.png: truncated PNG");
    CHECK_FAILS(cr_image_decode(NULL, png.data, 5, "five.png", &o, &img), CR_STATUS_DATA,
                "five.png: truncated PNG");
    png.data[png.size - 20] ^= 0x55; /* inside the IDAT data: its CRC no longer matches */
    CHECK_FAILS(cr_image_decode(NULL, png.data, png.size, "flipped.png", &o, &img), CR_STATUS_DATA,
                "flipped.png: corrupt PNG");
    o.max_pixels = 1000;
    png.data[png.size - 20] ^= 0x55;
    CHECK_FAILS(cr_image_decode(NULL, png.data, png.size, "big.png", &o, &img), CR_STATUS_DATA,
                "big.png: 32x32 PNG is 1024 pixels, over the limit of 1000");
    o.max_pixels = 0;
    free(png.data);

    /* a header claiming 60000x60000 is refused before any pixel memory is asked for */
    buffer bomb = {0};
    append(&bomb, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0};
    put_be32(ihdr, 60000);
    put_be32(ihdr + 4, 60000);
    append_chunk(&bomb, "IHDR", ihdr, 13);
    append_chunk(&bomb, "IDAT", NULL, 0);
    append_chunk(&bomb, "IEND", NULL, 0);
    CHECK_FAILS(cr_image_decode(NULL, bomb.data, bomb.size, "bomb.png", &o, &img), CR_STATUS_DATA,
                "bomb.png: 60000x60000 PNG is 3600000000 pixels, over the limit of 178956970");
    free(bomb.data);

    buffer jpeg = make_jpeg(64, 48, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    CHECK_FAILS(cr_image_decode(NULL, jpeg.data, jpeg.size * 6 / 10, "cut.jpg", &o, &img),
                CR_STATUS_DATA, "cut.jpg: corrupt or truncated JPEG: Premature end");
    CHECK_FAILS(cr_image_decode(NULL, jpeg.data, 40, "head.jpg", &o, &img), CR_STATUS_DATA,
                "head.jpg: corrupt or truncated JPEG header");
    o.max_pixels = 64 * 48 - 1;
    CHECK_FAILS(cr_image_decode(NULL, jpeg.data, jpeg.size, "big.jpg", &o, &img), CR_STATUS_DATA,
                "big.jpg: 64x48 JPEG is 3072 pixels, over the limit of 3071");
    free(jpeg.data);
    cr_image_free(&img);
}

/* Bytes between two markers only draw a warning from libjpeg; the image is whole, so it loads,
 * as it does in PIL. */
static void test_jpeg_padding_between_markers_is_accepted(void) {
    buffer jpeg = make_jpeg(96, 96, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    size_t app0_end = 4 + ((size_t)jpeg.data[4] << 8 | jpeg.data[5]); /* SOI, then APP0 */
    CHECK(jpeg.data[2] == 0xff && jpeg.data[3] == 0xe0 && jpeg.data[app0_end] == 0xff);
    buffer padded = {0};
    append(&padded, jpeg.data, app0_end);
    append(&padded, "\x12\x34", 2);
    append(&padded, jpeg.data + app0_end, jpeg.size - app0_end);
    cr_image a = {0}, b = {0};
    cr_decode_options o = opts(3);
    CHECK_OK(cr_image_decode(NULL, jpeg.data, jpeg.size, "plain.jpg", &o, &a));
    CHECK_OK(cr_image_decode(NULL, padded.data, padded.size, "padded.jpg", &o, &b));
    CHECK(a.width == b.width && memcmp(a.pixels, b.pixels, (size_t)a.width * a.height * 3) == 0);
    /* libjpeg reports only its first warning: the padding must not hide a truncation after it */
    CHECK_FAILS(cr_image_decode(NULL, padded.data, padded.size * 8 / 10, "padded-cut.jpg", &o, &b),
                CR_STATUS_DATA, "padded-cut.jpg: truncated JPEG");
    cr_image_free(&a);
    cr_image_free(&b);
    free(jpeg.data);
    free(padded.data);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);
}

/* The format is told by the first bytes, never by the name: a PNG called .jpg and a JPEG called
 * .png load, and text called .png fails saying what its bytes are. */
static void test_wrong_extension(void) {
    char dir[] = "/tmp/crescendo-test-extension-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char png_path[128], jpeg_path[128], text_path[128];
    snprintf(png_path, sizeof png_path, "%s/photo.jpg", dir);
    snprintf(jpeg_path, sizeof jpeg_path, "%s/scan.png", dir);
    snprintf(text_path, sizeof text_path, "%s/image.png", dir);
    uint8_t gray[4 * 3];
    for (int i = 0; i < 12; i++) gray[i] = (uint8_t)(20 * i);
    buffer png = make_png(SPEC(4, 3, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE), gray, 4);
    buffer jpeg = make_jpeg(24, 16, TJPF_RGB, TJSAMP_420, 90, 0, NULL);
    write_file(png_path, png.data, png.size);
    write_file(jpeg_path, jpeg.data, jpeg.size);
    write_file(text_path, "label,path\n", 11);

    cr_image img = {0};
    cr_decode_options o = opts(1);
    CHECK_OK(cr_image_read(NULL, png_path, &o, &img));
    CHECK(img.width == 4 && img.height == 3 && memcmp(img.pixels, gray, 12) == 0);
    o.channels = 3;
    CHECK_OK(cr_image_read(NULL, jpeg_path, &o, &img));
    CHECK(img.width == 24 && img.height == 16 && img.channels == 3);
    CHECK_FAILS(cr_image_read(NULL, text_path, &o, &img), CR_STATUS_DATA,
                "image.png: not a PNG or JPEG file (unknown format; first bytes 6c 61 62 65");
    cr_image_free(&img);
    free(png.data);
    free(jpeg.data);
    unlink(png_path);
    unlink(jpeg_path);
    unlink(text_path);
    rmdir(dir);
}

/* A large photo under the default limit decodes whole, and the limit itself is allowed: only
 * more pixels than max_pixels fail. */
static void test_large_allowed_images(void) {
    uint8_t *original;
    buffer f = make_jpeg(4000, 3000, TJPF_RGB, TJSAMP_444, 95, 0, &original);
    cr_image img = {0};
    cr_decode_options o = opts(3);
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "large.jpg", &o, &img));
    CHECK(img.width == 4000 && img.height == 3000);
    CHECK(max_difference(img.pixels, original, (size_t)4000 * 3000 * 3) <= 4);
    o.max_pixels = 4000 * 3000;
    CHECK_OK(cr_image_decode(NULL, f.data, f.size, "large.jpg", &o, &img));
    o.max_pixels = 4000 * 3000 - 1;
    CHECK_FAILS(cr_image_decode(NULL, f.data, f.size, "large.jpg", &o, &img), CR_STATUS_DATA,
                "large.jpg: 4000x3000 JPEG is 12000000 pixels, over the limit of 11999999");
    free(original);
    free(f.data);

    uint8_t rgb[40 * 25 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 7);
    buffer png = make_png(SPEC(40, 25, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE), rgb, 120);
    o.max_pixels = 40 * 25;
    CHECK_OK(cr_image_decode(NULL, png.data, png.size, "limit.png", &o, &img));
    CHECK(img.width == 40 && memcmp(img.pixels, rgb, sizeof rgb) == 0);
    free(png.data);
    cr_image_free(&img);
}

static void test_files(void) {
    char dir[] = "/tmp/crescendo-test-decode-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/out.png", dir);

    uint8_t rgb[5 * 3 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37);
    cr_image img = {.width = 5, .height = 3, .channels = 3, .pixels = rgb};
    CHECK_OK(cr_image_write_png(path, &img));
    cr_image back = {0};
    cr_decode_options o = opts(3);
    CHECK_OK(cr_image_read(NULL, path, &o, &back));
    CHECK(back.width == 5 && back.height == 3 && memcmp(back.pixels, rgb, sizeof rgb) == 0);

    img.channels = 1;
    img.width = 15;
    CHECK_OK(cr_image_write_png(path, &img));
    o.channels = 1;
    CHECK_OK(cr_image_read(NULL, path, &o, &back));
    CHECK(back.width == 15 && back.channels == 1 && memcmp(back.pixels, rgb, 45) == 0);

    img.channels = 2;
    CHECK_FAILS(cr_image_write_png(path, &img), CR_STATUS_INVALID, "2 channels");
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.jpg", dir);
    CHECK_FAILS(cr_image_read(NULL, missing, &o, &back), CR_STATUS_IO, "missing.jpg: cannot open");
    CHECK_FAILS(cr_image_read(NULL, dir, &o, &back), CR_STATUS_IO, "not a regular file");
    snprintf(missing, sizeof missing, "%s/no/such/dir.png", dir);
    CHECK_FAILS(cr_image_write_png(missing, &img), CR_STATUS_INVALID, "dir.png");
    img.channels = 3;
    img.width = 5;
    CHECK_FAILS(cr_image_write_png(missing, &img), CR_STATUS_IO, "dir.png: cannot create");

    /* the same PNG in memory: the file's bytes, decoding to the same pixels */
    CHECK_OK(cr_image_write_png(path, &img));
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_OK(cr_image_encode_png(&img, &bytes, &size));
    FILE *f = fopen(path, "rb");
    uint8_t file_bytes[1024];
    size_t file_size = f ? fread(file_bytes, 1, sizeof file_bytes, f) : 0;
    if (f) fclose(f);
    CHECK(size > 8 && size == file_size && bytes && memcmp(bytes, file_bytes, size) == 0);
    o.channels = 3;
    if (bytes) CHECK_OK(cr_image_decode(NULL, bytes, size, "memory.png", &o, &back));
    CHECK(back.width == 5 && back.height == 3 && memcmp(back.pixels, rgb, sizeof rgb) == 0);
    free(bytes);
    img.channels = 2;
    CHECK_FAILS(cr_image_encode_png(&img, &bytes, &size), CR_STATUS_INVALID, "2 channels");
    CHECK(bytes == NULL && size == 0);

    cr_image_free(&back);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_png_gray_and_rgb();
    test_png_alpha_is_dropped();
    test_png_depths();
    test_png_interlaced_and_tiny();
    test_jpeg_kinds();
    test_jpeg_dct_scaling();
    test_buffers_are_reused();
    test_errors_name_the_file();
    test_jpeg_padding_between_markers_is_accepted();
    test_wrong_extension();
    test_large_allowed_images();
    test_files();
    return cr_test_summary("decode");
}
