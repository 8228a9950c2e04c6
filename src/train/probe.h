/* A throwaway training set-up of a run's configuration (its model, precision, optimizer, step and
 * loaders), for what is measured before or instead of the run: the time budget's timings and the
 * learning-rate finder. Private to src/train. */
#ifndef CR_TRAIN_PROBE_H
#define CR_TRAIN_PROBE_H

#include "crescendo/graph.h"
#include "crescendo/loader.h"
#include "crescendo/optim.h"
#include "crescendo/step.h"
#include "crescendo/trainer.h"

typedef struct cr_probe {
    cr_graph *graph;
    cr_optimizer *optimizer;
    cr_step *step;
    cr_loader *train, *val; /* val NULL without a validation set */
} cr_probe;

/* A fresh model of c's kind, seed and precision, its optimizer and step as the run would make
 * them, and loaders with the run's settings. */
cr_status cr_probe_create(cr_backend *be, const cr_train_config *c, cr_probe *p);
/* Frees what was made; a zeroed or half-made probe is allowed. */
void cr_probe_free(cr_probe *p);

#endif
