/* File-system helpers: creating a folder with its parents, for run folders and importers whose
 * output path a user types freely. */
#include "crescendo/files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
