/* crescendo/dataset.h — the CSV reader and the dataset index: which images, which labels.
 * An index is read and validated once (rows, labels, files on disk), so that a bad row is reported
 * with its file and line before training starts rather than as a crash an hour into it. */
#ifndef CRESCENDO_DATASET_H
#define CRESCENDO_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crescendo/status.h"

/* ---- CSV (RFC 4180) -------------------------------------------------------------------------
 * Fields separated by commas; a field in double quotes may hold commas, line breaks and quotes
 * written twice (""). Records end with LF, CRLF or CR; a UTF-8 byte order mark at the start is
 * ignored, and so are empty lines. A quote after a closing quote, an unclosed quote or a NUL byte
 * is an error naming the file and line. Spaces are kept as they are. */

typedef struct cr_csv cr_csv;

typedef struct cr_csv_row {
    int line;                  /* line of the file where the record starts, from 1 */
    int count;                 /* fields in the record, >= 1 */
    const char *const *fields; /* (count) the array is reused by the next cr_csv_next; the
                                * strings stay valid until cr_csv_close */
} cr_csv_row;

/* Reads the whole file. Fails with CR_STATUS_IO when it cannot be read. */
cr_status cr_csv_open(const char *path, cr_csv **out);
/* Parses a copy of text[0, length); name is used in messages ("train.csv"). */
cr_status cr_csv_open_memory(const char *name, const char *text, size_t length, cr_csv **out);
/* The next record, CR_STATUS_END after the last one, or CR_STATUS_DATA for malformed text. */
cr_status cr_csv_next(cr_csv *csv, cr_csv_row *row);
/* The name given at opening, for messages. */
const char *cr_csv_name(const cr_csv *csv);
void cr_csv_close(cr_csv *csv);

/* The index of the column called name in a header row (surrounding spaces ignored), or -1. */
int cr_csv_column(const cr_csv_row *header, const char *name);

/* Writes s as one field of a CSV that this reader (and any RFC 4180 reader) reads back as s: in
 * double quotes, its quotes doubled, when it holds a comma, a quote or a line break. */
void cr_csv_write_field(FILE *out, const char *s);

/* ---- Dataset index --------------------------------------------------------------------------
 * Samples are image paths relative to a root directory, each with a label in [0, num_classes)
 * (or -1 in an unlabeled set) and the CSV line it came from, for messages. Immutable once built;
 * safe to read from many threads. */

typedef struct cr_dataset cr_dataset;

/* What to do with a bad row, a missing file or an image that does not decode. */
typedef enum cr_on_bad {
    CR_ON_BAD_FAIL, /* stop with an error naming the file and line (the default) */
    CR_ON_BAD_SKIP  /* leave the sample out, count it and keep its message */
} cr_on_bad;

/* Options of cr_dataset_from_csv and cr_dataset_from_folder. A zeroed struct (or NULL) gives
 * every default. */
typedef struct cr_dataset_options {
    const char *path_column;   /* CSV: image paths; NULL means "image_path" */
    const char *target_column; /* CSV: class indices; NULL means "target" */
    const char *class_column;  /* CSV: class names; NULL means "class_name" */
    int num_classes;           /* > 0: every label must be below it; 0: the largest label + 1 */
    const char *const *class_names; /* (num_classes) or NULL: the classes already known (the
                                * training set's, when reading a validation set or for predict).
                                * Names in the CSV, or class folders, must be among them and a
                                * target must carry its class's name; labels index this list */
    cr_on_bad on_bad;          /* CR_ON_BAD_FAIL by default */
    bool labels_optional;      /* CSV: with neither a target nor a class column, the set is
                                * unlabeled (labels -1, no classes) instead of an error */
    bool paths_only;           /* CSV: read the path column alone; target and class columns,
                                * present or named, are left unread and the set is unlabeled.
                                * For predict, whose test CSVs may carry a placeholder target */
    bool skip_file_check;      /* CSV: do not stat every image now (a missing one then fails or
                                * is skipped when the loader reads it) */
} cr_dataset_options;

/* Reads a CSV with a header row. Columns are found by name, in any order:
 *   image_path  the image, relative to root (or absolute); required
 *   target      the class index, a whole number >= 0
 *   class_name  the class's name
 * With both target and class_name, the same target must always carry the same name and the
 * same name the same target. With target only, class names are the numbers ("0", "1", ...).
 * With class_name only, classes are the distinct names in byte order (as ImageFolder sorts
 * directories) and labels index them. Classes that no row uses are named by their number.
 * A malformed row, a label out of range or a missing file fails with CR_STATUS_DATA and a
 * message such as "train.csv:17: target 'x' is not a whole number", unless options->on_bad is
 * CR_ON_BAD_SKIP. Broken quoting, and a CSV with no usable row, always fail. root may be NULL or
 * "" for the current directory. */
cr_status cr_dataset_from_csv(const char *csv_path, const char *root,
                              const cr_dataset_options *options, cr_dataset **out);

/* Reads an ImageFolder tree, root/<class>/<any subfolders>/<image>, as torchvision does: classes
 * are the subdirectories of root in byte order, files are listed folder by folder in byte order,
 * hidden entries are ignored, and so are files that are not images by their extension. PNG and
 * JPEG (.png, .jpg, .jpeg, any case) are read; other image types (.bmp, .tif, .webp, ...) fail
 * with a message saying to convert them, or are skipped under CR_ON_BAD_SKIP. A class folder
 * without images fails (or, when skipping, keeps its class with no samples). Of the options,
 * on_bad, num_classes and class_names apply (with class_names, each folder must be one of them). */
cr_status cr_dataset_from_folder(const char *root, const cr_dataset_options *options,
                                 cr_dataset **out);

/* An unlabeled set (labels -1, no classes) of every PNG and JPEG image under root, at any depth,
 * listed as cr_dataset_from_folder lists a class folder: folders by path, the files of each by
 * name, hidden entries and files that are not images left out. Other image types fail or are
 * skipped as there. No image at all fails with CR_STATUS_DATA. Of the options, on_bad applies. */
cr_status cr_dataset_from_images(const char *root, const cr_dataset_options *options,
                                 cr_dataset **out);

/* A new dataset of the samples indices[0, count) of ds, in that order, with ds's classes. */
cr_status cr_dataset_subset(const cr_dataset *ds, const int *indices, int count,
                            cr_dataset **out);

/* Splits a labeled set in two, class by class: of a class's n samples, round(n * val_fraction)
 * chosen at random go to *val and the rest to *train, except that a class of two samples or more
 * keeps at least one on each side. The choice is a pure function of (seed, labels); both halves
 * keep the order of ds. val_fraction is in (0, 1). */
cr_status cr_dataset_split(const cr_dataset *ds, double val_fraction, uint64_t seed,
                           cr_dataset **train, cr_dataset **val);

void cr_dataset_destroy(cr_dataset *ds);

int cr_dataset_count(const cr_dataset *ds);
/* The image path as written in the CSV (or relative to the root of a folder). */
const char *cr_dataset_path(const cr_dataset *ds, int i);
/* root joined with the path into buf; fails with CR_STATUS_INVALID if it does not fit. */
cr_status cr_dataset_resolve(const cr_dataset *ds, int i, char *buf, size_t capacity);
int32_t cr_dataset_label(const cr_dataset *ds, int i);
const int32_t *cr_dataset_labels(const cr_dataset *ds); /* (count) */
/* The CSV line of sample i, or 0 when the set was read from a folder. */
int cr_dataset_line(const cr_dataset *ds, int i);
/* "train.csv:17" for a CSV sample, the resolved path for a folder one: where to look. */
void cr_dataset_where(const cr_dataset *ds, int i, char *buf, size_t capacity);
int cr_dataset_num_classes(const cr_dataset *ds);
const char *cr_dataset_class_name(const cr_dataset *ds, int k);
/* The root given at creation ("" for the current directory) and the CSV path or folder read. */
const char *cr_dataset_root(const cr_dataset *ds);
const char *cr_dataset_source(const cr_dataset *ds);

/* The images' typical size: the median of the shorter sides of `samples` images spread evenly
 * over the set (all of them when it has fewer), read from their headers (a JPEG is decoded at
 * 1/8 scale). Unreadable images are passed over; fails with the last one's error when none can
 * be read. It sets the default schedule, which doubles up to this size. */
cr_status cr_dataset_typical_side(const cr_dataset *ds, int samples, int *side);

/* Rows or files left out under CR_ON_BAD_SKIP, each with the message it would have failed with. */
int cr_dataset_skipped_count(const cr_dataset *ds);
const char *cr_dataset_skipped_message(const cr_dataset *ds, int i);

#endif
