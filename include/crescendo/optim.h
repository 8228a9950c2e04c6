/* crescendo/optim.h — optimizers (SGD with momentum, AdamW) and learning-rate schedules.
 *
 * An optimizer updates a model's trainable cr_params from their gradients, with PyTorch's
 * arithmetic (torch.optim.SGD, torch.optim.AdamW). Its state — momentum buffers, Adam moments —
 * lives in one contiguous block of backend memory, laid out parallel to the parameters, so a step
 * is one backend op over the whole arena and a checkpoint a few named tensors. The learning rate is
 * an argument of every step: the schedules below compute it as a pure function of the step number,
 * so resuming at step k needs nothing but k. */
#ifndef CRESCENDO_OPTIM_H
#define CRESCENDO_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "crescendo/backend.h"
#include "crescendo/param.h"
#include "crescendo/safetensors.h"
#include "crescendo/status.h"

typedef enum cr_optimizer_kind { CR_OPTIMIZER_SGD, CR_OPTIMIZER_ADAMW } cr_optimizer_kind;

typedef struct cr_optimizer_config {
    cr_optimizer_kind kind;
    /* Doubles, as PyTorch holds them (Python floats): each is rounded to float where PyTorch's
     * kernels round it, and used in double where PyTorch computes in double (AdamW's bias
     * corrections), so that the two agree to rounding. */
    double weight_decay;      /* >= 0: L2 added to the gradient (SGD), decoupled (AdamW) */
    bool decay_norm_and_bias; /* false: no weight decay on BatchNorm and bias parameters */
    /* SGD */
    double momentum;  /* >= 0; 0 keeps no state */
    double dampening; /* in [0, 1] */
    bool nesterov;    /* needs momentum > 0 and dampening 0, as in PyTorch */
    /* AdamW */
    double beta1, beta2; /* each in [0, 1) */
    double eps;          /* >= 0 */
} cr_optimizer_config;

/* PyTorch's constructor defaults for `kind` (SGD: no momentum, no decay; AdamW: betas 0.9 and
 * 0.999, eps 1e-8, weight decay 0.01), with decay_norm_and_bias false. */
cr_optimizer_config cr_optimizer_defaults(cr_optimizer_kind kind);

typedef struct cr_optimizer cr_optimizer;

/* An optimizer over params[0 .. count) (copied; buffers, CR_PARAM_BUFFER, are skipped). Values and
 * gradients must be F32 in `be`'s memory and stay where they are for the optimizer's life. State
 * starts at zero and the step count at 0. Fails with CR_STATUS_INVALID on a config out of range,
 * CR_STATUS_NOMEM when the state cannot be allocated, and CR_STATUS_UNSUPPORTED when the backend
 * has no step for the chosen optimizer. */
cr_status cr_optimizer_create(cr_backend *be, const cr_optimizer_config *config,
                              const cr_param *params, int count, cr_optimizer **out);
void cr_optimizer_destroy(cr_optimizer *opt);

/* One update of every trainable parameter with learning rate `lr` (>= 0, finite), then the step
 * count goes up by one. */
cr_status cr_optimizer_step(cr_optimizer *opt, double lr);

/* Steps taken, counting those restored by cr_optimizer_state_import. */
int64_t cr_optimizer_step_count(const cr_optimizer *opt);

/* Freezing, for training part of a model: the parameters with frozen[i] set (i indexing the params
 * given to cr_optimizer_create, buffers included; frozen NULL: none) take no part in the steps
 * that follow, so weight decay and momentum leave their values and state as they are, until the
 * next call. Each parameter counts the steps it has taken, as torch.optim does per parameter: one
 * that joins late starts AdamW's bias corrections, and SGD's momentum buffer, at its own first
 * step, as in PyTorch when a parameter's first gradient comes late. */
cr_status cr_optimizer_set_frozen(cr_optimizer *opt, const bool *frozen);

/* Checkpointing. The state is exported as named host tensors beside the model's in one safetensors
 * file, all under the prefix "optimizer.":
 *   optimizer.step                        I64 scalar
 *   optimizer.momentum_buffer.<param>     SGD with momentum, the shape of <param>
 *   optimizer.exp_avg.<param>             AdamW first moment
 *   optimizer.exp_avg_sq.<param>          AdamW second moment
 *   optimizer.param_steps                 I64 (trainable parameters): the steps each has taken
 * cr_optimizer_state_export fills out[0 .. cr_optimizer_state_count); names and data stay valid
 * until the next step, import or destroy. cr_optimizer_state_import reads the same names back,
 * failing with CR_STATUS_DATA (naming the file and tensor) on a missing tensor, a wrong dtype or
 * shape — e.g. a checkpoint written with another optimizer — and changes nothing then. A file
 * without optimizer.param_steps (older checkpoints) means every parameter took every step. Freezing
 * is not part of the state: the caller sets it again. */
#define CR_OPTIMIZER_PREFIX "optimizer."
int cr_optimizer_state_count(const cr_optimizer *opt);
cr_status cr_optimizer_state_export(cr_optimizer *opt, cr_named_tensor *out);
cr_status cr_optimizer_state_import(cr_optimizer *opt, const cr_safetensors *file);

/* Learning-rate schedules, as functions of the optimizer step (0 is the first update):
 *   constant   lr
 *   step       lr * gamma ^ floor(k / step_size)                   torch StepLR
 *   cosine     min_lr + (lr - min_lr) (1 + cos(pi k / T)) / 2      torch CosineAnnealingLR
 *   onecycle   torch OneCycleLR, cosine annealing, two phases: lr / div_factor rises to lr over
 *              the first pct_start of the steps, then falls to lr / (div_factor final_div_factor)
 *   plateau    lr here; the trainer lowers it through the scale hook when validation stops
 *              improving (torch ReduceLROnPlateau), which no function of the step can know
 * where T = total_steps - warmup_steps and k counts from the end of the warm-up. A linear warm-up
 * of warmup_steps goes first, from warmup_start_factor * lr(0) up to lr(0) (torch LinearLR then
 * the schedule, chained by SequentialLR). Steps past the end hold the last value. */
typedef enum cr_lr_schedule_kind {
    CR_LR_SCHEDULE_CONSTANT,
    CR_LR_SCHEDULE_STEP,
    CR_LR_SCHEDULE_COSINE,
    CR_LR_SCHEDULE_ONECYCLE,
    CR_LR_SCHEDULE_PLATEAU
} cr_lr_schedule_kind;

/* A factor applied on top of the schedule, e.g. a progressive-resizing stage's lr scale or the
 * linear scaling rule when a stage changes the batch size. Must be a pure function of the step. */
typedef double (*cr_lr_scale_fn)(const void *user, int64_t step);

/* Where step `step` is along the schedule, in the units of total_steps: a pure, non-decreasing
 * function, so that a schedule can advance faster through costlier steps (a progressive run's
 * large images). */
typedef int64_t (*cr_lr_pace_fn)(const void *user, int64_t step);

typedef struct cr_lr_schedule {
    cr_lr_schedule_kind kind;
    double lr;           /* base lr; the peak (max_lr) for onecycle */
    int64_t total_steps; /* >= 1, warm-up included */
    int64_t warmup_steps;
    double warmup_start_factor; /* in (0, 1] */
    int64_t step_size;          /* step: decay every step_size steps */
    double gamma;               /* step: factor per decay */
    double min_lr;              /* cosine: eta_min */
    double pct_start, div_factor, final_div_factor; /* onecycle; torch's defaults 0.3, 25, 1e4 */
    cr_lr_scale_fn scale; /* NULL: 1 */
    const void *scale_user;
    cr_lr_pace_fn pace;   /* NULL: step k is at k; else total_steps, warmup_steps and step_size
                           * count the pace's units */
    const void *pace_user;
} cr_lr_schedule;

/* A schedule of `kind` with the defaults above filled in (warm-up off, gamma 0.1, onecycle as
 * torch); lr and total_steps are the caller's. */
cr_lr_schedule cr_lr_schedule_defaults(cr_lr_schedule_kind kind, double lr, int64_t total_steps);
/* Fails with CR_STATUS_INVALID and a message naming the bad field. */
cr_status cr_lr_schedule_validate(const cr_lr_schedule *s);
/* The learning rate of step `step` (< 0 counts as 0) for a validated schedule. */
double cr_lr_schedule_at(const cr_lr_schedule *s, int64_t step);
/* "constant", "step", "cosine", "onecycle", "plateau"; parse returns -1 when unknown. */
const char *cr_lr_schedule_name(cr_lr_schedule_kind kind);
int cr_lr_schedule_parse(const char *name, cr_lr_schedule_kind *out);

#endif
