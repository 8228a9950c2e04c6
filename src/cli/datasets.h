/* datasets.h — how the commands open the images a user points them at: --data ROOT with a CSV
 * (paths relative to ROOT), or ROOT as an ImageFolder tree, and the per-channel numbers
 * (--mean, --std) written as "0.5" or "0.485,0.456,0.406". */
#ifndef CRESCENDO_CLI_DATASETS_H
#define CRESCENDO_CLI_DATASETS_H

#include "crescendo/dataset.h"

/* csv NULL: root is an ImageFolder tree. A relative csv is looked up under root first, then as
 * given. options may be NULL. */
cr_status cr_cli_open_dataset(const char *root, const char *csv, const cr_dataset_options *options,
                              cr_dataset **out);

/* One number for every channel, or one per channel. `what` names the option in messages. */
cr_status cr_cli_parse_channels(const char *text, const char *what, int channels, float out[3]);

#endif
