/* datasets.h — how the commands open the images a user points them at: --data ROOT with a CSV
 * (paths relative to ROOT), or ROOT as an ImageFolder tree, and the per-channel numbers
 * (--mean, --std) written as "0.5" or "0.485,0.456,0.406". */
#ifndef CRESCENDO_CLI_DATASETS_H
#define CRESCENDO_CLI_DATASETS_H

#include "cli/options.h"
#include "crescendo/dataset.h"

/* The CSV's column names, which every command reading a CSV lets the user choose. */
typedef struct cr_cli_columns {
    const char *path, *target, *class_name;
} cr_cli_columns;

/* The three option-table entries for cr_cli_columns c. */
#define CR_CLI_COLUMN_OPTIONS(c)                                                                   \
    {"path-column", 0, CR_OPTION_STRING, &(c).path, "image_path", .metavar = "NAME",               \
     .help = "the CSV column with image paths"},                                                   \
    {"target-column", 0, CR_OPTION_STRING, &(c).target, "target", .metavar = "NAME",               \
     .help = "the CSV column with class indices"},                                                 \
    {"class-column", 0, CR_OPTION_STRING, &(c).class_name, "class_name", .metavar = "NAME",        \
     .help = "the CSV column with class names"}

extern const char *const cr_cli_jpeg_scales[]; /* in cr_jpeg_scale's order: the index is the value */

/* The option-table entry for an int `choice` of cr_jpeg_scale; `size` names what the decode
 * covers in the help. */
#define CR_CLI_JPEG_SCALE_OPTION(choice, size)                                                     \
    {"jpeg-scale", 0, CR_OPTION_ENUM, &(choice), "double", .choices = cr_cli_jpeg_scales,          \
     .help = "how small JPEGs are decoded before the resize: double, the smallest DCT scale "      \
             "(1/8, 1/4, 1/2, 1) that covers twice " size "; smallest, the smallest that covers " \
             "it (as PIL's draft()); full, full size (as PIL)"}

/* Sets the column names of options from c; a column left at its default name is optional, as the
 * dataset reader has it (a CSV of image_path,target needs no class_name column). */
void cr_cli_apply_columns(const cr_cli_columns *c, cr_dataset_options *options);

/* csv NULL: root is an ImageFolder tree. A relative csv is looked up under root first, then as
 * given. options may be NULL. */
cr_status cr_cli_open_dataset(const char *root, const char *csv, const cr_dataset_options *options,
                              cr_dataset **out);

/* One number for every channel, or one per channel; "imagenet" gives `imagenet` for 3 channels
 * and their average for 1, as a grayscale conversion would. `what` names the option in
 * messages. */
cr_status cr_cli_parse_channels(const char *text, const char *what, int channels,
                                const float imagenet[3], float out[3]);

#endif
