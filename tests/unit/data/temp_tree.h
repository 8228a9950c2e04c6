/* temp_tree.h — throwaway folders of small files for the data module's tests.
 * Header-only (test programs link nothing but their module): make a folder under /tmp, write
 * files into it by relative path, and remove it all at the end. */
#ifndef CR_TESTS_TEMP_TREE_H
#define CR_TESTS_TEMP_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct temp_tree {
    char root[256];
} temp_tree;

/* A fresh, empty folder /tmp/<prefix>XXXXXX; aborts the test program if /tmp is unusable. */
static inline void temp_tree_make(temp_tree *t, const char *prefix) {
    snprintf(t->root, sizeof t->root, "/tmp/%sXXXXXX", prefix);
    if (!mkdtemp(t->root)) {
        perror("mkdtemp");
        exit(2);
    }
}

/* root/rel into buf. */
static inline const char *temp_tree_path(const temp_tree *t, const char *rel, char *buf,
                                         size_t capacity) {
    snprintf(buf, capacity, "%s/%s", t->root, rel);
    return buf;
}

/* Creates the folders of root/rel (rel's last part is a file unless it ends with '/'). */
static inline void temp_tree_mkdirs(const temp_tree *t, const char *rel) {
    char path[1024];
    temp_tree_path(t, rel, path, sizeof path);
    for (char *p = path + strlen(t->root) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
}

/* Writes size bytes to root/rel, creating its folders. */
static inline void temp_tree_write(const temp_tree *t, const char *rel, const void *bytes,
                                   size_t size) {
    char path[1024];
    temp_tree_mkdirs(t, rel);
    FILE *f = fopen(temp_tree_path(t, rel, path, sizeof path), "wb");
    if (!f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static inline void temp_tree_write_text(const temp_tree *t, const char *rel, const char *text) {
    temp_tree_write(t, rel, text, strlen(text));
}

static inline int temp_tree_remove_entry(const char *path, const struct stat *st, int flag,
                                         struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void temp_tree_remove(temp_tree *t) {
    nftw(t->root, temp_tree_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
