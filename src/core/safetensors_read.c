/* The safetensors reader: the whole file is validated before any tensor is handed out.
 * A checkpoint comes from disk and may be truncated or hand-edited, so every field is checked. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crescendo/arena.h"
#include "crescendo/safetensors.h"

struct cr_safetensors {
    char *path;
    cr_named_tensor *tensors; /* (count), by name */
    int count;
    cr_metadata_entry *metadata; /* (metadata_count), by key */
    int metadata_count;
    char *strings; /* every name, key and value, NUL-terminated, back to back */
    char *block;   /* the data section, then aligned copies of tensors stored misaligned */
};

/* One tensor as the header describes it, before the data is in place. */
typedef struct entry {
    const char *name; /* in the JSON tree until copied */
    cr_dtype dtype;
    int ndim;
    int64_t shape[CR_MAX_DIMS];
    uint64_t begin, end;
} entry;

static cr_status bad(const char *label, const char *what) {
    return cr_fail(CR_STATUS_DATA, "%s: %s", label, what);
}

static uint64_t read_le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static int json_natural(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static cr_status parse_entry(const char *label, const char *name, const json_t *info,
                             uint64_t data_size, entry *e) {
    char what[512];
    if (!json_is_object(info)) {
        snprintf(what, sizeof what, "tensor \"%s\": expected an object with dtype, shape and "
                 "data_offsets", name);
        return bad(label, what);
    }
    const char *field;
    json_t *value;
    json_object_foreach((json_t *)info, field, value) {
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets")) {
            snprintf(what, sizeof what, "tensor \"%s\": unknown field \"%s\"", name, field);
            return bad(label, what);
        }
    }
    e->name = name;
    const json_t *dtype = json_object_get(info, "dtype");
    if (!json_is_string(dtype)) {
        snprintf(what, sizeof what, "tensor \"%s\": dtype missing or not a string", name);
        return bad(label, what);
    }
    if (cr_dtype_parse(json_string_value(dtype), &e->dtype) != 0) {
        snprintf(what, sizeof what, "tensor \"%s\": unknown dtype \"%.32s\" (crescendo reads F32, "
                 "BF16, F16, I64, I32, U8)", name, json_string_value(dtype));
        return bad(label, what);
    }
    const json_t *shape = json_object_get(info, "shape");
    if (!json_is_array(shape)) {
        snprintf(what, sizeof what, "tensor \"%s\": shape missing or not an array", name);
        return bad(label, what);
    }
    if (json_array_size(shape) > CR_MAX_DIMS) {
        snprintf(what, sizeof what, "tensor \"%s\": %zu dimensions, crescendo handles at most %d",
                 name, json_array_size(shape), CR_MAX_DIMS);
        return bad(label, what);
    }
    e->ndim = (int)json_array_size(shape);
    uint64_t bytes = cr_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) {
        uint64_t extent;
        if (!json_natural(json_array_get(shape, (size_t)d), &extent)) {
            snprintf(what, sizeof what, "tensor \"%s\": shape[%d] is not a non-negative integer",
                     name, d);
            return bad(label, what);
        }
        e->shape[d] = (int64_t)extent;
        if (__builtin_mul_overflow(bytes, extent, &bytes)) bytes = UINT64_MAX;
    }
    const json_t *offsets = json_object_get(info, "data_offsets");
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !json_natural(json_array_get(offsets, 0), &e->begin) ||
        !json_natural(json_array_get(offsets, 1), &e->end)) {
        snprintf(what, sizeof what, "tensor \"%s\": data_offsets must be [begin, end], two "
                 "non-negative integers", name);
        return bad(label, what);
    }
    if (e->end < e->begin || e->end > data_size) {
        snprintf(what, sizeof what, "tensor \"%s\": data_offsets [%llu, %llu] are outside the "
                 "data section of %llu bytes", name, (unsigned long long)e->begin,
                 (unsigned long long)e->end, (unsigned long long)data_size);
        return bad(label, what);
    }
    if (e->end - e->begin != bytes) {
        snprintf(what, sizeof what, "tensor \"%s\": shape and dtype %s need %llu bytes but "
                 "data_offsets [%llu, %llu] hold %llu", name, cr_dtype_name(e->dtype),
                 (unsigned long long)bytes, (unsigned long long)e->begin,
                 (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
        return bad(label, what);
    }
    return CR_STATUS_OK;
}

static int by_offsets(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The tensors must tile [0, data_size): sorted by offset, each starts where the last ended. */
static cr_status check_tiling(const char *label, entry *entries, int count, uint64_t data_size) {
    char what[512];
    qsort(entries, (size_t)count, sizeof *entries, by_offsets);
    uint64_t covered = 0;
    for (int i = 0; i < count; i++) {
        if (entries[i].begin < covered) {
            snprintf(what, sizeof what, "tensors \"%s\" and \"%s\" overlap: byte %llu belongs to "
                     "both", entries[i - 1].name, entries[i].name,
                     (unsigned long long)entries[i].begin);
            return bad(label, what);
        }
        if (entries[i].begin > covered) {
            snprintf(what, sizeof what, "bytes [%llu, %llu) of the data section belong to no "
                     "tensor (the offsets must be contiguous)", (unsigned long long)covered,
                     (unsigned long long)entries[i].begin);
            return bad(label, what);
        }
        covered = entries[i].end;
    }
    if (covered != data_size) {
        snprintf(what, sizeof what, "the data section has %llu bytes but the tensors cover "
                 "only the first %llu", (unsigned long long)data_size,
                 (unsigned long long)covered);
        return bad(label, what);
    }
    return CR_STATUS_OK;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const cr_named_tensor *)a)->name, ((const cr_named_tensor *)b)->name);
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const cr_metadata_entry *)a)->key, ((const cr_metadata_entry *)b)->key);
}

static char *copy_string(char **pool, const char *s) {
    size_t n = strlen(s) + 1;
    char *dst = memcpy(*pool, s, n);
    *pool += n;
    return dst;
}

/* Copies names, keys and values (`pool` bytes in all) out of the JSON tree into `st`; the
 * tensors keep the order of `entries`, the metadata is sorted by key. */
static cr_status copy_out(cr_safetensors *st, entry *entries, int n, const json_t *metadata,
                          size_t pool) {
    st->count = n;
    st->metadata_count = (int)json_object_size(metadata);
    st->tensors = calloc((size_t)n + 1, sizeof *st->tensors);
    st->metadata = calloc((size_t)st->metadata_count + 1, sizeof *st->metadata);
    st->strings = malloc(pool ? pool : 1);
    if (!st->tensors || !st->metadata || !st->strings)
        return cr_fail(CR_STATUS_NOMEM, "%s: cannot hold the header", st->path);
    char *cursor = st->strings;
    for (int i = 0; i < n; i++) {
        entries[i].name = copy_string(&cursor, entries[i].name);
        st->tensors[i].name = entries[i].name;
        st->tensors[i].tensor = cr_tensor_make(entries[i].dtype, entries[i].ndim,
                                               entries[i].shape, NULL);
    }
    const char *key;
    json_t *value;
    int m = 0;
    json_object_foreach((json_t *)metadata, key, value) {
        st->metadata[m].key = copy_string(&cursor, key);
        st->metadata[m].value = copy_string(&cursor, json_string_value(value));
        m++;
    }
    qsort(st->metadata, (size_t)m, sizeof *st->metadata, by_key);
    return CR_STATUS_OK;
}

/* Checks the header against a data section of data_size bytes and builds `st` from it, every
 * name, key and value copied out of the JSON tree; the data is placed by the caller. */
static cr_status build_from_header(cr_safetensors *st, const char *json, size_t json_size,
                                   uint64_t data_size, entry **out_entries) {
    const char *label = st->path;
    char what[1024];
    json_error_t err;
    json_t *root = json_loadb(json, json_size, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        snprintf(what, sizeof what, "header is not valid JSON: %s (line %d, column %d)",
                 err.text, err.line, err.column);
        return bad(label, what);
    }
    cr_status s = CR_STATUS_OK;
    entry *entries = NULL;
    if (!json_is_object(root)) {
        s = bad(label, "header is not a JSON object");
        goto done;
    }
    const json_t *metadata = json_object_get(root, "__metadata__");
    if (metadata && !json_is_object(metadata)) {
        s = bad(label, "__metadata__ is not an object of strings");
        goto done;
    }
    size_t pool = 0, tensor_count = json_object_size(root) - (metadata != NULL);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)metadata, key, value) {
        if (!json_is_string(value)) {
            snprintf(what, sizeof what, "__metadata__ \"%s\" is not a string", key);
            s = bad(label, what);
            goto done;
        }
        pool += strlen(key) + 1 + json_string_length(value) + 1;
    }
    if (tensor_count > INT32_MAX) {
        s = bad(label, "too many tensors");
        goto done;
    }
    entries = calloc(tensor_count ? tensor_count : 1, sizeof *entries);
    if (!entries) {
        s = cr_fail(CR_STATUS_NOMEM, "%s: cannot hold %zu tensor entries", label, tensor_count);
        goto done;
    }
    int n = 0;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) continue;
        if ((s = parse_entry(label, key, value, data_size, &entries[n])) != CR_STATUS_OK) goto done;
        pool += strlen(key) + 1;
        n++;
    }
    if ((s = check_tiling(label, entries, n, data_size)) != CR_STATUS_OK) goto done;

    s = copy_out(st, entries, n, metadata, pool);
done:
    json_decref(root);
    if (s != CR_STATUS_OK) {
        free(entries);
        entries = NULL;
    }
    *out_entries = entries;
    return s;
}

/* The data section goes to a 64-aligned block, so a tensor whose offset is a multiple of its
 * element size is aligned in place; the others (another writer's choice) get an aligned copy. */
static size_t misaligned_bytes(const entry *entries, int count) {
    size_t extra = 0;
    for (int i = 0; i < count; i++)
        if (entries[i].begin % cr_dtype_size(entries[i].dtype) != 0)
            extra += cr_align_up(entries[i].end - entries[i].begin, CR_ARENA_ALIGN);
    return extra;
}

static void place_tensors(cr_safetensors *st, const entry *entries, uint64_t data_size) {
    char *spare = st->block + cr_align_up(data_size, CR_ARENA_ALIGN);
    for (int i = 0; i < st->count; i++) {
        const entry *e = &entries[i];
        char *data = st->block + e->begin;
        if (e->begin % cr_dtype_size(e->dtype) != 0) {
            memcpy(spare, data, e->end - e->begin);
            data = spare;
            spare += cr_align_up(e->end - e->begin, CR_ARENA_ALIGN);
        }
        st->tensors[i].tensor.data = data;
    }
    qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, by_name);
}

static cr_status check_header_size(const char *label, uint64_t n, size_t size) {
    char what[256];
    if (n > CR_SAFETENSORS_MAX_HEADER) {
        snprintf(what, sizeof what, "header length %llu is over the limit of %u bytes (100 MiB): "
                 "corrupt or not a safetensors file", (unsigned long long)n,
                 CR_SAFETENSORS_MAX_HEADER);
        return bad(label, what);
    }
    if (n > size - 8) {
        snprintf(what, sizeof what, "header length %llu runs past the end of the file (%zu bytes):"
                 " truncated?", (unsigned long long)n, size);
        return bad(label, what);
    }
    return CR_STATUS_OK;
}

/* Where the bytes come from: a file descriptor or memory. */
typedef struct source {
    int fd;
    const unsigned char *bytes;
} source;

static cr_status source_read(const source *src, const char *label, void *dst, size_t offset,
                             size_t n) {
    if (src->bytes) {
        memcpy(dst, src->bytes + offset, n);
        return CR_STATUS_OK;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(src->fd, (char *)dst + done, n - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return cr_fail(CR_STATUS_IO, "%s: read failed: %s", label, strerror(errno));
        if (got == 0) return cr_fail(CR_STATUS_IO, "%s: file shrank while being read", label);
        done += (size_t)got;
    }
    return CR_STATUS_OK;
}

static cr_status load(const source *src, size_t size, const char *label, cr_safetensors **out) {
    *out = NULL;
    if (size < 8)
        return cr_fail(CR_STATUS_DATA, "%s: file is %zu bytes, too short for the 8-byte header "
                       "length (truncated or not a safetensors file)", label, size);
    unsigned char length[8];
    CR_TRY(source_read(src, label, length, 0, 8));
    uint64_t n = read_le64(length);
    CR_TRY(check_header_size(label, n, size));
    uint64_t data_size = size - 8 - n;

    cr_safetensors *st = calloc(1, sizeof *st);
    char *header = malloc(n ? n : 1);
    if (st) st->path = strdup(label);
    if (!st || !header || !st->path) {
        free(header);
        cr_safetensors_close(st);
        return cr_fail(CR_STATUS_NOMEM, "%s: cannot hold a header of %llu bytes", label,
                       (unsigned long long)n);
    }
    entry *entries = NULL;
    cr_status s = source_read(src, label, header, 8, n);
    if (s == CR_STATUS_OK) s = build_from_header(st, header, n, data_size, &entries);
    free(header);
    if (s == CR_STATUS_OK) {
        size_t block =
            cr_align_up(data_size, CR_ARENA_ALIGN) + misaligned_bytes(entries, st->count);
        st->block = aligned_alloc(CR_ARENA_ALIGN, block ? block : CR_ARENA_ALIGN);
        if (!st->block)
            s = cr_fail(CR_STATUS_NOMEM, "%s: cannot hold %zu bytes of tensor data", label, block);
    }
    if (s == CR_STATUS_OK) s = source_read(src, label, st->block, 8 + n, data_size);
    if (s == CR_STATUS_OK) place_tensors(st, entries, data_size);
    free(entries);
    if (s != CR_STATUS_OK) {
        cr_safetensors_close(st);
        return s;
    }
    *out = st;
    return CR_STATUS_OK;
}

cr_status cr_safetensors_open(const char *path, cr_safetensors **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cr_fail(CR_STATUS_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat info;
    cr_status s;
    if (fstat(fd, &info) != 0)
        s = cr_fail(CR_STATUS_IO, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(info.st_mode))
        s = cr_fail(CR_STATUS_IO, "%s is not a regular file", path);
    else
        s = load(&(source){.fd = fd}, (size_t)info.st_size, path, out);
    close(fd);
    return s;
}

cr_status cr_safetensors_parse(const void *bytes, size_t size, const char *label,
                               cr_safetensors **out) {
    return load(&(source){.fd = -1, .bytes = bytes}, size, label, out);
}

void cr_safetensors_close(cr_safetensors *file) {
    if (!file) return;
    free(file->path);
    free(file->tensors);
    free(file->metadata);
    free(file->strings);
    free(file->block);
    free(file);
}

int cr_safetensors_count(const cr_safetensors *file) { return file->count; }

const cr_named_tensor *cr_safetensors_at(const cr_safetensors *file, int index) {
    CR_ASSERT(index >= 0 && index < file->count);
    return &file->tensors[index];
}

const cr_tensor *cr_safetensors_find(const cr_safetensors *file, const char *name) {
    cr_named_tensor key = {.name = name};
    const cr_named_tensor *hit =
        bsearch(&key, file->tensors, (size_t)file->count, sizeof key, by_name);
    return hit ? &hit->tensor : NULL;
}

cr_status cr_safetensors_expect(const cr_safetensors *file, const char *name, cr_dtype dtype,
                                int ndim, const int64_t *shape, const cr_tensor **out) {
    *out = NULL;
    const cr_tensor *t = cr_safetensors_find(file, name);
    if (!t) return cr_fail(CR_STATUS_DATA, "%s: no tensor named \"%s\"", file->path, name);
    int same = t->dtype == dtype && t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[128], got[128];
        cr_shape_format(want, sizeof want, ndim, shape);
        cr_shape_format(got, sizeof got, t->ndim, t->shape);
        return cr_fail(CR_STATUS_DATA, "%s: tensor \"%s\" is %s %s, expected %s %s", file->path,
                       name, cr_dtype_name(t->dtype), got, cr_dtype_name(dtype), want);
    }
    *out = t;
    return CR_STATUS_OK;
}

int cr_safetensors_metadata_count(const cr_safetensors *file) { return file->metadata_count; }

const cr_metadata_entry *cr_safetensors_metadata_at(const cr_safetensors *file, int index) {
    CR_ASSERT(index >= 0 && index < file->metadata_count);
    return &file->metadata[index];
}

const char *cr_safetensors_metadata(const cr_safetensors *file, const char *key) {
    cr_metadata_entry probe = {.key = key};
    const cr_metadata_entry *hit =
        bsearch(&probe, file->metadata, (size_t)file->metadata_count, sizeof probe, by_key);
    return hit ? hit->value : NULL;
}

const char *cr_safetensors_path(const cr_safetensors *file) { return file->path; }
