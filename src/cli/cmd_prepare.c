/* `crescendo prepare <dataset>`: turns a published dataset into, or generates, the folder of images
 * and CSVs that `train` reads, through the data module's writers (crescendo/prepare.h). */
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

static int prepare_synthetic(int argc, char **argv) {
    cr_synthetic_options prepare = {0};
    int seed = 0;
    const cr_option options[] = {
        {"out", 0, CR_OPTION_STRING, &prepare.out, .metavar = "DIR", .required = true,
         .help = "where to write train/, val/, train.csv and val.csv; created if missing"},
        {"classes", 0, CR_OPTION_INT, &prepare.classes, "12", .min = 1, .max = 15,
         .help = "how many shape-texture classes (5 shapes times 3 textures at most)"},
        {"per-class", 0, CR_OPTION_INT, &prepare.per_class, "200", .min = 1, .max = 1000000,
         .help = "training images per class"},
        {"val-per-class", 0, CR_OPTION_INT, &prepare.val_per_class, "50", .min = 0,
         .max = 1000000, .help = "validation images per class"},
        {"size", 0, CR_OPTION_INT, &prepare.size, "256", .metavar = "PX", .min = 64, .max = 8192,
         .help = "the images' side in pixels, a multiple of 8"},
        {"seed", 0, CR_OPTION_INT, &seed, "0", .min = 0, .max = 2147483647,
         .help = "fixes every random choice: the same seed writes the same files"},
        {"quality", 0, CR_OPTION_INT, &prepare.quality, "90", .min = 1, .max = 100,
         .help = "JPEG quality"},
        {"texture-period", 0, CR_OPTION_INT, &prepare.texture_period, "4", .metavar = "4|8",
         .min = 4, .max = 8, .help = "4: the texture shows at full size only; 8: from half size "
                                     "up (64 px of 256 still sees only the shape)"},
        {"workers", 0, CR_OPTION_INT, &prepare.threads, "0", .min = 0, .max = 64,
         .help = "JPEG-writing threads; 0 means one per core"},
        {NULL},
    };
    const cr_command_spec spec = {
        .name = "prepare synthetic",
        .usage = "--out DIR [options]",
        .description = "Generates JPEGs where resolution matters: each class is a shape (disc, "
                       "square, triangle, cross, ring) over a fine texture (horizontal, vertical, "
                       "checker) that a JPEG decoded at half size or less cannot show, so a model "
                       "trained at 1/4 of --size tells only the shape apart (about 1/3 accuracy) "
                       "and one trained at full size tells every class. Writes train.csv and "
                       "val.csv (class_name,image_path,target), ready for `crescendo train --data "
                       "DIR --train-csv train.csv --val-csv val.csv`.",
        .options = options,
        .config = true,
    };
    int status = cr_cli_parse(&spec, argc, argv);
    if (status != CR_CLI_CONTINUE) return status;

    double start = cr_now_seconds();
    prepare.seed = (uint64_t)seed;
    cr_prepare_result result;
    cr_status prepared = cr_prepare_synthetic(&prepare, &result);
    if (prepared != CR_STATUS_OK) return cr_cli_failure(prepared);
    printf("wrote %d training and %d validation %dx%d images of %d classes to %s in %.1f s\n",
           result.train_count, result.test_count, prepare.size, prepare.size, result.num_classes,
           prepare.out, cr_now_seconds() - start);
    return CR_EXIT_OK;
}

int cr_cmd_prepare(int argc, char **argv) {
    static const cr_command datasets[] = {
        {"fashion-mnist", prepare_fashion_mnist, "Zalando's 70000 28x28 clothing images, 10 classes"},
        {"synthetic", prepare_synthetic, "generated shape-and-texture JPEGs whose classes only "
                                         "full resolution tells apart"},
        {NULL, NULL, NULL},
    };
    static const cr_command_group group = {
        .name = "prepare",
        .noun = "dataset",
        .description = "Turns a published dataset into, or generates, a folder of images and "
                       "CSV files (class_name,image_path,target) that `crescendo train` reads.",
        .commands = datasets,
    };
    return cr_cli_dispatch(&group, argc, argv);
}
