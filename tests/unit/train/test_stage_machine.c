/* Unit tests of the stage machine: fixed schedules walked epoch by epoch, auto stages switching on
 * scripted metric sequences (plateau, min_delta, the per-stage limit, a plateau in the last stage,
 * a one-stage schedule), batches from a pixel budget with the lr scaling, rules out of range, and
 * the state a checkpoint restores. */
#include <math.h>

#include "crescendo/progressive.h"
#include "testing.h"

static cr_stage_rules rules(int epochs, int patience, double min_delta, bool maximize) {
    return (cr_stage_rules){.epochs = epochs, .batch_size = 16, .patience = patience,
                            .min_delta = min_delta, .maximize = maximize};
}

static cr_stage_machine machine(const char *spec, const cr_stage_rules *r) {
    cr_schedule s;
    cr_stage_machine m = {0};
    CHECK_OK(cr_schedule_parse(spec, r->epochs, &s));
    CHECK_OK(cr_stage_machine_init(&m, &s, r));
    return m;
}

/* Feeds metrics[0 .. n) and returns the 0-based index after which the machine switched, or -1. */
static int feed(cr_stage_machine *m, const double *metrics, int n) {
    for (int i = 0; i < n; i++)
        if (cr_stage_machine_observe(m, metrics[i])) return i;
    return -1;
}

static void test_fixed_schedule_follows_its_epochs(void) {
    cr_stage_rules r = rules(0, 0, 0, false);
    cr_stage_machine m = machine("64:2,128:1@8", &r);
    CHECK(cr_stage_machine_total_epochs(&m) == 3);
    cr_stage_plan p = cr_stage_machine_current(&m);
    CHECK(p.stage == 0 && p.stages == 2 && p.resolution == 64 && p.batch_size == 16);
    CHECK(p.epochs == 2 && p.epoch_in_stage == 0 && p.lr_scale == 1.0);
    CHECK(!cr_stage_machine_observe(&m, NAN));
    CHECK(cr_stage_machine_current(&m).epoch_in_stage == 1);
    CHECK(cr_stage_machine_observe(&m, 0.5)); /* metrics do not matter */
    p = cr_stage_machine_current(&m);
    CHECK(p.stage == 1 && p.resolution == 128 && p.batch_size == 8 && p.epoch_in_stage == 0);
    CHECK(!cr_stage_machine_observe(&m, NAN)); /* the last stage never switches */
    CHECK(!cr_stage_machine_observe(&m, NAN));
    CHECK(cr_stage_machine_current(&m).stage == 1);
}

static void test_auto_switches_at_a_plateau(void) {
    /* val_loss, patience 2, min_delta 0.01; 30 epochs over 3 stages: at most 10 each */
    cr_stage_rules r = rules(30, 2, 0.01, false);
    cr_stage_machine m = machine("auto:64,128,256", &r);
    CHECK(cr_stage_machine_total_epochs(&m) == 30 && cr_stage_machine_current(&m).epochs == 10);
    /* 0.895 is within min_delta of 0.9, then 0.845 and 0.849 of 0.85: the second plateau is two
     * epochs long and ends the stage before 0.5 is seen */
    const double first[] = {1.0, 0.9, 0.895, 0.85, 0.845, 0.849, 0.5};
    CHECK(feed(&m, first, 7) == 5);
    CHECK(m.state.stage == 1 && m.state.epochs_in_stage == 0 && isnan(m.state.best));
    /* A new stage starts its own best: 2.0 is worse than stage 1's 0.85 but sets the baseline. */
    const double second[] = {2.0, 1.5, 1.6, 1.4, 1.41};
    CHECK(feed(&m, second, 5) == -1);
    CHECK(m.state.stage == 1 && m.state.since_improvement == 1 && m.state.best == 1.4);
    CHECK(m.state.epochs_in_stage == 5);
    /* 1.45 is the second epoch without improvement on 1.4 */
    CHECK(cr_stage_machine_observe(&m, 1.45));
    cr_stage_plan p = cr_stage_machine_current(&m);
    CHECK(p.stage == 2 && p.resolution == 256 && p.epochs == 10);
}

static void test_auto_stage_ends_at_its_share_of_the_epochs(void) {
    cr_stage_rules r = rules(7, 3, 0, false); /* 3 stages of at most 2, the last 2 + 1 */
    cr_stage_machine m = machine("auto:32,64,128", &r);
    CHECK(cr_stage_machine_stage(&m, 0).epochs == 2 && cr_stage_machine_stage(&m, 2).epochs == 3);
    const double better[] = {3, 2, 1};
    CHECK(feed(&m, better, 3) == 1); /* still improving, but its 2 epochs are up */
    CHECK(m.state.stage == 1);
}

static void test_plateau_in_the_last_stage_does_not_switch(void) {
    cr_stage_rules r = rules(20, 1, 0, true); /* val_acc: larger is better */
    cr_stage_machine m = machine("auto:32,64", &r);
    const double acc[] = {0.5, 0.6, 0.6};
    CHECK(feed(&m, acc, 3) == 2); /* 0.6 is no improvement on 0.6 */
    const double flat[] = {0.7, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6};
    CHECK(feed(&m, flat, 8) == -1);
    CHECK(m.state.stage == 1 && m.state.since_improvement == 7 && m.state.best == 0.7);
}

static void test_one_stage_schedules(void) {
    cr_stage_rules r = rules(5, 1, 0, false);
    cr_stage_machine m = machine("auto:48", &r);
    const double worse[] = {1, 2, 3, 4, 5};
    CHECK(feed(&m, worse, 5) == -1 && cr_stage_machine_current(&m).stage == 0);
    CHECK(cr_stage_machine_current(&m).epochs == 5);
    m = machine("48", &r);
    CHECK(cr_stage_machine_total_epochs(&m) == 5 && feed(&m, worse, 5) == -1);
}

static void test_batch_from_pixels_and_lr_scaling(void) {
    cr_stage_rules r = rules(0, 0, 0, false);
    r.batch_pixels = 64 * 64 * 32; /* 32 images of 64 px */
    r.max_batch = 100;
    r.lr_scaling = CR_LR_SCALING_LINEAR;
    cr_stage_machine m = machine("64:1,128:1,32:1,16:1@10,40:1", &r);
    int want[] = {32, 8, 100, 10, 82}; /* 128 px: a quarter; 32 px: 128 capped; 40 px: 81.92 */
    for (int i = 0; i < 5; i++) {
        cr_stage_plan p = cr_stage_machine_stage(&m, i);
        CHECK(p.batch_size == want[i]);
        CHECK_NEAR(p.lr_scale, want[i] / 32.0, 1e-12);
    }
    r.lr_scaling = CR_LR_SCALING_SQRT;
    m = machine("64:1,128:1", &r);
    CHECK_NEAR(cr_stage_machine_stage(&m, 1).lr_scale, 0.5, 1e-12);
    r.lr_scaling = CR_LR_SCALING_NONE;
    r.batch_pixels = 5 * 16 * 16 / 2; /* 2.5 images of 16 px: halves go up */
    m = machine("16:1,256:1", &r);
    CHECK(cr_stage_machine_stage(&m, 0).batch_size == 3);
    CHECK(cr_stage_machine_stage(&m, 1).batch_size == 1); /* never below one */
    CHECK(cr_stage_machine_stage(&m, 1).lr_scale == 1.0);
}

static void test_rules_out_of_range(void) {
    cr_schedule s;
    cr_stage_machine m;
    CHECK_OK(cr_schedule_parse("auto:32,64,128", 0, &s));
    cr_stage_rules r = rules(2, 1, 0, false);
    CHECK_FAILS(cr_stage_machine_init(&m, &s, &r), CR_STATUS_INVALID, "--epochs of at least 3");
    r = rules(10, 0, 0, false);
    CHECK_FAILS(cr_stage_machine_init(&m, &s, &r), CR_STATUS_INVALID, "--stage-patience");
    r = rules(10, 1, -0.5, false);
    CHECK_FAILS(cr_stage_machine_init(&m, &s, &r), CR_STATUS_INVALID, "--stage-min-delta");
    r = rules(10, 1, 0, false);
    r.batch_size = 0;
    CHECK_FAILS(cr_stage_machine_init(&m, &s, &r), CR_STATUS_INVALID, "batch size");
    s.count = 0;
    r.batch_size = 1;
    CHECK_FAILS(cr_stage_machine_init(&m, &s, &r), CR_STATUS_INVALID, "1 to 64 stages");
}

static void test_restore_continues_where_it_left(void) {
    cr_stage_rules r = rules(30, 2, 0, false);
    cr_stage_machine a = machine("auto:32,64,128", &r), b = machine("auto:32,64,128", &r);
    const double metrics[] = {1.0, 0.9, 0.95, 0.8};
    CHECK(feed(&a, metrics, 4) == -1);
    CHECK_OK(cr_stage_machine_restore(&b, &a.state));
    /* both now see 0.85 and 0.9: two epochs without beating 0.8 */
    CHECK(!cr_stage_machine_observe(&a, 0.85) && !cr_stage_machine_observe(&b, 0.85));
    CHECK(cr_stage_machine_observe(&a, 0.9) && cr_stage_machine_observe(&b, 0.9));
    cr_stage_state bad = {.stage = 3, .best = NAN};
    CHECK_FAILS(cr_stage_machine_restore(&b, &bad), CR_STATUS_DATA, "3 stages");
    bad = (cr_stage_state){.stage = 0, .epochs_in_stage = 1, .since_improvement = 2};
    CHECK_FAILS(cr_stage_machine_restore(&b, &bad), CR_STATUS_DATA, "does not fit");
}

int main(void) {
    test_fixed_schedule_follows_its_epochs();
    test_auto_switches_at_a_plateau();
    test_auto_stage_ends_at_its_share_of_the_epochs();
    test_plateau_in_the_last_stage_does_not_switch();
    test_one_stage_schedules();
    test_batch_from_pixels_and_lr_scaling();
    test_rules_out_of_range();
    test_restore_continues_where_it_left();
    return cr_test_summary("stage_machine");
}
