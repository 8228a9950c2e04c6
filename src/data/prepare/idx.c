/* Reading IDX files through zlib, which passes plain files through unchanged, so the .gz files
 * as published and gunzipped copies both work. */
#include "data/prepare/idx.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    IDX_UNSIGNED_BYTE = 0x08,
    MAX_BYTES = INT_MAX /* far above any MNIST-style set, and what one gzread can return */
};

/* Reads exactly n bytes; returns what it could read, or -1 on a zlib error. */
static long read_fully(gzFile f, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        int r = gzread(f, (char *)buf + got, (unsigned)(n - got));
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long)got;
}

static cr_status zlib_error(gzFile f, const char *path) {
    int code;
    const char *message = gzerror(f, &code);
    if (code == Z_ERRNO)
        return cr_fail(CR_STATUS_IO, "%s: read error: %s", path, strerror(errno));
    return cr_fail(CR_STATUS_DATA, "%s: corrupt gzip data: %s", path, message);
}

static cr_status read_header(gzFile f, const char *path, int ndim, cr_idx *out) {
    uint8_t magic[4];
    long got = read_fully(f, magic, 4);
    if (got < 0) return zlib_error(f, path);
    if (got < 4) return cr_fail(CR_STATUS_DATA, "%s: %ld bytes, too short for an IDX file", path, got);
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != IDX_UNSIGNED_BYTE || magic[3] != ndim)
        return cr_fail(CR_STATUS_DATA, "%s: magic number %02x%02x%02x%02x is not that of an IDX "
                       "file of unsigned bytes in %d dimensions (0000080%d)", path, magic[0],
                       magic[1], magic[2], magic[3], ndim, ndim);
    uint8_t dims[4 * CR_IDX_MAX_DIMS];
    got = read_fully(f, dims, 4 * (size_t)ndim);
    if (got < 0) return zlib_error(f, path);
    if (got < 4 * ndim)
        return cr_fail(CR_STATUS_DATA, "%s: truncated in the header (%d dimensions)", path, ndim);
    size_t size = 1;
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        const uint8_t *b = dims + 4 * d;
        uint32_t n = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (n == 0 || n > MAX_BYTES || size * n > MAX_BYTES)
            return cr_fail(CR_STATUS_DATA, "%s: dimension %d is %u, out of range", path, d, n);
        out->dims[d] = (int)n;
        size *= n;
    }
    out->size = size;
    return CR_STATUS_OK;
}

static cr_status read_body(gzFile f, const char *path, cr_idx *out) {
    out->data = malloc(out->size);
    if (!out->data) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory for %zu bytes", path,
                                   out->size);
    long got = read_fully(f, out->data, out->size);
    if (got < 0) return zlib_error(f, path);
    if ((size_t)got < out->size)
        return cr_fail(CR_STATUS_DATA, "%s: truncated: the header promises %zu bytes of data, "
                       "the file has %ld", path, out->size, got);
    uint8_t extra;
    got = read_fully(f, &extra, 1);
    if (got < 0) return zlib_error(f, path);
    if (got > 0)
        return cr_fail(CR_STATUS_DATA, "%s: more data than the header's %zu bytes", path,
                       out->size);
    return CR_STATUS_OK;
}

cr_status cr_idx_read(const char *path, int ndim, cr_idx *out) {
    memset(out, 0, sizeof *out);
    if (ndim < 1 || ndim > CR_IDX_MAX_DIMS)
        return cr_fail(CR_STATUS_INVALID, "IDX files of %d dimensions are not read", ndim);
    gzFile f = gzopen(path, "rb");
    if (!f) return cr_fail(CR_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    cr_status s = read_header(f, path, ndim, out);
    if (s == CR_STATUS_OK) s = read_body(f, path, out);
    int closed = gzclose_r(f);
    if (s == CR_STATUS_OK && closed != Z_OK)
        s = cr_fail(CR_STATUS_DATA, "%s: corrupt gzip data (check failed at the end)", path);
    if (s != CR_STATUS_OK) cr_idx_free(out);
    return s;
}

void cr_idx_free(cr_idx *idx) {
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
