/* dataset_build.h — the dataset index's representation, shared by the files that build one
 * (dataset_csv.c, dataset_folder.c) and the one that reads and splits it (dataset.c).
 * Private to src/data: the public contract is crescendo/dataset.h. */
#ifndef CR_DATA_DATASET_BUILD_H
#define CR_DATA_DATASET_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "crescendo/dataset.h"

/* Labels above this are taken for typing mistakes rather than classes (and would cost memory). */
enum { CR_DATASET_MAX_CLASSES = 1 << 20 };

/* Every string (paths, class names, skip messages) lives in one pool and is named by its offset,
 * so a set of a million images costs a handful of allocations. */
struct cr_dataset {
    char *root;            /* "" for the current directory */
    char *source;          /* the CSV path or the folder, for messages */
    char *pool;            /* (pool_used) NUL-terminated strings back to back */
    size_t pool_used, pool_capacity;
    int count, capacity;
    size_t *paths;         /* (count) pool offsets */
    int32_t *labels;       /* (count) in [0, num_classes), or -1 in an unlabeled set */
    int *lines;            /* (count) CSV lines, 0 for a folder */
    int num_classes;
    size_t *class_names;   /* (num_classes) pool offsets */
    int skipped_count, skipped_capacity;
    size_t *skipped;       /* (skipped_count) pool offsets of messages */
};

cr_status cr_dataset_create_empty(const char *root, const char *source, cr_dataset **out);
/* Copies s into the pool. */
cr_status cr_dataset_intern(cr_dataset *ds, const char *s, size_t *offset);
static inline const char *cr_dataset_string(const cr_dataset *ds, size_t offset) {
    return ds->pool + offset;
}
/* root/path into buf, or path alone when it is absolute or root is "", or root alone when path is
 * "". Returns 0 when it does not fit. */
int cr_dataset_join(const char *root, const char *path, char *buf, size_t capacity);
cr_status cr_dataset_append(cr_dataset *ds, const char *path, int32_t label, int line);
/* Records the calling thread's current error message as a skipped row. */
cr_status cr_dataset_note_skipped(cr_dataset *ds);
/* Sets num_classes and the names: names[k], or the number k where names is NULL or names[k] is. */
cr_status cr_dataset_set_classes(cr_dataset *ds, int num_classes, const char *const *names);

#endif
