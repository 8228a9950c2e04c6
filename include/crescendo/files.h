/* crescendo/files.h — small file-system helpers every module that writes results needs. */
#ifndef CRESCENDO_FILES_H
#define CRESCENDO_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "crescendo/status.h"

/* Creates `path` and any missing parents, like `mkdir -p`. Succeeds when it already is a folder;
 * fails with CR_STATUS_IO naming the path otherwise. */
cr_status cr_make_dirs(const char *path);

/* Writes what `write` puts into the stream to `path` atomically: into path.partial, flushed to
 * disk, then renamed over path, so a reader (or a run resumed after a crash) sees the old file or
 * the new one, never half of one. The partial file is removed when anything fails; write's own
 * failure comes back as it is, an I/O failure as CR_STATUS_IO naming the file. */
typedef cr_status (*cr_file_writer)(FILE *out, void *context);
cr_status cr_write_atomically(const char *path, cr_file_writer write, void *context);

/* The whole of the regular file `path` in *buffer and its length in *size; CR_STATUS_IO naming
 * the path when it cannot be read. *buffer (malloc'ed, the caller frees it) holds *capacity
 * bytes and is replaced by a larger one when the file needs more, so that a reader of many files
 * allocates once: NULL and 0 to start. */
cr_status cr_read_file(const char *path, void **buffer, size_t *capacity, size_t *size);

#endif
