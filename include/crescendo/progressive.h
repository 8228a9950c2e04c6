/* crescendo/progressive.h — the resolution schedule of progressive resizing and the stage machine
 * that walks it. A schedule is a list of stages, each a square resolution held for some epochs (or,
 * in an auto schedule, until the validation metric stops improving) with an optional batch size.
 * The trainer asks the machine what each epoch trains at and tells it each epoch's validation
 * metric; the machine holds nothing but numbers, so its state goes into checkpoints as it is. */
#ifndef CRESCENDO_PROGRESSIVE_H
#define CRESCENDO_PROGRESSIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "crescendo/status.h"

enum { CR_SCHEDULE_MAX_STAGES = 64 };

typedef struct cr_stage {
    int resolution; /* square side in pixels */
    int epochs;     /* >= 1; 0 in an auto schedule: until the metric stops improving */
    int batch_size; /* 0: from the run's rules (--batch-pixels or --batch-size) */
} cr_stage;

typedef struct cr_schedule {
    cr_stage stages[CR_SCHEDULE_MAX_STAGES];
    int count;
    bool automatic; /* "auto:": each stage but the last ends at a plateau of the metric */
} cr_schedule;

/* Parses a schedule; `default_epochs` is --epochs, the run's length where the spec gives none:
 *   "64:10,128:10,256:5@32"   explicit stages RES:EPOCHS, each optionally @BATCH; a stage
 *                             written RES alone (as "64,128" under a time budget, which sets
 *                             the epochs) takes default_epochs
 *   "double:64-512/10"        64, 128, 256, 512 for 10 epochs each (the last is the end size)
 *   "ramp:160-192@10-25/32"   a linear ramp over a run of default_epochs epochs, counted from 1
 *                             as the log counts them: epochs up to 10 train at 160, epochs from
 *                             25 on at 192, and epoch e in between at
 *                             160 + (192 - 160) (e - 10) / (25 - 10) rounded to the nearest
 *                             multiple of 32 (halves up) and kept within [160, 192]. "/32" may
 *                             be left out (32). Runs of equal sizes become one stage each.
 *   "auto:64,128,256"         stages that end at a plateau (see cr_stage_machine_observe), each
 *                             optionally @BATCH; the run lasts at most default_epochs epochs
 * Fails with CR_STATUS_INVALID and a message pointing at the bad part. */
cr_status cr_schedule_parse(const char *spec, int default_epochs, cr_schedule *out);

/* One stage: `epochs` epochs at `resolution`. */
cr_schedule cr_schedule_fixed(int resolution, int epochs);

/* The largest step between the default schedule's sizes. */
#define CR_SCHEDULE_GROWTH 1.5

/* The default schedule: from `from` to `to` in the fewest equal ratios of at most
 * CR_SCHEDULE_GROWTH, the sizes between rounded to multiples of 8 (64, 88, 128; 64, 88, 112;
 * 64, 88, 128, 184, 256), so that no switch grows what the model has learned to see by more
 * than 1.5x (one stage at `to` when it is not above `from`), sharing `epochs` evenly with
 * the remainder going to the last stages, so that the largest sizes get the extra epochs: (64,
 * 128, 10) gives 64:3,88:3,128:4. With fewer epochs than sizes the smallest are left out. */
cr_schedule cr_schedule_growing(int from, int to, int epochs);

/* The sum of the stages' epochs (0 counted for auto stages). */
int cr_schedule_total_epochs(const cr_schedule *s);
/* "64:10,128:10@32" or "auto:64,128@32": a form that parses back to the same schedule. */
void cr_schedule_format(const cr_schedule *s, char *buf, int size);

/* How the learning rate follows a stage's batch size, relative to the first stage's batch b0:
 * linear multiplies it by b / b0, sqrt by sqrt(b / b0), none leaves it. */
typedef enum cr_lr_scaling {
    CR_LR_SCALING_NONE,
    CR_LR_SCALING_LINEAR,
    CR_LR_SCALING_SQRT
} cr_lr_scaling;

/* What the run adds to a schedule. */
typedef struct cr_stage_rules {
    int epochs;           /* the run's length for an auto schedule (--epochs), >= its stages */
    int batch_size;       /* for stages without @BATCH when batch_pixels is 0, >= 1 */
    int64_t batch_pixels; /* > 0: a stage without @BATCH at side r takes batch_pixels / r^2
                           * images, rounded to the nearest (halves up), within [1, max_batch] */
    int max_batch;        /* the cap of those batches (the trainer: the training set's size);
                           * 0: none */
    cr_lr_scaling lr_scaling;
    /* auto schedules */
    int patience;         /* epochs without improvement that end a stage, >= 1 */
    double min_delta;     /* an improvement is a change of more than this, >= 0 */
    bool maximize;        /* the metric is better when larger (val_acc); false: smaller */
} cr_stage_rules;

/* Where a run is: the part of a checkpoint that lets an auto schedule resume. */
typedef struct cr_stage_state {
    int stage;             /* of the next epoch */
    int epochs_in_stage;   /* epochs of that stage already trained */
    int since_improvement; /* of those, the ones since its best metric */
    double best;           /* the stage's best metric; NaN before one is seen */
} cr_stage_state;

typedef struct cr_stage_machine {
    cr_schedule schedule;
    cr_stage_rules rules;
    int length[CR_SCHEDULE_MAX_STAGES]; /* each stage's epochs; in an auto schedule its most:
                                         * epochs / count, the last one taking the remainder */
    cr_stage_state state;
} cr_stage_machine;

/* What a stage trains at. */
typedef struct cr_stage_plan {
    int stage, stages;   /* 0-based index, and how many there are */
    int resolution, batch_size;
    int epochs;          /* the stage's length (its most, in an auto schedule) */
    int epoch_in_stage;  /* 0 on the stage's first epoch */
    double lr_scale;     /* the rules' lr scaling of batch_size against the first stage's */
} cr_stage_plan;

/* A machine at the start of `schedule`. Fails with CR_STATUS_INVALID on rules out of range (an
 * auto schedule with fewer --epochs than stages, a patience below 1, ...). */
cr_status cr_stage_machine_init(cr_stage_machine *m, const cr_schedule *schedule,
                                const cr_stage_rules *rules);
/* The most epochs the run trains: the stages' sum, or rules.epochs for an auto schedule. */
int cr_stage_machine_total_epochs(const cr_stage_machine *m);
/* Stage `stage` as it starts (epoch_in_stage 0). */
cr_stage_plan cr_stage_machine_stage(const cr_stage_machine *m, int stage);
/* What the next epoch trains at. */
cr_stage_plan cr_stage_machine_current(const cr_stage_machine *m);

/* Reports the epoch just trained and its monitored metric (NaN when there is none); returns true
 * when the next epoch starts a new stage. A stage of a fixed schedule ends after its epochs. A
 * stage of an auto schedule other than the last ends when the metric has not improved on the
 * stage's best by more than min_delta for `patience` epochs, or after its most epochs; its first
 * epoch sets the best. The last stage never ends here: the run's --early-stop or length ends it. */
bool cr_stage_machine_observe(cr_stage_machine *m, double metric);

/* Puts the machine where a checkpoint left it; fails with CR_STATUS_DATA when the state does not
 * fit the schedule (a checkpoint of another schedule). */
cr_status cr_stage_machine_restore(cr_stage_machine *m, const cr_stage_state *state);

#endif
