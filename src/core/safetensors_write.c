/* The safetensors writer: a deterministic header and an atomic replace of the target file.
 * Checkpoints are rewritten every epoch; a crash mid-write must leave the previous one intact. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crescendo/safetensors.h"

static const char *const METADATA_KEY = "__metadata__";

static cr_status check_tensor(const char *path, const cr_named_tensor *t) {
    if (!t->name || !t->name[0] || strcmp(t->name, METADATA_KEY) == 0)
        return cr_fail(CR_STATUS_INVALID, "%s: tensor name \"%s\" is not allowed", path,
                       t->name ? t->name : "(null)");
    if (cr_dtype_size(t->tensor.dtype) == 0 || t->tensor.ndim < 0 || t->tensor.ndim > CR_MAX_DIMS)
        return cr_fail(CR_STATUS_INVALID, "%s: tensor \"%s\" has no valid dtype and shape", path,
                       t->name);
    for (int d = 0; d < t->tensor.ndim; d++)
        if (t->tensor.shape[d] < 0)
            return cr_fail(CR_STATUS_INVALID, "%s: tensor \"%s\" has a negative extent", path,
                           t->name);
    if (t->tensor.device != CR_DEVICE_CPU || (!t->tensor.data && cr_tensor_bytes(&t->tensor)))
        return cr_fail(CR_STATUS_INVALID, "%s: tensor \"%s\" is not in host memory", path,
                       t->name);
    return CR_STATUS_OK;
}

/* The data order: element size, largest first, then name. With every size a multiple of the
 * element size, each tensor then starts at a multiple of its own element size. */
static int data_order(const void *a, const void *b) {
    const cr_named_tensor *x = *(const cr_named_tensor *const *)a;
    const cr_named_tensor *y = *(const cr_named_tensor *const *)b;
    size_t sx = cr_dtype_size(x->tensor.dtype), sy = cr_dtype_size(y->tensor.dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int key_order(const void *a, const void *b) {
    return strcmp(((const cr_metadata_entry *)a)->key, ((const cr_metadata_entry *)b)->key);
}

static json_t *tensor_info(const cr_tensor *t, size_t begin) {
    json_t *shape = json_array();
    for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
    json_t *offsets = json_array();
    json_array_append_new(offsets, json_integer((json_int_t)begin));
    json_array_append_new(offsets, json_integer((json_int_t)(begin + cr_tensor_bytes(t))));
    return json_pack("{s:s, s:o, s:o}", "dtype", cr_dtype_name(t->dtype), "shape", shape,
                     "data_offsets", offsets);
}

/* The JSON header for tensors in `order`, metadata sorted by key, padded with spaces to a
 * multiple of 8 bytes. Returns NULL when jansson cannot build it (out of memory, bad UTF-8). */
static char *build_header(const cr_named_tensor *const *order, int count,
                          const cr_metadata_entry *metadata, int metadata_count, size_t *length) {
    json_t *root = json_object();
    if (metadata_count > 0) {
        json_t *meta = json_object();
        for (int i = 0; i < metadata_count; i++)
            json_object_set_new(meta, metadata[i].key, json_string(metadata[i].value));
        json_object_set_new(root, METADATA_KEY, meta);
    }
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        json_object_set_new(root, order[i]->name, tensor_info(&order[i]->tensor, offset));
        offset += cr_tensor_bytes(&order[i]->tensor);
    }
    int complete = json_object_size(root) == (size_t)count + (metadata_count > 0) &&
                   json_object_size(json_object_get(root, METADATA_KEY)) == (size_t)metadata_count;
    char *text = complete ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!text) return NULL;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *header = realloc(text, padded);
    if (!header) {
        free(text);
        return NULL;
    }
    memset(header + n, ' ', padded - n);
    *length = padded;
    return header;
}

static cr_status write_all(FILE *f, const char *path, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, f) != n)
        return cr_fail(CR_STATUS_IO, "cannot write %s: %s", path, strerror(errno));
    return CR_STATUS_OK;
}

static cr_status write_file(const char *tmp, const char *header, size_t header_length,
                            const cr_named_tensor *const *order, int count) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return cr_fail(CR_STATUS_IO, "cannot create %s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        return cr_fail(CR_STATUS_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    unsigned char length[8];
    for (int i = 0; i < 8; i++) length[i] = (unsigned char)((uint64_t)header_length >> (8 * i));
    cr_status s = write_all(f, tmp, length, sizeof length);
    if (s == CR_STATUS_OK) s = write_all(f, tmp, header, header_length);
    for (int i = 0; i < count && s == CR_STATUS_OK; i++)
        s = write_all(f, tmp, order[i]->tensor.data, cr_tensor_bytes(&order[i]->tensor));
    if (s == CR_STATUS_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        s = cr_fail(CR_STATUS_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && s == CR_STATUS_OK)
        s = cr_fail(CR_STATUS_IO, "cannot close %s: %s", tmp, strerror(errno));
    return s;
}

/* Makes the rename durable: without it a power cut can forget the new directory entry. */
static cr_status sync_directory(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return cr_fail(CR_STATUS_IO, "%s: path too long", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cr_fail(CR_STATUS_IO, "cannot open directory %s: %s", dir, strerror(errno));
    int failed = fsync(fd) != 0;
    int saved = errno;
    close(fd);
    if (failed) return cr_fail(CR_STATUS_IO, "cannot sync directory %s: %s", dir, strerror(saved));
    return CR_STATUS_OK;
}

static int name_order(const void *a, const void *b) {
    return strcmp((*(const cr_named_tensor *const *)a)->name,
                  (*(const cr_named_tensor *const *)b)->name);
}

/* Checks every tensor and metadata entry, and leaves `order` in data order and `sorted` by key. */
static cr_status check_and_order(const char *path, const cr_named_tensor **order, int count,
                                 cr_metadata_entry *sorted, int metadata_count) {
    for (int i = 0; i < count; i++) CR_TRY(check_tensor(path, order[i]));
    qsort(order, (size_t)count, sizeof *order, name_order);
    for (int i = 1; i < count; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            return cr_fail(CR_STATUS_INVALID, "%s: two tensors are named \"%s\"", path,
                           order[i]->name);
    qsort(order, (size_t)count, sizeof *order, data_order);
    for (int i = 0; i < metadata_count; i++)
        if (!sorted[i].key || !sorted[i].value)
            return cr_fail(CR_STATUS_INVALID, "%s: metadata entry %d has no key or value", path, i);
    qsort(sorted, (size_t)metadata_count, sizeof *sorted, key_order);
    for (int i = 1; i < metadata_count; i++)
        if (strcmp(sorted[i - 1].key, sorted[i].key) == 0)
            return cr_fail(CR_STATUS_INVALID, "%s: two metadata entries have the key \"%s\"",
                           path, sorted[i].key);
    return CR_STATUS_OK;
}

cr_status cr_safetensors_write(const char *path, const cr_named_tensor *tensors, int count,
                               const cr_metadata_entry *metadata, int metadata_count) {
    if (count < 0 || metadata_count < 0 || (count && !tensors) || (metadata_count && !metadata))
        return cr_fail(CR_STATUS_INVALID, "%s: bad tensor or metadata list", path);
    char tmp[4096];
    static atomic_uint serial;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-%ld-%u", path, (long)getpid(),
                     atomic_fetch_add(&serial, 1u));
    if (n < 0 || (size_t)n >= sizeof tmp)
        return cr_fail(CR_STATUS_INVALID, "%s: path too long", path);
    const cr_named_tensor **order = malloc(((size_t)count + 1) * sizeof *order);
    cr_metadata_entry *sorted = malloc(((size_t)metadata_count + 1) * sizeof *sorted);
    char *header = NULL;
    cr_status s = CR_STATUS_OK;
    if (!order || !sorted) {
        s = cr_fail(CR_STATUS_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < count; i++) order[i] = &tensors[i];
    if (metadata_count) memcpy(sorted, metadata, (size_t)metadata_count * sizeof *sorted);
    if ((s = check_and_order(path, order, count, sorted, metadata_count)) != CR_STATUS_OK)
        goto done;
    size_t header_length = 0;
    header = build_header(order, count, sorted, metadata_count, &header_length);
    if (!header) {
        s = cr_fail(CR_STATUS_INVALID, "%s: cannot build the header (a name or metadata string "
                    "that is not UTF-8?)", path);
        goto done;
    }
    if ((s = write_file(tmp, header, header_length, order, count)) != CR_STATUS_OK) goto done;
    if (rename(tmp, path) != 0) {
        s = cr_fail(CR_STATUS_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        goto done;
    }
    s = sync_directory(path);
done:
    if (s != CR_STATUS_OK) unlink(tmp);
    free(header);
    free(order);
    free(sorted);
    return s;
}
