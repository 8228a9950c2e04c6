/* Building a dataset index from a CSV: columns by name, labels from targets and/or class names,
 * every row checked (fields, numbers, ranges, names, the file on disk) with its line in errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset_build.h"

/* Class names to (label, line first seen): open addressing, at most half full. The keys are
 * copies, as pool strings move when the pool grows. */
typedef struct name_table {
    char **keys;     /* (capacity) NULL where empty */
    int32_t *labels; /* (capacity) */
    int *lines;      /* (capacity) */
    size_t capacity, used;
} name_table;

static size_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t table_slot(const name_table *t, const char *key) {
    size_t i = name_hash(key) & (t->capacity - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0) i = (i + 1) & (t->capacity - 1);
    return i;
}

/* The entry for key, or -1. */
static long table_find(const name_table *t, const char *key) {
    if (!t->capacity) return -1;
    size_t i = table_slot(t, key);
    return t->keys[i] ? (long)i : -1;
}

static void table_free(name_table *t) {
    for (size_t i = 0; i < t->capacity; i++) free(t->keys[i]);
    free(t->keys);
    free(t->labels);
    free(t->lines);
    memset(t, 0, sizeof *t);
}

static cr_status table_put(name_table *t, const char *key, int32_t label, int line) {
    if (2 * (t->used + 1) > t->capacity) {
        name_table bigger = {.capacity = t->capacity ? 2 * t->capacity : 64};
        bigger.keys = calloc(bigger.capacity, sizeof *bigger.keys);
        bigger.labels = malloc(bigger.capacity * sizeof *bigger.labels);
        bigger.lines = malloc(bigger.capacity * sizeof *bigger.lines);
        if (!bigger.keys || !bigger.labels || !bigger.lines) {
            table_free(&bigger);
            return cr_fail(CR_STATUS_NOMEM, "out of memory for class names");
        }
        for (size_t i = 0; i < t->capacity; i++) {
            if (!t->keys[i]) continue;
            size_t j = table_slot(&bigger, t->keys[i]);
            bigger.keys[j] = t->keys[i];
            bigger.labels[j] = t->labels[i];
            bigger.lines[j] = t->lines[i];
        }
        bigger.used = t->used;
        free(t->keys);
        free(t->labels);
        free(t->lines);
        *t = bigger;
    }
    size_t i = table_slot(t, key);
    t->keys[i] = strdup(key);
    if (!t->keys[i]) return cr_fail(CR_STATUS_NOMEM, "out of memory for class names");
    t->labels[i] = label;
    t->lines[i] = line;
    t->used++;
    return CR_STATUS_OK;
}

/* Everything known while the rows are read. */
typedef struct csv_reader {
    cr_dataset *ds;
    const cr_dataset_options *options;
    const char *name;     /* the CSV, for messages */
    int columns;          /* fields in the header */
    int path_column, target_column, class_column; /* -1 when absent */
    name_table by_name;   /* class name -> label (and the line that introduced it) */
    char **target_names;  /* (target_capacity) target -> the name first seen with it, or NULL */
    int *target_lines;    /* (target_capacity) where that was */
    int target_capacity;
    int max_label;        /* largest label accepted so far, -1 before any */
} csv_reader;

static void reader_free(csv_reader *r) {
    table_free(&r->by_name);
    for (int t = 0; t < r->target_capacity; t++) free(r->target_names[t]);
    free(r->target_names);
    free(r->target_lines);
}

/* "a, b, c" from a header row, cut to fit buf. */
static void list_columns(const cr_csv_row *header, char *buf, size_t capacity) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < header->count && used < capacity; i++) {
        int n = snprintf(buf + used, capacity - used, "%s%s", i ? ", " : "", header->fields[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static cr_status find_columns(csv_reader *r, const cr_csv_row *header) {
    const cr_dataset_options *o = r->options;
    const char *path = o->path_column ? o->path_column : "image_path";
    const char *target = o->target_column ? o->target_column : "target";
    const char *class_name = o->class_column ? o->class_column : "class_name";
    char columns[256];
    list_columns(header, columns, sizeof columns);
    r->columns = header->count;
    r->path_column = cr_csv_column(header, path);
    r->target_column = o->paths_only ? -1 : cr_csv_column(header, target);
    r->class_column = o->paths_only ? -1 : cr_csv_column(header, class_name);
    bool labels_named = !o->paths_only;
    const char *missing = r->path_column < 0                                        ? path
                          : labels_named && o->target_column && r->target_column < 0 ? target
                          : labels_named && o->class_column && r->class_column < 0   ? class_name
                                                                                     : NULL;
    if (missing)
        return cr_fail(CR_STATUS_DATA, "%s:%d: no column named '%s' in the header (it has: %s)",
                       r->name, header->line, missing, columns);
    if (labels_named && r->target_column < 0 && r->class_column < 0 && !o->labels_optional)
        return cr_fail(CR_STATUS_DATA, "%s:%d: no labels: the header has neither a '%s' nor a "
                       "'%s' column (it has: %s)", r->name, header->line, target, class_name,
                       columns);
    if (o->class_names) {
        for (int k = 0; k < o->num_classes; k++) {
            if (table_find(&r->by_name, o->class_names[k]) >= 0)
                return cr_fail(CR_STATUS_INVALID, "class '%s' is listed twice in the known "
                               "classes", o->class_names[k]);
            CR_TRY(table_put(&r->by_name, o->class_names[k], k, 0));
        }
    }
    return CR_STATUS_OK;
}

/* A target: a whole number, spaces around it allowed. */
static cr_status parse_target(const csv_reader *r, int line, const char *text, int32_t *out) {
    const char *p = text;
    while (*p == ' ' || *p == '\t') p++;
    long value = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        value = value * 10 + (*p - '0');
        if (value >= CR_DATASET_MAX_CLASSES)
            return cr_fail(CR_STATUS_DATA, "%s:%d: target '%s' is over the limit of %d classes",
                           r->name, line, text, CR_DATASET_MAX_CLASSES);
    }
    while (*p == ' ' || *p == '\t') p++;
    if (!digits || *p)
        return cr_fail(CR_STATUS_DATA, "%s:%d: target '%s' is not a whole number >= 0", r->name,
                       line, text);
    *out = (int32_t)value;
    return CR_STATUS_OK;
}

/* The label of a row from its target and/or class name, checked against what earlier rows and
 * the options say; changes nothing (see remember_label). */
static cr_status row_label(const csv_reader *r, const cr_csv_row *row, int32_t *label) {
    const cr_dataset_options *o = r->options;
    int line = row->line;
    const char *name = r->class_column >= 0 ? row->fields[r->class_column] : NULL;
    *label = -1;
    if (r->target_column >= 0) {
        CR_TRY(parse_target(r, line, row->fields[r->target_column], label));
        if (o->num_classes > 0 && *label >= o->num_classes)
            return cr_fail(CR_STATUS_DATA, "%s:%d: target %d is out of range: there are %d "
                           "classes, so targets go from 0 to %d", r->name, line, *label,
                           o->num_classes, o->num_classes - 1);
    }
    if (!name) return CR_STATUS_OK;
    if (!name[0]) return cr_fail(CR_STATUS_DATA, "%s:%d: empty class name", r->name, line);
    long entry = table_find(&r->by_name, name);
    if (o->class_names && entry < 0)
        return cr_fail(CR_STATUS_DATA, "%s:%d: class '%s' is not one of the %d known classes",
                       r->name, line, name, o->num_classes);
    if (r->target_column < 0) {
        if (entry >= 0) *label = r->by_name.labels[entry];
        else if (o->num_classes > 0 && (int)r->by_name.used >= o->num_classes)
            return cr_fail(CR_STATUS_DATA, "%s:%d: class '%s' is one more than the %d classes "
                           "expected", r->name, line, name, o->num_classes);
        return CR_STATUS_OK;
    }
    if (entry >= 0 && r->by_name.labels[entry] != *label) {
        if (o->class_names)
            return cr_fail(CR_STATUS_DATA, "%s:%d: class '%s' has target %d here, but it is "
                           "class %d of the known classes", r->name, line, name, *label,
                           r->by_name.labels[entry]);
        return cr_fail(CR_STATUS_DATA, "%s:%d: class '%s' has target %d here but %d at line %d",
                       r->name, line, name, *label, r->by_name.labels[entry],
                       r->by_name.lines[entry]);
    }
    if (entry < 0 && *label < r->target_capacity && r->target_names[*label])
        return cr_fail(CR_STATUS_DATA, "%s:%d: target %d is class '%s' here but '%s' at line %d",
                       r->name, line, *label, name, r->target_names[*label],
                       r->target_lines[*label]);
    return CR_STATUS_OK;
}

/* Records a new name or target of an accepted row. With class names only, a new name takes the
 * next provisional label (they are put in byte order at the end). */
static cr_status remember_label(csv_reader *r, const cr_csv_row *row, int32_t *label) {
    const char *name = r->class_column >= 0 ? row->fields[r->class_column] : NULL;
    if (name && table_find(&r->by_name, name) < 0) {
        if (r->target_column < 0) *label = (int32_t)r->by_name.used;
        CR_TRY(table_put(&r->by_name, name, *label, row->line));
        if (r->target_column >= 0) {
            if (*label >= r->target_capacity) {
                int capacity = r->target_capacity ? r->target_capacity : 16;
                while (capacity <= *label) capacity *= 2;
                char **names = realloc(r->target_names, (size_t)capacity * sizeof *names);
                if (names) r->target_names = names;
                int *lines = realloc(r->target_lines, (size_t)capacity * sizeof *lines);
                if (lines) r->target_lines = lines;
                if (!names || !lines) return cr_fail(CR_STATUS_NOMEM, "out of memory");
                for (int t = r->target_capacity; t < capacity; t++) names[t] = NULL;
                r->target_capacity = capacity;
            }
            r->target_names[*label] = strdup(name);
            if (!r->target_names[*label]) return cr_fail(CR_STATUS_NOMEM, "out of memory");
            r->target_lines[*label] = row->line;
        }
    }
    if (*label > r->max_label) r->max_label = *label;
    return CR_STATUS_OK;
}

static cr_status check_file(const csv_reader *r, int line, const char *path) {
    if (!path[0]) return cr_fail(CR_STATUS_DATA, "%s:%d: empty image path", r->name, line);
    if (r->options->skip_file_check) return CR_STATUS_OK;
    char full[4096];
    if (!cr_dataset_join(r->ds->root, path, full, sizeof full))
        return cr_fail(CR_STATUS_DATA, "%s:%d: image path '%s' is too long", r->name, line, path);
    struct stat st;
    if (stat(full, &st) != 0) {
        if (errno == ENOENT)
            return cr_fail(CR_STATUS_DATA, "%s:%d: image '%s' not found (looked for '%s')",
                           r->name, line, path, full);
        return cr_fail(CR_STATUS_DATA, "%s:%d: image '%s': %s", r->name, line, full,
                       strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        return cr_fail(CR_STATUS_DATA, "%s:%d: '%s' is a folder, not an image", r->name, line,
                       full);
    return CR_STATUS_OK;
}

static cr_status read_row(csv_reader *r, const cr_csv_row *row) {
    if (row->count != r->columns)
        return cr_fail(CR_STATUS_DATA, "%s:%d: %d fields, but the header has %d (a field with a "
                       "comma in it needs double quotes)", r->name, row->line, row->count,
                       r->columns);
    int32_t label;
    CR_TRY(row_label(r, row, &label));
    const char *path = row->fields[r->path_column];
    CR_TRY(check_file(r, row->line, path));
    CR_TRY(remember_label(r, row, &label));
    return cr_dataset_append(r->ds, path, label, row->line);
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sets the dataset's classes once every row is in. */
static cr_status finish_classes(csv_reader *r) {
    const cr_dataset_options *o = r->options;
    cr_dataset *ds = r->ds;
    if (o->class_names) return cr_dataset_set_classes(ds, o->num_classes, o->class_names);
    if (r->target_column < 0 && r->class_column < 0) return cr_dataset_set_classes(ds, 0, NULL);
    if (r->target_column >= 0) {
        int count = o->num_classes > 0 ? o->num_classes : r->max_label + 1;
        const char **names = calloc((size_t)count + 1, sizeof *names);
        if (!names) return cr_fail(CR_STATUS_NOMEM, "out of memory");
        for (int t = 0; t < count && t < r->target_capacity; t++) names[t] = r->target_names[t];
        cr_status s = cr_dataset_set_classes(ds, count, names);
        free(names);
        return s;
    }
    /* Class names only: sort them and relabel the samples from their provisional labels. */
    int distinct = (int)r->by_name.used;
    int count = o->num_classes > 0 ? o->num_classes : distinct;
    const char **names = calloc((size_t)count + 1, sizeof *names);
    int32_t *relabel = malloc(((size_t)distinct + 1) * sizeof *relabel);
    if (!names || !relabel) {
        free(names);
        free(relabel);
        return cr_fail(CR_STATUS_NOMEM, "out of memory");
    }
    int n = 0;
    for (size_t i = 0; i < r->by_name.capacity; i++)
        if (r->by_name.keys[i]) names[n++] = r->by_name.keys[i];
    qsort(names, (size_t)n, sizeof *names, compare_names);
    for (int k = 0; k < n; k++)
        relabel[r->by_name.labels[table_find(&r->by_name, names[k])]] = k;
    for (int i = 0; i < ds->count; i++) ds->labels[i] = relabel[ds->labels[i]];
    cr_status s = cr_dataset_set_classes(ds, count, names);
    free(names);
    free(relabel);
    return s;
}

static cr_status read_csv(csv_reader *r, cr_csv *csv) {
    cr_csv_row row;
    cr_status s = cr_csv_next(csv, &row);
    if (s == CR_STATUS_END)
        return cr_fail(CR_STATUS_DATA, "%s is empty: expected a header row such as "
                       "class_name,image_path,target", r->name);
    CR_TRY(s);
    CR_TRY(find_columns(r, &row));
    int rows = 0;
    while ((s = cr_csv_next(csv, &row)) == CR_STATUS_OK) {
        rows++;
        cr_status bad = read_row(r, &row);
        if (bad == CR_STATUS_DATA && r->options->on_bad == CR_ON_BAD_SKIP)
            CR_TRY(cr_dataset_note_skipped(r->ds));
        else if (bad != CR_STATUS_OK)
            return bad;
    }
    if (s != CR_STATUS_END) return s;
    if (rows == 0) return cr_fail(CR_STATUS_DATA, "%s has a header but no rows", r->name);
    if (r->ds->count == 0)
        return cr_fail(CR_STATUS_DATA, "%s: all %d rows are bad; the first: %s", r->name, rows,
                       cr_dataset_skipped_message(r->ds, 0));
    return finish_classes(r);
}

cr_status cr_dataset_from_csv(const char *csv_path, const char *root,
                              const cr_dataset_options *options, cr_dataset **out) {
    *out = NULL;
    const cr_dataset_options defaults = {0};
    if (!options) options = &defaults;
    if (options->num_classes < 0 || (options->class_names && options->num_classes == 0))
        return cr_fail(CR_STATUS_INVALID, "known classes need a count >= 1 (got %d)",
                       options->num_classes);
    cr_csv *csv;
    CR_TRY(cr_csv_open(csv_path, &csv));
    csv_reader r = {.options = options, .name = csv_path, .max_label = -1};
    cr_status s = cr_dataset_create_empty(root, csv_path, &r.ds);
    if (s == CR_STATUS_OK) s = read_csv(&r, csv);
    reader_free(&r);
    cr_csv_close(csv);
    if (s != CR_STATUS_OK) {
        cr_dataset_destroy(r.ds);
        return s;
    }
    *out = r.ds;
    return CR_STATUS_OK;
}
