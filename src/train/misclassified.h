/* misclassified.h — small PNGs of the validation images a pass got wrong, for the run's report
 * (private to src/train). The batch's floats are turned back into pixels with the loader's own
 * normalization, so nothing in the loader or the step changes for them. */
#ifndef CR_TRAIN_MISCLASSIFIED_H
#define CR_TRAIN_MISCLASSIFIED_H

#include "crescendo/loader.h"
#include "crescendo/report.h"
#include "crescendo/status.h"

typedef struct cr_misclassified cr_misclassified;

/* A thumbnail's longest side at most; smaller images are kept at their size. */
enum { CR_THUMBNAIL_SIDE = 64 };

/* Keeps up to `capacity` images per pass, the first ones met, and of each true class at most
 * max(2, capacity / classes rounded up), so that one class cannot fill the grid. mean and std are
 * what the batches were normalized with (cr_loader_normalization). */
cr_status cr_misclassified_create(cr_misclassified **out, int classes, int capacity,
                                  const float mean[3], const float std[3]);
void cr_misclassified_destroy(cr_misclassified *m);
/* Forgets the images kept: call at the start of each validation pass. */
void cr_misclassified_reset(cr_misclassified *m);

/* Looks at one batch and its scores (count, classes): each image whose predicted class
 * (cr_metrics_predict) is not its label is, while there is room, turned back into 8-bit pixels,
 * shrunk to fit CR_THUMBNAIL_SIDE and kept as a PNG. Unlabeled samples (-1) are passed over. */
cr_status cr_misclassified_add(cr_misclassified *m, const cr_batch *batch, const float *scores);

/* The images kept since the last reset, in the order they were met; valid until the next add,
 * reset or destroy. */
int cr_misclassified_count(const cr_misclassified *m);
const cr_report_thumbnail *cr_misclassified_thumbnails(const cr_misclassified *m);

#endif
