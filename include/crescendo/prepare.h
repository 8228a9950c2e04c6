/* crescendo/prepare.h — importers that turn a published dataset into what `train` reads, and a
 * generator of one: a folder of PNG or JPEG images and CSVs (class_name,image_path,target) with
 * paths relative to that folder.
 * Writing plain files once means the loader has one input format, and a user can look at the
 * images. */
#ifndef CRESCENDO_PREPARE_H
#define CRESCENDO_PREPARE_H

#include <stdint.h>

#include "crescendo/status.h"

/* Where Debian's dataset-fashion-mnist package puts the four IDX files. */
#define CR_FASHION_MNIST_DEFAULT_SRC "/usr/share/datasets/fashion-mnist"

/* The ten classes in target order, as Zalando publishes them. */
extern const char *const cr_fashion_mnist_classes[10];

typedef struct cr_fashion_mnist_options {
    const char *src; /* folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
                      * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each gzipped (.gz)
                      * or not; NULL: CR_FASHION_MNIST_DEFAULT_SRC */
    const char *out; /* the folder to write; created if missing, files in it are replaced */
    int threads;     /* PNG-writing threads; 0: one per core */
} cr_fashion_mnist_options;

typedef struct cr_prepare_result {
    int train_count; /* images written to out/train/ and listed in out/train.csv */
    int test_count;  /* the same for the held-out split: out/test/ and out/test.csv (Fashion-MNIST),
                      * out/val/ and out/val.csv (synthetic) */
    int num_classes;
} cr_prepare_result;

/* Writes out/train/NNNNN.png (60000 28x28 gray images), out/test/NNNNN.png (10000) and
 * out/train.csv, out/test.csv, with rows such as "Ankle boot,train/00000.png,9" in IDX order.
 * The IDX headers are checked (magic number, dimensions, image and label counts agree, labels
 * below 10, no truncation): a bad file fails with CR_STATUS_DATA naming it; a missing one with
 * CR_STATUS_IO. result may be NULL. */
cr_status cr_prepare_fashion_mnist(const cr_fashion_mnist_options *options,
                                   cr_prepare_result *result);

/* The synthetic set: images where the class can only be told apart at full (or half) resolution.
 *
 * Class k is shape k / 3 (disc, square, triangle, cross, ring) drawn over texture k % 3
 * (horizontal, vertical, checker), so there are at most 15 classes, named "disc-horizontal",
 * "square-checker" and so on. The shape is large and contrasted and survives any downscaling.
 * The texture is +-20 levels added to every pixel (shape and background alike, the same to R, G
 * and B) with the sign s(t) = + - - + repeating every 4 pixels from the image's top-left corner:
 * s(y) (horizontal), s(x) (vertical) or s(x) s(y) (checker). Over an 8-pixel JPEG block that is
 * the DCT basis function of frequency 4, so the texture lives only in coefficients (0,4), (4,0)
 * or (4,4) of each block, which libjpeg's reduced-size decoding (1/2, 1/4, 1/8) never reads, and
 * which averages to zero over every aligned pair of pixels. A loader that decodes these 256 px
 * JPEGs at 128 or 64 px therefore sees no texture at all: a model trained that small can tell
 * the shape only (about 1/3 accuracy), while full resolution shows everything.
 *
 * With texture period 8 the signs repeat as + + - - - - + + every 8 pixels instead: the signs of
 * the frequency-2 basis, whose coefficients (2 and 6) a 1/2 scale decode reads and a 1/4 or 1/8
 * one does not. The texture then shows from half size up (128 px of 256), and 64 px still sees
 * the shape only: a schedule 64 -> 128 -> 256 learns it at 128 and fine-tunes at 256. */

enum { CR_SYNTHETIC_SHAPES = 5, CR_SYNTHETIC_TEXTURES = 3 };
extern const char *const cr_synthetic_shapes[CR_SYNTHETIC_SHAPES];     /* "disc", ... "ring" */
extern const char *const cr_synthetic_textures[CR_SYNTHETIC_TEXTURES]; /* "horizontal", ... */

#define CR_SYNTHETIC_TEXTURE_LEVELS 20.0f /* the texture's amplitude */
#define CR_SYNTHETIC_NOISE_LEVELS 4.0f    /* the standard deviation of the per-pixel noise */

/* Everything that decides one image's pixels. */
typedef struct cr_synthetic_image {
    int shape;                /* index into cr_synthetic_shapes */
    int texture;              /* index into cr_synthetic_textures */
    uint8_t background[3];    /* RGB at the image's centre */
    float gradient[2];        /* levels the background gains from the left edge to the right one
                               * ([0]) and from the top to the bottom ([1]) */
    uint8_t foreground[3];    /* the shape's RGB */
    float center_x, center_y; /* the shape's centre, in pixels from the top-left corner */
    float radius;             /* half the side of the square the shape fills, in pixels */
    uint64_t noise_key;       /* the noise is a pure function of it: equal keys, equal noise */
    int texture_period;       /* 4 or 8 pixels; 0: 4 */
} cr_synthetic_image;

/* Draws image into rgb, (size, size, 3) bytes: the background with its gradient, the shape,
 * then the texture and the noise (about Gaussian, the sum of four uniform bytes) added to every
 * pixel, rounded and clamped. Fails with CR_STATUS_INVALID when the shape or texture is out of
 * range, the texture period is not 4 or 8, or size is not a multiple of 8 that is at least 64. */
cr_status cr_synthetic_render(const cr_synthetic_image *image, int size, uint8_t *rgb);

typedef struct cr_synthetic_options {
    const char *out;   /* the folder to write; created if missing, files in it are replaced */
    int classes;       /* 1..15: the first `classes` shape-texture pairs */
    int per_class;     /* training images per class, >= 1 */
    int val_per_class; /* validation images per class, >= 0 */
    int size;          /* the images' side in pixels: a multiple of 8, >= 64 */
    uint64_t seed;     /* with the split and the image's index, fixes every random choice */
    int quality;       /* JPEG quality, 1..100 */
    int texture_period; /* 4: the texture shows at full size only; 8: from half size; 0: 4 */
    int threads;       /* JPEG-writing threads; 0: one per core */
} cr_synthetic_options;

/* Writes out/train/NNNNN.jpg (classes x per_class images, class by class), out/val/NNNNN.jpg
 * (classes x val_per_class) and out/train.csv, out/val.csv, with rows such as
 * "square-vertical,train/00812.jpg,4". Each image has a random background colour and gradient,
 * a shape of random colour (lighter than the background by at least 40 levels of luminance:
 * one polarity, so that telling shapes apart needs no invariance to it), centre
 * and size (40% to 70% of the side, wholly inside), and is encoded as a 4:2:0 JPEG. The files
 * depend on the options only, not on the thread count: the same seed writes the same bytes.
 * Fails with CR_STATUS_INVALID on options out of range; result may be NULL. */
cr_status cr_prepare_synthetic(const cr_synthetic_options *options, cr_prepare_result *result);

#endif
