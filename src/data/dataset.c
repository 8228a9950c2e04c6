/* The dataset index once built: its storage, its accessors, subsets and the stratified split.
 * Reading a CSV or a folder into it lives in dataset_csv.c and dataset_folder.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crescendo/rng.h"
#include "data/dataset_build.h"

/* The stream of cr_rng_stream(seed, SPLIT_STREAM, class) that picks a class's validation
 * samples; the loader's streams use epochs as their first word, which never reach it. */
#define SPLIT_STREAM 0x73706c6974ull /* "split" */

cr_status cr_dataset_create_empty(const char *root, const char *source, cr_dataset **out) {
    *out = NULL;
    cr_dataset *ds = calloc(1, sizeof *ds);
    if (ds) {
        ds->root = strdup(root ? root : "");
        ds->source = strdup(source);
    }
    if (!ds || !ds->root || !ds->source) {
        cr_dataset_destroy(ds);
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", source);
    }
    *out = ds;
    return CR_STATUS_OK;
}

void cr_dataset_destroy(cr_dataset *ds) {
    if (!ds) return;
    free(ds->root);
    free(ds->source);
    free(ds->pool);
    free(ds->paths);
    free(ds->labels);
    free(ds->lines);
    free(ds->class_names);
    free(ds->skipped);
    free(ds);
}

cr_status cr_dataset_intern(cr_dataset *ds, const char *s, size_t *offset) {
    size_t n = strlen(s) + 1;
    if (ds->pool_used + n > ds->pool_capacity) {
        size_t capacity = ds->pool_capacity ? 2 * ds->pool_capacity : 1 << 16;
        while (capacity < ds->pool_used + n) capacity *= 2;
        char *grown = realloc(ds->pool, capacity);
        if (!grown) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
        ds->pool = grown;
        ds->pool_capacity = capacity;
    }
    memcpy(ds->pool + ds->pool_used, s, n);
    *offset = ds->pool_used;
    ds->pool_used += n;
    return CR_STATUS_OK;
}

cr_status cr_dataset_append(cr_dataset *ds, const char *path, int32_t label, int line) {
    if (ds->count == ds->capacity) {
        int capacity = ds->capacity ? 2 * ds->capacity : 256;
        /* Each array keeps what it got: a larger array than capacity says is harmless. */
        size_t *paths = realloc(ds->paths, (size_t)capacity * sizeof *paths);
        if (paths) ds->paths = paths;
        int32_t *labels = realloc(ds->labels, (size_t)capacity * sizeof *labels);
        if (labels) ds->labels = labels;
        int *lines = realloc(ds->lines, (size_t)capacity * sizeof *lines);
        if (lines) ds->lines = lines;
        if (!paths || !labels || !lines)
            return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
        ds->capacity = capacity;
    }
    CR_TRY(cr_dataset_intern(ds, path, &ds->paths[ds->count]));
    ds->labels[ds->count] = label;
    ds->lines[ds->count] = line;
    ds->count++;
    return CR_STATUS_OK;
}

cr_status cr_dataset_note_skipped(cr_dataset *ds) {
    if (ds->skipped_count == ds->skipped_capacity) {
        int capacity = ds->skipped_capacity ? 2 * ds->skipped_capacity : 16;
        size_t *grown = realloc(ds->skipped, (size_t)capacity * sizeof *grown);
        if (!grown) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
        ds->skipped = grown;
        ds->skipped_capacity = capacity;
    }
    return cr_dataset_intern(ds, cr_error_message(), &ds->skipped[ds->skipped_count++]);
}

cr_status cr_dataset_set_classes(cr_dataset *ds, int num_classes, const char *const *names) {
    free(ds->class_names);
    ds->num_classes = 0;
    ds->class_names = malloc((size_t)(num_classes ? num_classes : 1) * sizeof *ds->class_names);
    if (!ds->class_names) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
    for (int k = 0; k < num_classes; k++) {
        char number[16];
        const char *name = names && names[k] ? names[k] : number;
        snprintf(number, sizeof number, "%d", k);
        CR_TRY(cr_dataset_intern(ds, name, &ds->class_names[k]));
    }
    ds->num_classes = num_classes;
    return CR_STATUS_OK;
}

int cr_dataset_count(const cr_dataset *ds) { return ds->count; }

const char *cr_dataset_path(const cr_dataset *ds, int i) {
    return cr_dataset_string(ds, ds->paths[i]);
}

int cr_dataset_join(const char *root, const char *path, char *buf, size_t capacity) {
    int n = path[0] == '/' || root[0] == '\0' ? snprintf(buf, capacity, "%s", path)
            : path[0] == '\0'                  ? snprintf(buf, capacity, "%s", root)
                                              : snprintf(buf, capacity, "%s/%s", root, path);
    return n >= 0 && (size_t)n < capacity;
}

cr_status cr_dataset_resolve(const cr_dataset *ds, int i, char *buf, size_t capacity) {
    if (!cr_dataset_join(ds->root, cr_dataset_path(ds, i), buf, capacity))
        return cr_fail(CR_STATUS_INVALID, "%s/%s: path longer than %zu bytes", ds->root,
                       cr_dataset_path(ds, i), capacity - 1);
    return CR_STATUS_OK;
}

int32_t cr_dataset_label(const cr_dataset *ds, int i) { return ds->labels[i]; }
const int32_t *cr_dataset_labels(const cr_dataset *ds) { return ds->labels; }
int cr_dataset_line(const cr_dataset *ds, int i) { return ds->lines[i]; }

void cr_dataset_where(const cr_dataset *ds, int i, char *buf, size_t capacity) {
    if (ds->lines[i] > 0)
        snprintf(buf, capacity, "%s:%d", ds->source, ds->lines[i]);
    else if (cr_dataset_resolve(ds, i, buf, capacity) != CR_STATUS_OK)
        snprintf(buf, capacity, "%s", cr_dataset_path(ds, i));
}

int cr_dataset_num_classes(const cr_dataset *ds) { return ds->num_classes; }

const char *cr_dataset_class_name(const cr_dataset *ds, int k) {
    return cr_dataset_string(ds, ds->class_names[k]);
}

const char *cr_dataset_root(const cr_dataset *ds) { return ds->root; }
const char *cr_dataset_source(const cr_dataset *ds) { return ds->source; }
int cr_dataset_skipped_count(const cr_dataset *ds) { return ds->skipped_count; }

const char *cr_dataset_skipped_message(const cr_dataset *ds, int i) {
    return cr_dataset_string(ds, ds->skipped[i]);
}

static cr_status copy_classes(const cr_dataset *from, cr_dataset *to) {
    const char **names = malloc((size_t)(from->num_classes + 1) * sizeof *names);
    if (!names) return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", from->source);
    for (int k = 0; k < from->num_classes; k++) names[k] = cr_dataset_class_name(from, k);
    cr_status s = cr_dataset_set_classes(to, from->num_classes, names);
    free(names);
    return s;
}

cr_status cr_dataset_subset(const cr_dataset *ds, const int *indices, int count,
                            cr_dataset **out) {
    for (int j = 0; j < count; j++)
        if (indices[j] < 0 || indices[j] >= ds->count)
            return cr_fail(CR_STATUS_INVALID, "%s: subset index %d is outside [0, %d)", ds->source,
                           indices[j], ds->count);
    cr_dataset *sub;
    CR_TRY(cr_dataset_create_empty(ds->root, ds->source, &sub));
    cr_status s = copy_classes(ds, sub);
    for (int j = 0; j < count && s == CR_STATUS_OK; j++) {
        int i = indices[j];
        s = cr_dataset_append(sub, cr_dataset_path(ds, i), ds->labels[i], ds->lines[i]);
    }
    if (s != CR_STATUS_OK) {
        cr_dataset_destroy(sub);
        return s;
    }
    *out = sub;
    return CR_STATUS_OK;
}

/* Marks in in_val[] the validation samples: the samples are grouped by class (in order), then
 * a seeded partial Fisher-Yates shuffle of each group picks round(n * fraction) of them. */
static cr_status choose_validation(const cr_dataset *ds, double fraction, uint64_t seed,
                                   unsigned char *in_val) {
    int k_count = ds->num_classes;
    int *start = calloc((size_t)k_count + 1, sizeof *start); /* (K + 1) group boundaries */
    int *fill = calloc((size_t)k_count + 1, sizeof *fill);
    int *grouped = malloc(((size_t)ds->count + 1) * sizeof *grouped); /* (count) by class */
    if (!start || !fill || !grouped) {
        free(start);
        free(fill);
        free(grouped);
        return cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
    }
    for (int i = 0; i < ds->count; i++) start[ds->labels[i] + 1]++;
    for (int k = 0; k < k_count; k++) start[k + 1] += start[k];
    for (int i = 0; i < ds->count; i++) {
        int k = ds->labels[i];
        grouped[start[k] + fill[k]++] = i;
    }
    for (int k = 0; k < k_count; k++) {
        int *members = grouped + start[k];
        int n = start[k + 1] - start[k];
        int take = (int)(n * fraction + 0.5);
        if (take < 1) take = 1;
        if (take > n - 1) take = n - 1; /* also 0 for a class of one sample */
        cr_rng rng = cr_rng_stream(seed, SPLIT_STREAM, (uint64_t)k);
        for (int j = 0; j < take; j++) {
            int pick = j + (int)cr_rng_below(&rng, (uint32_t)(n - j));
            int chosen = members[pick];
            members[pick] = members[j];
            members[j] = chosen;
            in_val[chosen] = 1;
        }
    }
    free(start);
    free(fill);
    free(grouped);
    return CR_STATUS_OK;
}

cr_status cr_dataset_split(const cr_dataset *ds, double val_fraction, uint64_t seed,
                           cr_dataset **train, cr_dataset **val) {
    *train = *val = NULL;
    if (!(val_fraction > 0.0 && val_fraction < 1.0))
        return cr_fail(CR_STATUS_INVALID, "validation fraction %g is not between 0 and 1",
                       val_fraction);
    if (ds->num_classes == 0)
        return cr_fail(CR_STATUS_INVALID, "%s: cannot split an unlabeled set by class",
                       ds->source);
    unsigned char *in_val = calloc((size_t)ds->count + 1, 1);
    int *order = malloc(((size_t)ds->count + 1) * sizeof *order);
    cr_status s = in_val && order ? CR_STATUS_OK
                                  : cr_fail(CR_STATUS_NOMEM, "%s: out of memory", ds->source);
    if (s == CR_STATUS_OK) s = choose_validation(ds, val_fraction, seed, in_val);
    if (s == CR_STATUS_OK) {
        /* Training indices from the front of order[], validation ones from the back. */
        int front = 0, back = ds->count;
        for (int i = 0; i < ds->count; i++) {
            if (in_val[i])
                order[--back] = i;
            else
                order[front++] = i;
        }
        for (int a = back, b = ds->count - 1; a < b; a++, b--) {
            int t = order[a];
            order[a] = order[b];
            order[b] = t;
        }
        s = cr_dataset_subset(ds, order, front, train);
        if (s == CR_STATUS_OK) s = cr_dataset_subset(ds, order + back, ds->count - back, val);
    }
    if (s != CR_STATUS_OK) {
        cr_dataset_destroy(*train);
        *train = NULL;
    }
    free(in_val);
    free(order);
    return s;
}
