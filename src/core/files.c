/* File-system helpers: creating a folder with its parents, for run folders and importers whose
 * output path a user types freely, replacing a file atomically, and reading one whole. */
#include "crescendo/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static cr_status make_one(const char *path) {
    if (mkdir(path, 0777) == 0) return CR_STATUS_OK;
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return CR_STATUS_OK;
        return cr_fail(CR_STATUS_IO, "%s: exists and is not a folder", path);
    }
    return cr_fail(CR_STATUS_IO, "%s: cannot create the folder: %s", path, strerror(errno));
}

cr_status cr_make_dirs(const char *path) {
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t)n >= sizeof buf)
        return cr_fail(CR_STATUS_INVALID, "folder path too long: %.64s...", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        cr_status s = make_one(buf);
        *p = '/';
        if (s != CR_STATUS_OK) return s;
    }
    return make_one(buf);
}

cr_status cr_write_atomically(const char *path, cr_file_writer write, void *context) {
    size_t length = strlen(path);
    char *partial = malloc(length + sizeof ".partial");
    if (!partial) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", path);
    memcpy(partial, path, length);
    memcpy(partial + length, ".partial", sizeof ".partial");
    FILE *out = fopen(partial, "w");
    cr_status s = CR_STATUS_OK;
    if (!out) {
        s = cr_fail(CR_STATUS_IO, "%s: cannot open for writing: %s", partial, strerror(errno));
        free(partial);
        return s;
    }
    s = write(out, context);
    int written = !ferror(out) && fflush(out) == 0 && fsync(fileno(out)) == 0;
    written &= fclose(out) == 0;
    if (s == CR_STATUS_OK && !written)
        s = cr_fail(CR_STATUS_IO, "%s: write failed: %s", partial, strerror(errno));
    if (s == CR_STATUS_OK && rename(partial, path) != 0)
        s = cr_fail(CR_STATUS_IO, "%s: cannot rename to %s: %s", partial, path, strerror(errno));
    if (s != CR_STATUS_OK) remove(partial);
    free(partial);
    return s;
}

cr_status cr_read_file(const char *path, void **buffer, size_t *capacity, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return cr_fail(CR_STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cr_fail(CR_STATUS_IO, "%s: not a regular file", path);
    }
    size_t want = (size_t)st.st_size;
    if (want > *capacity || !*buffer) {
        free(*buffer);
        *capacity = 0;
        *buffer = malloc(want ? want : 1);
        if (!*buffer) {
            fclose(f);
            return cr_fail(CR_STATUS_NOMEM, "%s: out of memory reading %zu bytes", path, want);
        }
        *capacity = want;
    }
    size_t got = want ? fread(*buffer, 1, want, f) : 0;
    int failed = ferror(f);
    fclose(f);
    if (failed || got != want)
        return cr_fail(CR_STATUS_IO, "%s: read %zu of %zu bytes", path, got, want);
    *size = got;
    return CR_STATUS_OK;
}
