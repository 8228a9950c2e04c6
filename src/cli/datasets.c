/* Opening the dataset a command is pointed at, and the per-channel option values; shared by
 * train, eval and predict so that all three read data the same way. */
#include "cli/datasets.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cr_cli_jpeg_scales[] = {"double", "smallest", "full", NULL};

cr_status cr_cli_open_dataset(const char *root, const char *csv, const cr_dataset_options *options,
                              cr_dataset **out) {
    if (!csv) return cr_dataset_from_folder(root, options, out);
    char path[4096];
    const char *chosen = csv;
    if (csv[0] != '/' && root && root[0]) {
        int n = snprintf(path, sizeof path, "%s/%s", root, csv);
        if (n > 0 && (size_t)n < sizeof path && access(path, F_OK) == 0) chosen = path;
    }
    return cr_dataset_from_csv(chosen, root, options, out);
}

cr_status cr_cli_parse_channels(const char *text, const char *what, int channels,
                                const float imagenet[3], float out[3]) {
    if (strcmp(text, "imagenet") == 0) {
        float average = (imagenet[0] + imagenet[1] + imagenet[2]) / 3.0f;
        for (int i = 0; i < 3; i++) out[i] = channels == 3 ? imagenet[i] : average;
        return CR_STATUS_OK;
    }
    float values[3];
    int count = 0;
    const char *p = text;
    while (count < 3) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v))
            return cr_fail(CR_STATUS_INVALID, "--%s: \"%s\" is not a number or a list of numbers",
                           what, text);
        values[count++] = (float)v;
        p = end;
        if (*p != ',') break;
        p++;
    }
    if (*p || (count != 1 && count != channels)) {
        if (channels == 1)
            return cr_fail(CR_STATUS_INVALID, "--%s: give one number for the one channel "
                           "(--channels 1), or \"imagenet\", not \"%s\"", what, text);
        return cr_fail(CR_STATUS_INVALID, "--%s: give one number for all channels, %d separated "
                       "by commas, or \"imagenet\", not \"%s\"", what, channels, text);
    }
    for (int i = 0; i < 3; i++) out[i] = values[count == 1 ? 0 : (i < count ? i : 0)];
    return CR_STATUS_OK;
}

/* A column left at its default name stays optional, as the dataset reader treats an unnamed one:
 * a CSV of image_path,target needs no class_name column. A name the user gave must exist. */
static const char *chosen_column(const char *name, const char *default_name) {
    return name && strcmp(name, default_name) != 0 ? name : NULL;
}

void cr_cli_apply_columns(const cr_cli_columns *c, cr_dataset_options *options) {
    options->path_column = chosen_column(c->path, "image_path");
    options->target_column = chosen_column(c->target, "target");
    options->class_column = chosen_column(c->class_name, "class_name");
}
