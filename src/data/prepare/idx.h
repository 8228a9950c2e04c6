/* idx.h — the IDX format of MNIST-style datasets (big-endian header, then raw unsigned bytes).
 * Private to src/data: importers read their source files with it. */
#ifndef CR_DATA_PREPARE_IDX_H
#define CR_DATA_PREPARE_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "crescendo/status.h"

enum { CR_IDX_MAX_DIMS = 3 };

typedef struct cr_idx {
    int ndim;
    int dims[CR_IDX_MAX_DIMS];
    uint8_t *data; /* (dims[0], .., dims[ndim - 1]) */
    size_t size;   /* bytes at data */
} cr_idx;

/* Reads an IDX file of unsigned bytes with exactly ndim dimensions, gzipped or plain (zlib tells
 * them apart). Fails with CR_STATUS_IO when the file cannot be read, CR_STATUS_DATA (naming the
 * file) on a wrong magic number, dimension count, size or truncation. */
cr_status cr_idx_read(const char *path, int ndim, cr_idx *out);
void cr_idx_free(cr_idx *idx);

#endif
