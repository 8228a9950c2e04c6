/* crescendo/prepare.h — importers that turn a published dataset into what `train` reads: a folder
 * of PNG images and CSVs (class_name,image_path,target) with paths relative to that folder.
 * Writing plain files once means the loader has one input format, and a user can look at the
 * images. */
#ifndef CRESCENDO_PREPARE_H
#define CRESCENDO_PREPARE_H

#include "crescendo/status.h"

/* Where Debian's dataset-fashion-mnist package puts the four IDX files. */
#define CR_FASHION_MNIST_DEFAULT_SRC "/usr/share/datasets/fashion-mnist"

/* The ten classes in target order, as Zalando publishes them. */
extern const char *const cr_fashion_mnist_classes[10];

typedef struct cr_fashion_mnist_options {
    const char *src; /* folder with train-images-idx3-ubyte, train-labels-idx1-ubyte,
                      * t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each gzipped (.gz)
                      * or not; NULL: CR_FASHION_MNIST_DEFAULT_SRC */
    const char *out; /* the folder to write; created if missing, files in it are replaced */
    int threads;     /* PNG-writing threads; 0: one per core */
} cr_fashion_mnist_options;

typedef struct cr_prepare_result {
    int train_count; /* images written to out/train/ and listed in out/train.csv */
    int test_count;  /* the same for out/test/ and out/test.csv */
    int num_classes;
} cr_prepare_result;

/* Writes out/train/NNNNN.png (60000 28x28 gray images), out/test/NNNNN.png (10000) and
 * out/train.csv, out/test.csv, with rows such as "Ankle boot,train/00000.png,9" in IDX order.
 * The IDX headers are checked (magic number, dimensions, image and label counts agree, labels
 * below 10, no truncation): a bad file fails with CR_STATUS_DATA naming it; a missing one with
 * CR_STATUS_IO. result may be NULL. */
cr_status cr_prepare_fashion_mnist(const cr_fashion_mnist_options *options,
                                   cr_prepare_result *result);

#endif
