/* crescendo/safetensors.h — checkpoints in the safetensors format, read and written whole.
 * PyTorch users load it with `safetensors.torch.load_file`, so a checkpoint is a state dict.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "conv1.weight": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [begin, end]}, ...}
 * then the data section: every tensor's raw little-endian bytes, the offsets relative to its start,
 * tiling it exactly (no gaps, no overlaps, nothing after the last tensor).
 *
 * The reader validates all of that before handing out a single tensor, and every message names the
 * file. The writer replaces the target atomically: a crash leaves the old file or the new one,
 * never a truncated mix — what `resume` relies on. */
#ifndef CRESCENDO_SAFETENSORS_H
#define CRESCENDO_SAFETENSORS_H

#include <stddef.h>

#include "crescendo/status.h"
#include "crescendo/tensor.h"

/* The reader refuses larger headers: a corrupt length must not make it allocate gigabytes. */
#define CR_SAFETENSORS_MAX_HEADER (100u << 20)

typedef struct cr_named_tensor {
    const char *name;
    cr_tensor tensor; /* host memory */
} cr_named_tensor;

typedef struct cr_metadata_entry {
    const char *key;
    const char *value;
} cr_metadata_entry;

/* Writes tensors and metadata to `path`, replacing it atomically (a temporary file in the same
 * directory, flushed and fsync'ed, renamed over `path`, then the directory fsync'ed). The data is
 * ordered by element size, largest first, then by name: deterministic, and every tensor starts at a
 * multiple of its element size. The header is padded with spaces so the data starts 8-aligned.
 * Fails with CR_STATUS_INVALID on a duplicate or empty name, a name or key of "__metadata__", a
 * tensor not in host memory; CR_STATUS_IO naming the path when the file cannot be written. */
cr_status cr_safetensors_write(const char *path, const cr_named_tensor *tensors, int count,
                               const cr_metadata_entry *metadata, int metadata_count);

/* A validated file held in memory; tensors are views into it. */
typedef struct cr_safetensors cr_safetensors;

/* Reads and validates the whole file. Fails with CR_STATUS_IO when it cannot be read and
 * CR_STATUS_DATA (message: "<path>: <what is wrong>") when it is not a safetensors file crescendo
 * can use: truncated, a bad header, offsets that do not tile the data section, or a tensor this
 * build cannot represent (a dtype such as F64, more than CR_MAX_DIMS dimensions). */
cr_status cr_safetensors_open(const char *path, cr_safetensors **out);

/* The same from bytes in memory (copied); `label` stands for the path in messages. */
cr_status cr_safetensors_parse(const void *bytes, size_t size, const char *label,
                               cr_safetensors **out);

void cr_safetensors_close(cr_safetensors *file);

/* Tensors in order of name (strcmp), index in [0, count). The name and the data stay valid until
 * cr_safetensors_close; data is aligned to at least its element size. */
int cr_safetensors_count(const cr_safetensors *file);
const cr_named_tensor *cr_safetensors_at(const cr_safetensors *file, int index);

/* The tensor called `name`, or NULL. */
const cr_tensor *cr_safetensors_find(const cr_safetensors *file, const char *name);

/* Like cr_safetensors_find, but a missing name, another dtype or another shape fail with
 * CR_STATUS_DATA and a message naming the file and the tensor: what loading a checkpoint into a
 * model of a given architecture needs. */
cr_status cr_safetensors_expect(const cr_safetensors *file, const char *name, cr_dtype dtype,
                                int ndim, const int64_t *shape, const cr_tensor **out);

/* Metadata in order of key; cr_safetensors_metadata returns NULL when `key` is absent. */
int cr_safetensors_metadata_count(const cr_safetensors *file);
const cr_metadata_entry *cr_safetensors_metadata_at(const cr_safetensors *file, int index);
const char *cr_safetensors_metadata(const cr_safetensors *file, const char *key);

/* The path (or label) the file was read from, for messages further up. */
const char *cr_safetensors_path(const cr_safetensors *file);

#endif
