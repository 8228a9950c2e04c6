/* crescendo/lr_find.h — the learning-rate finder: a short run whose learning rate grows
 * exponentially every step, the loss it gives at each rate, and a rate to train with.
 *
 * On a throwaway copy of the run's model (with its --init weights), at its first stage's size and
 * batch, with its optimizer: from start_lr to end_lr over `steps` steps, the loss smoothed as
 * fastai smooths it (an exponential average, bias-corrected), stopping early once the smoothed
 * loss passes four times its lowest. The suggestion follows fastai's "valley" rule in spirit: the
 * middle of the longest stretch over which the smoothed loss keeps falling. */
#ifndef CRESCENDO_LR_FIND_H
#define CRESCENDO_LR_FIND_H

#include <stdbool.h>

#include "crescendo/trainer.h"

enum { CR_LR_FIND_MAX_STEPS = 1000 };

typedef struct cr_lr_find_config {
    double start_lr, end_lr; /* 0, 0: 1e-7 and 10 */
    int steps;               /* <= CR_LR_FIND_MAX_STEPS; 0: 100 */
} cr_lr_find_config;

typedef struct cr_lr_find_result {
    int count;                         /* steps taken */
    double lr[CR_LR_FIND_MAX_STEPS];   /* of each step */
    double loss[CR_LR_FIND_MAX_STEPS]; /* the smoothed loss after it */
    bool diverged;                     /* stopped early: the loss ran away */
    int suggested;                     /* index of the suggestion */
    double suggestion;                 /* lr[suggested] */
} cr_lr_find_result;

cr_status cr_lr_find(cr_backend *be, const cr_train_config *config, const cr_lr_find_config *find,
                     cr_lr_find_result *out);

/* The suggestion's rule on its own: the index of the middle of the longest run of falling values
 * among losses[0, count) (a longest decreasing subsequence, measured by its first and last
 * index). */
int cr_lr_find_valley(const double *losses, int count);

#endif
