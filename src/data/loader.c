/* The batch loader: a persistent pool of decoding threads filling a ring of batch buffers.
 * Work is handed out a few samples at a time, oldest batch first, so all workers finish the batch
 * the trainer needs next before starting later ones; results depend on no scheduling choice.
 * An optional cache keeps resized 8-bit images between epochs of the same size. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/image.h"
#include "crescendo/loader.h"
#include "crescendo/log.h"

enum {
    DEFAULT_PREFETCH = 3,
    MAX_WORKERS = 256,
    MAX_SIDE = 16384,     /* output side limit: far above any training resolution */
    MESSAGE_SIZE = 1024,
    PATH_SIZE = 4096
};

/* One batch buffer of the ring. The arrays are written by workers (each its own positions) while
 * the batch is being filled, then read by the consumer; the fields below them are under the
 * loader's mutex. */
typedef struct slot {
    float *images;          /* (batch_capacity, height, width, channels) */
    size_t image_capacity;  /* floats at images */
    int32_t *labels;        /* (batch_capacity) */
    int32_t *indices;       /* (batch_capacity) */
    unsigned char *skipped; /* (batch_capacity) 1 where the sample was bad and left out */
    int batch_capacity;
    /* under mutex: */
    int batch;              /* the batch of this epoch it holds; -1 before its first sample */
    int pending;            /* samples of that batch not finished yet */
    int decoded;            /* of its samples, those read from their files (not the cache) */
    int64_t decoded_pixels; /* the pixels of the images those decodes gave */
    cr_status status;       /* the failure of its earliest failing sample, or OK */
    int failed_position;
    char message[MESSAGE_SIZE];
} slot;

/* One decoding thread and its reusable buffers, touched by that thread only. */
typedef struct worker {
    cr_loader *loader;
    pthread_t thread;
    cr_decoder *decoder;
    cr_image image;
    void *scratch;          /* (scratch_bytes) for cr_transform_apply or cr_resize_u8 */
    size_t scratch_bytes;
} worker;

struct cr_loader {
    const cr_dataset *ds;
    cr_loader_options options;
    int worker_count;
    worker *workers;        /* (worker_count) */
    int depth;
    slot *slots;            /* (depth) batch b lives in slots[b % depth] */

    /* The epoch's plan. Written by the consumer only while no work is handed out and none is in
     * flight (see start_epoch), and read by workers without the lock: the mutex hand-over when
     * the work is published orders the writes before the reads. */
    cr_loader_epoch epoch;
    int width, height;
    int32_t *order;         /* (ds count) the epoch's permutation of dataset indices */
    int sample_count;       /* samples used this epoch (all, or fewer with drop_last) */
    int chunk;              /* consecutive samples a worker takes at once */
    cr_transform transform;

    /* The decoded-image cache (options.cache_bytes), planned with the epoch: sample i below
     * cache_count is kept at cache + i * (its size in bytes) once cache_filled[i] is set. Each
     * sample is handed to one worker per epoch and the plan changes only while nothing is in
     * flight, so no entry is ever touched by two threads at once. */
    uint8_t *cache;         /* (cache_count, cache_height, cache_width, channels) */
    unsigned char *cache_filled; /* (ds count) */
    int cache_count;
    int cache_width, cache_height;
    bool cache_active;      /* this epoch reads and fills the cache */

    pthread_mutex_t mutex;
    pthread_cond_t work_ready;  /* workers wait here for work or shutdown */
    pthread_cond_t work_done;   /* the consumer waits here for a batch, or for in_flight == 0 */
    /* under mutex: */
    int batch_count;        /* batches of this epoch; 0 while no epoch is running */
    int next_batch;         /* the next sample handed to a worker is (next_batch, next_position) */
    int next_position;
    int released;           /* batches the consumer is done with: their slots are free */
    int in_flight;          /* samples taken by workers and not finished */
    bool shutdown;
    unsigned char *bad_seen; /* (ds count) 1 for samples already listed as bad */
    char **bad_messages;    /* (bad_count) */
    int bad_count, bad_capacity;

    /* The consumer's own: */
    bool epoch_started;
    int current;            /* the next batch to hand out */
    bool holding;           /* the consumer holds batch current - 1 */
    cr_status failure;      /* once a batch failed, the epoch gives this error */
    char failure_message[MESSAGE_SIZE];
    double wait_seconds, total_wait_seconds;
    int batches_out;
    int64_t samples_out;
    int64_t decoded_out;    /* images decoded for the batches taken so far */
    int64_t decoded_pixels_out; /* their pixels, as decoded (DCT-scaled or not) */
    int skipped_out;        /* bad samples left out of the batches handed out */
};

static int batch_size_of(const cr_loader *l, int batch) {
    int start = batch * l->epoch.batch_size;
    int left = l->sample_count - start;
    return left < l->epoch.batch_size ? left : l->epoch.batch_size;
}

/* ---- the worker side ---------------------------------------------------------------------- */

static cr_status reserve_scratch(worker *w, size_t need) {
    if (need <= w->scratch_bytes) return CR_STATUS_OK;
    free(w->scratch);
    w->scratch = malloc(need);
    w->scratch_bytes = w->scratch ? need : 0;
    return w->scratch ? CR_STATUS_OK
                      : cr_fail(CR_STATUS_NOMEM, "out of memory for %zu bytes of resize scratch",
                                need);
}

/* A sample's random crop, drawn in the file's pixels as soon as the header gives its size, so
 * that the DCT scale can follow the crop rather than the whole image. The draws are those that
 * a crop of the full-size image would make, so the scale changes no random choice. */
typedef struct crop_plan {
    const cr_loader *loader;
    cr_rng *rng;
    cr_crop area; /* in the file's pixels */
} crop_plan;

/* How many times the output's size a scaled decode must cover; 0: decode at full size. */
static int64_t decode_cover(const cr_loader *l) {
    switch (l->options.jpeg_scale) {
    case CR_JPEG_SCALE_SMALLEST: return 1;
    case CR_JPEG_SCALE_DOUBLE: return 2;
    case CR_JPEG_SCALE_FULL: break;
    }
    return 0;
}

static void plan_crop(void *context, int width, int height, int *min_width, int *min_height) {
    crop_plan *p = context;
    const cr_loader *l = p->loader;
    p->area = cr_loader_random_crop(p->rng, width, height, l->epoch.crop_scale_min, 1.0f,
                                    3.0f / 4.0f, 4.0f / 3.0f);
    int64_t cover = decode_cover(l);
    if (cover == 0) return;
    /* Scaled by 1/d, the crop keeps area.width / d pixels across: at least cover times the
     * output's when width / d >= cover * out_width * width / area.width. */
    *min_width = (int)((cover * l->width * width + p->area.width - 1) / p->area.width);
    *min_height = (int)((cover * l->height * height + p->area.height - 1) / p->area.height);
}

/* The crop, in the file's pixels, on the decoded image (smaller when DCT-scaled), rounded
 * outward so it keeps all it covered: x0 = floor(x * w / W), x1 = ceil((x + cw) * w / W). Both
 * stay within the image and x1 > x0, since x + cw <= W and cw >= 1. Identity at full size. */
static cr_crop scale_crop(cr_crop c, const cr_image *im) {
    int64_t w = im->width, h = im->height, sw = im->source_width, sh = im->source_height;
    int x0 = (int)(c.x * w / sw), y0 = (int)(c.y * h / sh);
    int x1 = (int)(((c.x + c.width) * w + sw - 1) / sw);
    int y1 = (int)(((c.y + c.height) * h + sh - 1) / sh);
    return (cr_crop){.x = x0, .y = y0, .width = x1 - x0, .height = y1 - y0};
}

/* Loads sample `position` of batch `batch` into s, adding 1 to *decoded and the decoded image's
 * pixels to *pixels when it had to read the file. Returns a failure with its message set. */
static cr_status load_sample(worker *w, slot *s, int batch, int position, int *decoded,
                             int64_t *pixels) {
    const cr_loader *l = w->loader;
    int index = l->order[batch * l->epoch.batch_size + position];
    s->indices[position] = index;
    s->labels[position] = cr_dataset_label(l->ds, index);
    s->skipped[position] = 0;
    size_t values = (size_t)l->width * l->height * l->transform.channels; /* per image */
    float *out = s->images + (size_t)position * values;

    /* Stream 0 of (seed, epoch) orders the epoch; sample i draws from stream i + 1. */
    cr_rng rng = cr_rng_stream(l->options.seed, (uint64_t)l->epoch.epoch, (uint64_t)index + 1);
    bool flip = (cr_rng_u32(&rng) & 1) && l->epoch.flip;
    uint8_t *kept = l->cache_active && index < l->cache_count ? l->cache + (size_t)index * values
                                                              : NULL; /* (height, width, ch) */
    if (kept && l->cache_filled[index]) return cr_transform_finish(&l->transform, kept, flip, out);

    char path[PATH_SIZE];
    CR_TRY(cr_dataset_resolve(l->ds, index, path, sizeof path));
    bool crop = l->epoch.crop_scale_min > 0.0f;
    crop_plan plan = {.loader = l, .rng = &rng};
    cr_decode_options decode = {.channels = l->transform.channels,
                                .max_pixels = l->options.max_image_pixels,
                                .plan = crop ? plan_crop : NULL,
                                .plan_context = &plan};
    if (!crop) {
        decode.min_width = (int)(decode_cover(l) * l->width);
        decode.min_height = (int)(decode_cover(l) * l->height);
    }
    CR_TRY(cr_image_read(w->decoder, path, &decode, &w->image));
    const cr_image *im = &w->image;
    (*decoded)++;
    *pixels += (int64_t)im->width * im->height;

    if (kept) {
        /* resized unflipped into the cache, then finished from there as a later epoch will */
        int channels = l->transform.channels;
        CR_TRY(reserve_scratch(w, cr_resize_scratch_bytes(im->width, im->height, l->width,
                                                          l->height, channels)));
        CR_TRY(cr_resize_u8(im->pixels, im->width, im->height, (size_t)im->width * channels,
                            channels, kept, l->width, l->height, w->scratch, w->scratch_bytes));
        l->cache_filled[index] = 1;
        return cr_transform_finish(&l->transform, kept, flip, out);
    }
    cr_crop area;
    if (crop) area = scale_crop(plan.area, im);
    CR_TRY(reserve_scratch(w, cr_transform_scratch_bytes(&l->transform, im->width, im->height)));
    return cr_transform_apply(&l->transform, im, crop ? &area : NULL, flip, w->scratch,
                              w->scratch_bytes, out);
}

/* Adds a bad sample's message to the list, once per sample. Called under the mutex. */
static void note_bad_sample(cr_loader *l, int index, const char *message) {
    if (l->bad_seen[index]) return;
    if (l->bad_count == l->bad_capacity) {
        int capacity = l->bad_capacity ? 2 * l->bad_capacity : 16;
        char **grown = realloc(l->bad_messages, (size_t)capacity * sizeof *grown);
        if (!grown) return; /* the sample is still skipped and counted, only not listed */
        l->bad_messages = grown;
        l->bad_capacity = capacity;
    }
    char *copy = strdup(message);
    if (!copy) return;
    l->bad_seen[index] = 1;
    l->bad_messages[l->bad_count++] = copy;
}

/* Records a failed sample: skipped and listed, or the batch's error. Called under the mutex, by
 * the thread whose cr_error_message() explains the failure. */
static void record_failure(cr_loader *l, slot *s, int position, cr_status status) {
    char message[MESSAGE_SIZE];
    int index = s->indices[position];
    int line = cr_dataset_line(l->ds, index);
    if (line > 0)
        snprintf(message, sizeof message, "%s:%d: %s", cr_dataset_source(l->ds), line,
                 cr_error_message());
    else
        snprintf(message, sizeof message, "%s", cr_error_message());
    bool bad_input = status == CR_STATUS_DATA || status == CR_STATUS_IO;
    if (bad_input && l->options.on_bad == CR_ON_BAD_SKIP) {
        s->skipped[position] = 1;
        note_bad_sample(l, index, message);
    } else if (s->status == CR_STATUS_OK || position < s->failed_position) {
        /* The earliest failing position wins, so the error does not depend on timing. */
        s->status = status;
        s->failed_position = position;
        memcpy(s->message, message, sizeof message);
    }
}

static bool work_available(const cr_loader *l) {
    return l->next_batch < l->batch_count && l->next_batch < l->released + l->depth;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    cr_loader *l = w->loader;
    pthread_mutex_lock(&l->mutex);
    for (;;) {
        while (!l->shutdown && !work_available(l)) pthread_cond_wait(&l->work_ready, &l->mutex);
        if (l->shutdown) break;
        int batch = l->next_batch, first = l->next_position, size = batch_size_of(l, batch);
        slot *s = &l->slots[batch % l->depth];
        if (first == 0) {
            s->batch = batch;
            s->pending = size;
            s->decoded = 0;
            s->decoded_pixels = 0;
            s->status = CR_STATUS_OK;
        }
        int count = size - first < l->chunk ? size - first : l->chunk;
        l->next_position += count;
        if (l->next_position == size) {
            l->next_batch++;
            l->next_position = 0;
        }
        l->in_flight += count;
        pthread_mutex_unlock(&l->mutex);

        int decoded = 0;
        int64_t pixels = 0;
        for (int i = 0; i < count; i++) {
            cr_status status = load_sample(w, s, batch, first + i, &decoded, &pixels);
            if (status == CR_STATUS_OK) continue;
            pthread_mutex_lock(&l->mutex);
            record_failure(l, s, first + i, status);
            pthread_mutex_unlock(&l->mutex);
        }

        pthread_mutex_lock(&l->mutex);
        s->decoded += decoded;
        s->decoded_pixels += pixels;
        s->pending -= count;
        l->in_flight -= count;
        if (s->pending == 0 || l->in_flight == 0) pthread_cond_signal(&l->work_done);
    }
    pthread_mutex_unlock(&l->mutex);
    return NULL;
}

/* ---- the consumer side -------------------------------------------------------------------- */

static cr_status check_options(const cr_loader_options *o) {
    if (o->workers < 0 || o->workers > MAX_WORKERS)
        return cr_fail(CR_STATUS_INVALID, "loader workers %d is not in [0, %d] (0: one per core)",
                       o->workers, MAX_WORKERS);
    if (o->prefetch != 0 && (o->prefetch < 2 || o->prefetch > 64))
        return cr_fail(CR_STATUS_INVALID, "loader prefetch %d is not in [2, 64] (0: %d)",
                       o->prefetch, DEFAULT_PREFETCH);
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return cr_fail(CR_STATUS_INVALID, "loader channels %d: 1 (gray) or 3 (RGB)", o->channels);
    if (o->on_bad != CR_ON_BAD_FAIL && o->on_bad != CR_ON_BAD_SKIP)
        return cr_fail(CR_STATUS_INVALID, "loader on_bad %d is not a cr_on_bad", (int)o->on_bad);
    int channels = o->channels ? o->channels : 3;
    bool normalize = o->std[0] != 0.0f || o->std[1] != 0.0f || o->std[2] != 0.0f;
    for (int c = 0; c < channels && normalize; c++)
        if (!(o->std[c] > 0.0f))
            return cr_fail(CR_STATUS_INVALID, "normalization std[%d] = %g must be > 0", c,
                           (double)o->std[c]);
    return CR_STATUS_OK;
}

static int core_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

cr_status cr_loader_create(const cr_dataset *ds, const cr_loader_options *options,
                           cr_loader **out) {
    *out = NULL;
    cr_loader_options o = options ? *options : (cr_loader_options){0};
    CR_TRY(check_options(&o));
    cr_loader *l = calloc(1, sizeof *l);
    if (!l) return cr_fail(CR_STATUS_NOMEM, "out of memory for the loader");
    l->ds = ds;
    l->options = o;
    l->worker_count = o.workers ? o.workers : core_count();
    l->depth = o.prefetch ? o.prefetch : DEFAULT_PREFETCH;
    l->transform.channels = o.channels ? o.channels : 3;
    bool normalize = o.std[0] != 0.0f || o.std[1] != 0.0f || o.std[2] != 0.0f;
    for (int c = 0; c < 3; c++) {
        l->transform.mean[c] = normalize ? o.mean[c] : 0.0f;
        l->transform.std[c] = normalize ? o.std[c] : 1.0f;
    }
    size_t n = (size_t)cr_dataset_count(ds) + 1;
    l->slots = calloc((size_t)l->depth, sizeof *l->slots);
    l->workers = calloc((size_t)l->worker_count, sizeof *l->workers);
    l->order = malloc(n * sizeof *l->order);
    l->bad_seen = calloc(n, 1);
    l->cache_filled = o.cache_bytes ? calloc(n, 1) : NULL;
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->work_ready, NULL);
    pthread_cond_init(&l->work_done, NULL);
    if (!l->slots || !l->workers || !l->order || !l->bad_seen ||
        (o.cache_bytes && !l->cache_filled)) {
        l->worker_count = 0;
        cr_loader_destroy(l);
        return cr_fail(CR_STATUS_NOMEM, "out of memory for the loader");
    }
    for (int i = 0; i < l->worker_count; i++) {
        worker *w = &l->workers[i];
        w->loader = l;
        cr_status s = cr_decoder_create(&w->decoder);
        int err = s == CR_STATUS_OK ? pthread_create(&w->thread, NULL, worker_main, w) : 0;
        if (s != CR_STATUS_OK || err) {
            cr_decoder_destroy(w->decoder);
            l->worker_count = i; /* destroy joins the ones already running */
            cr_loader_destroy(l);
            return s != CR_STATUS_OK ? s
                                     : cr_fail(CR_STATUS_INTERNAL, "cannot start loader thread "
                                               "%d: %s", i, strerror(err));
        }
    }
    *out = l;
    return CR_STATUS_OK;
}

void cr_loader_destroy(cr_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mutex);
    l->shutdown = true;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
    for (int i = 0; i < l->worker_count; i++) {
        worker *w = &l->workers[i];
        pthread_join(w->thread, NULL);
        cr_decoder_destroy(w->decoder);
        cr_image_free(&w->image);
        free(w->scratch);
    }
    for (int i = 0; l->slots && i < l->depth; i++) {
        slot *s = &l->slots[i];
        free(s->images);
        free(s->labels);
        free(s->indices);
        free(s->skipped);
    }
    for (int i = 0; i < l->bad_count; i++) free(l->bad_messages[i]);
    pthread_mutex_destroy(&l->mutex);
    pthread_cond_destroy(&l->work_ready);
    pthread_cond_destroy(&l->work_done);
    free(l->bad_messages);
    free(l->bad_seen);
    free(l->cache);
    free(l->cache_filled);
    free(l->order);
    free(l->workers);
    free(l->slots);
    free(l);
}

static cr_status check_epoch(const cr_loader_epoch *e, int *width, int *height) {
    *width = e->width || e->height ? e->width : e->resolution;
    *height = e->width || e->height ? e->height : e->resolution;
    if (*width < 1 || *height < 1 || *width > MAX_SIDE || *height > MAX_SIDE)
        return cr_fail(CR_STATUS_INVALID, "epoch image size %dx%d is not within 1..%d (set "
                       "resolution, or width and height)", *width, *height, MAX_SIDE);
    if (e->batch_size < 1)
        return cr_fail(CR_STATUS_INVALID, "batch size %d must be >= 1", e->batch_size);
    if (e->epoch < 0) return cr_fail(CR_STATUS_INVALID, "epoch %d must be >= 0", e->epoch);
    if (e->first_batch < 0)
        return cr_fail(CR_STATUS_INVALID, "first batch %d must be >= 0", e->first_batch);
    if (e->shards > 1 && (e->shard < 0 || e->shard >= e->shards))
        return cr_fail(CR_STATUS_INVALID, "shard %d of %d is not within 0..%d", e->shard,
                       e->shards, e->shards - 1);
    if (!(e->crop_scale_min >= 0.0f && e->crop_scale_min <= 1.0f))
        return cr_fail(CR_STATUS_INVALID, "crop scale minimum %g is not in [0, 1]",
                       (double)e->crop_scale_min);
    return CR_STATUS_OK;
}

/* Makes every slot hold batch_size samples of the given size; only grows. */
static cr_status reserve_slots(cr_loader *l, int batch_size, size_t floats_per_sample) {
    size_t floats = (size_t)batch_size * floats_per_sample;
    for (int i = 0; i < l->depth; i++) {
        slot *s = &l->slots[i];
        if (floats > s->image_capacity) {
            free(s->images);
            s->image_capacity = 0;
            /* 64-byte aligned: a cache line, and what vector loads of a row like best. */
            if (posix_memalign((void **)&s->images, 64, floats * sizeof(float)) != 0) {
                s->images = NULL;
                return cr_fail(CR_STATUS_NOMEM, "out of memory for a batch of %d images "
                               "(%zu MiB)", batch_size, floats * sizeof(float) >> 20);
            }
            s->image_capacity = floats;
        }
        if (batch_size > s->batch_capacity) {
            int32_t *labels = realloc(s->labels, (size_t)batch_size * sizeof *labels);
            if (labels) s->labels = labels;
            int32_t *indices = realloc(s->indices, (size_t)batch_size * sizeof *indices);
            if (indices) s->indices = indices;
            unsigned char *skipped = realloc(s->skipped, (size_t)batch_size);
            if (skipped) s->skipped = skipped;
            if (!labels || !indices || !skipped)
                return cr_fail(CR_STATUS_NOMEM, "out of memory for a batch of %d", batch_size);
            s->batch_capacity = batch_size;
        }
    }
    return CR_STATUS_OK;
}

/* Readies the cache for an epoch of width x height: the images kept at that size stay, an
 * epoch at another size starts it afresh, random crops leave it alone. An allocation that fails
 * leaves the epoch uncached, since the cache only saves time. */
static void plan_cache(cr_loader *l, const cr_loader_epoch *e, int width, int height) {
    l->cache_active = false;
    if (!l->options.cache_bytes || e->crop_scale_min > 0.0f) return;
    if (l->cache && width == l->cache_width && height == l->cache_height) {
        l->cache_active = true;
        return;
    }
    free(l->cache);
    l->cache = NULL;
    l->cache_count = 0;
    size_t image = (size_t)width * height * (size_t)l->transform.channels;
    size_t fit = l->options.cache_bytes / image;
    int n = cr_dataset_count(l->ds);
    int count = fit < (size_t)n ? (int)fit : n;
    if (count == 0) return;
    l->cache = malloc((size_t)count * image);
    if (!l->cache) {
        cr_log(CR_LOG_WARN, "no memory to cache %d decoded images of %dx%d (%zu MiB); reading "
               "them every epoch", count, width, height, (size_t)count * image >> 20);
        return;
    }
    memset(l->cache_filled, 0, (size_t)n);
    l->cache_count = count;
    l->cache_width = width;
    l->cache_height = height;
    l->cache_active = true;
}

/* The epoch's order: the dataset's, or a Fisher-Yates shuffle driven by stream
 * (seed, epoch, 0); then this shard's share of it, samples shard, shard + shards, ..., after
 * cutting the order to a multiple of shards when the epoch drops its short batch. Gives the
 * samples the epoch has. */
static int plan_order(cr_loader *l) {
    int n = cr_dataset_count(l->ds);
    for (int i = 0; i < n; i++) l->order[i] = i;
    if (l->epoch.shuffle) {
        cr_rng rng = cr_rng_stream(l->options.seed, (uint64_t)l->epoch.epoch, 0);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)cr_rng_below(&rng, (uint32_t)i + 1);
            int32_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    int shards = l->epoch.shards > 1 ? l->epoch.shards : 1;
    if (shards == 1) return n;
    int used = l->epoch.drop_last ? n / shards * shards : n, kept = 0;
    for (int i = l->epoch.shard; i < used; i += shards) l->order[kept++] = l->order[i];
    return kept;
}

cr_status cr_loader_start_epoch(cr_loader *l, const cr_loader_epoch *epoch) {
    int width, height;
    CR_TRY(check_epoch(epoch, &width, &height));

    /* Stop handing out work and wait for the samples in flight: after this no worker reads the
     * plan or writes a slot until batch_count is published again below. */
    pthread_mutex_lock(&l->mutex);
    l->batch_count = 0;
    while (l->in_flight > 0) pthread_cond_wait(&l->work_done, &l->mutex);
    pthread_mutex_unlock(&l->mutex);
    l->epoch_started = false;

    CR_TRY(reserve_slots(l, epoch->batch_size,
                         (size_t)width * height * (size_t)l->transform.channels));
    l->epoch = *epoch;
    l->width = width;
    l->height = height;
    l->transform.out_width = width;
    l->transform.out_height = height;
    plan_cache(l, epoch, width, height);
    int n = plan_order(l);
    l->sample_count = epoch->drop_last ? n / epoch->batch_size * epoch->batch_size : n;
    int batches = (l->sample_count + epoch->batch_size - 1) / epoch->batch_size;
    int chunk = epoch->batch_size / (4 * l->worker_count);
    l->chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
    for (int i = 0; i < l->depth; i++) {
        l->slots[i].batch = -1;
        l->slots[i].pending = 0;
        l->slots[i].status = CR_STATUS_OK;
    }
    int first = epoch->first_batch < batches ? epoch->first_batch : batches;
    l->current = first;
    l->holding = false;
    l->failure = CR_STATUS_OK;
    l->wait_seconds = 0.0;
    l->batches_out = 0;
    l->samples_out = 0;
    l->decoded_out = 0;
    l->decoded_pixels_out = 0;
    l->skipped_out = 0;
    l->epoch_started = true;

    pthread_mutex_lock(&l->mutex);
    l->next_batch = first;
    l->next_position = 0;
    l->released = first;
    l->batch_count = batches;
    pthread_cond_broadcast(&l->work_ready);
    pthread_mutex_unlock(&l->mutex);
    return CR_STATUS_OK;
}

/* Moves the samples that were not skipped to the front; returns how many there are. */
static int compact(const cr_loader *l, slot *s, int size) {
    size_t floats = (size_t)l->width * l->height * l->transform.channels;
    int kept = 0;
    for (int i = 0; i < size; i++) {
        if (s->skipped[i]) continue;
        if (kept != i) {
            memcpy(s->images + (size_t)kept * floats, s->images + (size_t)i * floats,
                   floats * sizeof(float));
            s->labels[kept] = s->labels[i];
            s->indices[kept] = s->indices[i];
        }
        kept++;
    }
    return kept;
}

cr_status cr_loader_next(cr_loader *l, cr_batch *batch) {
    if (!l->epoch_started)
        return cr_fail(CR_STATUS_INVALID, "cr_loader_next before cr_loader_start_epoch");
    if (l->failure != CR_STATUS_OK) return cr_fail(l->failure, "%s", l->failure_message);
    for (;;) {
        pthread_mutex_lock(&l->mutex);
        if (l->holding) {
            l->released = l->current;
            l->holding = false;
            pthread_cond_broadcast(&l->work_ready);
        }
        if (l->current == l->batch_count) {
            pthread_mutex_unlock(&l->mutex);
            return CR_STATUS_END;
        }
        int number = l->current;
        slot *s = &l->slots[number % l->depth];
        double start = cr_now_seconds();
        while (s->batch != number || s->pending > 0) pthread_cond_wait(&l->work_done, &l->mutex);
        double waited = cr_now_seconds() - start;
        cr_status status = s->status;
        l->decoded_out += s->decoded;
        l->decoded_pixels_out += s->decoded_pixels;
        if (status != CR_STATUS_OK) memcpy(l->failure_message, s->message, MESSAGE_SIZE);
        pthread_mutex_unlock(&l->mutex);

        l->wait_seconds += waited;
        l->total_wait_seconds += waited;
        l->current++;
        l->holding = true;
        if (status != CR_STATUS_OK) {
            l->failure = status;
            return cr_fail(status, "%s", l->failure_message);
        }
        int size = batch_size_of(l, number);
        int count = compact(l, s, size);
        l->skipped_out += size - count;
        if (count == 0) continue;
        *batch = (cr_batch){.images = s->images, .labels = s->labels, .indices = s->indices,
                            .count = count, .width = l->width, .height = l->height,
                            .channels = l->transform.channels, .number = number};
        l->batches_out++;
        l->samples_out += count;
        return CR_STATUS_OK;
    }
}

int cr_loader_batches(const cr_loader *l) { return l->epoch_started ? l->batch_count : 0; }
int cr_loader_workers(const cr_loader *l) { return l->worker_count; }

void cr_loader_normalization(const cr_loader *l, float mean[3], float std[3]) {
    memcpy(mean, l->transform.mean, sizeof l->transform.mean);
    memcpy(std, l->transform.std, sizeof l->transform.std);
}

void cr_loader_get_stats(const cr_loader *l, cr_loader_stats *out) {
    *out = (cr_loader_stats){.wait_seconds = l->wait_seconds,
                             .total_wait_seconds = l->total_wait_seconds,
                             .batches = l->batches_out,
                             .samples = l->samples_out,
                             .skipped = l->skipped_out,
                             .decoded = l->decoded_out,
                             .decoded_pixels = l->decoded_pixels_out};
}

int cr_loader_bad_count(cr_loader *l) {
    pthread_mutex_lock(&l->mutex);
    int n = l->bad_count;
    pthread_mutex_unlock(&l->mutex);
    return n;
}

const char *cr_loader_bad_message(cr_loader *l, int i) {
    pthread_mutex_lock(&l->mutex);
    const char *m = i >= 0 && i < l->bad_count ? l->bad_messages[i] : NULL;
    pthread_mutex_unlock(&l->mutex);
    return m;
}
