/* crescendo/budget.h — a run planned for a wall-clock budget: what an epoch costs at each stage's
 * size, measured on a throwaway copy of the model with the run's data, and the epochs per stage
 * that fill the budget, so that progressive and fixed-size runs compare on equal time. */
#ifndef CRESCENDO_BUDGET_H
#define CRESCENDO_BUDGET_H

#include "crescendo/progressive.h"
#include "crescendo/trainer.h"

/* What training at one size costs. */
typedef struct cr_stage_cost {
    int resolution, batch_size;
    double train_seconds; /* one training pass over the set */
    double val_seconds;   /* one validation pass; 0 without a validation set */
    double end_seconds;   /* after each epoch: the checkpoints (last and best) */
    double start_seconds; /* once per stage: planning the model for the size, the first batch */
} cr_stage_cost;

/* How a budget is shared between the stages of a progressive schedule. */
typedef struct cr_budget_recipe {
    double last_share; /* of the budget, trained at the last (full) size; the earlier stages
                        * share the rest equally in time */
} cr_budget_recipe;

/* Times a few training and validation batches at each size of costs[] (resolution and batch_size
 * set by the caller) on a fresh model of config's kind, precision and data, with the run's loader
 * settings, and fills in the costs. config's model, optimizer and data are read; nothing of a run
 * is touched. */
cr_status cr_budget_measure(cr_backend *be, const cr_train_config *config, cr_stage_cost *costs,
                            int count);

/* `stages` with its epochs replaced so that the epochs, validation passes and stage starts take
 * at most `seconds`, by costs[i] for stages->stages[i]: a single stage gets every epoch that
 * fits; with several, the last gets recipe->last_share of the time (at least one epoch), the
 * others equal shares of the rest, and what is left over goes an epoch at a time to the last
 * stage it still pays for. A stage left with no epoch is dropped. Fails with CR_STATUS_INVALID,
 * saying what one epoch of the last stage takes, when not even that fits; an auto schedule, whose
 * stages end at plateaus, cannot be planned. *planned_seconds: what the plan takes by the
 * costs. */
cr_status cr_budget_schedule(const cr_schedule *stages, const cr_stage_cost *costs, double seconds,
                             const cr_budget_recipe *recipe, cr_schedule *out,
                             double *planned_seconds);

#endif
