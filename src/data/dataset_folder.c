/* Building a dataset index from an ImageFolder tree, root/<class>/<...>/<image>, in the order
 * torchvision's ImageFolder lists it, so that labels and sample order match a PyTorch run; and an
 * unlabeled one of every image under a folder, in the same order (predict). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/dataset_build.h"

enum { MAX_DEPTH = 32 }; /* deeper than any real tree: a symlink loop */

/* The files under one class folder: each names its folder (relative to the root) and itself. */
typedef struct file_entry {
    const char *dir; /* one of listing.dirs */
    char *name;
} file_entry;

typedef struct listing {
    char **dirs; /* (dir_count) "cat", "cat/more" */
    int dir_count, dir_capacity;
    file_entry *files; /* (file_count) */
    int file_count, file_capacity;
} listing;

static void listing_free(listing *l) {
    for (int i = 0; i < l->dir_count; i++) free(l->dirs[i]);
    for (int i = 0; i < l->file_count; i++) free(l->files[i].name);
    free(l->dirs);
    free(l->files);
    memset(l, 0, sizeof *l);
}

static cr_status listing_add_dir(listing *l, const char *dir) {
    if (l->dir_count == l->dir_capacity) {
        int capacity = l->dir_capacity ? 2 * l->dir_capacity : 16;
        char **grown = realloc(l->dirs, (size_t)capacity * sizeof *grown);
        if (!grown) return cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", dir);
        l->dirs = grown;
        l->dir_capacity = capacity;
    }
    l->dirs[l->dir_count] = strdup(dir);
    if (!l->dirs[l->dir_count]) return cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", dir);
    l->dir_count++;
    return CR_STATUS_OK;
}

static cr_status listing_add_file(listing *l, const char *dir, const char *name) {
    if (l->file_count == l->file_capacity) {
        int capacity = l->file_capacity ? 2 * l->file_capacity : 256;
        file_entry *grown = realloc(l->files, (size_t)capacity * sizeof *grown);
        if (!grown) return cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", dir);
        l->files = grown;
        l->file_capacity = capacity;
    }
    l->files[l->file_count].dir = dir;
    l->files[l->file_count].name = strdup(name);
    if (!l->files[l->file_count].name)
        return cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", dir);
    l->file_count++;
    return CR_STATUS_OK;
}

/* Adds root/rel's files to l and walks its subfolders (following links, as torchvision does). */
static cr_status walk(const char *root, const char *rel, int depth, listing *l) {
    char path[4096];
    if (!cr_dataset_join(root, rel, path, sizeof path))
        return cr_fail(CR_STATUS_DATA, "%s/%s: path too long", root, rel);
    if (depth > MAX_DEPTH)
        return cr_fail(CR_STATUS_DATA, "%s: folders nested more than %d deep (a symbolic link "
                       "loop?)", path, MAX_DEPTH);
    DIR *d = opendir(path);
    if (!d) return cr_fail(CR_STATUS_IO, "%s: cannot open the folder: %s", path, strerror(errno));
    cr_status s = listing_add_dir(l, rel);
    const char *dir = s == CR_STATUS_OK ? l->dirs[l->dir_count - 1] : NULL;
    struct dirent *e;
    while (s == CR_STATUS_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char child[4096], child_rel[4096];
        if (!cr_dataset_join(path, e->d_name, child, sizeof child) ||
            !cr_dataset_join(rel, e->d_name, child_rel, sizeof child_rel)) {
            s = cr_fail(CR_STATUS_DATA, "%s/%s: path too long", path, e->d_name);
            break;
        }
        /* d_type saves a stat per file; links and unknown types are followed with one. */
        int is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
        struct stat st;
        if (e->d_type != DT_DIR && e->d_type != DT_REG) {
            if (stat(child, &st) != 0) continue; /* a dangling link: torchvision skips it too */
            is_dir = S_ISDIR(st.st_mode);
            is_file = S_ISREG(st.st_mode);
        }
        if (is_dir)
            s = walk(root, child_rel, depth + 1, l);
        else if (is_file)
            s = listing_add_file(l, dir, e->d_name);
    }
    closedir(d);
    return s;
}

/* torchvision sorts os.walk's folders by path, then the files of each by name. */
static int compare_files(const void *a, const void *b) {
    const file_entry *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static int has_extension(const char *name, const char *const *extensions, int count) {
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && i < count; i++)
        if (strcasecmp(dot, extensions[i]) == 0) return 1;
    return 0;
}

static cr_status bad(cr_dataset *ds, cr_on_bad on_bad, cr_status s) {
    return s == CR_STATUS_DATA && on_bad == CR_ON_BAD_SKIP ? cr_dataset_note_skipped(ds) : s;
}

/* Adds the PNG and JPEG images under root/rel (rel "" for the root itself) with the given label,
 * in torchvision's order; other image types fail, or are skipped under CR_ON_BAD_SKIP. */
static cr_status read_images(cr_dataset *ds, const char *rel, int32_t label, cr_on_bad on_bad) {
    static const char *const decoded[] = {".png", ".jpg", ".jpeg"};
    static const char *const other_images[] = {".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"};
    listing l = {0};
    cr_status s = walk(ds->root, rel, 1, &l);
    if (s == CR_STATUS_OK) qsort(l.files, (size_t)l.file_count, sizeof *l.files, compare_files);
    for (int i = 0; i < l.file_count && s == CR_STATUS_OK; i++) {
        const file_entry *f = &l.files[i];
        char path[4096];
        if (!cr_dataset_join(f->dir, f->name, path, sizeof path))
            s = bad(ds, on_bad, cr_fail(CR_STATUS_DATA, "%s/%s/%s: path too long", ds->root,
                                        f->dir, f->name));
        else if (has_extension(f->name, decoded, 3))
            s = cr_dataset_append(ds, path, label, 0);
        else if (has_extension(f->name, other_images, 6))
            s = bad(ds, on_bad, cr_fail(CR_STATUS_DATA, "%s/%s: only PNG and JPEG images are "
                                        "read; convert this one", ds->root, path));
    }
    listing_free(&l);
    return s;
}

/* Adds the images of class folder `name` with the given label. */
static cr_status read_class(cr_dataset *ds, const char *name, int32_t label, cr_on_bad on_bad) {
    int before = ds->count;
    CR_TRY(read_images(ds, name, label, on_bad));
    if (ds->count == before)
        return bad(ds, on_bad, cr_fail(CR_STATUS_DATA, "%s/%s: no PNG or JPEG images in this "
                                       "class folder", ds->root, name));
    return CR_STATUS_OK;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The class folders directly under root, in byte order. */
static cr_status list_classes(const char *root, char ***out, int *count) {
    *out = NULL;
    *count = 0;
    DIR *d = opendir(root);
    if (!d) return cr_fail(CR_STATUS_IO, "%s: cannot open the folder: %s", root, strerror(errno));
    char **names = NULL;
    int n = 0, capacity = 0;
    cr_status s = CR_STATUS_OK;
    struct dirent *e;
    while (s == CR_STATUS_OK && (e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.' || !cr_dataset_join(root, e->d_name, path, sizeof path) ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            char **grown = realloc(names, (size_t)capacity * sizeof *grown);
            if (!grown) {
                s = cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", root);
                break;
            }
            names = grown;
        }
        names[n] = strdup(e->d_name);
        if (!names[n]) s = cr_fail(CR_STATUS_NOMEM, "out of memory listing %s", root);
        else n++;
    }
    closedir(d);
    if (s == CR_STATUS_OK && n == 0)
        s = cr_fail(CR_STATUS_DATA, "%s: no class folders; an image folder is laid out as "
                    "%s/<class>/<image> (or give a CSV)", root, root);
    if (s != CR_STATUS_OK) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return s;
    }
    qsort(names, (size_t)n, sizeof *names, compare_names);
    *out = names;
    *count = n;
    return CR_STATUS_OK;
}

/* The label of class folder `name`: its rank among the folders, or its index among the known
 * classes (-1 with an error when it is not one of them). */
static cr_status folder_label(const cr_dataset *ds, const cr_dataset_options *o, const char *name,
                              int rank, int32_t *label) {
    *label = rank;
    if (!o->class_names) return CR_STATUS_OK;
    for (int k = 0; k < o->num_classes; k++)
        if (strcmp(o->class_names[k], name) == 0) {
            *label = k;
            return CR_STATUS_OK;
        }
    *label = -1;
    return cr_fail(CR_STATUS_DATA, "%s/%s: folder '%s' is not one of the %d known classes",
                   ds->root, name, name, o->num_classes);
}

static cr_status read_folder(cr_dataset *ds, const cr_dataset_options *o) {
    char **classes;
    int count;
    CR_TRY(list_classes(ds->root, &classes, &count));
    cr_status s = CR_STATUS_OK;
    if (!o->class_names && o->num_classes > 0 && count > o->num_classes)
        s = cr_fail(CR_STATUS_DATA, "%s: %d class folders, more than the %d classes expected",
                    ds->root, count, o->num_classes);
    for (int c = 0; c < count && s == CR_STATUS_OK; c++) {
        int32_t label;
        s = folder_label(ds, o, classes[c], c, &label);
        if (s == CR_STATUS_OK)
            s = read_class(ds, classes[c], label, o->on_bad);
        else
            s = bad(ds, o->on_bad, s);
    }
    if (s == CR_STATUS_OK && ds->count == 0)
        s = cr_fail(CR_STATUS_DATA, "%s: no usable images; the first problem: %s", ds->root,
                    cr_dataset_skipped_message(ds, 0));
    if (s == CR_STATUS_OK) {
        if (o->class_names)
            s = cr_dataset_set_classes(ds, o->num_classes, o->class_names);
        else
            s = cr_dataset_set_classes(ds, count, (const char *const *)classes);
    }
    for (int c = 0; c < count; c++) free(classes[c]);
    free(classes);
    return s;
}

/* An unlabeled set of every image under the root, class folders or not. */
static cr_status read_all_images(cr_dataset *ds, const cr_dataset_options *o) {
    CR_TRY(read_images(ds, "", -1, o->on_bad));
    if (ds->count == 0 && cr_dataset_skipped_count(ds) > 0)
        return cr_fail(CR_STATUS_DATA, "%s: no usable images; the first problem: %s", ds->root,
                       cr_dataset_skipped_message(ds, 0));
    if (ds->count == 0)
        return cr_fail(CR_STATUS_DATA, "%s: no PNG or JPEG images in this folder or below it",
                       ds->root);
    return cr_dataset_set_classes(ds, 0, NULL);
}

/* Checks the options, creates the set and fills it with `read`. */
static cr_status build(const char *root, const cr_dataset_options *options,
                       cr_status (*read)(cr_dataset *, const cr_dataset_options *),
                       cr_dataset **out) {
    *out = NULL;
    const cr_dataset_options defaults = {0};
    if (!options) options = &defaults;
    if (options->num_classes < 0 || (options->class_names && options->num_classes == 0))
        return cr_fail(CR_STATUS_INVALID, "known classes need a count >= 1 (got %d)",
                       options->num_classes);
    if (!root || !root[0]) root = ".";
    cr_dataset *ds;
    CR_TRY(cr_dataset_create_empty(root, root, &ds));
    cr_status s = read(ds, options);
    if (s != CR_STATUS_OK) {
        cr_dataset_destroy(ds);
        return s;
    }
    *out = ds;
    return CR_STATUS_OK;
}

cr_status cr_dataset_from_folder(const char *root, const cr_dataset_options *options,
                                 cr_dataset **out) {
    return build(root, options, read_folder, out);
}

cr_status cr_dataset_from_images(const char *root, const cr_dataset_options *options,
                                 cr_dataset **out) {
    return build(root, options, read_all_images, out);
}
