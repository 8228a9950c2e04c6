/* crescendo/progressive.h — the resolution schedule of progressive resizing.
 * A schedule is a list of stages, each a square resolution held for some epochs with an optional
 * batch size; the trainer re-plans the model and the loader at every change of stage. */
#ifndef CRESCENDO_PROGRESSIVE_H
#define CRESCENDO_PROGRESSIVE_H

#include "crescendo/status.h"

enum { CR_SCHEDULE_MAX_STAGES = 64 };

typedef struct cr_stage {
    int resolution; /* square side in pixels */
    int epochs;     /* >= 1 */
    int batch_size; /* 0: the run's --batch-size */
} cr_stage;

typedef struct cr_schedule {
    cr_stage stages[CR_SCHEDULE_MAX_STAGES];
    int count;
} cr_schedule;

/* Parses a schedule:
 *   "64:10,128:10,256:5@32"  explicit stages RES:EPOCHS, each optionally @BATCH
 *   "double:64-512/10"       64, 128, 256, 512 for 10 epochs each
 *   "28"                     one stage at 28 px for `default_epochs`
 * Fails with CR_STATUS_INVALID and a message pointing at the bad part. */
cr_status cr_schedule_parse(const char *spec, int default_epochs, cr_schedule *out);

/* One stage: `epochs` epochs at `resolution`. */
cr_schedule cr_schedule_fixed(int resolution, int epochs);

int cr_schedule_total_epochs(const cr_schedule *s);
/* The stage that 0-based epoch falls in (the last one past the end). */
int cr_schedule_stage_of(const cr_schedule *s, int epoch);
/* "64:10,128:10", the explicit form that parses back to the same schedule. */
void cr_schedule_format(const cr_schedule *s, char *buf, int size);

#endif
