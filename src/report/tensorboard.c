/* TensorBoard's event file, written without TensorFlow: TFRecord framing (length, data, each
 * with a masked CRC-32C) around Event protocol buffers encoded by hand, one scalar per tag. */
#include "crescendo/report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cr_tensorboard {
    FILE *file;
    char *path;
};

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as TFRecord requires. */
static uint32_t crc32c(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* TFRecord stores CRCs rotated and offset, so that a CRC of data holding CRCs stays strong. */
static uint32_t masked_crc(const uint8_t *p, size_t n) {
    uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* Seconds since the epoch, as Event.wall_time holds them. */
static double wall_clock(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A protocol buffer being encoded; `ok` turns false if it outgrows its buffer. */
typedef struct pb {
    uint8_t data[512];
    size_t len;
    bool ok;
} pb;

static void pb_bytes(pb *b, const void *p, size_t n) {
    if (b->len + n > sizeof b->data) {
        b->ok = false;
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void pb_varint(pb *b, uint64_t v) {
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    pb_bytes(b, out, n);
}

/* Field keys: the field number and its wire type (0 varint, 1 64-bit, 2 bytes, 5 32-bit). */
static void pb_key(pb *b, int field, int wire) { pb_varint(b, (uint64_t)(field << 3 | wire)); }

static void pb_message(pb *b, int field, const pb *m) {
    pb_key(b, field, 2);
    pb_varint(b, m->len);
    pb_bytes(b, m->data, m->len);
    b->ok &= m->ok;
}

static void pb_le(pb *b, uint64_t v, size_t n) {
    uint8_t out[8];
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(v >> (8 * i));
    pb_bytes(b, out, n);
}

/* Event fields: wall_time (1, double), step (2, int64), file_version (3), summary (5),
 * session_log (6). */
static pb event_header(double wall_time, int64_t step) {
    pb e = {.ok = true};
    uint64_t bits;
    memcpy(&bits, &wall_time, sizeof bits);
    pb_key(&e, 1, 1);
    pb_le(&e, bits, 8);
    if (step >= 0) {
        pb_key(&e, 2, 0);
        pb_varint(&e, (uint64_t)step);
    }
    return e;
}

/* One TFRecord: length, its masked CRC, the data, its masked CRC; flushed and synced. */
static cr_status write_record(cr_tensorboard *tb, const pb *event) {
    if (!event->ok) return cr_fail(CR_STATUS_INTERNAL, "%s: an event outgrew its buffer", tb->path);
    uint8_t head[12];
    uint64_t len = event->len;
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(len >> (8 * i));
    uint32_t head_crc = masked_crc(head, 8), data_crc = masked_crc(event->data, event->len);
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(head_crc >> (8 * i));
    uint8_t tail[4];
    for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(data_crc >> (8 * i));
    if (fwrite(head, 1, sizeof head, tb->file) != sizeof head ||
        fwrite(event->data, 1, event->len, tb->file) != event->len ||
        fwrite(tail, 1, sizeof tail, tb->file) != sizeof tail || fflush(tb->file) != 0 ||
        fsync(fileno(tb->file)) != 0)
        return cr_fail(CR_STATUS_IO, "%s: write failed: %s", tb->path, strerror(errno));
    return CR_STATUS_OK;
}

cr_status cr_tensorboard_open(cr_tensorboard **out, const char *dir, int first_step) {
    *out = NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0 || !host[0]) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    char path[4096];
    double now = wall_clock();
    int n = snprintf(path, sizeof path, "%s/events.out.tfevents.%010lld.%s.%ld", dir,
                     (long long)now, host, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof path)
        return cr_fail(CR_STATUS_INVALID, "%s: the event file's path is too long", dir);
    cr_tensorboard *tb = calloc(1, sizeof *tb);
    if (!tb || !(tb->path = strdup(path))) {
        free(tb);
        return cr_fail(CR_STATUS_NOMEM, "out of memory");
    }
    tb->file = fopen(path, "wb");
    if (!tb->file) {
        cr_status s = cr_fail(CR_STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
        cr_tensorboard_close(tb);
        return s;
    }
    pb version = event_header(now, -1);
    static const char tag[] = "brain.Event:2";
    pb_key(&version, 3, 2);
    pb_varint(&version, sizeof tag - 1);
    pb_bytes(&version, tag, sizeof tag - 1);
    cr_status s = write_record(tb, &version);
    if (s == CR_STATUS_OK && first_step > 0) {
        /* a resumed run: TensorBoard drops what an earlier file logged from this step on */
        pb start = event_header(now, first_step);
        pb session = {.ok = true};
        pb_key(&session, 1, 0);
        pb_varint(&session, 1); /* SessionLog.START */
        pb_message(&start, 6, &session);
        s = write_record(tb, &start);
    }
    if (s != CR_STATUS_OK) {
        cr_tensorboard_close(tb);
        return s;
    }
    *out = tb;
    return CR_STATUS_OK;
}

/* Summary.Value: tag (1), simple_value (2, float). */
static void add_scalar(pb *summary, const char *tag, double value) {
    if (!isfinite(value)) return;
    pb v = {.ok = true};
    pb_key(&v, 1, 2);
    pb_varint(&v, strlen(tag));
    pb_bytes(&v, tag, strlen(tag));
    float f = (float)value;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    pb_key(&v, 2, 5);
    pb_le(&v, bits, 4);
    pb_message(summary, 1, &v);
}

cr_status cr_tensorboard_write(cr_tensorboard *tb, const cr_epoch_record *r) {
    pb summary = {.ok = true};
    add_scalar(&summary, "loss/train", r->train_loss);
    add_scalar(&summary, "loss/val", r->val_loss);
    add_scalar(&summary, "accuracy/train", r->train_acc);
    add_scalar(&summary, "accuracy/val", r->val_acc);
    add_scalar(&summary, "accuracy/val_top5", r->val_top5);
    add_scalar(&summary, "loss/val_ema", r->ema_val_loss);
    add_scalar(&summary, "accuracy/val_ema", r->ema_val_acc);
    add_scalar(&summary, "lr", r->lr);
    add_scalar(&summary, "resolution", r->resolution);
    add_scalar(&summary, "batch_size", r->batch_size);
    add_scalar(&summary, "images_per_sec", r->images_per_sec);
    pb event = event_header(wall_clock(), r->epoch);
    pb_message(&event, 5, &summary);
    return write_record(tb, &event);
}

void cr_tensorboard_close(cr_tensorboard *tb) {
    if (!tb) return;
    if (tb->file) fclose(tb->file);
    free(tb->path);
    free(tb);
}
