/* Unit tests of the learning-rate schedules: values worked out by hand below, validation messages,
 * and the scale hook. test_schedule_torch.py compares whole curves with torch.optim.lr_scheduler
 * through this program's helper mode:
 *   --lr kind=onecycle lr=0.1 total=100 [warmup=N start=F step_size=N gamma=F min_lr=F pct=F
 *        div=F final_div=F]     prints the lr of every step 0 .. total-1, one per line */
#include <stdlib.h>
#include <string.h>

#include "crescendo/optim.h"
#include "testing.h"

static void test_constant_with_warmup(void) {
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_CONSTANT, 0.2, 10);
    s.warmup_steps = 4;
    s.warmup_start_factor = 0.25;
    CHECK_OK(cr_lr_schedule_validate(&s));
    CHECK_NEAR(cr_lr_schedule_at(&s, 0), 0.05, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 2), 0.2 * 0.625, 1e-15); /* 0.25 + 0.75 * 2 / 4 */
    CHECK_NEAR(cr_lr_schedule_at(&s, 4), 0.2, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 9), 0.2, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, -3), 0.05, 1e-15);
}

static void test_step_decay(void) {
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_STEP, 1.0, 9);
    CHECK(s.step_size == 3 && s.gamma == 0.1);
    s.gamma = 0.5;
    CHECK_OK(cr_lr_schedule_validate(&s));
    const double want[9] = {1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25};
    for (int k = 0; k < 9; k++) CHECK_NEAR(cr_lr_schedule_at(&s, k), want[k], 1e-15);
}

static void test_cosine(void) {
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_COSINE, 1.0, 10);
    s.min_lr = 0.1;
    CHECK_OK(cr_lr_schedule_validate(&s));
    CHECK_NEAR(cr_lr_schedule_at(&s, 0), 1.0, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 5), 0.55, 1e-15); /* halfway: the mean */
    /* (1 + cos(0.9 pi)) / 2 = 0.0244717418524... */
    CHECK_NEAR(cr_lr_schedule_at(&s, 9), 0.1 + 0.9 * 0.0244717418524, 1e-11);
    CHECK(cr_lr_schedule_at(&s, 500) == cr_lr_schedule_at(&s, 9)); /* the last value holds */
}

static void test_onecycle(void) {
    /* the Fashion-MNIST recipe: max 0.1, 25% rising from 0.01, falling to 1e-4 */
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_ONECYCLE, 0.1, 100);
    s.pct_start = 0.25;
    s.div_factor = 10;
    s.final_div_factor = 100;
    CHECK_OK(cr_lr_schedule_validate(&s));
    CHECK_NEAR(cr_lr_schedule_at(&s, 0), 0.01, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 12), 0.055, 1e-15); /* halfway up to step 24 */
    CHECK_NEAR(cr_lr_schedule_at(&s, 24), 0.1, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 99), 1e-4, 1e-15);
    double previous = 1.0;
    for (int k = 24; k < 100; k++) {
        double lr = cr_lr_schedule_at(&s, k);
        CHECK(lr <= previous);
        previous = lr;
    }
    /* so short that torch would divide by zero: still finite, still ending at the floor */
    s.total_steps = 3;
    CHECK_OK(cr_lr_schedule_validate(&s));
    for (int k = 0; k < 3; k++) CHECK(isfinite(cr_lr_schedule_at(&s, k)));
    CHECK_NEAR(cr_lr_schedule_at(&s, 2), 1e-4, 1e-15);
}

/* A progressive-resizing stage table: the lr halves from step 50 on. */
static double halve_late(const void *user, int64_t step) {
    return step >= *(const int64_t *)user ? 0.5 : 1.0;
}

static void test_scale_hook(void) {
    static const int64_t from = 50;
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_COSINE, 1.0, 100);
    double plain = cr_lr_schedule_at(&s, 60);
    s.scale = halve_late;
    s.scale_user = &from;
    CHECK_NEAR(cr_lr_schedule_at(&s, 60), 0.5 * plain, 1e-15);
    s.scale = NULL;
    double early = cr_lr_schedule_at(&s, 10);
    s.scale = halve_late;
    CHECK_NEAR(cr_lr_schedule_at(&s, 10), early, 1e-15);
}

/* Steps from `from` on advance three units each; the ones before, one. */
static int64_t triple_late(const void *user, int64_t step) {
    int64_t from = *(const int64_t *)user;
    return step < from ? step : from + 3 * (step - from);
}

/* The pace moves the shape (step 40 at position 70) while the scale hook still sees the step. */
static void test_pace_hook(void) {
    static const int64_t from = 25;
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_COSINE, 1.0, 100);
    double at_70 = cr_lr_schedule_at(&s, 70), at_10 = cr_lr_schedule_at(&s, 10);
    double last = cr_lr_schedule_at(&s, 99);
    s.pace = triple_late;
    s.pace_user = &from;
    CHECK_NEAR(cr_lr_schedule_at(&s, 40), at_70, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 10), at_10, 1e-15);
    CHECK_NEAR(cr_lr_schedule_at(&s, 50), last, 1e-15); /* past the end: the last value */
    static const int64_t half_from = 45;
    s.scale = halve_late;
    s.scale_user = &half_from;
    CHECK_NEAR(cr_lr_schedule_at(&s, 40), at_70, 1e-15);
}

static void test_validation(void) {
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_COSINE, 0.1, 0);
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID, "0 total steps");
    s.total_steps = 10;
    s.warmup_steps = 10;
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID,
                "10 warm-up steps must be in [0, 10)");
    s.warmup_steps = 2;
    s.warmup_start_factor = 0;
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID, "warm-up start factor 0");
    s.warmup_start_factor = 0.5;
    s.min_lr = 0.2;
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID,
                "min lr 0.2 must be in [0, lr 0.1]");
    s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_ONECYCLE, 0.1, 10);
    s.pct_start = 1.0;
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID, "pct_start 1 must be in (0, 1)");
    s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_STEP, -1.0, 10);
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID, "lr -1 must be finite and >= 0");
    s.lr = 0.1;
    s.step_size = 0;
    CHECK_FAILS(cr_lr_schedule_validate(&s), CR_STATUS_INVALID, "step size 0 must be >= 1");

    cr_lr_schedule_kind kind;
    for (int k = CR_LR_SCHEDULE_CONSTANT; k <= CR_LR_SCHEDULE_PLATEAU; k++)
        CHECK(cr_lr_schedule_parse(cr_lr_schedule_name((cr_lr_schedule_kind)k), &kind) == 0 &&
              kind == (cr_lr_schedule_kind)k);
    CHECK(cr_lr_schedule_parse("exponential", &kind) == -1);

    /* plateau holds its lr: the trainer lowers it through the scale hook */
    s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_PLATEAU, 0.3, 10);
    CHECK_OK(cr_lr_schedule_validate(&s));
    CHECK(cr_lr_schedule_at(&s, 0) == 0.3 && cr_lr_schedule_at(&s, 9) == 0.3);
}

/* Helper mode: a schedule from key=value arguments, every step's lr on stdout. */
static int print_schedule(int argc, char **argv) {
    cr_lr_schedule s = cr_lr_schedule_defaults(CR_LR_SCHEDULE_CONSTANT, 0.1, 1);
    for (int i = 0; i < argc; i++) {
        char key[32];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof key) {
            fprintf(stderr, "expected key=value, got %s\n", argv[i]);
            return 2;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        const char *v = eq + 1;
        if (strcmp(key, "kind") == 0) {
            if (cr_lr_schedule_parse(v, &s.kind) != 0) return 2;
            s = cr_lr_schedule_defaults(s.kind, s.lr, s.total_steps); /* kind= comes first */
        } else if (strcmp(key, "lr") == 0) s.lr = strtod(v, NULL);
        else if (strcmp(key, "total") == 0) s.total_steps = strtoll(v, NULL, 10);
        else if (strcmp(key, "warmup") == 0) s.warmup_steps = strtoll(v, NULL, 10);
        else if (strcmp(key, "start") == 0) s.warmup_start_factor = strtod(v, NULL);
        else if (strcmp(key, "step_size") == 0) s.step_size = strtoll(v, NULL, 10);
        else if (strcmp(key, "gamma") == 0) s.gamma = strtod(v, NULL);
        else if (strcmp(key, "min_lr") == 0) s.min_lr = strtod(v, NULL);
        else if (strcmp(key, "pct") == 0) s.pct_start = strtod(v, NULL);
        else if (strcmp(key, "div") == 0) s.div_factor = strtod(v, NULL);
        else if (strcmp(key, "final_div") == 0) s.final_div_factor = strtod(v, NULL);
        else {
            fprintf(stderr, "unknown key %s\n", key);
            return 2;
        }
    }
    if (cr_lr_schedule_validate(&s) != CR_STATUS_OK) {
        fprintf(stderr, "%s\n", cr_error_message());
        return 1;
    }
    for (int64_t k = 0; k < s.total_steps; k++) printf("%.17g\n", cr_lr_schedule_at(&s, k));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--lr") == 0) return print_schedule(argc - 2, argv + 2);
    test_constant_with_warmup();
    test_step_decay();
    test_cosine();
    test_onecycle();
    test_scale_hook();
    test_pace_hook();
    test_validation();
    return cr_test_summary("schedule");
}
