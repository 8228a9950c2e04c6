/* `crescendo prepare <dataset>`: turns a published dataset into the folder of images and CSVs that
 * `train` reads, through the importers of the data module (crescendo/prepare.h). */
#include <stdio.h>

#include "cli/commands.h"
#include "crescendo/log.h"
#include "crescendo/prepare.h"

static int prepare_fashion_mnist(int argc, char **argv) {
    cr_fashion_mnist_options prepare = {0};
    const cr_option options[] = {
        {"src", 0, CR_OPTION_STRING, &prepare.src, CR_FASHION_MNIST_DEFAULT_SRC, .metavar = "DIR",
         .help = "the folder with the four IDX files (train-images-idx3-ubyte, "
                 "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte), "
                 "gzipped or not"},
        {"out", 0, CR_OPTION_STRING, &prepare.out, .metavar = "DIR", .required = true,
         .help = "where to write train/, test/, train.csv and test.csv; created if missing"},
        {"workers", 0, CR_OPTION_INT, &prepare.threads, "0", .min = 0, .max = 1024,
         .help = "PNG-writing threads; 0 means one per core"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "prepare fashion-mnist",
        .usage = "--out DIR [options]",
        .description = "Writes the 60000 training and 10000 test images of Fashion-MNIST as 28x28 "
                       "gray PNGs, with train.csv and test.csv (class_name,image_path,target) "
                       "listing them, ready for `crescendo train --data DIR --train-csv "
                       "train.csv --val-csv test.csv`.",
        .options = options,
        .config = true,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;

    double start = cr_now_seconds();
    cr_prepare_result result;
    cr_status prepared = cr_prepare_fashion_mnist(&prepare, &result);
    if (prepared != CR_STATUS_OK) return cr_cli_failure(prepared);
    printf("wrote %d training and %d test images of %d classes to %s in %.1f s\n",
           result.train_count, result.test_count, result.num_classes, prepare.out,
           cr_now_seconds() - start);
    return CR_EXIT_OK;
}

int cr_cmd_prepare(int argc, char **argv) {
    static const cr_command datasets[] = {
        {"fashion-mnist", prepare_fashion_mnist, "Zalando's 70000 28x28 clothing images, 10 classes"},
        {NULL, NULL, NULL},
    };
    static const cr_command_group group = {
        .name = "prepare",
        .noun = "dataset",
        .description = "Turns a published dataset into a folder of PNG images and CSV files "
                       "(class_name,image_path,target) that `crescendo train` reads.",
        .commands = datasets,
    };
    return cr_cli_dispatch(&group, argc, argv);
}
