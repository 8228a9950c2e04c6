/* crescendo/loader.h — batches of decoded, resized, augmented images, prepared ahead of the trainer.
 *
 * A loader owns a pool of worker threads and a ring of batch buffers. Each epoch is started with
 * its own resolution and batch size (progressive resizing changes them between epochs); then
 * cr_loader_next() hands out batches in order until CR_STATUS_END. Workers fill the next batches
 * while the trainer works on the current one, sample by sample, so that every worker helps with
 * the oldest unfinished batch first.
 *
 * Determinism: the order of an epoch is a permutation that depends only on (seed, epoch), and a
 * sample's random choices (flip, crop) only on (seed, epoch, its dataset index). A batch is
 * therefore the same whatever the number of workers and however the threads are scheduled.
 *
 * All functions are called from one thread, the consumer. Buffers are only allocated when an
 * epoch needs more room than any before it, and the decoded-image cache when the size changes. */
#ifndef CRESCENDO_LOADER_H
#define CRESCENDO_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crescendo/dataset.h"
#include "crescendo/rng.h"
#include "crescendo/status.h"
#include "crescendo/transform.h"

typedef struct cr_loader cr_loader;

/* Fixed for the loader's life. A zeroed struct (or NULL) gives every default. */
/* How small a JPEG is decoded before it is resized to the output: libjpeg-turbo decodes at 1/8,
 * 1/4, 1/2 or full scale, the smaller several times faster, and the DCT's reduction is softer
 * than the antialiased resize, so the smallest scale trains on a slightly different image. */
typedef enum cr_jpeg_scale {
    CR_JPEG_SCALE_DOUBLE,   /* the smallest scale whose image covers twice the output size: the
                             * resize then does at least half of the reduction */
    CR_JPEG_SCALE_SMALLEST, /* the smallest scale that covers the output size, as PIL's draft() */
    CR_JPEG_SCALE_FULL      /* full size, as PIL without draft() */
} cr_jpeg_scale;

typedef struct cr_loader_options {
    int workers;           /* decoding threads; 0: one per core */
    int prefetch;          /* batches in the ring, >= 2; 0: 3 (one with the trainer, two being
                            * filled: enough to hide a slow batch, without holding memory for
                            * one batch per worker) */
    int channels;          /* 1 (gray) or 3 (RGB); 0: 3. Images are converted as PIL's
                            * convert("L") / convert("RGB") */
    float mean[3], std[3]; /* Normalize per channel on the [0, 1] scale, as torchvision's. An
                            * all-zero std means no normalization (mean 0, std 1) */
    uint64_t seed;         /* with the epoch and sample index, fixes every random choice */
    cr_on_bad on_bad;      /* a sample that cannot be read or decoded: fail the batch (the
                            * default), or skip it: the batch comes out shorter, and the sample
                            * is counted and listed (cr_loader_bad_message) */
    cr_jpeg_scale jpeg_scale; /* how small a JPEG is decoded before the resize (see there). With
                            * random crops the crop is drawn from the file's size first, and the
                            * scale is chosen for the crop */
    uint64_t max_image_pixels; /* larger images are bad samples; 0: PIL's limit */
    size_t cache_bytes;    /* > 0: keep decoded images in up to this much memory, resized to the
                            * epoch's size but neither flipped nor normalized, so that later
                            * epochs at that size skip reading, decoding and resizing them (flips
                            * stay random per epoch). Samples are kept in dataset order until the
                            * budget is spent; an epoch at another size empties the cache, and
                            * epochs with random crops neither read nor fill it */
} cr_loader_options;

/* What one epoch produces. */
typedef struct cr_loader_epoch {
    int epoch;            /* >= 0; with the seed, fixes the order and the augmentation */
    int resolution;       /* square output side in pixels; used when width and height are 0 */
    int width, height;    /* output size when not square */
    int batch_size;       /* >= 1 */
    bool shuffle;         /* a fresh permutation each epoch; false: dataset order */
    bool drop_last;       /* leave out the last batch when it is short */
    bool flip;            /* mirror left-right with probability 1/2 */
    float crop_scale_min; /* > 0: torchvision's RandomResizedCrop(scale=(crop_scale_min, 1),
                           * ratio=(3/4, 4/3)) before the resize; 0: the whole image */
    int shard, shards;    /* shards > 1: this process's share of the epoch's order, samples
                           * shard, shard + shards, shard + 2 shards, ... With drop_last the
                           * order is first cut to a multiple of shards (PyTorch's
                           * DistributedSampler with drop_last), so that every share has as many
                           * samples and batch b of each share holds samples of batch b of one
                           * process with batches shards times larger; without, every sample
                           * goes to exactly one share */
    int first_batch;      /* batches of the epoch left out at its start (a run resumed in the
                           * middle of an epoch): the first handed out is this one */
} cr_loader_epoch;

typedef struct cr_batch {
    float *images;    /* (count, height, width, channels), normalized */
    int32_t *labels;  /* (count) in [0, num_classes), -1 in an unlabeled set */
    int32_t *indices; /* (count) the samples' dataset indices */
    int count;        /* batch_size, less for the last batch or when samples were skipped */
    int width, height, channels;
    int number;       /* the batch's position in the epoch, from 0 (a batch whose samples were
                       * all skipped is not handed out, and leaves a gap) */
} cr_batch;

typedef struct cr_loader_stats {
    double wait_seconds;       /* this epoch: time cr_loader_next spent waiting for workers */
    double total_wait_seconds; /* since creation */
    int batches;               /* this epoch: batches handed out so far */
    int64_t samples;           /* this epoch: samples handed out so far */
    int skipped;               /* this epoch: bad samples left out */
    int64_t decoded;           /* this epoch: of the samples handed out so far (and skipped),
                                * those read and decoded rather than taken from the cache */
    int64_t decoded_pixels;    /* this epoch: the pixels those decodes gave (width * height, after
                                * any DCT scaling) */
} cr_loader_stats;

/* Starts the workers. ds must outlive the loader. Fails with CR_STATUS_INVALID on options out
 * of range. */
cr_status cr_loader_create(const cr_dataset *ds, const cr_loader_options *options,
                           cr_loader **out);

/* Starts an epoch, abandoning what is left of the previous one. Fails with CR_STATUS_INVALID if
 * the config is out of range, CR_STATUS_NOMEM if the buffers cannot grow. */
cr_status cr_loader_start_epoch(cr_loader *loader, const cr_loader_epoch *epoch);

/* The next batch, valid until the next call to cr_loader_next, cr_loader_start_epoch or
 * cr_loader_destroy; CR_STATUS_END after the last. A sample that cannot be read fails the call
 * with CR_STATUS_DATA or CR_STATUS_IO and a message naming the file and CSV line, and the epoch
 * ends there (later calls give the same error) unless the loader skips bad samples. */
cr_status cr_loader_next(cr_loader *loader, cr_batch *batch);

/* Batches in the current epoch (skipped samples can empty a batch, which is then not handed
 * out, so cr_loader_next may give fewer). */
int cr_loader_batches(const cr_loader *loader);
int cr_loader_workers(const cr_loader *loader);
/* What each channel of a batch was normalized with, x = (v / 255 - mean) / std: the options'
 * mean and std, or 0 and 1 when their std was all zero. Turns batches back into pixels. */
void cr_loader_normalization(const cr_loader *loader, float mean[3], float std[3]);
void cr_loader_get_stats(const cr_loader *loader, cr_loader_stats *out);

/* The distinct samples found bad since creation (under CR_ON_BAD_SKIP), each with its message:
 * "train.csv:17: data/x.jpg: ...". */
int cr_loader_bad_count(cr_loader *loader);
const char *cr_loader_bad_message(cr_loader *loader, int i);

/* Stops the workers and frees everything. NULL is allowed. */
void cr_loader_destroy(cr_loader *loader);

/* torchvision's RandomResizedCrop.get_params for a width x height image: up to ten tries at an
 * area fraction uniform in [scale_min, scale_max] and a log-uniform aspect ratio in
 * [ratio_min, ratio_max], then a central crop clamped to the ratio range. */
cr_crop cr_loader_random_crop(cr_rng *rng, int width, int height, float scale_min,
                              float scale_max, float ratio_min, float ratio_max);

#endif
